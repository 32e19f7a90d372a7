-- tenantguard PostgreSQL schema, version 3: fewer membership lookups per UPDATE.
--
-- Each membership lookup in a policy is one scan of tg_memberships, run once per
-- statement as an InitPlan, but once per policy expression: PostgreSQL does not share
-- identical subqueries between the policies it applies to one statement. An UPDATE of
-- tg_records applied four (the UPDATE policy's USING and WITH CHECK, and the SELECT
-- policy on the old and on the new row, because the statement reads columns); an
-- INSERT ... ON CONFLICT DO UPDATE six. Measured on the benchmark's data, each lookup
-- costs 20 to 45 us of server CPU: most of the cost of RLS on a write.
--
-- 1. The application role may no longer change the columns that place a row (tenant_id,
--    and the keys: id, key_id of tenant keys, class of retention rules, kind of policy
--    documents) nor created_at: UPDATE is granted on the other columns only. The store
--    never changes them; rows never move between tenants.
-- 2. The WITH CHECK of the UPDATE policies then keeps the tenant condition only. The new
--    row of an UPDATE is an old row that passed the same policy's USING in the same
--    statement (tenant in scope, role read from tg_memberships), with its tenant_id
--    unchanged (1.), so repeating the lookup proved nothing more. This holds even for a
--    statement that changes the scope settings half-way through with set_config: it still
--    cannot move a row to another tenant. INSERT checks (no old row) and the FOR ALL
--    policies (tokens, sessions, refresh tokens: the same expression checks their
--    INSERTs) keep their lookup, and no USING changes.

REVOKE UPDATE ON tg_records, tg_tenant_keys, tg_retention_rules, tg_policies FROM tenantguard_app;
GRANT UPDATE (class, subject, key_id, sealed, updated_at) ON tg_records TO tenantguard_app;
GRANT UPDATE (state, kek_id, wrapped) ON tg_tenant_keys TO tenantguard_app;
GRANT UPDATE (window_secs) ON tg_retention_rules TO tenantguard_app;
GRANT UPDATE (body, version, updated_at) ON tg_policies TO tenantguard_app;

ALTER POLICY app_records_update ON tg_records
    WITH CHECK (tenant_id = tg_scope_tenant());

ALTER POLICY app_keys_update ON tg_tenant_keys
    WITH CHECK (tenant_id = tg_scope_tenant());

ALTER POLICY app_retention_update ON tg_retention_rules
    WITH CHECK (tenant_id = tg_scope_tenant());

ALTER POLICY app_policies_update ON tg_policies
    WITH CHECK (tenant_id = tg_scope_tenant());
