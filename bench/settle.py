"""What a change costs its writer on PostgreSQL: single revokes through the
API (`DELETE /api/v1/tokens/{id}`, one keep-alive connection, one at a
time), with one instance and with a second instance on the same database.
Each build gets a fresh database.
    python3 bench/settle.py BINARY [BINARY ...] [--revokes N]"""

import http.client
import os
import statistics
import sys
import time
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

NAME = f"latchkey_settle_{os.getpid()}"


def pg(sql, check=True):
    bench.sh(["psql", f"{bench.PG}/postgres", "-qc", sql], check=check)


def prepare(url, revokes):
    """A database with a token that may revoke, and `revokes` tokens to revoke."""
    server = bench.Server(url)
    server.cli("migrate")
    server.cli("user", "add", "--email", "api@bench.test", "--role", "developer",
               "--password-stdin", input=bench.PASSWORD)
    until = (date.today() + timedelta(days=30)).isoformat()
    token = server.cli("token", "create", "--email", "api@bench.test", "--name", "revoker",
                       "--expires-on", until, "--scope", "tokens:revoke")
    bench.sh(["psql", "-q", "-v", "ON_ERROR_STOP=1", url], input=f"""
        INSERT INTO api_tokens (org_id, owner_id, name, token_hash, hint, scopes, expires_at, created_at)
          SELECT 1, (SELECT id FROM members WHERE email = 'api@bench.test'), 'victim ' || i,
                 decode(md5(random()::text) || md5(random()::text), 'hex'), 'abcd', 'datastore:read',
                 (current_date + 30)::timestamp, now() FROM generate_series(1, {revokes}) i;""")
    ids = bench.sh(["psql", "-qtA", url],
                   input="SELECT id FROM api_tokens WHERE name LIKE 'victim %' ORDER BY id;").stdout
    return token, [int(x) for x in ids.split()]


def revoke_all(token, ids):
    conn = http.client.HTTPConnection("127.0.0.1", bench.PORT)
    took = []
    for token_id in ids:
        started = time.perf_counter()
        conn.request("DELETE", f"/api/v1/tokens/{token_id}", headers={"Authorization": f"Bearer {token}"})
        res = conn.getresponse()
        res.read()
        took.append((time.perf_counter() - started) * 1000)
        assert res.status == 200, res.status
    return took


def measure(binary, revokes, second):
    bench.BIN = binary
    pg(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
    pg(f"CREATE DATABASE {NAME}")
    url = f"{bench.PG}/{NAME}?sslmode=disable"
    token, ids = prepare(url, revokes)
    first = bench.Server(url)
    first.start()
    other = None
    if second:
        other = bench.Server(url)
        other.env["LATCHKEY_BIND"] = f"127.0.0.1:{bench.PORT + 1}"
        other.start()
    try:
        time.sleep(1)  # both hold their leases
        took = sorted(revoke_all(token, ids))
    finally:
        first.stop()
        if other:
            other.stop()
        pg(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)", check=False)
    return statistics.median(took), took[int(len(took) * 0.99) - 1]


def main():
    args = sys.argv[1:]
    revokes = 300
    if "--revokes" in args:
        at = args.index("--revokes")
        revokes = int(args[at + 1])
        del args[at:at + 2]
    print(f"{date.today()}, postgres, {os.cpu_count()} cores, {revokes} revokes one at a time\n")
    print("| build | instances | revoke p50 ms | revoke p99 ms |")
    print("|---|---|---|---|")
    for binary in args:
        for second in (False, True):
            p50, p99 = measure(binary, revokes, second)
            print(f"| {os.path.basename(binary)} | {2 if second else 1} | {p50:.2f} | {p99:.2f} |", flush=True)


if __name__ == "__main__":
    main()
