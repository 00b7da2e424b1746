"""Audit export of a long log: seeds N audit events (default 1,000,000) into
a SQLite database, streams /settings/audit.csv and .jsonl from the release
binary, and reports rows, time and the server's peak resident memory.
    python3 bench/export.py [N]"""

import os
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import PASSWORD, PORT, Server, Session  # noqa: E402


def main():
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    tmp = tempfile.mkdtemp(prefix="latchkey-export-")
    db_path = os.path.join(tmp, "export.db")
    server = Server(f"sqlite://{db_path}")
    server.cli("migrate")
    server.cli("user", "add", "--email", "admin@bench.test", "--role", "admin",
               "--password-stdin", input=PASSWORD + "\n")
    with sqlite3.connect(db_path) as db:
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO audit_events (org_id, actor_id, action, token_id, member_id, ip, detail, created_at) "
            "SELECT 1, NULL, 'member.added', NULL, NULL, '192.0.2.1', "
            "'seeded event ' || i || ' with a detail of ordinary length', '2026-11-30 00:00:00' FROM n",
            (events,))
    server.start()
    try:
        admin = Session("admin@bench.test")
        # After sign-in: its password hashing holds 19 MiB of its own.
        before = server.peak_rss_mib()
        for path in ("/settings/audit.csv", "/settings/audit.jsonl"):
            started = time.perf_counter()
            status, body = admin.get(path)
            took = time.perf_counter() - started
            lines = body.count("\n")
            print(f"{path}: HTTP {status}, {lines:,} lines, {len(body) / 2**20:.0f} MiB in {took:.1f} s "
                  f"({lines / took:,.0f} lines/s); server peak RSS {server.peak_rss_mib():.1f} MiB "
                  f"({before:.1f} MiB after signing in, before any export)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
