-- Schema 8: rate-limit cells shared by every instance (docs/SECURITY.md, "Rate limits").
--
-- One row per GCRA cell (`class:level:` then length-prefixed tenant, subject, object or
-- host key; see ratelimit/mod.rs). The same algorithm as the in-process table and the
-- Redis script, on the database's clock (clock_timestamp(), microseconds), so instances
-- with skewed clocks still agree.
--
-- Nobody reads or writes the table directly: no privilege is granted on it, and it is
-- under FORCE ROW LEVEL SECURITY with a policy for this migration's role only. Both
-- logins reach it through tg_rate_limit() alone, which only ever makes a cell *stricter*
-- for the application login: takes and failures move `tat`, `blocked` and `fails`
-- forward; its parameters are checked (no negative cost or period to move them back, a
-- failure memory of at least 60 s so a crafted call cannot make the back-off forget).
-- Only the service login may record a success ('succeed' resets the failure count, never
-- a lock-out in force). A holder of the application password can therefore lock users
-- out (denial of service, which the same password allows in many other ways), but cannot
-- read any cell, nor undo his own failures or lock-out to keep guessing.

CREATE TABLE tg_rate_limits (
    key      text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 600),
    tat      bigint NOT NULL DEFAULT 0,
    fails    integer NOT NULL DEFAULT 0,
    blocked  bigint NOT NULL DEFAULT 0,
    fail_at  bigint NOT NULL DEFAULT 0,
    idle_at  bigint NOT NULL DEFAULT 0
);
CREATE INDEX tg_rate_limits_by_idle ON tg_rate_limits (idle_at);

ALTER TABLE tg_rate_limits ENABLE ROW LEVEL SECURITY;
ALTER TABLE tg_rate_limits FORCE ROW LEVEL SECURITY;
REVOKE ALL ON tg_rate_limits FROM PUBLIC;

DO $$
BEGIN
    EXECUTE pg_catalog.format('CREATE POLICY tg_definer ON public.tg_rate_limits TO %I USING (true) WITH CHECK (true)', current_user);
END
$$;

-- p_keys: 1 to 4 cell names; p_op: take | fail | succeed; p_params: 7 per cell:
-- emission µs, tolerance µs, cost, back-off after (0 = none), base µs, max µs, forget µs.
-- Returns the refusal (µs until a retry), the lock-out a failure started (µs), and the
-- failure count of the back-off cell.
CREATE FUNCTION tg_rate_limit(p_keys text[], p_op text, p_params bigint[],
                              OUT refused_us bigint, OUT locked_us bigint, OUT fails integer)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    now_us bigint := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    n integer := coalesce(array_length(p_keys, 1), 0);
    i integer;
    o integer;
    em bigint; tol bigint; cost bigint;
    bo_after bigint; bo_base bigint; bo_max bigint; bo_forget bigint;
    t bigint; f integer; b bigint; fa bigint; nt bigint; lk bigint;
    new_tat bigint[] := ARRAY[0, 0, 0, 0]::bigint[];
BEGIN
    fails := 0;
    IF n < 1 OR n > 4 OR p_op IS NULL OR p_op NOT IN ('take', 'fail', 'succeed')
       OR coalesce(array_length(p_params, 1), 0) <> n * 7
       OR array_position(p_keys, NULL) IS NOT NULL
       OR array_position(p_params, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'tg_rate_limit: bad arguments' USING ERRCODE = '22023';
    END IF;
    FOR i IN 1..n LOOP
        o := (i - 1) * 7;
        IF p_params[o + 1] NOT BETWEEN 1 AND 86400000000
           OR p_params[o + 2] NOT BETWEEN 0 AND 86400000000000000
           OR p_params[o + 3] NOT BETWEEN 0 AND 1001
           OR p_params[o + 4] NOT BETWEEN 0 AND 1000
           OR p_params[o + 5] NOT BETWEEN 0 AND 86400000000
           OR p_params[o + 6] NOT BETWEEN 0 AND 86400000000
           OR (p_params[o + 4] > 0 AND p_params[o + 7] NOT BETWEEN 60000000 AND 604800000000) THEN
            RAISE EXCEPTION 'tg_rate_limit: parameter out of range' USING ERRCODE = '22023';
        END IF;
    END LOOP;
    IF p_op = 'succeed' AND NOT pg_has_role(session_user, 'tenantguard_service', 'MEMBER') THEN
        RAISE EXCEPTION 'tg_rate_limit: only the service login records successes'
            USING ERRCODE = '42501';
    END IF;

    -- Rows are created and locked in key order: concurrent calls never deadlock.
    INSERT INTO tg_rate_limits (key)
        SELECT k FROM unnest(p_keys) AS k ORDER BY k ON CONFLICT (key) DO NOTHING;
    PERFORM 1 FROM tg_rate_limits WHERE key = ANY (p_keys) ORDER BY key FOR UPDATE;

    FOR i IN 1..n LOOP
        o := (i - 1) * 7;
        em := p_params[o + 1]; tol := p_params[o + 2]; cost := p_params[o + 3];
        bo_after := p_params[o + 4]; bo_base := p_params[o + 5]; bo_max := p_params[o + 6];
        bo_forget := p_params[o + 7];
        SELECT l.tat, l.fails, l.blocked, l.fail_at INTO t, f, b, fa
            FROM tg_rate_limits l WHERE l.key = p_keys[i];
        IF p_op = 'take' THEN
            IF b > now_us THEN
                refused_us := greatest(coalesce(refused_us, 0), b - now_us);
            ELSE
                nt := greatest(t, now_us) + em * cost;
                IF nt > now_us + tol THEN
                    refused_us := greatest(coalesce(refused_us, 0), nt - (now_us + tol));
                END IF;
                new_tat[i] := nt;
            END IF;
        ELSIF p_op = 'fail' THEN
            IF bo_after > 0 AND f > 0 AND now_us - fa > bo_forget THEN
                f := 0;
            END IF;
            t := least(greatest(t, now_us) + em * cost, now_us + tol + em);
            IF bo_after > 0 THEN
                f := f + 1;
                fa := now_us;
                IF f >= bo_after THEN
                    lk := least(bo_base::numeric * power(2::numeric, least(f - bo_after, 40)),
                                bo_max::numeric)::bigint;
                    b := greatest(b, now_us + lk);
                    locked_us := lk;
                END IF;
                fails := f;
            END IF;
            UPDATE tg_rate_limits SET tat = t, fails = f, blocked = b, fail_at = fa,
                idle_at = greatest(t, b, CASE WHEN f > 0 THEN fa + bo_forget ELSE 0 END)
                WHERE key = p_keys[i];
        ELSE
            UPDATE tg_rate_limits SET fails = 0 WHERE key = p_keys[i];
        END IF;
    END LOOP;

    IF p_op = 'take' AND refused_us IS NULL THEN
        FOR i IN 1..n LOOP
            IF p_params[(i - 1) * 7 + 3] > 0 THEN
                UPDATE tg_rate_limits SET tat = new_tat[i], idle_at = greatest(idle_at, new_tat[i])
                    WHERE key = p_keys[i];
            END IF;
        END LOOP;
    END IF;

    -- Idle cells hold nothing: a few are swept now and then, by whichever call comes.
    IF random() < 0.01 THEN
        DELETE FROM tg_rate_limits WHERE key IN (
            SELECT key FROM tg_rate_limits WHERE idle_at < now_us AND key <> ALL (p_keys)
            LIMIT 200 FOR UPDATE SKIP LOCKED);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION tg_rate_limit(text[], text, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tg_rate_limit(text[], text, bigint[]) TO tenantguard_app, tenantguard_service;
