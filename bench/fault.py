"""PostgreSQL restart under load (SPEC §9): 16 clients verify a token
against a release build on PostgreSQL; the cluster is restarted; the
script reports how long after PostgreSQL accepted connections again the
first token check answered 200, and what the clients saw meanwhile.

    bench/fault                 restarts the local cluster (pg_ctlcluster)

It restarts the machine's PostgreSQL: run it by hand, never in CI. The
figures go to docs/reliability.md."""

import http.client
import os
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("LATCHKEY_BENCH_BIN", os.path.join(ROOT, "target", "release", "latchkey"))
PG = os.environ.get("LATCHKEY_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
CLIENTS = 16
ROUNDS = int(os.environ.get("LATCHKEY_FAULT_ROUNDS", "3"))
PORT = 18495


def cluster():
    version = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(x) for x in v.split(".")])[-1]
    return version


def pg_ready():
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0


def worker(stop, token, log, lock):
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
            conn.request("GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            res = conn.getresponse()
            res.read()
            status = res.status
        except Exception:
            status = "error"
            conn = None
        with lock:
            log.append((time.monotonic(), status))


def main():
    name = f"latchkey_fault_{os.getpid()}"
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    env = dict(os.environ, DATABASE_URL=f"{PG}/{name}", LATCHKEY_LOG="error",
               LATCHKEY_BIND=f"127.0.0.1:{PORT}", LATCHKEY_POOL_SIZE="8")
    proc = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if "listening" in line:
            break
    try:
        subprocess.run([BIN, "user", "add", "--email", "dev@example.com", "--role", "developer",
                        "--password-stdin"], env=env, input="bench password 123\n",
                       text=True, check=True, capture_output=True)
        expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
        token = subprocess.run([BIN, "token", "create", "--email", "dev@example.com", "--name", "fault",
                                "--expires-on", expires, "--scope", "datastore:read"],
                               env=env, text=True, check=True, capture_output=True).stdout.strip()
        print(f"## PostgreSQL restart under load: {CLIENTS} clients, {ROUNDS} rounds")
        print()
        print("| round | PostgreSQL down (s) | first 200 after it accepts (s) | last failure after it accepts (s) | 503 | 500 | other |")
        print("|---|---|---|---|---|---|---|")
        for rnd in range(1, ROUNDS + 1):
            stop, lock, log = threading.Event(), threading.Lock(), []
            threads = [threading.Thread(target=worker, args=(stop, token, log, lock)) for _ in range(CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(3)
            went_down = time.monotonic()
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster(), "main", "restart"],
                           check=True, capture_output=True)
            while not pg_ready():
                time.sleep(0.01)
            accepting = time.monotonic()
            deadline = accepting + 120
            first_ok = None
            while time.monotonic() < deadline and first_ok is None:
                time.sleep(0.02)
                with lock:
                    first_ok = next((t for t, s in log if t >= accepting and s == 200), None)
            time.sleep(2)
            stop.set()
            for t in threads:
                t.join()
            during = [s for t, s in log if t >= went_down]
            counts = {s: during.count(s) for s in set(during)}
            recovered = f"{first_ok - accepting:.2f}" if first_ok else "none within 120"
            last_bad = max((t for t, s in log if t >= went_down and s != 200), default=None)
            last = f"{last_bad - accepting:.2f}" if last_bad else "none"
            other = sum(v for k, v in counts.items() if k not in (200, 503, 500))
            print(f"| {rnd} | {accepting - went_down:.2f} | {recovered} | {last} | {counts.get(503, 0)} "
                  f"| {counts.get(500, 0)} | {other} |")
    finally:
        proc.terminate()
        proc.wait()
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                       capture_output=True)


if __name__ == "__main__":
    main()
