"""Verify Latchkey tokens in a Python service: introspection with a short
TTL cache keyed by the token's SHA-256, failing closed when Latchkey
cannot be reached.

    LATCHKEY_URL=https://latchkey.example.com LATCHKEY_SERVICE_TOKEN=lk_… \
      python3 introspect.py reports:read < tokens.txt

prints, for each token on standard input, the status a resource server
would answer (200, 401, 403 or 503) and who the token acts for.
"""

import hashlib
import os
import sys
import time

import requests

LATCHKEY_URL = os.environ["LATCHKEY_URL"].rstrip("/")
SERVICE_TOKEN = os.environ["LATCHKEY_SERVICE_TOKEN"]  # a service account's, with tokens:introspect
CACHE_TTL = 5.0  # seconds an active answer is reused
NEGATIVE_TTL = 1.0  # seconds a refusal is reused

_session = requests.Session()  # keeps connections open between calls
_cache = {}  # sha256(token) -> (monotonic deadline, answer); never the token itself


class Unavailable(Exception):
    """Latchkey did not answer: refuse the request (fail closed)."""


def introspect(token):
    key = hashlib.sha256(token.encode()).hexdigest()
    now = time.monotonic()
    hit = _cache.get(key)
    if hit and hit[0] > now:
        return hit[1]
    try:
        response = _session.post(
            f"{LATCHKEY_URL}/api/v1/introspect",
            json={"token": token},
            headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
            timeout=2,
        )
    except requests.RequestException as error:
        raise Unavailable(str(error)) from error
    if response.status_code != 200:
        raise Unavailable(f"introspection answered {response.status_code}")
    answer = response.json()
    ttl = CACHE_TTL if answer.get("active") else NEGATIVE_TTL
    if answer.get("exp"):
        ttl = min(ttl, answer["exp"] - time.time())
    if ttl > 0:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key] = (now + ttl, answer)
    return answer


def check(token, scope):
    """The status to answer (200, 401, 403, 503) and who the token acts for."""
    try:
        answer = introspect(token)
    except Unavailable:
        return 503, None
    if not answer.get("active"):
        return 401, None
    if scope not in answer.get("scope", "").split():
        return 403, answer.get("username")
    return 200, answer.get("username")


if __name__ == "__main__":
    needed = sys.argv[1]
    for line in sys.stdin:
        status, who = check(line.strip(), needed)
        print(status, who or "-")
