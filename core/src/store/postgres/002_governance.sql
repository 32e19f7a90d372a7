-- tenantguard PostgreSQL schema, version 2: governance (agent tokens, the audit chain,
-- retention rules, sessions and refresh tokens) and per-tenant policy documents.
--
-- Same model as version 1: every table has ENABLE and FORCE ROW LEVEL SECURITY, the
-- application role sees one tenant per transaction and its role comes from
-- tg_memberships; the service role sees the scoped tenant. The SDK checks the role an
-- operation needs first; the policies below repeat the checks that protect data.
--
-- Hash lookups (a token or refresh token presented without a tenant) run on the service
-- connection with `app.token_hash` / `app.refresh_hash` set, transaction-local, to the
-- hex SHA-256: the policy then shows exactly the row with that hash, in any tenant, and
-- nothing else.

CREATE TABLE tg_tokens (
    id         text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    tenant_id  text NOT NULL,
    agent      text NOT NULL,
    name       text NOT NULL,
    hash       bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    scopes     text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint,
    revoked_at bigint
);
CREATE INDEX tg_tokens_by_agent ON tg_tokens (tenant_id, agent, id);

-- Append-only: the application role gets INSERT and SELECT only; appends of one tenant
-- are serialized by a transaction-level advisory lock, and (tenant_id, seq) is unique.
CREATE TABLE tg_audit (
    tenant_id text NOT NULL,
    seq       bigint NOT NULL CHECK (seq > 0),
    hash      text NOT NULL,
    entry     text NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE tg_retention_rules (
    tenant_id   text NOT NULL,
    class       text NOT NULL CHECK (length(class) BETWEEN 1 AND 128),
    window_secs bigint CHECK (window_secs IS NULL OR window_secs > 0),
    PRIMARY KEY (tenant_id, class)
);
CREATE INDEX tg_records_by_class ON tg_records (tenant_id, class, updated_at);
CREATE INDEX tg_records_by_subject ON tg_records (tenant_id, subject) WHERE subject IS NOT NULL;

CREATE TABLE tg_sessions (
    id           text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    tenant_id    text NOT NULL,
    user_id      text NOT NULL,
    role         text NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
    created_at   bigint NOT NULL,
    expires_at   bigint NOT NULL,
    refreshed_at bigint NOT NULL,
    revoked_at   bigint,
    label        text NOT NULL
);
CREATE INDEX tg_sessions_by_user ON tg_sessions (tenant_id, user_id);

CREATE TABLE tg_refresh_tokens (
    hash       bytea PRIMARY KEY CHECK (length(hash) = 32),
    session_id text NOT NULL REFERENCES tg_sessions (id),
    tenant_id  text NOT NULL,
    expires_at bigint NOT NULL,
    used       boolean NOT NULL DEFAULT false
);
CREATE INDEX tg_refresh_by_session ON tg_refresh_tokens (session_id);

CREATE TABLE tg_policies (
    tenant_id  text NOT NULL REFERENCES tg_tenants (tenant_id),
    kind       text NOT NULL CHECK (kind ~ '^[a-z0-9_]{1,64}$'),
    body       text NOT NULL CHECK (length(body) <= 262144),
    version    bigint NOT NULL CHECK (version > 0),
    updated_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, kind)
);

ALTER TABLE tg_tokens          ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_tokens          FORCE ROW LEVEL SECURITY;
ALTER TABLE tg_audit           ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_audit           FORCE ROW LEVEL SECURITY;
ALTER TABLE tg_retention_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_retention_rules FORCE ROW LEVEL SECURITY;
ALTER TABLE tg_sessions        ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_sessions        FORCE ROW LEVEL SECURITY;
ALTER TABLE tg_refresh_tokens  ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_refresh_tokens  FORCE ROW LEVEL SECURITY;
ALTER TABLE tg_policies        ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_policies        FORCE ROW LEVEL SECURITY;

-- ---- tenantguard_app (the membership lookup is inlined as in version 1).

-- Agent tokens: managed by admins.
CREATE POLICY app_tokens ON tg_tokens FOR ALL TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('admin', 'owner')))
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('admin', 'owner')));

-- Audit: every member's actions are recorded, so every member appends (and reads the
-- head it chains to); the SDK restricts reading the log to admins.
CREATE POLICY app_audit_read ON tg_audit FOR SELECT TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')));
CREATE POLICY app_audit_append ON tg_audit FOR INSERT TO tenantguard_app
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')));

-- Retention rules: every member reads, admins change.
CREATE POLICY app_retention_read ON tg_retention_rules FOR SELECT TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')));
CREATE POLICY app_retention_insert ON tg_retention_rules FOR INSERT TO tenantguard_app
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('admin', 'owner')));
CREATE POLICY app_retention_update ON tg_retention_rules FOR UPDATE TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('admin', 'owner')))
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('admin', 'owner')));
CREATE POLICY app_retention_delete ON tg_retention_rules FOR DELETE TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('admin', 'owner')));

-- Sessions and refresh tokens: members of the tenant (the SDK checks that only the
-- session's user or an admin acts on a session).
CREATE POLICY app_sessions ON tg_sessions FOR ALL TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')))
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')));
CREATE POLICY app_refresh ON tg_refresh_tokens FOR ALL TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')))
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')));

-- Policy documents: every member reads, admins write.
CREATE POLICY app_policies_read ON tg_policies FOR SELECT TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('viewer', 'member', 'admin', 'owner')));
CREATE POLICY app_policies_insert ON tg_policies FOR INSERT TO tenantguard_app
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('admin', 'owner')));
CREATE POLICY app_policies_update ON tg_policies FOR UPDATE TO tenantguard_app
    USING (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('admin', 'owner')))
    WITH CHECK (tenant_id = tg_scope_tenant() AND EXISTS (SELECT 1 FROM tg_memberships m WHERE m.tenant_id = (SELECT tg_scope_tenant()) AND m.user_id = (SELECT tg_scope_user()) AND m.role IN ('admin', 'owner')));

-- ---- tenantguard_service: the scoped tenant; plus, read-only, the one row whose hash
-- ---- the transaction names.

CREATE POLICY svc_tokens ON tg_tokens FOR ALL TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());
CREATE POLICY svc_tokens_by_hash ON tg_tokens FOR SELECT TO tenantguard_service
    USING (hash = pg_catalog.decode(NULLIF(pg_catalog.current_setting('app.token_hash', true), ''), 'hex'));
CREATE POLICY svc_audit_read ON tg_audit FOR SELECT TO tenantguard_service
    USING (tenant_id = tg_scope_tenant());
CREATE POLICY svc_audit_append ON tg_audit FOR INSERT TO tenantguard_service
    WITH CHECK (tenant_id = tg_scope_tenant());
CREATE POLICY svc_retention ON tg_retention_rules FOR ALL TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());
CREATE POLICY svc_sessions ON tg_sessions FOR ALL TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());
CREATE POLICY svc_refresh ON tg_refresh_tokens FOR ALL TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());
CREATE POLICY svc_refresh_by_hash ON tg_refresh_tokens FOR SELECT TO tenantguard_service
    USING (hash = pg_catalog.decode(NULLIF(pg_catalog.current_setting('app.refresh_hash', true), ''), 'hex'));
CREATE POLICY svc_policies ON tg_policies FOR ALL TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());

-- Privileges. The audit log has no UPDATE or DELETE for anyone but the owner.
REVOKE ALL ON tg_tokens, tg_audit, tg_retention_rules, tg_sessions, tg_refresh_tokens, tg_policies FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON tg_tokens, tg_sessions, tg_refresh_tokens, tg_policies TO tenantguard_app, tenantguard_service;
GRANT SELECT, INSERT ON tg_audit TO tenantguard_app, tenantguard_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON tg_retention_rules TO tenantguard_app, tenantguard_service;
