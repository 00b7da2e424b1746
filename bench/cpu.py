"""Where the CPU goes per request: the server, PostgreSQL, wrk, and the
cores left idle, for /healthz and for /api/v1/me (a valid token), each
under `wrk -t2 -c32`. Reads /proc (Linux); the machine should be quiet.
    python3 bench/cpu.py [BINARY] [sqlite|postgres] [rounds]"""

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import compare  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    """User + system time of a process, in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def postgres_ticks():
    pids = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout.split()
    return sum(ticks(p) for p in pids)


def idle_ticks():
    with open("/proc/stat") as f:
        cpu = f.readline().split()
    return int(cpu[4])


def children_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(server, url, headers):
    before = (ticks(server.proc.pid), postgres_ticks(), idle_ticks(), children_seconds())
    rps = bench.wrk(url, 32, headers)["rps"]
    after = (ticks(server.proc.pid), postgres_ticks(), idle_ticks(), children_seconds())
    n = rps * float(bench.DURATION)
    us = lambda a, b, per: (b - a) / per / n * 1e6  # noqa: E731
    return {
        "rps": rps,
        "server": us(before[0], after[0], TICK),
        "postgres": us(before[1], after[1], TICK),
        "wrk": us(before[3], after[3], 1),
        "idle": us(before[2], after[2], TICK),
    }


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else bench.BIN
    backend = sys.argv[2] if len(sys.argv) > 2 else "postgres"
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    assert backend in ("sqlite", "postgres"), "backend: sqlite or postgres"
    bench.BIN = binary
    tmp = tempfile.mkdtemp(prefix="latchkey-cpu-")
    seeded, url, _copy = compare.copies(backend, tmp)
    try:
        server = bench.Server(url)
        token = compare.seeded_token(server, backend, seeded)
        server.start()
        base = f"http://127.0.0.1:{bench.PORT}"
        rows = {"healthz": [], "me": []}
        try:
            time.sleep(1)
            for _ in range(rounds):
                rows["healthz"].append(measure(server, f"{base}/healthz", []))
                rows["me"].append(measure(server, f"{base}/api/v1/me", [f"Authorization: Bearer {token}"]))
        finally:
            server.stop()
        print(f"\n{date.today()}, {backend}, {os.cpu_count()} cores, wrk -t2 -c32 for "
              f"{bench.DURATION}s, median of {rounds}; CPU µs per request\n")
        print("| route | requests/s | server | PostgreSQL | wrk | idle cores |")
        print("|---|---|---|---|---|---|")
        for route, runs in rows.items():
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"| {route} | {med['rps']:,.0f} | {med['server']:.1f} | {med['postgres']:.1f} "
                  f"| {med['wrk']:.1f} | {med['idle']:.1f} |")
    finally:
        compare.drop_copies(backend)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
