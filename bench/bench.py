"""Benchmark driver for bench/run: seeds an organisation of 10,000 tokens
over 50 members, starts the release binary, and measures with wrk, curl and
a keep-alive HTTP client. Every figure is the median of three runs."""

import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import date, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("LATCHKEY_BENCH_BIN", os.path.join(ROOT, "target", "release", "latchkey"))
PG = os.environ.get("LATCHKEY_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PASSWORD = "bench password 123"
RUNS = 3
DURATION = os.environ.get("LATCHKEY_BENCH_SECONDS", "10")
PORT = 18480
# LATCHKEY_BENCH_ONLY=hot measures the token check alone (healthz, me).
HOT_ONLY = os.environ.get("LATCHKEY_BENCH_ONLY") == "hot"


def sh(args, env=None, input=None, check=True):
    return subprocess.run(args, env=env, input=input, capture_output=True, text=True, check=check)


def wrk(url, connections, headers=()):
    # Two wrk threads (one flatters the server); wrk needs a connection
    # per thread.
    args = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{DURATION}s", "--latency"]
    for h in headers:
        args += ["-H", h]
    out = sh(args + [url]).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "errors": errors}


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


class Server:
    def __init__(self, db_url):
        self.env = dict(os.environ, DATABASE_URL=db_url, LATCHKEY_LOG="warn",
                        LATCHKEY_BIND=f"127.0.0.1:{PORT}")

    def cli(self, *args, input=None):
        return sh([BIN, *args], env=self.env, input=input).stdout.strip()

    def start(self):
        self.proc = subprocess.Popen([BIN, "serve"], env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        for line in self.proc.stdout:
            if "listening" in line:
                return
        raise RuntimeError("server did not start")

    def peak_rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0

    def note(self, phase):
        threads = len(os.listdir(f"/proc/{self.proc.pid}/task"))
        print(f"   after {phase}: rss {self.rss_mib():.1f} MiB, peak {self.peak_rss_mib():.1f} MiB, {threads} threads",
              file=sys.stderr, flush=True)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Session:
    """A signed-in console session over one keep-alive connection."""

    def __init__(self, email):
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT)
        self.cookie = ""
        page = self.get("/login")[1]
        self.post("/login", {"csrf_token": csrf(page), "email": email, "password": PASSWORD})

    def request(self, method, path, body=None):
        headers = {"Cookie": self.cookie}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            res = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closed an idle keep-alive connection: open another.
            self.conn = http.client.HTTPConnection("127.0.0.1", PORT)
            self.conn.request(method, path, body=body, headers=headers)
            res = self.conn.getresponse()
        data = res.read().decode()
        for k, v in res.getheaders():
            if k.lower() == "set-cookie" and v.startswith("latchkey_session="):
                self.cookie = v.split(";")[0]
        return res.status, data

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields):
        return self.request("POST", path, urllib.parse.urlencode(fields, doseq=True))


def csrf(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def seed(server, backend, db_path):
    """50 members x 200 active tokens, straight into the database."""
    server.cli("migrate")
    server.cli("user", "add", "--email", "admin@bench.test", "--role", "admin", "--password-stdin", input=PASSWORD)
    for i in range(3):
        server.cli("user", "add", "--email", f"gen{i}@bench.test", "--role", "developer", "--password-stdin", input=PASSWORD)
    server.cli("user", "add", "--email", "api@bench.test", "--role", "developer", "--password-stdin", input=PASSWORD)
    if backend == "sqlite":
        sql = """
        INSERT INTO members (org_id, email, password_hash, role, disabled, created_at)
          WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
          SELECT 1, 'member' || i || '@bench.test', (SELECT password_hash FROM members WHERE email = 'admin@bench.test'),
                 'developer', 0, strftime('%Y-%m-%d %H:%M:%f', 'now') FROM n;
        INSERT INTO api_tokens (org_id, owner_id, name, token_hash, hint, scopes, expires_at, created_at)
          WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999)
          SELECT 1, (SELECT id FROM members WHERE email = 'member' || (i / 200 + 1) || '@bench.test'),
                 'token ' || i, randomblob(32), substr(hex(randomblob(2)), 1, 4), 'datastore:read reports:read',
                 date('now', '+' || (1 + i % 365) || ' days') || ' 00:00:00.000',
                 strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (i % 1000) || ' minutes') FROM n;
        """
        sh(["sqlite3", db_path], input=sql)
    else:
        sql = """
        INSERT INTO members (org_id, email, password_hash, role, disabled, created_at)
          SELECT 1, 'member' || i || '@bench.test', (SELECT password_hash FROM members WHERE email = 'admin@bench.test'),
                 'developer', false, now() FROM generate_series(1, 50) i;
        INSERT INTO api_tokens (org_id, owner_id, name, token_hash, hint, scopes, expires_at, created_at)
          SELECT 1, (SELECT id FROM members WHERE email = 'member' || (i / 200 + 1) || '@bench.test'),
                 'token ' || i, decode(md5(random()::text) || md5(random()::text), 'hex'), substr(md5(i::text), 1, 4),
                 'datastore:read reports:read', (current_date + (1 + i % 365))::timestamp,
                 now() - (i % 1000) * interval '1 minute' FROM generate_series(0, 9999) i;
        ANALYZE;
        """
        sh(["psql", "-q", "-v", "ON_ERROR_STOP=1", db_path], input=sql)


def active_ids(backend, db_path, offset):
    sql = f"SELECT id FROM api_tokens WHERE revoked_at IS NULL ORDER BY id LIMIT 1000 OFFSET {offset};"
    if backend == "sqlite":
        out = sh(["sqlite3", db_path], input=sql).stdout
    else:
        out = sh(["psql", "-qtA", db_path], input=sql).stdout
    return [int(x) for x in out.split()]


def bench(backend):
    tmp = tempfile.mkdtemp(prefix="latchkey-bench-")
    if backend == "sqlite":
        db_path = os.path.join(tmp, "bench.db")
        url = f"sqlite://{db_path}"
    else:
        name = f"latchkey_bench_{os.getpid()}"
        sh(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {name}"])
        db_path = f"{PG}/{name}"
        url = f"{db_path}?sslmode=disable"
    server = Server(url)
    try:
        seed(server, backend, db_path)
        until = (date.today() + timedelta(days=30)).isoformat()
        token = server.cli("token", "create", "--email", "api@bench.test", "--name", "bench",
                           "--expires-on", until, "--scope", "datastore:read")
        bad = token[:-1] + ("A" if token[-1] != "A" else "B")
        server.start()
        server.note("start")
        base = f"http://127.0.0.1:{PORT}"
        results = {}
        results["healthz"] = [wrk(f"{base}/healthz", 32) for _ in range(RUNS)]
        server.note('healthz')
        results["me"] = [wrk(f"{base}/api/v1/me", 32, [f"Authorization: Bearer {token}"]) for _ in range(RUNS)]
        server.note('me')
        results["me_bad"] = [wrk(f"{base}/api/v1/me", 32, [f"Authorization: Bearer {bad}"]) for _ in range(RUNS)]
        server.note('me_bad')
        if HOT_ONLY:
            results["rss"] = server.peak_rss_mib()
            return results
        admin = Session("admin@bench.test")
        status, page = admin.get("/settings/api-tokens?owner=all")
        assert status == 200 and "10001 tokens" in page, (status, page[:300])
        cookie = f"Cookie: {admin.cookie}"
        results["list_c1"] = [wrk(f"{base}/settings/api-tokens?owner=all", 1, [cookie]) for _ in range(RUNS)]
        server.note('list_c1')
        results["list_c8"] = [wrk(f"{base}/settings/api-tokens?owner=all", 8, [cookie]) for _ in range(RUNS)]
        server.note('list_c8')
        # Bulk revoke of 1,000 tokens in one request (three disjoint sets).
        bulk = []
        for run in range(RUNS):
            ids = active_ids(backend, db_path, 0)
            assert len(ids) == 1000
            page = admin.get("/settings/api-tokens")[1]
            fields = {"csrf_token": csrf(page), "confirm": "yes", "ids": ids}
            started = time.perf_counter()
            status, _ = admin.post("/settings/api-tokens/revoke", fields)
            bulk.append((time.perf_counter() - started) * 1000)
            assert status == 303, status
        results["bulk_ms"] = bulk
        server.note('bulk')
        # Token generation through the console form, 100 per run.
        gen = []
        for run in range(RUNS):
            s = Session(f"gen{run}@bench.test")
            started = time.perf_counter()
            for i in range(100):
                form = s.get("/settings/api-tokens/new")[1]
                nonce = re.search(r'name="form_nonce" value="([^"]+)"', form).group(1)
                status, page = s.post("/settings/api-tokens", {
                    "csrf_token": csrf(form), "form_nonce": nonce, "name": f"gen {i}",
                    "expires_in": "30", "scopes": "datastore:read"})
                assert status == 200 and 'id="new-token"' in page, status
            gen.append(100 / (time.perf_counter() - started))
        results["gen_per_s"] = gen
        server.note('generate')
        results["rss"] = server.peak_rss_mib()
        errors = sum(r["errors"] for k in ("healthz", "me") for r in results[k])
        assert errors == 0, f"{errors} non-2xx answers under load"
        return results
    finally:
        try:
            server.stop()
        except Exception:
            pass
        if backend == "postgres":
            sh(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS latchkey_bench_{os.getpid()} WITH (FORCE)"], check=False)


def report(all_results):
    rows = []
    def row(label, fn, unit=""):
        try:
            cells = [fn(all_results[b]) + unit for b in all_results]
        except KeyError:
            return  # not measured in this run
        rows.append("| " + label + " | " + " | ".join(cells) + " |")
    f0 = lambda v: f"{v:,.0f}"
    f1 = lambda v: f"{v:.1f}"
    f2 = lambda v: f"{v:.2f}"
    print("| figure (median of 3) | " + " | ".join(all_results) + " |")
    print("|---|" + "---|" * len(all_results))
    row("`GET /healthz` requests/s (32 connections)", lambda r: f0(median_of(r["healthz"], "rps")))
    row("`GET /healthz` p50 / p99 ms", lambda r: f"{f2(median_of(r['healthz'], 'p50'))} / {f2(median_of(r['healthz'], 'p99'))}")
    row("`GET /api/v1/me` valid token requests/s", lambda r: f0(median_of(r["me"], "rps")))
    row("`GET /api/v1/me` p50 / p99 ms", lambda r: f"{f2(median_of(r['me'], 'p50'))} / {f2(median_of(r['me'], 'p99'))}")
    row("**verify / healthz** (target ≥ 0.70)", lambda r: f"**{median_of(r['me'], 'rps') / median_of(r['healthz'], 'rps'):.2f}**")
    row("`GET /api/v1/me` bad checksum requests/s", lambda r: f0(median_of(r["me_bad"], "rps")))
    row("token list, 10,000 tokens, median ms at 1 connection (target ≤ 15)", lambda r: f2(median_of(r["list_c1"], "p50")))
    row("token list requests/s (8 connections)", lambda r: f0(median_of(r["list_c8"], "rps")))
    row("bulk revoke of 1,000 tokens, ms (target ≤ 200)", lambda r: f1(statistics.median(r["bulk_ms"])))
    row("token generation through the console, tokens/s", lambda r: f0(statistics.median(r["gen_per_s"])))
    row("peak resident memory, MiB (target ≤ 64)", lambda r: f1(r["rss"]))
    for line in rows:
        print(line)


def main():
    backends = sys.argv[1:] or ["sqlite", "postgres"]
    started = time.time()
    results = {}
    for b in backends:
        print(f"== {b}", file=sys.stderr, flush=True)
        results[b] = bench(b)
    print(f"\n{date.today()}, {os.cpu_count()} cores, wrk -t2 for {DURATION}s per run, "
          f"{time.time() - started:.0f}s in all\n")
    report(results)


if __name__ == "__main__":
    main()
