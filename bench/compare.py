"""Verify throughput of two builds on one machine, interleaved so that
drift and noise fall on both alike: A, B, A, B, … each serving a copy of
the same seeded database, `wrk -c32` on /healthz and /api/v1/me in turn.
    python3 bench/compare.py BEFORE_BINARY AFTER_BINARY [rounds] [sqlite|postgres]"""

import os
import shutil
import statistics
import sys
import tempfile
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def serve(binary, url, token):
    bench.BIN = binary
    server = bench.Server(url)
    server.start()
    base = f"http://127.0.0.1:{bench.PORT}"
    try:
        health = bench.wrk(f"{base}/healthz", 32)["rps"]
        me = bench.wrk(f"{base}/api/v1/me", 32, [f"Authorization: Bearer {token}"])
        assert me["errors"] == 0, me
        return health, me["rps"], server.peak_rss_mib()
    finally:
        server.stop()


PG_NAME = f"latchkey_compare_{os.getpid()}"


def pg(sql, check=True):
    bench.sh(["psql", f"{bench.PG}/postgres", "-qc", sql], check=check)


def copies(backend, tmp):
    """The seeded database's address, and a function making a fresh copy."""
    if backend == "sqlite":
        seeded = os.path.join(tmp, "seeded.db")

        def copy(n):
            db = os.path.join(tmp, f"run{n}.db")
            shutil.copy(seeded, db)
            return f"sqlite://{db}"
        return seeded, f"sqlite://{seeded}", copy
    name = PG_NAME
    pg(f"CREATE DATABASE {name}")

    def copy(n):
        pg(f"DROP DATABASE IF EXISTS {name}_run WITH (FORCE)")
        pg(f"CREATE DATABASE {name}_run TEMPLATE {name}")
        return f"{bench.PG}/{name}_run?sslmode=disable"
    return f"{bench.PG}/{name}", f"{bench.PG}/{name}?sslmode=disable", copy


def seeded_token(server, backend, seeded):
    """Seeds the database and returns a valid token for /api/v1/me (made
    before any copy is taken, so every copy knows it)."""
    bench.seed(server, backend, seeded)
    until = (date.today() + timedelta(days=30)).isoformat()
    return server.cli("token", "create", "--email", "api@bench.test", "--name", "bench",
                      "--expires-on", until, "--scope", "datastore:read")


def drop_copies(backend):
    """Removes the seeded PostgreSQL database and its copy (no-op on SQLite)."""
    if backend == "postgres":
        for db in (f"{PG_NAME}_run", PG_NAME):
            pg(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", check=False)


def main():
    before, after = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    backend = sys.argv[4] if len(sys.argv) > 4 else "sqlite"
    assert backend in ("sqlite", "postgres"), "backend: sqlite or postgres"
    tmp = tempfile.mkdtemp(prefix="latchkey-compare-")
    seeded, url, copy = copies(backend, tmp)
    try:
        run(before, after, rounds, backend, seeded, url, copy)
    finally:
        drop_copies(backend)


def run(before, after, rounds, backend, seeded, url, copy):
    # Seeded by the older build: the newer one migrates its copy forward,
    # while the older one refuses a database a newer build migrated.
    bench.BIN = before
    server = bench.Server(url)
    token = seeded_token(server, backend, seeded)
    results = {before: [], after: []}
    for n in range(rounds):
        for binary in (before, after):
            health, me, rss = serve(binary, copy(n), token)
            results[binary].append((health, me, rss))
            print(f"round {n + 1} {os.path.basename(binary)}: healthz {health:,.0f}, me {me:,.0f}, "
                  f"ratio {me / health:.2f}, peak {rss:.1f} MiB", flush=True)
    print(f"\n{date.today()}, {backend}, {os.cpu_count()} cores, wrk -t2 -c32 for {bench.DURATION}s, {rounds} rounds\n")
    print("| build | healthz requests/s | /api/v1/me requests/s | verify / healthz | peak MiB |")
    print("|---|---|---|---|---|")
    for binary, runs in results.items():
        h = statistics.median(r[0] for r in runs)
        m = statistics.median(r[1] for r in runs)
        ratio = statistics.median(r[1] / r[0] for r in runs)
        print(f"| {os.path.basename(binary)} | {h:,.0f} | {m:,.0f} | {ratio:.2f} | "
              f"{max(r[2] for r in runs):.1f} |")


if __name__ == "__main__":
    main()
