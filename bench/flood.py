"""Sign-in flood (SPEC §9): 64 clients sign in with random emails from
random addresses for 30 s while one more client times /readyz, a console
page and /api/v1/me. Prints p50/p99 of those and what the flood got back.

    bench/flood                 SQLite
    bench/flood postgres        PostgreSQL (LATCHKEY_BENCH_PG)

Run by hand (release build); the figures go to docs/reliability.md."""

import http.client
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("LATCHKEY_BENCH_BIN", os.path.join(ROOT, "target", "release", "latchkey"))
PG = os.environ.get("LATCHKEY_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
CLIENTS = int(os.environ.get("LATCHKEY_FLOOD_CLIENTS", "64"))
SECONDS = float(os.environ.get("LATCHKEY_FLOOD_SECONDS", "30"))
PORT = 18490


def start(db_url):
    env = dict(os.environ, DATABASE_URL=db_url, LATCHKEY_LOG="error",
               LATCHKEY_BIND=f"127.0.0.1:{PORT}", LATCHKEY_TRUSTED_PROXIES="127.0.0.1")
    proc = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    password = None
    for line in proc.stdout:
        m = re.match(r"\s*password:\s*(\S+)", line)
        if m:
            password = m.group(1)
        if "listening" in line:
            break
    return proc, env, password


class Browser:
    """A keep-alive connection that keeps one cookie."""

    def __init__(self, forwarded_for=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.cookie = None
        self.forwarded_for = forwarded_for

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        if self.forwarded_for:
            headers["X-Forwarded-For"] = self.forwarded_for
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        res = self.conn.getresponse()
        data = res.read().decode("utf-8", "replace")
        set_cookie = res.getheader("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";")[0]
        return res.status, data

    def csrf(self):
        _, page = self.request("GET", "/login")
        return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)

    def sign_in(self, email, password):
        token = self.csrf()
        body = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": password})
        return self.request("POST", "/login", body)


def flood(stop, outcomes, lock):
    b = Browser()
    token = b.csrf()
    while not stop.is_set():
        b.forwarded_for = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        email = f"nobody{random.randrange(10**9)}@example.com"
        body = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": "guess"})
        try:
            status, _ = b.request("POST", "/login", body)
        except Exception:
            status = "error"
            b = Browser()
            token = b.csrf()
        with lock:
            outcomes[status] = outcomes.get(status, 0) + 1


def flood_process(threads, seconds, queue):
    """A process of flooding threads: the prober stays alone in its own
    process, so its timings are the server's, not the GIL's."""
    stop, outcomes, lock = threading.Event(), {}, threading.Lock()
    workers = [threading.Thread(target=flood, args=(stop, outcomes, lock)) for _ in range(threads)]
    for t in workers:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in workers:
        t.join()
    queue.put(outcomes)


def probe(stop, timings, admin, api_token):
    conns = {
        "/readyz": Browser(),
        "/settings/api-tokens": admin,
        "/api/v1/me": Browser(),
    }
    while not stop.is_set():
        for path, b in conns.items():
            headers = {"Authorization": f"Bearer {api_token}"} if path == "/api/v1/me" else {}
            started = time.perf_counter()
            status, _ = b.request("GET", path, headers=headers)
            ms = (time.perf_counter() - started) * 1000
            timings[path].append((status, ms))
        time.sleep(0.02)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    tmp = tempfile.mkdtemp(prefix="latchkey-flood-")
    if backend == "postgres":
        name = f"latchkey_flood_{os.getpid()}"
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
        db_url = f"{PG}/{name}"
    else:
        db_url = f"sqlite://{tmp}/flood.db"
    proc, env, password = start(db_url)
    try:
        subprocess.run([BIN, "user", "add", "--email", "dev@example.com", "--role", "developer",
                        "--password-stdin"], env=env, input="bench password 123\n",
                       text=True, check=True, capture_output=True)
        expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
        api_token = subprocess.run([BIN, "token", "create", "--email", "dev@example.com", "--name", "probe",
                                    "--expires-on", expires, "--scope", "datastore:read"],
                                   env=env, text=True, check=True, capture_output=True).stdout.strip()
        admin = Browser(forwarded_for="192.0.2.1")
        status, _ = admin.sign_in("admin@latchkey.local", password)
        assert status == 303, status
        stop = threading.Event()
        timings = {"/readyz": [], "/settings/api-tokens": [], "/api/v1/me": []}
        queue = multiprocessing.Queue()
        processes = [multiprocessing.Process(target=flood_process, args=(CLIENTS // 4, SECONDS, queue))
                     for _ in range(4)]
        for p in processes:
            p.start()
        prober = threading.Thread(target=probe, args=(stop, timings, admin, api_token))
        prober.start()
        time.sleep(SECONDS)
        stop.set()
        prober.join()
        outcomes = {}
        for _ in processes:
            for k, v in queue.get().items():
                outcomes[k] = outcomes.get(k, 0) + v
        for p in processes:
            p.join()
        rss = 0
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1]) / 1024
        total = sum(outcomes.values())
        print(f"## Sign-in flood, {backend}: {CLIENTS} clients, {SECONDS:.0f} s")
        print()
        print(f"Flood: {total} sign-ins ({total / SECONDS:.0f}/s): "
              + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items(), key=str)))
        print(f"Server peak RSS: {rss:.1f} MiB")
        print()
        print("| probed while flooded | requests | p50 ms | p99 ms | non-200 |")
        print("|---|---|---|---|---|")
        for path, rows in timings.items():
            ms = [m for _, m in rows]
            bad = sum(1 for s, _ in rows if s != 200)
            print(f"| `GET {path}` | {len(rows)} | {statistics.median(ms):.1f} | {pct(ms, 99):.1f} | {bad} |")
    finally:
        proc.terminate()
        proc.wait()
        if backend == "postgres":
            subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


if __name__ == "__main__":
    main()
