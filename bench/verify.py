"""A resource server built on latchkey-verify (verify/examples/actix.rs)
in front of Latchkey on SQLite: its throughput with the cache warm and
with caching off, and Latchkey's own introspection throughput.
    cargo build --release --bin latchkey
    cargo build --release -p latchkey-verify --example actix --features actix-web
    python3 bench/verify.py            (wrk -t2 -c32, 10 s runs, median of 3)"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

EXAMPLE = os.path.join(bench.ROOT, "target", "release", "examples", "actix")
RS_PORT = 18190


def start_resource_server(service_token, cache_on):
    env = dict(os.environ, LATCHKEY_URL=f"http://127.0.0.1:{bench.PORT}",
               LATCHKEY_SERVICE_TOKEN=service_token, BIND=f"127.0.0.1:{RS_PORT}",
               CACHE="on" if cache_on else "off")
    proc = subprocess.Popen([EXAMPLE], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if "serving" in line:
            time.sleep(0.3)
            return proc
    raise RuntimeError("resource server did not start")


def median_rps(url, headers, script=None, runs=3):
    out = []
    for _ in range(runs):
        if script:
            args = ["wrk", "-t2", "-c32", f"-d{bench.DURATION}s", "-s", script]
            for h in headers:
                args += ["-H", h]
            text = bench.sh(args + [url]).stdout
            out.append(float(text.split("Requests/sec:")[1].split()[0]))
        else:
            r = bench.wrk(url, 32, headers)
            assert r["errors"] == 0, r
            out.append(r["rps"])
    return statistics.median(out)


def main():
    tmp = tempfile.mkdtemp(prefix="latchkey-verify-bench-")
    server = bench.Server(f"sqlite://{os.path.join(tmp, 'l.db')}")
    server.cli("migrate")
    until = (date.today() + timedelta(days=30)).isoformat()
    server.cli("service-account", "add", "--name", "reports-api", "--role", "admin")
    service = server.cli("token", "create", "--service-account", "reports-api", "--name", "rs",
                         "--expires-on", until, "--scope", "tokens:introspect")
    server.cli("user", "add", "--email", "dev@bench.test", "--role", "developer",
               "--password-stdin", input=bench.PASSWORD)
    token = server.cli("token", "create", "--email", "dev@bench.test", "--name", "reader",
                       "--expires-on", until, "--scope", "reports:read")
    server.start()
    results = {}
    try:
        auth = [f"Authorization: Bearer {token}"]
        for cache_on in (True, False):
            rs = start_resource_server(service, cache_on)
            try:
                results["warm cache" if cache_on else "caching off"] = median_rps(
                    f"http://127.0.0.1:{RS_PORT}/report", auth)
            finally:
                rs.terminate()
                rs.wait()
        script = os.path.join(tmp, "introspect.lua")
        with open(script, "w") as f:
            f.write('wrk.method = "POST"\n'
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    f'wrk.body = \'{{"token": "{token}"}}\'\n')
        results["Latchkey /api/v1/introspect"] = median_rps(
            f"http://127.0.0.1:{bench.PORT}/api/v1/introspect",
            [f"Authorization: Bearer {service}"], script)
        results["Latchkey /healthz"] = median_rps(f"http://127.0.0.1:{bench.PORT}/healthz", [])
    finally:
        server.stop()
    print(f"\n{date.today()}, {os.cpu_count()} cores, wrk -t2 -c32, {bench.DURATION}s runs, "
          "median of 3, SQLite\n")
    print("| figure | requests/s |\n|---|---|")
    for name, rps in results.items():
        print(f"| {name} | {rps:,.0f} |")


if __name__ == "__main__":
    main()
