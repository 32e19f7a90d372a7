#!/usr/bin/env bash
# Server CPU time per statement with and without Row Level Security, for the statements of
# a sealed put + get (see the "PostgreSQL RLS" section of benches/BENCHMARKS.md).
#
#   eval "$(scripts/pg.sh start)"
#   cargo bench -p tenantguard-benches --features postgres --bench rls   # creates the databases
#   benches/rls_statements.sh [ITERATIONS] [ROUNDS]                      # default 5000 x 3
#
# Runs each statement ITERATIONS times, one transaction each (scope, statement, COMMIT), in
# a plpgsql loop inside one backend of tg_bench_rls and of tg_bench_norls (the benchmark's
# databases: same schema and data, RLS disabled in the second), alternating the two
# databases ROUNDS times, and prints the backend's CPU time (user + system, from
# /proc/<pid>/stat) per iteration, minus an empty iteration. plpgsql caches each
# statement's plan like the store's prepared statements, so this is execution cost only.
# CPU time is far less sensitive than wall time to other load on the machine. Needs the
# server on this machine (scripts/pg.sh) and psql from the same installation.
set -euo pipefail

n=${1:-5000}
rounds=${2:-3}
: "${TENANTGUARD_PG_URL:?run eval \"\$(scripts/pg.sh start)\" first}"
: "${TENANTGUARD_PG_SERVICE_URL:?}"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
psql="$bin/psql"
[[ -x "$psql" ]] || { echo "no psql under /usr/lib/postgresql/*/bin" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# cpu URL USER 'declarations' 'body' -> backend CPU microseconds per iteration
cpu() {
    local url=$1 user=$2 decl=$3 body=$4
    "$psql" -X -q -At -v ON_ERROR_STOP=1 "$url" >/dev/null <<SQL
\o $tmp/pid
SELECT pg_backend_pid();
\o
\! awk '{sub(/.*\\) /, ""); split(\$0, f, " "); print f[12] + f[13]}' /proc/\$(cat $tmp/pid)/stat > $tmp/t0
DO \$\$ DECLARE i int; $decl BEGIN
  FOR i IN 1..$n LOOP
    PERFORM set_config('app.tenant_id', 'bench', true), set_config('app.user_id', '$user', true);
    $body
    COMMIT;
  END LOOP;
END \$\$;
\! awk '{sub(/.*\\) /, ""); split(\$0, f, " "); print f[12] + f[13]}' /proc/\$(cat $tmp/pid)/stat > $tmp/t1
SQL
    echo $(( ($(cat "$tmp/t1") - $(cat "$tmp/t0")) * 10000000 / n / 1000 ))
}

url() { echo "${1%/*}/$2"; }

cols="id, tenant_id, class, subject, key_id, sealed, created_at, updated_at"
declare -A decl body user role
names=(empty put_replace put_new put_upsert_v2 get audit)
decl[empty]=""; body[empty]="NULL;"; user[empty]=mia; role[empty]=app
decl[put_replace]=""; user[put_replace]=mia; role[put_replace]=app
body[put_replace]="UPDATE tg_records SET class = 'password', subject = NULL, key_id = 1, sealed = '\\x0102', updated_at = 1
    WHERE id = 'rec-' || (i % 2000) AND tenant_id = 'bench';"
# A new id each time (inserted rows stay: the prefix is fresh per run and round).
decl[put_new]=""; user[put_new]=mia; role[put_new]=app
body[put_new]="UPDATE tg_records SET class = 'password', subject = NULL, key_id = 1, sealed = '\\x0102', updated_at = 1
    WHERE id = 'NEWPREFIX' || i AND tenant_id = 'bench';
    INSERT INTO tg_records ($cols) VALUES ('NEWPREFIX' || i, 'bench', 'password', NULL, 1, '\\x0102', 1, 1)
    ON CONFLICT (id) DO NOTHING;"
# The put of schema version 2 (INSERT ... ON CONFLICT DO UPDATE), for comparison.
decl[put_upsert_v2]=""; user[put_upsert_v2]=mia; role[put_upsert_v2]=app
body[put_upsert_v2]="INSERT INTO tg_records ($cols) VALUES ('rec-' || (i % 2000), 'bench', 'password', NULL, 1, '\\x0102', 1, 1)
    ON CONFLICT (id) DO UPDATE SET class = EXCLUDED.class, subject = EXCLUDED.subject, key_id = EXCLUDED.key_id,
    sealed = EXCLUDED.sealed, updated_at = EXCLUDED.updated_at WHERE tg_records.tenant_id = EXCLUDED.tenant_id;"
decl[get]=""; user[get]=""; role[get]=service
body[get]="PERFORM id, class, subject, key_id, sealed, created_at, updated_at FROM tg_records
    WHERE id = 'rec-' || (i % 2000) AND tenant_id = 'bench';"
decl[audit]="s bigint;"; user[audit]=""; role[audit]=service
body[audit]="PERFORM pg_advisory_xact_lock(hashtextextended('tg_audit:' || 'bench', 0));
    SELECT seq INTO s FROM tg_audit WHERE tenant_id = 'bench' ORDER BY seq DESC LIMIT 1;
    INSERT INTO tg_audit (tenant_id, seq, hash, entry) VALUES ('bench', coalesce(s, 0) + 1, 'h', 'e');"

declare -A sum
for ((r = 0; r < rounds; r++)); do
    for name in "${names[@]}"; do
        base=$TENANTGUARD_PG_URL
        [[ ${role[$name]} == service ]] && base=$TENANTGUARD_PG_SERVICE_URL
        order=(tg_bench_rls tg_bench_norls)
        (( r % 2 == 1 )) && order=(tg_bench_norls tg_bench_rls)
        for db in "${order[@]}"; do
            b=${body[$name]//NEWPREFIX/new-$$-$r-}
            v=$(cpu "$(url "$base" "$db")" "${user[$name]}" "${decl[$name]}" "$b")
            sum[$name/$db]=$(( ${sum[$name/$db]:-0} + v ))
        done
    done
done
printf '%-16s %10s %10s %10s\n' statement "rls us" "no_rls us" "rls cost"
for name in "${names[@]}"; do
    a=$(( sum[$name/tg_bench_rls] / rounds )); b=$(( sum[$name/tg_bench_norls] / rounds ))
    if [[ $name != empty ]]; then
        a=$(( a - sum[empty/tg_bench_rls] / rounds )); b=$(( b - sum[empty/tg_bench_norls] / rounds ))
    fi
    printf '%-16s %10s %10s %+10s\n' "$name" "$a" "$b" "$(( a - b ))"
done
echo "(CPU microseconds per iteration; $rounds rounds x $n iterations; load: $(cut -d' ' -f1-3 /proc/loadavg))"
