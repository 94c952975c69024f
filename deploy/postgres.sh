#!/usr/bin/env bash
# PostgreSQL for development and tests.
#
#   bash deploy/postgres.sh start    # ensure a server, print + write .run/pg.env
#   bash deploy/postgres.sh stop     # stop the throwaway cluster (not the system one)
#   bash deploy/postgres.sh status
#
# `start` prints `export YIPANQI_TEST_PG_DSN=...` on stdout (everything else goes
# to stderr), so both `eval "$(bash deploy/postgres.sh start)"` and
# `source .run/pg.env` work. Order of preference:
#   1. YIPANQI_TEST_PG_DSN already set and accepting a login -> reuse it;
#   2. a throwaway cluster under .run/pg (initdb as the `postgres` OS user when we
#      are root, because initdb refuses to run as root), on 127.0.0.1:55432 or the
#      next free port, role `yipanqi` (superuser, so tests can CREATE DATABASE);
#   3. the system cluster (pg_ctlcluster 15 main start) with the same role.
# The throwaway cluster runs with fsync=off: it is for tests, its data is disposable.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/.run"
PGROOT="$RUN/pg"
PGDATA_DIR="$PGROOT/data"
PGSOCK="$PGROOT/sock"
PGLOG="$PGROOT/postgres.log"
PORTFILE="$PGROOT/port"
ENVFILE="$RUN/pg.env"

PG_USER="${YIPANQI_PG_USER:-yipanqi}"
PG_PASS="${YIPANQI_PG_PASSWORD:-yipanqi}"
PG_DB="${YIPANQI_PG_DB:-yipanqi}"
PG_PORT_WANTED="${YIPANQI_PG_PORT:-55432}"
PG_VERSION_MAJOR="${YIPANQI_PG_VERSION:-15}"

log() { echo "postgres.sh: $*" >&2; }

find_pg_bin() {
    local d
    for d in "${PG_BIN:-}" "/usr/lib/postgresql/$PG_VERSION_MAJOR/bin" /usr/local/bin; do
        if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            echo "$d"
            return 0
        fi
    done
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    return 1
}

# Run a command as the cluster owner: `postgres` when we are root, ourselves otherwise.
# From / so that `postgres` need not be able to enter our working directory.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

dsn_ok() {
    # A real login + query, not just pg_isready: wrong password must count as "not reachable".
    PGCONNECT_TIMEOUT=3 psql "$1" -XAtqc 'select 1' >/dev/null 2>&1
}

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

emit() {
    local dsn="$1"
    mkdir -p "$RUN"
    printf 'export YIPANQI_TEST_PG_DSN=%s\n' "$dsn" >"$ENVFILE.tmp"
    mv "$ENVFILE.tmp" "$ENVFILE"
    cat "$ENVFILE"
}

throwaway_dsn() {
    echo "postgresql://$PG_USER:$PG_PASS@127.0.0.1:$(cat "$PORTFILE")/$PG_DB"
}

throwaway_running() {
    [[ -f "$PGDATA_DIR/PG_VERSION" ]] && as_owner "$BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

# Role + database, idempotently, over the Unix socket (trust for the owner).
ensure_role_and_db() {
    local -a psql_cmd=("$@")
    "${psql_cmd[@]}" -v ON_ERROR_STOP=1 -XAtq -d postgres >/dev/null <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE "$PG_USER" LOGIN SUPERUSER PASSWORD '$PG_PASS';
  ELSE
    ALTER ROLE "$PG_USER" LOGIN SUPERUSER PASSWORD '$PG_PASS';
  END IF;
END
\$\$;
SQL
    if [[ -z "$("${psql_cmd[@]}" -XAtq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" ]]; then
        "${psql_cmd[@]}" -XAtq -d postgres -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\" ENCODING 'UTF8' TEMPLATE template0" >/dev/null
    fi
}

start_throwaway() {
    [[ -n "${BIN:-}" ]] || { log "no initdb/pg_ctl found"; return 1; }
    if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        log "running as root but there is no 'postgres' OS user to own the cluster"
        return 1
    fi
    mkdir -p "$PGROOT" "$PGSOCK"
    if [[ $(id -u) -eq 0 ]]; then
        chown -R postgres: "$PGROOT"
        chmod 700 "$PGROOT"
    fi

    if throwaway_running; then
        [[ -f "$PORTFILE" ]] || { log "cluster running but $PORTFILE is missing"; return 1; }
        ensure_role_and_db as_owner psql -h "$PGSOCK" -p "$(cat "$PORTFILE")" -U postgres
        return 0
    fi

    if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
        log "initdb $PGDATA_DIR"
        rm -rf "$PGDATA_DIR"
        as_owner "$BIN/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 --locale=C \
            --auth-local=trust --auth-host=scram-sha-256 >"$PGROOT/initdb.log" 2>&1 \
            || { log "initdb failed:"; tail -n 20 "$PGROOT/initdb.log" >&2; return 1; }
    fi

    # Keep the port across restarts; pick the next free one if it is taken by someone else.
    local port
    port="$(cat "$PORTFILE" 2>/dev/null || echo "$PG_PORT_WANTED")"
    local tries=0
    while ! port_free "$port"; do
        port=$((port + 1)); tries=$((tries + 1))
        [[ $tries -lt 50 ]] || { log "no free port near $PG_PORT_WANTED"; return 1; }
    done
    echo "$port" >"$PORTFILE"
    [[ $(id -u) -ne 0 ]] || chown postgres: "$PORTFILE"

    log "starting throwaway cluster on 127.0.0.1:$port"
    # Options go in postgresql.auto.conf so a plain `pg_ctl start` keeps them.
    cat >"$PGDATA_DIR/postgresql.auto.conf" <<CONF
# Written by deploy/postgres.sh: throwaway test cluster, durability deliberately off.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PGSOCK'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
# A province's views database is a few GB: with the default 128MB every as-of scan copies its pages from the OS cache
# (about 15% of an as-of rollup's time). A quarter of the RAM is PostgreSQL's own advice for a dedicated server.
shared_buffers = 2GB
CONF
    [[ $(id -u) -ne 0 ]] || chown postgres: "$PGDATA_DIR/postgresql.auto.conf"
    as_owner "$BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGLOG" -w -t 60 start >/dev/null \
        || { log "pg_ctl start failed:"; tail -n 20 "$PGLOG" >&2; return 1; }
    ensure_role_and_db as_owner psql -h "$PGSOCK" -p "$port" -U postgres
}

start_system() {
    command -v pg_ctlcluster >/dev/null || { log "no pg_ctlcluster"; return 1; }
    [[ $(id -u) -eq 0 ]] || { log "system cluster needs root"; return 1; }
    local port
    port="$(pg_lsclusters -h | awk -v v="$PG_VERSION_MAJOR" '$1==v && $2=="main" {print $3}')"
    [[ -n "$port" ]] || { log "no system cluster $PG_VERSION_MAJOR/main"; return 1; }
    if ! pg_lsclusters -h | awk -v v="$PG_VERSION_MAJOR" '$1==v && $2=="main" {print $4}' | grep -q online; then
        log "starting system cluster $PG_VERSION_MAJOR/main"
        pg_ctlcluster "$PG_VERSION_MAJOR" main start
    fi
    ensure_role_and_db as_owner psql -p "$port"
    SYSTEM_DSN="postgresql://$PG_USER:$PG_PASS@127.0.0.1:$port/$PG_DB"
}

cmd_start() {
    if [[ -n "${YIPANQI_TEST_PG_DSN:-}" ]] && dsn_ok "$YIPANQI_TEST_PG_DSN"; then
        log "reusing YIPANQI_TEST_PG_DSN"
        emit "$YIPANQI_TEST_PG_DSN"
        return 0
    elif [[ -n "${YIPANQI_TEST_PG_DSN:-}" ]]; then
        log "YIPANQI_TEST_PG_DSN is set but not reachable; starting our own server"
    fi

    BIN="$(find_pg_bin || true)"
    if start_throwaway && dsn_ok "$(throwaway_dsn)"; then
        emit "$(throwaway_dsn)"
        return 0
    fi
    log "throwaway cluster unavailable; falling back to the system cluster"
    SYSTEM_DSN=""
    if start_system && dsn_ok "$SYSTEM_DSN"; then
        emit "$SYSTEM_DSN"
        return 0
    fi
    log "could not provide a PostgreSQL server"
    return 1
}

cmd_stop() {
    BIN="$(find_pg_bin || true)"
    if [[ -n "$BIN" ]] && throwaway_running; then
        log "stopping throwaway cluster"
        as_owner "$BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null
    else
        log "throwaway cluster not running"
    fi
}

cmd_status() {
    BIN="$(find_pg_bin || true)"
    if [[ -n "$BIN" ]] && throwaway_running; then
        echo "throwaway cluster running on 127.0.0.1:$(cat "$PORTFILE") ($PGDATA_DIR)"
    else
        echo "throwaway cluster not running"
        return 3
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
