-- tenantguard PostgreSQL schema, version 4: an acting user the database can verify,
-- policies that cannot be split by a scope change inside a statement, per-tenant ids,
-- service-only writes of authorization rows and audit entries, no table-wide locks.
--
-- Threat: SQL the application did not mean to run, as the application role (an
-- injection inside one of the SDK's transactions, or a stolen application password).
--
-- 1. Identity. Versions 1 to 3 trusted `app.user_id`, which any SQL can set. Now the
--    service role mints a proof for (tenant, user): the SDK draws 32 random bytes,
--    stores their SHA-256 here through tg_mint_proof (EXECUTE for the service role
--    only) and sends the bytes, hex, as `app.proof` in each application transaction of
--    that user. The application role cannot read tg_actor_proofs, cannot write it, and
--    cannot call tg_mint_proof: it can only present a proof it was given. `app.user_id`
--    and `app.tenant_id` no longer mean anything to the application's policies.
-- 2. No split. Every application policy compares the row's own tenant with
--    `(SELECT tg_actor_tenant(rank))`: one evaluation returns the proof's tenant only if
--    the proof's user holds at least that rank in it at that moment, so whatever a
--    statement does to its settings, a row passes only if its tenant is one where the
--    presented proof's user is a member with the rank. (Versions 1 to 3 checked
--    membership once for the scoped tenant and compared rows with the setting per row.)
-- 3. Writes of tokens, sessions, refresh tokens, memberships, tenants and audit entries
--    go through the service role after the SDK checked the acting user's role (read from
--    tg_memberships on that same connection). The application role reads them at most.
-- 4. The application role holds no table-wide UPDATE, DELETE or TRUNCATE on any table
--    (LOCK TABLE in a blocking mode needs one of those): record and retention-rule
--    deletions go through SECURITY DEFINER functions that apply the same verified check.
-- 5. Per-tenant ids: records, tokens and sessions are keyed by (tenant_id, id).
-- 6. Triggers keep every row in its tenant and its key, keep revocations one-way (a
--    revoked token or session stays revoked, a used refresh token stays used, a
--    destroyed key stays destroyed), and keep audit rows immutable.

-- ---- identity proofs

CREATE TABLE tg_actor_proofs (
    proof_hash bytea PRIMARY KEY CHECK (length(proof_hash) = 32),
    tenant_id  text NOT NULL,
    user_id    text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX tg_actor_proofs_expiry ON tg_actor_proofs (expires_at);
REVOKE ALL ON tg_actor_proofs FROM PUBLIC;
-- Enabled and forced: with no policy for either group role, nobody but the owner (through
-- the functions below, and the owner policy added at the end) sees a row.
ALTER TABLE tg_actor_proofs ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_actor_proofs FORCE ROW LEVEL SECURITY;

-- Mints a proof (service role only). The TTL is bounded so a leaked proof expires.
-- Expired proofs are pruned here, a bounded number per call.
CREATE FUNCTION tg_mint_proof(p_tenant text, p_user text, p_hash bytea, p_ttl_secs integer)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF p_ttl_secs IS NULL OR p_ttl_secs < 1 OR p_ttl_secs > 3600 THEN
        RAISE EXCEPTION 'proof lifetime must be 1 to 3600 seconds' USING ERRCODE = '22023';
    END IF;
    IF p_hash IS NULL OR length(p_hash) <> 32 THEN
        RAISE EXCEPTION 'proof hash must be 32 bytes' USING ERRCODE = '22023';
    END IF;
    DELETE FROM public.tg_actor_proofs
     WHERE proof_hash IN (SELECT proof_hash FROM public.tg_actor_proofs
                           WHERE expires_at < pg_catalog.now() LIMIT 100);
    INSERT INTO public.tg_actor_proofs (proof_hash, tenant_id, user_id, expires_at)
    VALUES (p_hash, p_tenant, p_user,
            pg_catalog.now() + pg_catalog.make_interval(secs => p_ttl_secs));
END
$$;

-- Forgets every proof of a user in a tenant (member removed): service role only.
CREATE FUNCTION tg_forget_proofs(p_tenant text, p_user text) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ DELETE FROM public.tg_actor_proofs WHERE tenant_id = p_tenant AND user_id = p_user $$;

-- The rank (1 viewer .. 4 owner) of the proof presented by this transaction in the
-- proof's tenant, with that tenant; (NULL, 0) when there is no proof, it is unknown or
-- expired, or its user is no longer a member. PL/pgSQL rather than SQL: a non-inlined SQL
-- function is planned again on every call (0.8 ms measured), a PL/pgSQL function keeps
-- its plan for the session (0.08 ms).
CREATE FUNCTION tg_actor(OUT tenant_id text, OUT rank integer)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    SELECT p.tenant_id,
           CASE m.role WHEN 'viewer' THEN 1 WHEN 'member' THEN 2
                       WHEN 'admin' THEN 3 WHEN 'owner' THEN 4 ELSE 0 END
      INTO tenant_id, rank
      FROM public.tg_actor_proofs p
      JOIN public.tg_memberships m ON m.tenant_id = p.tenant_id AND m.user_id = p.user_id
     WHERE p.proof_hash = pg_catalog.sha256(pg_catalog.decode(
               pg_catalog.left(COALESCE(NULLIF(pg_catalog.current_setting('app.proof', true), ''), '00'), 64), 'hex'))
       AND p.expires_at > pg_catalog.statement_timestamp();
    rank := COALESCE(rank, 0);
END
$$;

-- The verified tenant if the proof's user holds at least `min_rank` in it, else NULL.
-- Policies call it as `(SELECT tg_actor_tenant(n))`: once per statement and policy.
CREATE FUNCTION tg_actor_tenant(min_rank integer) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE t text;
BEGIN
    -- The same lookup as tg_actor, inlined: one definer call per policy check.
    SELECT p.tenant_id INTO t
      FROM public.tg_actor_proofs p
      JOIN public.tg_memberships m ON m.tenant_id = p.tenant_id AND m.user_id = p.user_id
     WHERE p.proof_hash = pg_catalog.sha256(pg_catalog.decode(
               pg_catalog.left(COALESCE(NULLIF(pg_catalog.current_setting('app.proof', true), ''), '00'), 64), 'hex'))
       AND p.expires_at > pg_catalog.statement_timestamp()
       AND CASE m.role WHEN 'viewer' THEN 1 WHEN 'member' THEN 2
                       WHEN 'admin' THEN 3 WHEN 'owner' THEN 4 ELSE 0 END >= min_rank;
    RETURN t;
END
$$;

-- The verified rank (0 without a valid proof): the store uses it to explain a refusal.
CREATE FUNCTION tg_actor_rank() RETURNS integer
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ BEGIN RETURN (public.tg_actor()).rank; END $$;

REVOKE ALL ON FUNCTION tg_mint_proof(text, text, bytea, integer), tg_forget_proofs(text, text),
    tg_actor(), tg_actor_tenant(integer), tg_actor_rank() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tg_mint_proof(text, text, bytea, integer), tg_forget_proofs(text, text)
    TO tenantguard_service;
GRANT EXECUTE ON FUNCTION tg_actor(), tg_actor_tenant(integer), tg_actor_rank() TO tenantguard_app;
-- The unverified helper of version 1 explains nothing any more.
REVOKE EXECUTE ON FUNCTION tg_scope_rank(), tg_scope_user() FROM tenantguard_app;

-- ---- per-tenant ids

ALTER TABLE tg_refresh_tokens DROP CONSTRAINT tg_refresh_tokens_session_id_fkey;
ALTER TABLE tg_records  DROP CONSTRAINT tg_records_pkey,  ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE tg_tokens   DROP CONSTRAINT tg_tokens_pkey,   ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE tg_sessions DROP CONSTRAINT tg_sessions_pkey, ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE tg_refresh_tokens
    ADD CONSTRAINT tg_refresh_tokens_session_fkey FOREIGN KEY (tenant_id, session_id)
    REFERENCES tg_sessions (tenant_id, id);
DROP INDEX IF EXISTS tg_refresh_by_session;
CREATE INDEX tg_refresh_by_session ON tg_refresh_tokens (tenant_id, session_id);

-- ---- application policies: every one compares the row's tenant with a verified tenant

DROP POLICY app_tenants_read ON tg_tenants;
DROP POLICY app_tenants_create ON tg_tenants;
DROP POLICY app_tenants_creating ON tg_tenants;
DROP POLICY app_memberships_read ON tg_memberships;
DROP POLICY app_memberships_bootstrap ON tg_memberships;
DROP POLICY app_keys_read ON tg_tenant_keys;
DROP POLICY app_keys_insert ON tg_tenant_keys;
DROP POLICY app_keys_update ON tg_tenant_keys;
DROP POLICY app_records_read ON tg_records;
DROP POLICY app_records_insert ON tg_records;
DROP POLICY app_records_update ON tg_records;
DROP POLICY app_records_delete ON tg_records;
DROP POLICY app_tokens ON tg_tokens;
DROP POLICY app_audit_read ON tg_audit;
DROP POLICY app_audit_append ON tg_audit;
DROP POLICY app_retention_read ON tg_retention_rules;
DROP POLICY app_retention_insert ON tg_retention_rules;
DROP POLICY app_retention_update ON tg_retention_rules;
DROP POLICY app_retention_delete ON tg_retention_rules;
DROP POLICY app_sessions ON tg_sessions;
DROP POLICY app_refresh ON tg_refresh_tokens;
DROP POLICY app_policies_read ON tg_policies;
DROP POLICY app_policies_insert ON tg_policies;
DROP POLICY app_policies_update ON tg_policies;

CREATE POLICY app_tenants_read ON tg_tenants FOR SELECT TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(1)));
CREATE POLICY app_keys_read ON tg_tenant_keys FOR SELECT TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(1)));
CREATE POLICY app_keys_insert ON tg_tenant_keys FOR INSERT TO tenantguard_app
    WITH CHECK (tenant_id = (SELECT tg_actor_tenant(4)));
-- The new row of an UPDATE is an old row that passed USING in the same statement; its
-- tenant cannot change (no column privilege on tenant_id, and the tg_guard triggers), so
-- repeating the verified check on it proves nothing more: WITH CHECK (true).
CREATE POLICY app_keys_update ON tg_tenant_keys FOR UPDATE TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(4)))
    WITH CHECK (true);
CREATE POLICY app_records_read ON tg_records FOR SELECT TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(1)));
CREATE POLICY app_records_insert ON tg_records FOR INSERT TO tenantguard_app
    WITH CHECK (tenant_id = (SELECT tg_actor_tenant(2)));
CREATE POLICY app_records_update ON tg_records FOR UPDATE TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(2)))
    WITH CHECK (true);
CREATE POLICY app_tokens_read ON tg_tokens FOR SELECT TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(3)));
CREATE POLICY app_audit_read ON tg_audit FOR SELECT TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(3)));
CREATE POLICY app_retention_read ON tg_retention_rules FOR SELECT TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(1)));
CREATE POLICY app_retention_insert ON tg_retention_rules FOR INSERT TO tenantguard_app
    WITH CHECK (tenant_id = (SELECT tg_actor_tenant(3)));
CREATE POLICY app_retention_update ON tg_retention_rules FOR UPDATE TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(3)))
    WITH CHECK (true);
CREATE POLICY app_sessions_read ON tg_sessions FOR SELECT TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(1)));
CREATE POLICY app_policies_read ON tg_policies FOR SELECT TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(1)));
CREATE POLICY app_policies_insert ON tg_policies FOR INSERT TO tenantguard_app
    WITH CHECK (tenant_id = (SELECT tg_actor_tenant(3)));
CREATE POLICY app_policies_update ON tg_policies FOR UPDATE TO tenantguard_app
    USING (tenant_id = (SELECT tg_actor_tenant(3)))
    WITH CHECK (true);

-- ---- application privileges: read, insert, and column-level UPDATE of the columns that
-- ---- neither place nor authorize a row. No table-wide UPDATE/DELETE/TRUNCATE anywhere.

REVOKE ALL ON tg_tenants, tg_memberships, tg_tenant_keys, tg_records, tg_tokens, tg_audit,
    tg_retention_rules, tg_sessions, tg_refresh_tokens, tg_policies FROM tenantguard_app;
GRANT SELECT ON tg_tenants, tg_tenant_keys, tg_records, tg_tokens, tg_audit,
    tg_retention_rules, tg_sessions, tg_policies TO tenantguard_app;
GRANT INSERT ON tg_tenant_keys, tg_records, tg_retention_rules, tg_policies TO tenantguard_app;
GRANT UPDATE (state, kek_id, wrapped) ON tg_tenant_keys TO tenantguard_app;
GRANT UPDATE (class, subject, key_id, sealed, updated_at) ON tg_records TO tenantguard_app;
GRANT UPDATE (window_secs) ON tg_retention_rules TO tenantguard_app;
GRANT UPDATE (body, version, updated_at) ON tg_policies TO tenantguard_app;

-- Deletions for the application role, with the same verified check as the policies.
CREATE FUNCTION tg_delete_record(p_id text) RETURNS boolean
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH t AS MATERIALIZED (SELECT public.tg_actor_tenant(2) AS tenant_id),
             d AS (DELETE FROM public.tg_records r USING t
                   WHERE r.tenant_id = t.tenant_id AND r.id = p_id RETURNING 1)
        SELECT EXISTS (SELECT 1 FROM d)
    $$;
CREATE FUNCTION tg_clear_retention_rule(p_class text) RETURNS boolean
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        WITH t AS MATERIALIZED (SELECT public.tg_actor_tenant(3) AS tenant_id),
             d AS (DELETE FROM public.tg_retention_rules r USING t
                   WHERE r.tenant_id = t.tenant_id AND r.class = p_class RETURNING 1)
        SELECT EXISTS (SELECT 1 FROM d)
    $$;
REVOKE ALL ON FUNCTION tg_delete_record(text), tg_clear_retention_rule(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tg_delete_record(text), tg_clear_retention_rule(text) TO tenantguard_app;

-- ---- service privileges: the audit log stays INSERT/SELECT only; tokens, sessions and
-- ---- refresh tokens may change only the columns that revoke, spend or refresh them.

REVOKE UPDATE ON tg_tokens, tg_sessions, tg_refresh_tokens, tg_records, tg_tenant_keys
    FROM tenantguard_service;
GRANT UPDATE (revoked_at) ON tg_tokens TO tenantguard_service;
GRANT UPDATE (refreshed_at, revoked_at) ON tg_sessions TO tenantguard_service;
GRANT UPDATE (used) ON tg_refresh_tokens TO tenantguard_service;
GRANT UPDATE (class, subject, key_id, sealed, updated_at) ON tg_records TO tenantguard_service;
GRANT UPDATE (state, kek_id, wrapped) ON tg_tenant_keys TO tenantguard_service;

-- ---- triggers: rows stay in their tenant and key; revocations are one-way

-- One function per table shape: PL/pgSQL resolves every field an expression names, so
-- one shared function cannot mention a column some of its tables lack.
CREATE FUNCTION tg_guard_tenant() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
        RAISE EXCEPTION 'rows never move between tenants' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION tg_guard_record() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'rows never move between tenants or ids' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION tg_guard_revocable() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'rows never move between tenants or ids' USING ERRCODE = '42501';
    END IF;
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'a revocation is final' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION tg_guard_refresh() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.hash IS DISTINCT FROM OLD.hash
       OR NEW.session_id IS DISTINCT FROM OLD.session_id OR (OLD.used AND NOT NEW.used) THEN
        RAISE EXCEPTION 'a spent refresh token stays spent' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION tg_guard_key() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.key_id IS DISTINCT FROM OLD.key_id
       OR (OLD.state = 'destroyed' AND (NEW.state <> 'destroyed' OR NEW.wrapped <> OLD.wrapped
                                        OR NEW.kek_id <> OLD.kek_id))
       OR (OLD.state = 'decrypt_only' AND NEW.state = 'active') THEN
        RAISE EXCEPTION 'a key moves forward only (active, decrypt_only, destroyed)' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION tg_guard_membership() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        RAISE EXCEPTION 'memberships never change tenant or user' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION tg_guard_audit() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are immutable' USING ERRCODE = '42501';
END
$$;

CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_records         FOR EACH ROW EXECUTE FUNCTION tg_guard_record();
CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_tokens          FOR EACH ROW EXECUTE FUNCTION tg_guard_revocable();
CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_sessions        FOR EACH ROW EXECUTE FUNCTION tg_guard_revocable();
CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_refresh_tokens  FOR EACH ROW EXECUTE FUNCTION tg_guard_refresh();
CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_tenant_keys     FOR EACH ROW EXECUTE FUNCTION tg_guard_key();
CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_memberships     FOR EACH ROW EXECUTE FUNCTION tg_guard_membership();
CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_retention_rules FOR EACH ROW EXECUTE FUNCTION tg_guard_tenant();
CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_policies        FOR EACH ROW EXECUTE FUNCTION tg_guard_tenant();
CREATE TRIGGER tg_guard BEFORE UPDATE ON tg_tenants         FOR EACH ROW EXECUTE FUNCTION tg_guard_tenant();
CREATE TRIGGER tg_guard BEFORE UPDATE OR DELETE ON tg_audit FOR EACH ROW EXECUTE FUNCTION tg_guard_audit();

-- ---- the owner: the SECURITY DEFINER functions run as the role applying this migration.
-- A superuser bypasses Row Level Security; a non-superuser owner is held by FORCE ROW
-- LEVEL SECURITY and needs these policies to read memberships and proofs and to delete.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tg_actor_proofs', 'tg_memberships', 'tg_records', 'tg_retention_rules'] LOOP
        EXECUTE pg_catalog.format('CREATE POLICY tg_definer ON public.%I TO %I USING (true) WITH CHECK (true)',
                                  t, current_user);
    END LOOP;
END
$$;

-- Directory lookups of one user's memberships across tenants, service role only, when
-- the transaction names the user.
CREATE POLICY svc_memberships_of ON tg_memberships FOR SELECT TO tenantguard_service
    USING (user_id = NULLIF(pg_catalog.current_setting('app.member_of', true), ''));

-- Integrity of authorization rows: an HMAC-SHA256 under a key the service holds and the
-- database does not (PostgresStore::with_row_key). The store refuses a row whose MAC
-- does not verify; NULL until a key is configured.
ALTER TABLE tg_tokens         ADD COLUMN mac bytea CHECK (mac IS NULL OR length(mac) = 32);
ALTER TABLE tg_sessions       ADD COLUMN mac bytea CHECK (mac IS NULL OR length(mac) = 32);
ALTER TABLE tg_refresh_tokens ADD COLUMN mac bytea CHECK (mac IS NULL OR length(mac) = 32);
ALTER TABLE tg_memberships    ADD COLUMN mac bytea CHECK (mac IS NULL OR length(mac) = 32);
