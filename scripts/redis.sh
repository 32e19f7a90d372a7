#!/usr/bin/env bash
# Throwaway Redis server for tenantguard's shared rate-limit tests and benchmarks.
#
#   eval "$(scripts/redis.sh start)"   # installs Debian's redis-server if absent, starts one
#                                      # on 127.0.0.1 and a free port, prints `export ...` lines
#   scripts/redis.sh stop              # stops it and deletes its folder ($TENANTGUARD_REDIS_DIR)
#
# Variables: TENANTGUARD_REDIS_URL (redis://127.0.0.1:PORT/0), TENANTGUARD_REDIS_DIR.
# No persistence (no RDB, no AOF); loopback only. Logs go to stderr so stdout stays eval-able.
set -euo pipefail

log() { echo "redis.sh: $*" >&2; }

install_redis() {
    command -v redis-server >/dev/null && return 0
    log "redis-server not found: installing Debian's redis-server package"
    command -v apt-get >/dev/null || { log "no apt-get: install redis-server yourself"; exit 1; }
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n)
        else log "need root (or password-less sudo) to install redis-server with apt-get"; exit 1; fi
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >&2
    # The package may start a system server on 6379; we do not use it.
    command -v systemctl >/dev/null && "${sudo[@]}" systemctl stop redis-server >/dev/null 2>&1 || true
    command -v redis-server >/dev/null || { log "install failed: no redis-server"; exit 1; }
}

free_port() {
    local p
    for p in $(seq 56379 56999); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    log "no free port in 56379-56999"; exit 1
}

start() {
    install_redis
    local dir port
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tenantguard-redis.XXXXXX")
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2
    local i
    for i in $(seq 1 50); do
        if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then break; fi
        sleep 0.1
    done
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG || { cat "$dir/redis.log" >&2; log "did not start"; exit 1; }
    ( umask 077; cat >"$dir/env" <<ENV
export TENANTGUARD_REDIS_URL='redis://127.0.0.1:$port/0'
export TENANTGUARD_REDIS_DIR='$dir'
ENV
    )
    log "started $(redis-server --version | awk '{print $3}') on 127.0.0.1:$port, folder $dir"
    cat "$dir/env"
}

stop() {
    local dir=${1:-${TENANTGUARD_REDIS_DIR:-}}
    if [[ -z "$dir" || ! -f "$dir/redis.pid" ]]; then log "nothing to stop (set TENANTGUARD_REDIS_DIR or pass the folder)"; return 0; fi
    local pid; pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -rf "$dir"
    log "stopped and removed $dir"
}

case "${1:-start}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) log "usage: $0 start|stop [DIR]"; exit 2 ;;
esac
