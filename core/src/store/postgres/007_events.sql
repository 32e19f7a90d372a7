-- Schema 7: cross-instance news (docs/SECURITY.md, "Many instances").
--
-- Every change that makes another instance's cached state wrong (a token or session
-- revoked or deleted, a membership changed or removed, a key rotated, retired or
-- destroyed, a tenant shredded, a policy changed) writes a row into tg_events *in the
-- same transaction*, from triggers on the truth tables, and signals `tg_events` with
-- pg_notify (delivered at commit). Every instance's listener reads the table by
-- transaction id (see postgres_events.rs): LISTEN/NOTIFY only wakes it early.
--
-- Events are news, not truth: an instance reacts by forgetting and re-reading the rows.
-- Nobody but the triggers (SECURITY DEFINER, owned by the role applying this migration)
-- can write or delete events: the application role cannot even read them, the service
-- role reads them and may prune only those older than one hour through tg_prune_events().
-- Deleting a fresh event (to keep a revoked token alive in another instance's cache) is
-- therefore impossible to both roles; inserting one is possible only by making the change.

CREATE TABLE tg_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid        xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    kind       text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    tenant_id  text,
    subject    text,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX tg_events_by_xid ON tg_events (xid);
CREATE INDEX tg_events_by_time ON tg_events (created_at);

ALTER TABLE tg_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_events FORCE ROW LEVEL SECURITY;
REVOKE ALL ON tg_events FROM PUBLIC;
GRANT SELECT ON tg_events TO tenantguard_service;
CREATE POLICY svc_events_read ON tg_events FOR SELECT TO tenantguard_service USING (true);

-- The definer functions below run as this migration's role: a non-superuser owner is
-- held by FORCE ROW LEVEL SECURITY and needs these policies (a superuser bypasses them).
DO $$
BEGIN
    EXECUTE pg_catalog.format('CREATE POLICY tg_definer ON public.tg_events TO %I USING (true) WITH CHECK (true)', current_user);
    EXECUTE pg_catalog.format('CREATE POLICY tg_definer_events ON public.tg_tenant_keys FOR SELECT TO %I USING (true)', current_user);
END
$$;

CREATE FUNCTION tg_emit_token() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('token_revoke', OLD.tenant_id, OLD.id);
    ELSIF NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL THEN
        INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('token_revoke', NEW.tenant_id, NEW.id);
    ELSE
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_notify('tg_events', '');
    RETURN NULL;
END
$$;

CREATE FUNCTION tg_emit_session() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('session_revoke', OLD.tenant_id, OLD.id);
    ELSIF NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL THEN
        INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('session_revoke', NEW.tenant_id, NEW.id);
    ELSE
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_notify('tg_events', '');
    RETURN NULL;
END
$$;

CREATE FUNCTION tg_emit_membership() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('membership', OLD.tenant_id, OLD.user_id);
    ELSIF TG_OP = 'UPDATE' AND NEW.role IS DISTINCT FROM OLD.role THEN
        INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('membership', NEW.tenant_id, NEW.user_id);
    ELSE
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_notify('tg_events', '');
    RETURN NULL;
END
$$;

CREATE FUNCTION tg_emit_key() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('key_rotate', NEW.tenant_id, NEW.key_id::text);
    ELSIF NEW.state IS DISTINCT FROM OLD.state THEN
        INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('key_retire', NEW.tenant_id, NEW.key_id::text);
        IF NEW.state = 'destroyed' AND NOT EXISTS (
            SELECT 1 FROM public.tg_tenant_keys k WHERE k.tenant_id = NEW.tenant_id AND k.state <> 'destroyed') THEN
            INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('tenant_shred', NEW.tenant_id, NULL);
        END IF;
    ELSE
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_notify('tg_events', '');
    RETURN NULL;
END
$$;

CREATE FUNCTION tg_emit_policy() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('policy', OLD.tenant_id, OLD.kind);
    ELSE
        INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('policy', NEW.tenant_id, NEW.kind);
    END IF;
    PERFORM pg_catalog.pg_notify('tg_events', '');
    RETURN NULL;
END
$$;

-- Service keys (schema 6): a rotation or retirement of the session-signing, row-MAC or
-- audit key must reach every instance's keyring.
CREATE FUNCTION tg_emit_service_key() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.state IS NOT DISTINCT FROM OLD.state THEN
        RETURN NULL;
    END IF;
    INSERT INTO public.tg_events (kind, tenant_id, subject) VALUES ('service_key', NULL, NEW.purpose);
    PERFORM pg_catalog.pg_notify('tg_events', '');
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION tg_emit_token(), tg_emit_session(), tg_emit_membership(), tg_emit_key(),
    tg_emit_policy(), tg_emit_service_key() FROM PUBLIC;

CREATE TRIGGER tg_news AFTER UPDATE OF revoked_at OR DELETE ON tg_tokens
    FOR EACH ROW EXECUTE FUNCTION tg_emit_token();
CREATE TRIGGER tg_news AFTER UPDATE OF revoked_at OR DELETE ON tg_sessions
    FOR EACH ROW EXECUTE FUNCTION tg_emit_session();
CREATE TRIGGER tg_news AFTER UPDATE OR DELETE ON tg_memberships
    FOR EACH ROW EXECUTE FUNCTION tg_emit_membership();
CREATE TRIGGER tg_news AFTER INSERT OR UPDATE OF state ON tg_tenant_keys
    FOR EACH ROW EXECUTE FUNCTION tg_emit_key();
CREATE TRIGGER tg_news AFTER INSERT OR UPDATE OR DELETE ON tg_policies
    FOR EACH ROW EXECUTE FUNCTION tg_emit_policy();
CREATE TRIGGER tg_news AFTER INSERT OR UPDATE OF state ON tg_service_keys
    FOR EACH ROW EXECUTE FUNCTION tg_emit_service_key();

-- Pruning: only events older than one hour (every listener is far past them; one that
-- was away longer drops all its caches when it comes back).
CREATE FUNCTION tg_prune_events() RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    WITH d AS (DELETE FROM public.tg_events WHERE created_at < pg_catalog.now() - interval '1 hour' RETURNING 1)
    SELECT pg_catalog.count(*) FROM d
$$;
REVOKE ALL ON FUNCTION tg_prune_events() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tg_prune_events() TO tenantguard_service;
