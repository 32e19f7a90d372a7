#!/usr/bin/env bash
# Server CPU per replacing put and per member read, app role, same data, alternating:
#   schema 3 RLS (UPDATE under the schema-3 policies, scope app.tenant_id/app.user_id),
#   schema 6 RLS, plain UPDATE under the verified-actor policies (as schema 4 did it),
#   schema 6 RLS, the store's put: one call of the definer tg_put_record (006),
#   no RLS (schema 3 tables with row level security disabled).
# Builds its databases itself if absent (admin login), from the shipped migrations:
#   tg_b3 = 001..003 + 100 records of tenant "bench" (member "mia", owner),
#   tg_b6 = a copy of tg_b3 migrated with 004 and 006, a proof minted for mia,
#   tg_bn = a copy of tg_b3 with RLS disabled on every table.
# See "Schema 6" in benches/BENCHMARKS.md.
#   benches/rls_schema6_statements.sh [ITERATIONS] [ROUNDS]
set -euo pipefail
: "${TENANTGUARD_PG_URL:?run eval \"\$(scripts/pg.sh start)\" first}"
n=${1:-2000}; rounds=${2:-3}
B=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); P=$B/psql
APP=${TENANTGUARD_PG_URL%/*}; ADM=${TENANTGUARD_PG_ADMIN_URL%/*}; SVC=${TENANTGUARD_PG_SERVICE_URL%/*}
M=$(cd "$(dirname "$0")/../core/src/store/postgres" && pwd)
q() { "$P" -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null; }
if ! "$P" -X -At "$ADM/postgres" -c "SELECT 1 FROM pg_database WHERE datname = 'tg_b3'" | grep -q 1; then
  q "$ADM/postgres" -c "CREATE DATABASE tg_b3"
  q "$ADM/tg_b3" -f "$M/001_schema.sql" -f "$M/002_governance.sql" -f "$M/003_cheaper_update_checks.sql" -c "
    INSERT INTO tg_tenants VALUES ('bench', 'mia', 0);
    INSERT INTO tg_memberships VALUES ('bench', 'mia', 'owner', 0);
    INSERT INTO tg_tenant_keys VALUES ('bench', 1, 'active', 'k', '\\x01', 0);
    INSERT INTO tg_records SELECT 'alt-' || g, 'bench', 'password', NULL, 1, '\\x0102', 0, 0
      FROM generate_series(0, 99) g;
    ANALYZE;"
  q "$ADM/postgres" -c "CREATE DATABASE tg_b6 TEMPLATE tg_b3" -c "CREATE DATABASE tg_bn TEMPLATE tg_b3"
  q "$ADM/tg_b6" -f "$M/004_verified_actor.sql" -f "$M/006_service_keyring.sql" -c "ANALYZE"
  q "$SVC/tg_b6" -c "SELECT tg_mint_proof('bench', 'mia', sha256('\\x7e57'::bytea), 3600)"
  q "$ADM/tg_bn" -c "DO \$\$ DECLARE t text; BEGIN
      FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'tg\\_%' LOOP
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
      END LOOP; END \$\$;"
fi
# The proof lives an hour: renew it for every run.
q "$SVC/tg_b6" -c "SELECT tg_mint_proof('bench', 'mia', sha256('\\x7e57'::bytea), 3600)" 2>/dev/null || true
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
s6="set_config('app.tenant_id', 'bench', true), set_config('app.proof', '7e57', true)"
upd="UPDATE tg_records SET class = 'password', subject = NULL, key_id = 1, sealed = '\\\\x0102', updated_at = 1 WHERE id = 'alt-' || (i % 100) AND tenant_id = 'bench'; GET DIAGNOSTICS n = ROW_COUNT; IF n <> 1 THEN RAISE 'no row'; END IF;"
put="PERFORM tg_put_record('bench', 'alt-' || (i % 100), 'password', NULL, 1, '\\\\x0102', 0, 1);"
sel="PERFORM id, sealed FROM tg_records WHERE id = 'alt-' || (i % 100) AND tenant_id = 'bench';"
empty="NULL;"
# label db scope body
cases=("upd3 tg_b3 s3 upd" "upd6 tg_b6 s6 upd" "put6 tg_b6 s6 put" "updn tg_bn s3 upd"
       "sel3 tg_b3 s3 sel" "sel6 tg_b6 s6 sel" "seln tg_bn s3 sel"
       "empty3 tg_b3 s3 empty" "empty6 tg_b6 s6 empty" "emptyn tg_bn s3 empty")
declare -A sum
for ((r=0; r<rounds; r++)); do
  for c in "${cases[@]}"; do
    read -r label db sc body <<<"$c"
    v=$(cpu "$db" "${!sc}" "${!body}"); sum[$label]=$(( ${sum[$label]:-0} + v ))
  done
done
net() { echo $(( (sum[$1] - sum[$2]) / rounds )); }
echo "replacing put: schema3 RLS UPDATE $(net upd3 empty3) us, schema6 RLS UPDATE $(net upd6 empty6) us, schema6 RLS tg_put_record $(net put6 empty6) us, no RLS UPDATE $(net updn emptyn) us (minus empty tx)"
echo "read by id:    schema3 RLS $(net sel3 empty3) us, schema6 RLS $(net sel6 empty6) us, no RLS $(net seln emptyn) us (minus empty tx)"
echo "empty tx: schema3 $(( sum[empty3]/rounds )) us, schema6 $(( sum[empty6]/rounds )) us, no RLS $(( sum[emptyn]/rounds )) us; load $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf $tmp
