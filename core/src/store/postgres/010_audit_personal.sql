-- Schema 10: erasable personal fields of audit entries (issue 18).
--
-- A format-v2 audit entry's hash, MAC and Merkle leaf cover a salted commitment to its
-- actor, target and reason, not the fields themselves; the fields and the salt live
-- here, apart from the append-only tg_audit row (whose JSON holds only the commitment).
-- Erasing a data subject deletes rows here. Rows are never updated: a change would not
-- match the commitment anyway, and the trigger refuses it. A writer who deletes a row
-- without the SDK erases it without an erasure receipt, which verification reports.
CREATE TABLE tg_audit_personal (
    tenant_id text NOT NULL,
    seq       bigint NOT NULL,
    actor     text NOT NULL,
    target    text NOT NULL,
    reason    text,
    salt      text NOT NULL CHECK (salt ~ '^[0-9a-f]{64}$'),
    -- No foreign key to tg_audit: its rows are never deleted, and a check per append
    -- would cost every audited action an index probe for nothing.
    PRIMARY KEY (tenant_id, seq)
);
ALTER TABLE tg_audit_personal ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_audit_personal FORCE ROW LEVEL SECURITY;
REVOKE ALL ON tg_audit_personal FROM PUBLIC;
CREATE POLICY app_audit_personal_read ON tg_audit_personal FOR SELECT TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(3)));
CREATE POLICY svc_audit_personal ON tg_audit_personal FOR ALL TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());
GRANT SELECT ON tg_audit_personal TO tenantguard_app;
GRANT SELECT, INSERT, DELETE ON tg_audit_personal TO tenantguard_service;
CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_audit_personal
    FOR EACH ROW EXECUTE FUNCTION tg_guard_audit();
