#!/usr/bin/env bash
# Server CPU per replacing put (UPDATE) and per member read under the schema-3 policies
# (database tg_bench_rls as left by `cargo bench --bench rls` on a schema-3 build), under
# schema 4 (tg_bench_v4: a copy of it migrated with 004_verified_actor.sql and a proof
# minted for the member), and without RLS (tg_bench_norls), app role, alternating.
# See the "Schema 4" part of benches/BENCHMARKS.md. Set-up of tg_bench_v4 (admin):
#   CREATE DATABASE tg_bench_v4 TEMPLATE tg_bench_rls; then in it:
#   \i core/src/store/postgres/004_verified_actor.sql
#   INSERT INTO tg_schema_migrations (version) VALUES (4);
# and as the service login: SELECT tg_mint_proof('bench', 'mia', sha256('\x7e57'::bytea), 3600);
#   benches/rls_schema4_statements.sh [ITERATIONS] [ROUNDS]
set -euo pipefail
: "${TENANTGUARD_PG_URL:?run eval \"\$(scripts/pg.sh start)\" first}"
n=${1:-2000}; rounds=${2:-3}
B=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); P=$B/psql
APP=${TENANTGUARD_PG_URL%/*}
tmp=$(mktemp -d)
cpu() { # db scope-sql body
  "$P" -X -q -At -v ON_ERROR_STOP=1 "$APP/$1" >/dev/null <<SQL
\o $tmp/pid
SELECT pg_backend_pid();
\o
\! awk '{sub(/.*\\) /, ""); split(\$0, f, " "); print f[12] + f[13]}' /proc/\$(cat $tmp/pid)/stat > $tmp/t0
DO \$\$ DECLARE i int; n bigint; BEGIN
  FOR i IN 1..$n LOOP
    PERFORM $2;
    $3
    COMMIT;
  END LOOP;
END \$\$;
\! awk '{sub(/.*\\) /, ""); split(\$0, f, " "); print f[12] + f[13]}' /proc/\$(cat $tmp/pid)/stat > $tmp/t1
SQL
  echo $(( ($(cat $tmp/t1) - $(cat $tmp/t0)) * 10000000 / n / 1000 ))
}
s3="set_config('app.tenant_id', 'bench', true), set_config('app.user_id', 'mia', true)"
s4="set_config('app.tenant_id', 'bench', true), set_config('app.proof', '7e57', true)"
upd="UPDATE tg_records SET class = 'password', subject = NULL, key_id = 1, sealed = '\\\\x0102', updated_at = 1 WHERE id = 'alt-' || (i % 100) AND tenant_id = 'bench'; GET DIAGNOSTICS n = ROW_COUNT; IF n <> 1 THEN RAISE 'no row'; END IF;"
sel="PERFORM id, sealed FROM tg_records WHERE id = 'alt-' || (i % 100) AND tenant_id = 'bench';"
empty="NULL;"
declare -A sum
for ((r=0; r<rounds; r++)); do
  for what in empty upd sel; do
    body=${!what}
    for db in tg_bench_rls tg_bench_v4 tg_bench_norls; do
      sc=$s3; [[ $db == tg_bench_v4 ]] && sc=$s4
      v=$(cpu $db "$sc" "$body"); sum[$what/$db]=$(( ${sum[$what/$db]:-0} + v ))
    done
  done
done
for what in upd sel; do
  a=$(( (sum[$what/tg_bench_rls] - sum[empty/tg_bench_rls]) / rounds )); b=$(( (sum[$what/tg_bench_v4] - sum[empty/tg_bench_v4]) / rounds )); c=$(( (sum[$what/tg_bench_norls] - sum[empty/tg_bench_norls]) / rounds ))
  echo "$what: schema3 RLS ${a} us, schema4 RLS ${b} us, no RLS ${c} us (minus empty tx)"
done
echo "empty tx: schema3 $(( sum[empty/tg_bench_rls]/rounds )) us, schema4 $(( sum[empty/tg_bench_v4]/rounds )) us; load $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf $tmp
