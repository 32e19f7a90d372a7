#!/usr/bin/env bash
# Re-encryption throughput through the command line vs the library call (issue 20).
#   benches/reencrypt_cli.sh [N] [ROUNDS]          SQLite (default N=100000, ROUNDS=3)
#   STORE=postgres benches/reencrypt_cli.sh ...    PostgreSQL (after: eval "$(scripts/pg.sh start)")
# Each round seeds a fresh deployment with N records under key 1, rotates to key 2, then
# times `tenantguard reencrypt --all` and, on an identical fresh deployment,
# `reencrypt_baseline lib` (one Guard::reencrypt_all call, batch 500 like the CLI's
# default). Both are whole processes timed with bash's `time` (wall, user, sys), so
# process start-up counts on both sides.
set -euo pipefail
N=${1:-100000}
ROUNDS=${2:-3}
STORE=${STORE:-sqlite}
cd "$(dirname "$0")/.."
features=()
[[ $STORE == postgres ]] && features=(--features postgres)
cargo build --release --locked -p tenantguard-cli "${features[@]}" --bin tenantguard --example reencrypt_baseline >&2
target=$(scripts/cargo-target-dir.sh)
CLI=$target/release/tenantguard
BASE=$target/release/examples/reencrypt_baseline
TIMEFORMAT='%R %U %S'
work=$(mktemp -d)
dbs=()
cleanup() {
    rm -rf "$work"
    for db in "${dbs[@]}"; do psql_admin "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true; done
}
trap cleanup EXIT

fresh() { # $1: dir -> seeded deployment
    local d=$1
    mkdir -p "$d"
    if [[ $STORE == postgres ]]; then
        local db="tg_bench_$RANDOM$RANDOM"
        psql_admin "CREATE DATABASE $db" >/dev/null
        dbs+=("$db")
        local base=${TENANTGUARD_PG_URL%/*} sbase=${TENANTGUARD_PG_SERVICE_URL%/*} abase=${TENANTGUARD_PG_ADMIN_URL%/*}
        printf 'store = "postgres"\nkey_file = "keys.json"\npostgres_url = "%s/%s"\npostgres_service_url = "%s/%s"\npostgres_admin_url = "%s/%s"\n' \
            "$base" "$db" "$sbase" "$db" "$abase" "$db" > "$d/tenantguard.toml"
        (cd "$d" && "$CLI" --quiet pg migrate >/dev/null)
        export TENANTGUARD_STORE=postgres TENANTGUARD_POSTGRES_URL="$base/$db" TENANTGUARD_POSTGRES_SERVICE_URL="$sbase/$db"
    else
        printf 'key_file = "keys.json"\nsqlite_path = "tenantguard.db"\n' > "$d/tenantguard.toml"
    fi
    (cd "$d" && "$CLI" --quiet init >/dev/null)
    "$BASE" seed "$d" "$N"
}
psql_admin() {
    local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    "$bin/psql" "$TENANTGUARD_PG_ADMIN_URL" -qAtc "$1"
}

echo "store=$STORE records=$N rounds=$ROUNDS"
echo "variant wall_s user_s sys_s records_per_s"
for r in $(seq 1 "$ROUNDS"); do
    fresh "$work/cli$r"
    t=$( { time (cd "$work/cli$r" && "$CLI" --quiet reencrypt --all >/dev/null) ; } 2>&1 )
    echo "cli $t $(awk -v n="$N" -v w="${t%% *}" 'BEGIN{printf "%.0f", n/w}')"
    fresh "$work/lib$r"
    t=$( { time "$BASE" lib "$work/lib$r" >/dev/null ; } 2>&1 )
    echo "lib $t $(awk -v n="$N" -v w="${t%% *}" 'BEGIN{printf "%.0f", n/w}')"
done
