-- Schema 10: erasable personal fields of audit entries (issue 18).
--
-- A format-v2 audit entry's hash, MAC and Merkle leaf cover a salted commitment to its
-- actor, target and reason, not the fields themselves; the fields and the salt are kept
-- in a `personal` column (JSON) of the same append-only row, apart from the entry's JSON.
-- Erasing a data subject sets it to NULL: the one update tg_audit allows, to the service
-- role only. A change to anything else, or to a non-NULL value, is refused (and would not
-- match the commitment anyway). A writer who clears it without the SDK erases it without
-- an erasure receipt, which verification reports.
ALTER TABLE tg_audit ADD COLUMN personal text;

CREATE OR REPLACE FUNCTION tg_guard_audit() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.personal IS NULL AND NEW.tenant_id = OLD.tenant_id
       AND NEW.seq = OLD.seq AND NEW.hash = OLD.hash AND NEW.entry = OLD.entry THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit rows are immutable (erasing personal fields is the one update)'
        USING ERRCODE = '42501';
END
$$;

CREATE POLICY svc_audit_erase ON tg_audit FOR UPDATE TO tenantguard_service
    USING (tenant_id = tg_scope_tenant()) WITH CHECK (tenant_id = tg_scope_tenant());
GRANT UPDATE (personal) ON tg_audit TO tenantguard_service;
