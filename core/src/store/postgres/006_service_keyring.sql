-- tenantguard PostgreSQL schema, version 6: the service keyring and always-on row MACs.
-- Applies on top of version 4 or 5.
--
-- 1. tg_service_keys holds the keys the SDK itself needs (row MACs, session signing,
--    audit MACs), each wrapped by the KEK through the key provider: the database never
--    holds one in clear. Only the service login reads or writes it; (purpose, key_id) is
--    unique, so two processes creating or rotating at once end on the same key.
--    A retired key stays retired with its wrapped bytes erased.
-- 2. Authorization rows name the service key of their MAC (mac_key_id). Rows written
--    before this version carry none: the SDK MACs them once at open (backfill) with the
--    service login, then records 'row-mac-backfill' in tg_service_state and from then on
--    refuses any row without a valid MAC. The service login may fill mac/mac_key_id
--    only while mac_key_id is NULL (trigger), never change a MAC once keyed.

CREATE TABLE tg_service_keys (
    purpose    text NOT NULL,
    key_id     integer NOT NULL CHECK (key_id > 0),
    state      text NOT NULL CHECK (state IN ('active', 'retired')),
    kek_id     text NOT NULL,
    wrapped    bytea NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (purpose, key_id)
);
CREATE TABLE tg_service_state (
    name  text PRIMARY KEY,
    value text NOT NULL
);
REVOKE ALL ON tg_service_keys, tg_service_state FROM PUBLIC;
ALTER TABLE tg_service_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_service_keys FORCE ROW LEVEL SECURITY;
ALTER TABLE tg_service_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_service_state FORCE ROW LEVEL SECURITY;
CREATE POLICY svc_service_keys ON tg_service_keys TO tenantguard_service USING (true) WITH CHECK (true);
CREATE POLICY svc_service_state ON tg_service_state TO tenantguard_service USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON tg_service_keys, tg_service_state TO tenantguard_service;
GRANT UPDATE (state, kek_id, wrapped) ON tg_service_keys TO tenantguard_service;

CREATE FUNCTION tg_guard_service_key() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.purpose IS DISTINCT FROM OLD.purpose OR NEW.key_id IS DISTINCT FROM OLD.key_id
       OR (OLD.state = 'retired' AND (NEW.state <> 'retired' OR NEW.wrapped <> OLD.wrapped
                                      OR NEW.kek_id <> OLD.kek_id))
       OR (OLD.state = 'active' AND NEW.state = 'active'
           AND (NEW.wrapped <> OLD.wrapped OR NEW.kek_id <> OLD.kek_id)) THEN
        RAISE EXCEPTION 'a service key only moves from active to retired' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_service_keys FOR EACH ROW EXECUTE FUNCTION tg_guard_service_key();

ALTER TABLE tg_tokens         ADD COLUMN mac_key_id integer;
ALTER TABLE tg_sessions       ADD COLUMN mac_key_id integer;
ALTER TABLE tg_refresh_tokens ADD COLUMN mac_key_id integer;
ALTER TABLE tg_memberships    ADD COLUMN mac_key_id integer;
GRANT UPDATE (mac, mac_key_id) ON tg_tokens, tg_sessions, tg_refresh_tokens, tg_memberships
    TO tenantguard_service;

CREATE FUNCTION tg_guard_mac() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF OLD.mac_key_id IS NOT NULL AND (NEW.mac IS DISTINCT FROM OLD.mac
                                       OR NEW.mac_key_id IS DISTINCT FROM OLD.mac_key_id) THEN
        RAISE EXCEPTION 'a keyed row MAC never changes' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tg_guard_mac BEFORE UPDATE ON tg_tokens         FOR EACH ROW EXECUTE FUNCTION tg_guard_mac();
CREATE TRIGGER tg_guard_mac BEFORE UPDATE ON tg_sessions       FOR EACH ROW EXECUTE FUNCTION tg_guard_mac();
CREATE TRIGGER tg_guard_mac BEFORE UPDATE ON tg_refresh_tokens FOR EACH ROW EXECUTE FUNCTION tg_guard_mac();
-- A membership changes role (promotion, demotion) and is then MACed again: its MAC may
-- change together with the role, never alone. A stolen service login can still delete a
-- membership and insert a saved copy (docs/SECURITY.md, "Rollback of authorization rows").
CREATE FUNCTION tg_guard_membership_mac() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF OLD.mac_key_id IS NOT NULL AND NEW.role IS NOT DISTINCT FROM OLD.role
       AND (NEW.mac IS DISTINCT FROM OLD.mac OR NEW.mac_key_id IS DISTINCT FROM OLD.mac_key_id) THEN
        RAISE EXCEPTION 'a keyed row MAC never changes' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tg_guard_mac BEFORE UPDATE ON tg_memberships    FOR EACH ROW EXECUTE FUNCTION tg_guard_membership_mac();

-- 3. A put of the application role in one definer call: one verified check of the actor
--    (the same lookup as tg_actor_tenant, rank member or higher) for the whole put, where
--    a plain UPDATE is checked against three policy expressions, each a definer call.
--    The row is written only in the verified tenant, and only if it is the tenant the
--    caller names (else 42501, the same refusal the policies give). Returns 1 when it
--    replaced or inserted the row.
CREATE FUNCTION tg_put_record(p_tenant text, p_id text, p_class text, p_subject text,
                              p_key_id bigint, p_sealed bytea, p_created_at bigint,
                              p_updated_at bigint) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE t text;
BEGIN
    SELECT p.tenant_id INTO t
      FROM public.tg_actor_proofs p
      JOIN public.tg_memberships m ON m.tenant_id = p.tenant_id AND m.user_id = p.user_id
     WHERE p.proof_hash = pg_catalog.sha256(pg_catalog.decode(
               pg_catalog.left(COALESCE(NULLIF(pg_catalog.current_setting('app.proof', true), ''), '00'), 64), 'hex'))
       AND p.expires_at > pg_catalog.statement_timestamp()
       AND m.role IN ('member', 'admin', 'owner');
    IF t IS NULL OR t IS DISTINCT FROM p_tenant THEN
        RAISE EXCEPTION 'new row violates row-level security policy for table "tg_records"'
            USING ERRCODE = '42501';
    END IF;
    UPDATE public.tg_records
       SET class = p_class, subject = p_subject, key_id = p_key_id, sealed = p_sealed,
           updated_at = p_updated_at
     WHERE tenant_id = t AND id = p_id;
    IF FOUND THEN
        RETURN 1;
    END IF;
    INSERT INTO public.tg_records (id, tenant_id, class, subject, key_id, sealed, created_at, updated_at)
    VALUES (p_id, t, p_class, p_subject, p_key_id, p_sealed, p_created_at, p_updated_at)
    ON CONFLICT (tenant_id, id) DO UPDATE
       SET class = EXCLUDED.class, subject = EXCLUDED.subject, key_id = EXCLUDED.key_id,
           sealed = EXCLUDED.sealed, updated_at = EXCLUDED.updated_at;
    RETURN 1;
END
$$;
REVOKE ALL ON FUNCTION tg_put_record(text, text, text, text, bigint, bytea, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tg_put_record(text, text, text, text, bigint, bytea, bigint, bigint) TO tenantguard_app;
