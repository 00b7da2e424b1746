# Sourced by .ci/test: makes sure the tests have a PostgreSQL they may use
# with trust authentication, and exports LATCHKEY_TEST_PG.
#
# 1. If PostgreSQL at 127.0.0.1:5432 lets `postgres` in without a password,
#    the tests use it (each test makes and drops its own database).
# 2. Otherwise a throw-away cluster of our own: `initdb --auth=trust` in a
#    temporary directory, on a free port, stopped and deleted when the
#    tests end. The machine's own cluster and its pg_hba.conf are never
#    touched. The server is installed (Debian's `postgresql`) when missing
#    and we are root; otherwise the one command to run is printed.

PG_HOST=127.0.0.1
PG_PORT=${LATCHKEY_CI_PG_PORT:-5432}

pg_log() { printf '== %s\n' "$*"; }

pg_bin_dir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# The machine's PostgreSQL, when it trusts `postgres` on loopback.
pg_trusted_at() {
    command -v psql >/dev/null 2>&1 \
        && PGCONNECT_TIMEOUT=3 psql -w -h "$PG_HOST" -p "$1" -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1
}

pg_free_port() {
    local port
    for port in $(seq 54329 54429); do
        if ! (exec 3<>"/dev/tcp/$PG_HOST/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

pg_install_server() {
    if [ -n "$(pg_bin_dir)" ] && command -v pg_dump >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "PostgreSQL is needed for the tests and none answers at $PG_HOST:$PG_PORT. Install it with:" >&2
        echo "  sudo apt-get install -y postgresql" >&2
        exit 1
    fi
    pg_log "installing postgresql (server and client, for a throw-away test cluster)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

pg_start_throwaway() {
    pg_install_server
    local bin dir port as=()
    bin=$(pg_bin_dir)
    port=$(pg_free_port) || { echo "no free port for a test PostgreSQL" >&2; exit 1; }
    dir=$(mktemp -d /tmp/latchkey-pg.XXXXXX)
    # initdb refuses to run as root: the cluster belongs to `postgres`.
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
        as=(runuser -u postgres --)
    fi
    pg_log "starting a throw-away PostgreSQL in $dir on port $port"
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-p $port -k $dir -c listen_addresses=$PG_HOST -c fsync=off -c max_connections=300" start >/dev/null
    PG_THROWAWAY_DIR=$dir
    PG_THROWAWAY_STOP=("${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop)
    trap 'pg_stop_throwaway' EXIT
    PG_PORT=$port
}

pg_stop_throwaway() {
    if [ -n "${PG_THROWAWAY_DIR:-}" ]; then
        "${PG_THROWAWAY_STOP[@]}" >/dev/null 2>&1 || true
        rm -rf "$PG_THROWAWAY_DIR"
        pg_log "throw-away PostgreSQL stopped"
    fi
}

if pg_trusted_at "$PG_PORT"; then
    pg_log "using PostgreSQL at $PG_HOST:$PG_PORT"
else
    pg_start_throwaway
fi
export LATCHKEY_TEST_PG="postgres://postgres@$PG_HOST:$PG_PORT"
