-- Schema 9: a KEK rotation re-wraps the service keyring.
--
-- Schema 6 let an active service key only move to retired, so the KEK-rotation job could
-- re-wrap tenant keys but not the keyring, and removing an old KEK then broke every row
-- MAC, session signature and audited action. An active key may now be re-wrapped, and
-- only as a KEK move: the key id, purpose and state stay, the KEK id must change, and the
-- new bytes are still a wrap that the key provider authenticates against (purpose, key id)
-- on every unwrap, so a database writer who swaps them gets a key that does not open,
-- never one of his choosing (the same as deleting the row, which he can already do).
CREATE OR REPLACE FUNCTION tg_guard_service_key() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.purpose IS DISTINCT FROM OLD.purpose OR NEW.key_id IS DISTINCT FROM OLD.key_id
       OR (OLD.state = 'retired' AND (NEW.state <> 'retired' OR NEW.wrapped <> OLD.wrapped
                                      OR NEW.kek_id <> OLD.kek_id))
       OR (OLD.state = 'active' AND NEW.state = 'active'
           AND (NEW.wrapped <> OLD.wrapped OR NEW.kek_id <> OLD.kek_id)
           AND (NEW.kek_id = OLD.kek_id OR NEW.kek_id = '' OR length(NEW.wrapped) = 0)) THEN
        RAISE EXCEPTION 'a service key only moves from active to retired, or to a new KEK'
            USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;
