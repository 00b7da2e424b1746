// Verify Latchkey tokens in a Node service (Node 18+, no packages):
// introspection with a short TTL cache keyed by the token's SHA-256,
// failing closed when Latchkey cannot be reached.
//
//   LATCHKEY_URL=https://latchkey.example.com LATCHKEY_SERVICE_TOKEN=lk_… \
//     node introspect.mjs reports:read < tokens.txt
//
// prints, for each token on standard input, the status a resource server
// would answer (200, 401, 403 or 503) and who the token acts for.

import { createHash } from "node:crypto";
import { createInterface } from "node:readline";

const LATCHKEY_URL = process.env.LATCHKEY_URL.replace(/\/+$/, "");
const SERVICE_TOKEN = process.env.LATCHKEY_SERVICE_TOKEN; // a service account's, with tokens:introspect
const CACHE_TTL_MS = 5000; // an active answer is reused this long
const NEGATIVE_TTL_MS = 1000; // a refusal this long
const cache = new Map(); // sha256(token) -> { until, answer }; never the token itself

class Unavailable extends Error {}

async function introspect(token) {
  const key = createHash("sha256").update(token).digest("hex");
  const hit = cache.get(key);
  if (hit && hit.until > Date.now()) return hit.answer;
  let response;
  try {
    response = await fetch(`${LATCHKEY_URL}/api/v1/introspect`, {
      method: "POST",
      headers: { Authorization: `Bearer ${SERVICE_TOKEN}`, "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
      signal: AbortSignal.timeout(2000),
    });
  } catch (error) {
    throw new Unavailable(String(error));
  }
  if (response.status !== 200) throw new Unavailable(`introspection answered ${response.status}`);
  const answer = await response.json();
  let ttl = answer.active ? CACHE_TTL_MS : NEGATIVE_TTL_MS;
  if (answer.exp) ttl = Math.min(ttl, answer.exp * 1000 - Date.now());
  if (ttl > 0) {
    if (cache.size > 10000) cache.clear();
    cache.set(key, { until: Date.now() + ttl, answer });
  }
  return answer;
}

// The status to answer (200, 401, 403, 503) and who the token acts for.
export async function check(token, scope) {
  let answer;
  try {
    answer = await introspect(token);
  } catch (error) {
    if (error instanceof Unavailable) return [503, null];
    throw error;
  }
  if (!answer.active) return [401, null];
  if (!(answer.scope || "").split(" ").includes(scope)) return [403, answer.username];
  return [200, answer.username];
}

const needed = process.argv[2];
for await (const line of createInterface({ input: process.stdin })) {
  const [status, who] = await check(line.trim(), needed);
  console.log(status, who ?? "-");
}
