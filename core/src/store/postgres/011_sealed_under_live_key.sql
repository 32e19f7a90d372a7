-- Schema 11: a record is never stored under a destroyed key.
--
-- Two instances on one database: while one retired a tenant key (rotate, re-encrypt,
-- retire) or shredded the tenant, the other, still holding the key in its cache (its news
-- not yet heard), sealed a write under it; the row was stored, the write reported success,
-- and nothing could ever open it again.
--
-- Now every insert of a record, and every update of its key or sealed bytes, takes a
-- share lock on its key's row in the same transaction and is refused (SQLSTATE TGK01, the
-- store's `KeyDestroyed`) if that key is destroyed. Destroying one key (the store's
-- destroy_key) locks its row FOR UPDATE and then, in the same transaction, counts the
-- records under it. Under READ COMMITTED either the writer's lock comes first (the
-- destruction waits for the writer's commit, then its count sees the record and it
-- refuses) or the destruction's (the write waits, then finds the key destroyed and rolls
-- back). Shredding updates the key rows, so it too waits for writes in flight.
--
-- The trigger runs AFTER the row: the row-level security checks have passed, so the key
-- row it locks is always one of the writer's own tenant (an attacker's insert aimed at
-- another tenant is refused before it could lock, or learn, anything there). A record
-- whose key row does not exist is left alone, as before.
--
-- The function runs as this migration's role (SECURITY DEFINER): a row lock is checked
-- against the UPDATE policy, which lets only owners through, and members write records.
-- A superuser bypasses Row Level Security; a non-superuser owner is held by FORCE ROW
-- LEVEL SECURITY and needs a policy to lock key rows: the one below lets it lock them,
-- never change one (WITH CHECK (false)). It reads them through tg_definer_events (schema 7).
DO $$
BEGIN
    EXECUTE pg_catalog.format('CREATE POLICY tg_definer_lock ON public.tg_tenant_keys FOR UPDATE TO %I USING (true) WITH CHECK (false)', current_user);
END
$$;

CREATE FUNCTION tg_live_key() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE s text;
BEGIN
    SELECT k.state INTO s FROM public.tg_tenant_keys k
     WHERE k.tenant_id = NEW.tenant_id AND k.key_id = NEW.key_id
       FOR SHARE;
    IF s = 'destroyed' THEN
        RAISE EXCEPTION 'key % is destroyed: a value sealed under it is not stored', NEW.key_id
            USING ERRCODE = 'TGK01';
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION tg_live_key() FROM PUBLIC;

CREATE TRIGGER tg_live_key AFTER INSERT OR UPDATE OF key_id, sealed ON tg_records
    FOR EACH ROW EXECUTE FUNCTION tg_live_key();
