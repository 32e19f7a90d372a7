-- tenantguard PostgreSQL schema, version 1.
--
-- Applied by PostgresStore::migrate over an administrator connection (superuser or the
-- role that will own the tables), inside one transaction under an advisory lock.
-- The application never connects as that role: it connects as a login role that is a
-- member of tenantguard_app (user-scoped calls) or tenantguard_service (server-side
-- calls holding the ServiceRole capability). Neither is superuser, owner or BYPASSRLS.
--
-- Scope: every transaction of the store starts with
--   SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true)
-- (transaction-local, so a pooled connection never carries a scope into the next
-- transaction). No scope set means no rows: after a transaction-local setting ends it
-- reads '' (not NULL), hence NULLIF everywhere.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenantguard_app') THEN
        CREATE ROLE tenantguard_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenantguard_service') THEN
        CREATE ROLE tenantguard_service NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

CREATE TABLE tg_tenants (
    tenant_id  text PRIMARY KEY CHECK (tenant_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    created_by text CHECK (created_by IS NULL OR created_by ~ '^[A-Za-z0-9._-]{1,128}$'),
    created_at bigint NOT NULL
);

CREATE TABLE tg_memberships (
    tenant_id  text NOT NULL REFERENCES tg_tenants (tenant_id),
    user_id    text NOT NULL CHECK (user_id ~ '^[A-Za-z0-9._-]{1,128}$'),
    role       text NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
    created_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX tg_memberships_by_user ON tg_memberships (user_id, tenant_id);

CREATE TABLE tg_tenant_keys (
    tenant_id  text NOT NULL REFERENCES tg_tenants (tenant_id),
    key_id     bigint NOT NULL CHECK (key_id > 0 AND key_id <= 4294967295),
    state      text NOT NULL CHECK (state IN ('active', 'decrypt_only', 'destroyed')),
    kek_id     text NOT NULL,
    wrapped    bytea NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, key_id)
);
CREATE UNIQUE INDEX tg_one_active_key ON tg_tenant_keys (tenant_id) WHERE state = 'active';

CREATE TABLE tg_records (
    id         text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    tenant_id  text NOT NULL REFERENCES tg_tenants (tenant_id),
    class      text NOT NULL CHECK (length(class) BETWEEN 1 AND 128),
    subject    text CHECK (subject IS NULL OR length(subject) BETWEEN 1 AND 128),
    key_id     bigint NOT NULL CHECK (key_id > 0 AND key_id <= 4294967295),
    sealed     bytea NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL
);
CREATE INDEX tg_records_by_key ON tg_records (tenant_id, key_id, id);

-- Scope helpers. SECURITY INVOKER (the default): they run with the caller's rights and
-- under the caller's policies, so they can never widen what the caller sees. Every name
-- in them is schema-qualified, and they carry no SET clause so the planner can inline
-- the first two (an inlined stable expression is evaluated once per index scan).
CREATE FUNCTION tg_scope_tenant() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(pg_catalog.current_setting('app.tenant_id', true), '') $$;

CREATE FUNCTION tg_scope_user() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(pg_catalog.current_setting('app.user_id', true), '') $$;

-- The scoped user's role in the scoped tenant as a rank: 0 none, 1 viewer, 2 member,
-- 3 admin, 4 owner (the store uses it to explain a refusal). Policies do not call it:
-- they inline the same lookup as an uncorrelated EXISTS, which the planner runs once per
-- statement inside the cached plan (a non-inlinable SQL function call costs a re-plan
-- per call, about 0.5 ms, measured). Inside those lookups the scope is read through a
-- scalar subquery, `(SELECT tg_scope_tenant())`, so it is computed once rather than per
-- scanned row (a generic plan may scan a small tg_memberships sequentially: reading the
-- setting per row cost about 0.08 ms per lookup, measured).
CREATE FUNCTION tg_scope_rank() RETURNS integer
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT COALESCE(max(CASE m.role WHEN 'viewer' THEN 1 WHEN 'member' THEN 2
                                        WHEN 'admin' THEN 3 WHEN 'owner' THEN 4 END), 0)
        FROM public.tg_memberships m
        WHERE m.tenant_id = public.tg_scope_tenant() AND m.user_id = public.tg_scope_user()
    $$;

REVOKE ALL ON FUNCTION tg_scope_tenant(), tg_scope_user(), tg_scope_rank() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tg_scope_tenant(), tg_scope_user(), tg_scope_rank()
    TO tenantguard_app, tenantguard_service;

ALTER TABLE tg_tenants     ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_tenants     FORCE ROW LEVEL SECURITY;
ALTER TABLE tg_memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_memberships FORCE ROW LEVEL SECURITY;
ALTER TABLE tg_tenant_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_tenant_keys FORCE ROW LEVEL SECURITY;
ALTER TABLE tg_records     ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_records     FORCE ROW LEVEL SECURITY;

-- ---- tenantguard_app: a user acting in one tenant; its role comes from tg_memberships,
-- ---- never from the application's claim.

-- A member sees its tenant; a user may create a tenant in its own name.
CREATE POLICY app_tenants_read ON tg_tenants FOR SELECT TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')));
CREATE POLICY app_tenants_create ON tg_tenants FOR INSERT TO tenantguard_app
    WITH CHECK (tenant_id = tg_scope_tenant() AND created_by = tg_scope_user());
-- The creator sees the new tenant inside the creating transaction (before it is a member).
CREATE POLICY app_tenants_creating ON tg_tenants FOR SELECT TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND created_by = tg_scope_user()
           AND xmin = pg_catalog.pg_current_xact_id()::xid);

-- A user reads its own memberships only (its roles, and the tenants it belongs to). A
-- policy here cannot ask "is the scoped user a member of this row's tenant" without
-- querying this same table (infinite recursion), so listing a tenant's members goes
-- through the service role after the store checked the caller is a member. The creator of
-- a tenant becomes its owner in the creating transaction only (xmin = this transaction);
-- every other change goes through the service role after the store checked the acting
-- admin's role.
-- (No subquery here: a sublink in this policy would make PostgreSQL expand it again
-- inside the policies of tg_tenants that read tg_memberships: infinite recursion.)
CREATE POLICY app_memberships_read ON tg_memberships FOR SELECT TO tenantguard_app
    USING (user_id = tg_scope_user());
CREATE POLICY app_memberships_bootstrap ON tg_memberships FOR INSERT TO tenantguard_app
    WITH CHECK (
        tenant_id = tg_scope_tenant() AND user_id = tg_scope_user() AND role = 'owner'
        AND EXISTS (SELECT 1 FROM tg_tenants t
                    WHERE t.tenant_id = tg_memberships.tenant_id
                      AND t.created_by = tg_scope_user()
                      AND t.xmin = pg_catalog.pg_current_xact_id()::xid));

-- Key metadata (wrapped keys) is readable by every member (sealing needs the active
-- key); only owners add, rotate, rewrap or destroy keys.
CREATE POLICY app_keys_read ON tg_tenant_keys FOR SELECT TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')));
CREATE POLICY app_keys_insert ON tg_tenant_keys FOR INSERT TO tenantguard_app
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('owner')));
CREATE POLICY app_keys_update ON tg_tenant_keys FOR UPDATE TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('owner')))
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('owner')));

-- Records: viewers read, members write.
CREATE POLICY app_records_read ON tg_records FOR SELECT TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')));
CREATE POLICY app_records_insert ON tg_records FOR INSERT TO tenantguard_app
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('member', 'admin', 'owner')));
CREATE POLICY app_records_update ON tg_records FOR UPDATE TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('member', 'admin', 'owner')))
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('member', 'admin', 'owner')));
CREATE POLICY app_records_delete ON tg_records FOR DELETE TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('member', 'admin', 'owner')));

-- ---- tenantguard_service: server-side code with the ServiceRole capability. Still
-- ---- scoped to one tenant per transaction; only the tenant list spans tenants, and only
-- ---- when the transaction asks for it explicitly.

CREATE POLICY svc_tenants ON tg_tenants FOR ALL TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());
CREATE POLICY svc_tenants_list ON tg_tenants FOR SELECT TO tenantguard_service
    USING (pg_catalog.current_setting('app.list_tenants', true) = 'on');
CREATE POLICY svc_memberships ON tg_memberships FOR ALL TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());
CREATE POLICY svc_keys ON tg_tenant_keys FOR ALL TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());
CREATE POLICY svc_records ON tg_records FOR ALL TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());

-- Privileges: only what each role's calls need (PostgreSQL 15 already denies CREATE on
-- schema public to PUBLIC). No DELETE on tenants or keys: shredding erases wrapped keys
-- in place and tenant ids are never reused.
REVOKE ALL ON tg_tenants, tg_memberships, tg_tenant_keys, tg_records FROM PUBLIC;
GRANT SELECT, INSERT ON tg_tenants TO tenantguard_app;
GRANT SELECT, INSERT ON tg_memberships TO tenantguard_app;
GRANT SELECT, INSERT, UPDATE ON tg_tenant_keys TO tenantguard_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tg_records TO tenantguard_app;
GRANT SELECT, INSERT ON tg_tenants TO tenantguard_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON tg_memberships TO tenantguard_service;
GRANT SELECT, INSERT, UPDATE ON tg_tenant_keys TO tenantguard_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON tg_records TO tenantguard_service;
