"""Instructions the server runs per request, for /healthz and for
/api/v1/me (a valid token): the release binary under valgrind's callgrind,
counting only while `wrk -c8` runs. On SQLite the count does not depend
on how fast or busy the machine is, so two builds compare on a noisy
machine; on PostgreSQL it depends a little on how many requests share a
snapshot query, which timing decides. Kernel time is not counted; under
valgrind SHA-256 runs without the CPU's SHA instructions.
    python3 bench/instructions.py [BINARY] [sqlite|postgres]"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import compare  # noqa: E402

SECONDS = 8


def load(url, headers, seconds):
    """Requests wrk completed in `seconds` (8 connections: valgrind is slow)."""
    args = ["wrk", "-t2", "-c8", f"-d{seconds}s"]
    for h in headers:
        args += ["-H", h]
    out = bench.sh(args + [url]).stdout
    for line in out.splitlines():
        if "requests in" in line:
            return int(line.split()[0])
    raise RuntimeError(f"wrk said nothing about requests:\n{out}")


def total(dump):
    with open(dump) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def measure(binary, url, token, out):
    env = dict(os.environ, DATABASE_URL=url, LATCHKEY_LOG="warn", LATCHKEY_BIND=f"127.0.0.1:{bench.PORT}")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                             f"--callgrind-out-file={out}/callgrind.%p", binary, "serve"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{bench.PORT}"
    try:
        for _ in range(120):
            time.sleep(1)
            if subprocess.run(["curl", "-sf", f"{base}/healthz"], capture_output=True).returncode == 0:
                break
        else:
            raise RuntimeError("the server did not start under valgrind")
        auth = [f"Authorization: Bearer {token}"]
        # Warm up first: caches filled, connections made, code paged in.
        load(f"{base}/api/v1/me", auth, 3)
        load(f"{base}/healthz", [], 2)
        counts = {}
        for name, path, headers in (("healthz", "/healthz", []), ("me", "/api/v1/me", auth)):
            control = ["callgrind_control"]
            subprocess.run(control + ["-i", "on", str(proc.pid)], capture_output=True, check=True)
            requests = load(base + path, headers, SECONDS)
            subprocess.run(control + ["-i", "off", str(proc.pid)], capture_output=True, check=True)
            subprocess.run(control + ["-d", name, str(proc.pid)], capture_output=True, check=True)
            subprocess.run(control + ["-z", str(proc.pid)], capture_output=True, check=True)
            dump = max(glob.glob(f"{out}/callgrind.*"), key=os.path.getmtime)
            counts[name] = (requests, total(dump))
        return counts
    finally:
        proc.terminate()
        proc.wait()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else bench.BIN
    backend = sys.argv[2] if len(sys.argv) > 2 else "postgres"
    assert backend in ("sqlite", "postgres"), "backend: sqlite or postgres"
    assert shutil.which("valgrind") and shutil.which("callgrind_control"), "needs valgrind"
    bench.BIN = binary
    tmp = tempfile.mkdtemp(prefix="latchkey-instructions-")
    seeded, url, copy = compare.copies(backend, tmp)
    try:
        server = bench.Server(url)
        token = compare.seeded_token(server, backend, seeded)
        counts = measure(binary, copy(1), token, tmp)
        print(f"\n{date.today()}, {backend}, {os.path.basename(binary)}, callgrind, wrk -t2 -c8 for {SECONDS}s\n")
        print("| route | requests | instructions per request |")
        print("|---|---|---|")
        for route, (requests, instructions) in counts.items():
            print(f"| {route} | {requests:,} | {instructions / requests:,.0f} |")
    finally:
        compare.drop_copies(backend)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
