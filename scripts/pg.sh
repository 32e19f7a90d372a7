#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tenantguard's PostgreSQL tests and benchmarks.
#
#   eval "$(scripts/pg.sh start)"   # installs PostgreSQL if absent, starts a cluster on
#                                   # 127.0.0.1 and a free port, prints `export ...` lines
#   scripts/pg.sh stop              # stops it and deletes its folder ($TENANTGUARD_PG_DIR)
#   scripts/pg.sh status
#
# `start` writes the same variables to "$TENANTGUARD_PG_DIR/env" (mode 600):
#   TENANTGUARD_PG_URL          application login (member of tenantguard_app; not superuser,
#                               not table owner, no BYPASSRLS)
#   TENANTGUARD_PG_SERVICE_URL  service login (member of tenantguard_service)
#   TENANTGUARD_PG_ADMIN_URL    superuser: runs migrations, tests verify state through it
#   TENANTGUARD_PG_DIR          the cluster's folder
# Passwords are random per cluster; authentication is scram-sha-256, loopback only.
# Logs go to stderr so stdout stays eval-able.
set -euo pipefail

log() { echo "pg.sh: $*" >&2; }

find_bin() {
    # The newest installed major version (a plain glob would sort "9.6" after "15").
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return 0; fi
    return 1
}

install_pg() {
    if find_bin >/dev/null; then return 0; fi
    log "PostgreSQL not found: installing Debian's postgresql package"
    command -v apt-get >/dev/null || { log "no apt-get: install PostgreSQL (server binaries under /usr/lib/postgresql/*/bin) yourself"; exit 1; }
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n)
        else log "need root (or password-less sudo) to install PostgreSQL with apt-get"; exit 1; fi
    fi
    # Clusters that exist before the install are not ours to touch.
    local before=""
    if command -v pg_lsclusters >/dev/null; then before=$(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}'); fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
    # Debian's package creates and starts a system cluster ("main"); we do not use it.
    if command -v pg_lsclusters >/dev/null; then
        local c
        for c in $(pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}'); do
            if grep -qxF "$c" <<<"$before"; then continue; fi
            "${sudo[@]}" pg_ctlcluster "${c%/*}" "${c#*/}" stop >&2 2>/dev/null || true
        done
    fi
    find_bin >/dev/null || { log "install failed: no initdb under /usr/lib/postgresql/*/bin"; exit 1; }
    if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then log "install failed: no postgres OS user"; exit 1; fi
}

free_port() {
    local p
    for p in $(seq 54329 54999); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    log "no free port in 54329-54999"; exit 1
}

rand() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# Runs a command as the cluster's OS user (initdb refuses root).
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    install_pg
    local bin dir port supw apppw svcpw
    bin=$(find_bin)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tenantguard-pg.XXXXXX")
    chmod 755 "$dir"
    mkdir -m 700 "$dir/data"
    port=$(free_port)
    supw=$(rand); apppw=$(rand); svcpw=$(rand)
    ( umask 077; printf '%s\n' "$supw" >"$dir/pw" )
    if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$dir/data" "$dir/pw"; fi
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 --pwfile="$dir/pw" -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
        || { rm -f "$dir/pw"; cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir/pw"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >&2
    local admin="postgres://postgres:$supw@127.0.0.1:$port/postgres"
    PGPASSWORD=$supw "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres >&2 <<SQL
CREATE DATABASE tenantguard;
CREATE ROLE tenantguard_app NOLOGIN;
CREATE ROLE tenantguard_service NOLOGIN;
CREATE ROLE tg_app LOGIN PASSWORD '$apppw' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE IN ROLE tenantguard_app;
CREATE ROLE tg_service LOGIN PASSWORD '$svcpw' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE IN ROLE tenantguard_service;
SQL
    ( umask 077; cat >"$dir/env" <<ENV
export TENANTGUARD_PG_URL='postgres://tg_app:$apppw@127.0.0.1:$port/tenantguard'
export TENANTGUARD_PG_SERVICE_URL='postgres://tg_service:$svcpw@127.0.0.1:$port/tenantguard'
export TENANTGUARD_PG_ADMIN_URL='postgres://postgres:$supw@127.0.0.1:$port/tenantguard'
export TENANTGUARD_PG_DIR='$dir'
ENV
    )
    log "started PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, folder $dir (env file $dir/env)"
    cat "$dir/env"
    : "$admin"
}

stop() {
    local dir=${1:-${TENANTGUARD_PG_DIR:-}}
    if [[ -z "$dir" || ! -d "$dir/data" ]]; then log "nothing to stop (set TENANTGUARD_PG_DIR or pass the folder)"; return 0; fi
    local bin; bin=$(find_bin)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    log "stopped and removed $dir"
}

status() {
    local dir=${1:-${TENANTGUARD_PG_DIR:-}}
    [[ -n "$dir" && -d "$dir/data" ]] || { log "no cluster"; return 1; }
    as_pg "$(find_bin)/pg_ctl" -D "$dir/data" status >&2
}

case "${1:-start}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    status) status "${2:-}" ;;
    *) log "usage: $0 start|stop [DIR]|status [DIR]"; exit 2 ;;
esac
