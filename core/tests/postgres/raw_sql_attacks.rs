//! Raw SQL as the application role: the threat Row Level Security exists for (an
//! injection inside one of the SDK's transactions, a stolen application password).
//!
//! Tenant `beta` holds a row in every table, each carrying a marker the attacker cannot
//! know; tenant `acme` holds the attacker's own memberships and a revoked token, a revoked
//! session, a spent refresh token and a destroyed key (things to restore). Every attack
//! of the corpus runs once per identity:
//!
//! - viewer, member, admin, owner of acme, each with a real identity proof minted by the
//!   service role (what the SDK gives that user), with `app.tenant_id` / `app.user_id`
//!   set to the target tenant and one of its real members, or to the user's own;
//! - an agent: a leaked agent token presented as proof, plus a real member of beta;
//! - a stolen application password: no proof, a real member (owner) of beta named, and
//!   nonsense settings.
//!
//! After each attack (committed), the test fails if any output row or error message
//! shows a beta marker, if an error reveals a beta row (division by zero, unique key),
//! if anything of beta changed, or if the identity changed acme rows its role may not
//! change (authorization rows and audit: never). Lock attacks must fail.
//!
//! Run: `eval "$(scripts/pg.sh start)"; TENANTGUARD_PG_REQUIRED=1 cargo test -p tenantguard
//! --features postgres --test postgres raw_sql_attacks::`. Skipped (and passing) without a
//! server.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::postgres_support;

use postgres_support::*;
use tenantguard::audit::AuditDraft;
use tenantguard::store::{
    AuditStore, KeyState, KeyStore, PolicyStore, RecordStore, RefreshRecord, RetentionStore,
    RetentionWindow, SealedRecord, SessionRecord, SessionStore, TenantKeyRecord, TokenRecord,
    TokenStore,
};
use tenantguard::{KeyId, Role};
use tokio_postgres::{Client, SimpleQueryMessage};

/// Values of beta the attacker must never see (none appears in an attack's text unless
/// the attack names it, in which case its echo is not counted).
const MARKERS: &[&str] = &[
    "be7a5ec7",
    "bx-rec-4471",
    "bsubj-9910",
    "bclass-771",
    "bkek-5150",
    "btok-3310",
    "bagent-2201",
    "bsess-6612",
    "btarget-8181",
    "bpolicy-4040",
    "bhidden-3003",
];

/// Error texts that reveal that a statement touched a row of beta.
const ORACLES: &[&str] = &["division by zero", "duplicate key"];

const TABLES: &[&str] = &[
    "tg_tenants",
    "tg_memberships",
    "tg_tenant_keys",
    "tg_records",
    "tg_tokens",
    "tg_audit",
    "tg_retention_rules",
    "tg_sessions",
    "tg_refresh_tokens",
    "tg_policies",
];

fn beta_bytes(n: u8) -> Vec<u8> {
    let mut v = vec![0xbe, 0x7a, 0x5e, 0xc7];
    v.extend(std::iter::repeat_n(n, 28));
    v
}

/// Scope switches, inserted in every clause of the corpus.
const SW: &str = "set_config('app.tenant_id', 'beta', true) IS NOT NULL AND set_config('app.user_id', 'bob', true) IS NOT NULL";

fn corpus() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    let mut add = |name: String, sql: String| v.push((name, sql));
    let all: Vec<&str> = TABLES.iter().copied().chain(["tg_actor_proofs"]).collect();
    // ---- reads, with the scope switched in every clause
    for t in &all {
        add(format!("read {t}"), format!("SELECT x::text FROM {t} x"));
        add(
            format!("read {t}, switch in select list"),
            format!("SELECT x::text, set_config('app.tenant_id', 'beta', true), set_config('app.user_id', 'bob', true) FROM {t} x"),
        );
        add(
            format!("read {t}, switch in WHERE"),
            format!("SELECT x::text FROM {t} x WHERE {SW}"),
        );
        add(
            format!("read {t}, switch in ORDER BY"),
            format!("SELECT x::text FROM {t} x ORDER BY set_config('app.tenant_id', 'beta', true)"),
        );
        add(
            format!("read {t}, switch in LATERAL"),
            format!("SELECT y.* FROM (VALUES (1), (2)) v(n) CROSS JOIN LATERAL (SELECT {SW} AS s) s CROSS JOIN LATERAL (SELECT x::text FROM {t} x) y"),
        );
        add(
            format!("read {t}, switch in a CTE"),
            format!("WITH s AS MATERIALIZED (SELECT {SW}) SELECT x::text FROM s, {t} x"),
        );
        add(
            format!("read {t}, switch in a window"),
            format!("SELECT x::text, row_number() OVER (ORDER BY set_config('app.tenant_id', 'beta', true)) FROM {t} x"),
        );
        add(
            format!("read {t}, switch in GROUP BY/HAVING"),
            format!("SELECT string_agg(x::text, '|') FROM {t} x GROUP BY set_config('app.tenant_id', 'beta', true) HAVING {SW}"),
        );
    }
    // ---- cursors, prepared statements, savepoints, per-row functions
    for t in [
        "tg_records",
        "tg_tenant_keys",
        "tg_tokens",
        "tg_sessions",
        "tg_refresh_tokens",
        "tg_memberships",
    ] {
        add(
            format!("cursor over {t}, switch between FETCHes"),
            format!("BEGIN; DECLARE c CURSOR FOR SELECT x::text FROM {t} x; FETCH 1 FROM c; SELECT {SW}; FETCH ALL FROM c; COMMIT"),
        );
        add(
            format!("WITH HOLD cursor over {t}, switched then committed"),
            format!("BEGIN; DECLARE h CURSOR WITH HOLD FOR SELECT x::text, set_config('app.tenant_id', 'beta', true) FROM {t} x; SELECT {SW}; COMMIT; FETCH ALL FROM h; CLOSE h"),
        );
        add(
            format!("prepared statement on {t} after a switch"),
            format!("PREPARE p_{t} AS SELECT x::text FROM {t} x; SELECT {SW}; EXECUTE p_{t}; DEALLOCATE p_{t}"),
        );
        add(
            format!("per-row temp function switching scope on {t}"),
            format!("CREATE FUNCTION pg_temp.sw() RETURNS boolean LANGUAGE sql VOLATILE AS $$ SELECT {SW} $$; SELECT x::text FROM {t} x WHERE pg_temp.sw()"),
        );
        add(
            format!("savepoint rollback around a switch on {t}"),
            format!("BEGIN; SAVEPOINT a; SELECT {SW}; ROLLBACK TO a; SELECT x::text FROM {t} x; RELEASE a; COMMIT"),
        );
    }
    // ---- error and EXPLAIN oracles
    for t in TABLES {
        add(
            format!("division-by-zero oracle on {t}"),
            format!("SELECT 1 / (CASE WHEN x.tenant_id = 'beta' THEN 0 ELSE 1 END) FROM {t} x WHERE {SW}"),
        );
    }
    add("unique-key oracle on a record id".into(),
        "INSERT INTO tg_records (tenant_id, id, class, subject, key_id, sealed, created_at, updated_at) VALUES ('acme', 'bx-rec-4471', 'c', NULL, 1, '\\x00', 0, 0)".into());
    add("unique-key oracle on a session id".into(),
        "INSERT INTO tg_sessions (id, tenant_id, user_id, role, created_at, expires_at, refreshed_at, label) VALUES ('bsess-6612', 'acme', 'vic', 'viewer', 0, 9999999999, 0, 'x')".into());
    add("unique-key oracle on a token id".into(),
        "INSERT INTO tg_tokens (id, tenant_id, agent, name, hash, scopes, created_at) VALUES ('btok-3310', 'acme', 'a', 'n', '\\x00000000000000000000000000000000000000000000000000000000000000aa', '[]', 0)".into());
    add("EXPLAIN ANALYZE records by beta filter".into(),
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM tg_records WHERE tenant_id = 'beta' AND id = 'x'".into());
    // ---- writes: plain, switched in WHERE / SET / RETURNING, CTE, MERGE
    let updates: &[(&str, &str)] = &[
        ("tg_records", "sealed = '\\x00'"),
        ("tg_records", "tenant_id = 'acme'"),
        ("tg_records", "id = 'moved'"),
        ("tg_tenant_keys", "state = 'active', wrapped = '\\x00'"),
        ("tg_tenant_keys", "wrapped = '\\x00'"),
        ("tg_memberships", "role = 'owner'"),
        ("tg_tokens", "scopes = '[\"admin\"]', revoked_at = NULL"),
        ("tg_tokens", "revoked_at = NULL"),
        ("tg_sessions", "role = 'owner', revoked_at = NULL"),
        ("tg_sessions", "revoked_at = NULL"),
        ("tg_refresh_tokens", "used = false"),
        ("tg_audit", "entry = '{}'"),
        ("tg_retention_rules", "window_secs = 1"),
        ("tg_policies", "body = 'x'"),
        ("tg_tenants", "created_by = 'vic'"),
    ];
    for (t, set) in updates {
        add(
            format!("update {t} SET {set} (beta by filter)"),
            format!("UPDATE {t} SET {set} WHERE tenant_id = 'beta'"),
        );
        add(
            format!("update {t} SET {set}, switch in WHERE"),
            format!("UPDATE {t} SET {set} WHERE {SW}"),
        );
        add(format!("update {t} SET {set}, switch in RETURNING"), format!("UPDATE {t} SET {set} RETURNING set_config('app.tenant_id', 'beta', true), set_config('app.user_id', 'bob', true)"));
    }
    add(
        "update with the switch inside SET".into(),
        format!(
            "UPDATE tg_records SET sealed = CASE WHEN {SW} THEN '\\x00'::bytea ELSE sealed END"
        ),
    );
    for t in TABLES {
        add(
            format!("delete {t} (beta or switch)"),
            format!("DELETE FROM {t} WHERE tenant_id = 'beta' OR NOT ({SW})"),
        );
        add(format!("truncate {t}"), format!("TRUNCATE {t}"));
        add(format!("writable CTE deletes {t}"), format!("WITH s AS MATERIALIZED (SELECT {SW}), d AS (DELETE FROM {t} x USING s WHERE x.tenant_id = 'beta' RETURNING 1) SELECT count(*) FROM d"));
    }
    add(
        "MERGE deletes records after a switch".into(),
        format!(
            "MERGE INTO tg_records r USING (SELECT {SW} AS s) x ON x.s WHEN MATCHED THEN DELETE"
        ),
    );
    add("MERGE updates sessions after a switch".into(),
        format!("MERGE INTO tg_sessions r USING (SELECT {SW} AS s) x ON x.s WHEN MATCHED THEN UPDATE SET revoked_at = NULL, role = 'owner'"));
    add(
        "definer delete of beta's record id".into(),
        "SELECT tg_delete_record('bx-rec-4471')".into(),
    );
    add(
        "definer clear of beta's retention rule".into(),
        "SELECT tg_clear_retention_rule('bclass-771')".into(),
    );
    // The definer put of schema 6: writes only in the verified tenant, whatever is named.
    add(
        "definer put naming beta".into(),
        "SELECT tg_put_record('beta', 'bx-rec-4471', 'c', NULL, 1, '\\x00', 0, 0)".into(),
    );
    add(
        "definer put of a new id naming beta".into(),
        "SELECT tg_put_record('beta', 'planted-by-put', 'c', NULL, 1, '\\x00', 0, 0)".into(),
    );
    add(
        "definer put after a switch to beta".into(),
        format!("SELECT {SW}, tg_put_record('beta', 'bx-rec-4471', 'c', NULL, 1, '\\x00', 0, 0)"),
    );
    add(
        "definer put, beta named in a lateral switch".into(),
        "SELECT tg_put_record(x.t, 'bx-rec-4471', 'c', NULL, 1, '\\x00', 0, 0) FROM (SELECT set_config('app.tenant_id', 'beta', true) AS t) x".into(),
    );
    // ---- inserts into beta, multi-row with RETURNING switches, bootstrap of a tenant
    add("plant a record in beta".into(),
        "INSERT INTO tg_records (tenant_id, id, class, subject, key_id, sealed, created_at, updated_at) VALUES ('beta', 'planted', 'c', NULL, 1, '\\x00', 0, 0)".into());
    add("two-row insert, second row beta, RETURNING switch".into(),
        "INSERT INTO tg_records (tenant_id, id, class, subject, key_id, sealed, created_at, updated_at) VALUES ('acme', 'p1', 'c', NULL, 1, '\\x00', 0, 0), ('beta', 'p2', 'c', NULL, 1, '\\x00', 0, 0) RETURNING set_config('app.tenant_id', 'beta', true)".into());
    add("plant an owner session for beta's user, RETURNING switch".into(),
        "INSERT INTO tg_sessions (id, tenant_id, user_id, role, created_at, expires_at, refreshed_at, label) VALUES ('s1', 'acme', 'vic', 'viewer', 0, 9999999999, 0, 'x'), ('s2', 'beta', 'bob', 'owner', 0, 9999999999, 0, 'x') RETURNING set_config('app.tenant_id', 'beta', true)".into());
    add("plant a refresh token for beta".into(),
        "INSERT INTO tg_refresh_tokens (hash, session_id, tenant_id, expires_at, used) VALUES ('\\x1111111111111111111111111111111111111111111111111111111111111111', 'bsess-6612', 'beta', 9999999999, false)".into());
    add("plant an admin token in acme".into(),
        "INSERT INTO tg_tokens (id, tenant_id, agent, name, hash, scopes, created_at) VALUES ('evil', 'acme', 'a', 'n', '\\x2222222222222222222222222222222222222222222222222222222222222222', '[\"admin\"]', 0)".into());
    add("plant an owner membership in beta".into(),
        "INSERT INTO tg_memberships (tenant_id, user_id, role, created_at) VALUES ('beta', 'vic', 'owner', 0)".into());
    add("promote self in acme".into(),
        "INSERT INTO tg_memberships (tenant_id, user_id, role, created_at) VALUES ('acme', 'vic', 'owner', 0) ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = 'owner'".into());
    add("forge an audit row at the maximum seq".into(),
        "INSERT INTO tg_audit (tenant_id, seq, hash, entry) VALUES ('acme', 9223372036854775807, 'x', '{}')".into());
    add(
        "forge an audit row in beta".into(),
        "INSERT INTO tg_audit (tenant_id, seq, hash, entry) VALUES ('beta', 100, 'x', '{}')".into(),
    );
    add("create a tenant, own it, switch, read beta".into(),
        "BEGIN; INSERT INTO tg_tenants (tenant_id, created_by, created_at) VALUES ('evil', 'vic', 0); INSERT INTO tg_memberships (tenant_id, user_id, role, created_at) VALUES ('evil', 'vic', 'owner', 0); SELECT set_config('app.tenant_id', 'evil', true); SELECT x::text, set_config('app.tenant_id', 'beta', true) FROM tg_records x; COMMIT".into());
    add("write a key into beta".into(),
        "INSERT INTO tg_tenant_keys (tenant_id, key_id, state, kek_id, wrapped, created_at) VALUES ('beta', 77, 'decrypt_only', 'k', '\\x00', 0)".into());
    add("set a retention rule in beta".into(),
        "INSERT INTO tg_retention_rules (tenant_id, class, window_secs) VALUES ('beta', 'bclass-771', 1) ON CONFLICT (tenant_id, class) DO UPDATE SET window_secs = 1".into());
    add("set a policy in beta".into(),
        "INSERT INTO tg_policies (tenant_id, kind, body, version, updated_at) VALUES ('beta', 'egress', 'x', 1, 0) ON CONFLICT (tenant_id, kind) DO UPDATE SET body = 'x'".into());
    // ---- restores of revoked / spent / destroyed rows (acme's own, written back)
    add(
        "restore acme's revoked token".into(),
        "UPDATE tg_tokens SET revoked_at = NULL WHERE tenant_id = 'acme'".into(),
    );
    add(
        "restore acme's revoked session".into(),
        "UPDATE tg_sessions SET revoked_at = NULL WHERE tenant_id = 'acme'".into(),
    );
    add(
        "restore acme's spent refresh token".into(),
        "UPDATE tg_refresh_tokens SET used = false WHERE tenant_id = 'acme'".into(),
    );
    add("un-shred acme's destroyed key".into(), "UPDATE tg_tenant_keys SET state = 'decrypt_only', wrapped = '\\x0101', kek_id = 'kek-1' WHERE tenant_id = 'acme' AND state = 'destroyed'".into());
    add("re-activate acme's old key".into(), "UPDATE tg_tenant_keys SET state = 'active' WHERE tenant_id = 'acme' AND state = 'decrypt_only'".into());
    add("delete and re-insert acme's revoked session".into(),
        "BEGIN; DELETE FROM tg_sessions WHERE tenant_id = 'acme'; INSERT INTO tg_sessions (id, tenant_id, user_id, role, created_at, expires_at, refreshed_at, label) VALUES ('acme-sess', 'acme', 'vic', 'owner', 0, 9999999999, 0, 'x'); COMMIT".into());
    // ---- identity: forge or read proofs, become the service role
    add(
        "read the proofs".into(),
        "SELECT x::text FROM tg_actor_proofs x".into(),
    );
    add(
        "mint a proof for beta's owner".into(),
        "SELECT tg_mint_proof('beta', 'bob', sha256('\\x00'::bytea), 300)".into(),
    );
    add("insert a proof".into(), "INSERT INTO tg_actor_proofs VALUES (sha256('\\x00'::bytea), 'beta', 'bob', now() + interval '1 hour')".into());
    add(
        "become the service role".into(),
        "SET ROLE tenantguard_service; SELECT x::text FROM tg_records x".into(),
    );
    add(
        "session authorization".into(),
        "SET SESSION AUTHORIZATION postgres; SELECT x::text FROM tg_records x".into(),
    );
    add("the service's hash lookup setting".into(),
        "SELECT set_config('app.token_hash', 'be7a5ec7', true), set_config('app.list_tenants', 'on', true); SELECT x::text FROM tg_tokens x; SELECT x::text FROM tg_tenants x".into());
    add("member_of lookup setting".into(),
        "SELECT set_config('app.member_of', 'bhidden-3003', true); SELECT x::text FROM tg_memberships x".into());
    add(
        "other sessions' queries".into(),
        "SELECT query FROM pg_stat_activity".into(),
    );
    add(
        "COPY records out".into(),
        "COPY (SELECT x::text FROM tg_records x) TO STDOUT".into(),
    );
    add(
        "COPY into records".into(),
        "COPY tg_records FROM '/etc/hostname'".into(),
    );
    v
}

/// Attacks that must fail outright (they would block every tenant).
fn must_fail() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for t in TABLES {
        for mode in [
            "ACCESS EXCLUSIVE",
            "EXCLUSIVE",
            "SHARE ROW EXCLUSIVE",
            "SHARE",
        ] {
            v.push((
                format!("LOCK {t} IN {mode} MODE"),
                format!("BEGIN; LOCK TABLE {t} IN {mode} MODE; COMMIT"),
            ));
        }
    }
    v
}

struct Identity {
    name: &'static str,
    proof: Option<String>,
    tenant: &'static str,
    user: &'static str,
    /// Tables of acme this identity may legitimately change through raw SQL.
    may_change: &'static [&'static str],
}

/// Digests, in one prepared query: per table of beta's rows and of the attacker tenant's
/// protected rows, of the tenant list, and of each tenant's retired keys (keys move
/// forward only, whatever the role).
struct Snapshot {
    st: tokio_postgres::Statement,
}

impl Snapshot {
    async fn new(admin: &Client, protected: &[&str]) -> Self {
        let mut parts: Vec<String> = Vec::new();
        for (tenant, tables) in [("beta", TABLES), ("acme", protected)] {
            for t in tables {
                parts.push(format!("(SELECT '{tenant} {t}:' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {t} x WHERE tenant_id = '{tenant}')"));
            }
            parts.push(format!("(SELECT '{tenant} retired keys:' || coalesce(string_agg(key_id || ':' || state || ':' || length(wrapped), ',' ORDER BY key_id), '') FROM tg_tenant_keys WHERE tenant_id = '{tenant}' AND state <> 'active')"));
        }
        parts.push("(SELECT 'tenants:' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM tg_tenants x)".into());
        let q = format!("SELECT ARRAY[{}]", parts.join(", "));
        Snapshot {
            st: admin.prepare(&q).await.unwrap(),
        }
    }

    /// (beta and tenant list, acme).
    async fn take(&self, admin: &Client) -> (Vec<String>, Vec<String>) {
        let all: Vec<String> = admin.query_one(&self.st, &[]).await.unwrap().get(0);
        all.into_iter().partition(|l| !l.starts_with("acme "))
    }
}

fn leak_in(text: &str, attack: &str) -> Option<String> {
    for m in MARKERS {
        if text.contains(m) && !attack.contains(m) {
            return Some(format!("shows {m}"));
        }
    }
    None
}

#[tokio::test]
async fn raw_sql_attacks_leak_nothing() {
    let Some(pg) = fresh("rawsql").await else {
        return;
    };
    let s = pg.store().await;
    let admin = pg.admin().await;
    seed(&s).await;
    let service = pg.service_raw().await;
    let has_proofs: bool = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'tg_mint_proof')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mint = |user: &'static str| {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).unwrap();
        (user, secret)
    };
    let mut proofs = std::collections::HashMap::new();
    for user in ["vic", "mem", "adm", "own"] {
        let (u, secret) = mint(user);
        if has_proofs {
            service
                .execute(
                    "SELECT tg_mint_proof('acme', $1, sha256($2), 300)",
                    &[&u, &&secret[..]],
                )
                .await
                .unwrap();
        }
        proofs.insert(u, hex::encode(secret));
    }
    let leaked_agent_token = hex::encode(beta_bytes(9));
    let ids = [
        Identity {
            name: "viewer of acme (beta's owner named)",
            proof: Some(proofs["vic"].clone()),
            tenant: "beta",
            user: "bob",
            may_change: &[],
        },
        Identity {
            name: "viewer of acme (own scope)",
            proof: Some(proofs["vic"].clone()),
            tenant: "acme",
            user: "vic",
            may_change: &[],
        },
        Identity {
            name: "member of acme",
            proof: Some(proofs["mem"].clone()),
            tenant: "beta",
            user: "bob",
            may_change: &["tg_records"],
        },
        Identity {
            name: "admin of acme",
            proof: Some(proofs["adm"].clone()),
            tenant: "acme",
            user: "adm",
            may_change: &["tg_records", "tg_retention_rules", "tg_policies"],
        },
        Identity {
            name: "owner of acme",
            proof: Some(proofs["own"].clone()),
            tenant: "beta",
            user: "bob",
            may_change: &[
                "tg_records",
                "tg_retention_rules",
                "tg_policies",
                "tg_tenant_keys",
            ],
        },
        Identity {
            name: "agent with a leaked token",
            proof: Some(leaked_agent_token),
            tenant: "beta",
            user: "bob",
            may_change: &[],
        },
        Identity {
            name: "stolen app password, beta's owner named",
            proof: None,
            tenant: "beta",
            user: "bob",
            may_change: &[],
        },
        Identity {
            name: "stolen app password, nonsense",
            proof: Some("zz' OR 1=1".into()),
            tenant: "x' OR '1'='1",
            user: "*",
            may_change: &[],
        },
    ];
    let attacks = corpus();
    let locks = must_fail();
    let mut leaks: Vec<String> = Vec::new();
    let mut runs = 0usize;
    for id in &ids {
        let app = pg.app_raw().await;
        let protected: Vec<&str> = TABLES
            .iter()
            .copied()
            .filter(|t| !id.may_change.contains(t))
            .collect();
        let snap = Snapshot::new(&admin, &protected).await;
        let (mut beta_before, mut acme_before) = snap.take(&admin).await;
        let settings = app
            .prepare("SELECT set_config('app.tenant_id', $1, false), set_config('app.user_id', $2, false), set_config('app.proof', $3, false), set_config('lock_timeout', '200ms', false), set_config('statement_timeout', '5s', false)")
            .await
            .unwrap();
        for (name, sql) in attacks.iter().chain(locks.iter()) {
            runs += 1;
            let expect_failure = locks.iter().any(|(n, _)| n == name);
            // Drops the previous run's open transaction, settings, cursors and temporary
            // functions (not `DISCARD ALL`: it would also drop the prepared `settings`;
            // attacks name their own prepared statements uniquely).
            app.batch_execute("ROLLBACK; RESET ALL; CLOSE ALL; DISCARD TEMP")
                .await
                .ok();
            app.execute(
                &settings,
                &[&id.tenant, &id.user, &id.proof.clone().unwrap_or_default()],
            )
            .await
            .unwrap();
            let r = app.simple_query(sql).await;
            app.batch_execute("COMMIT").await.ok();
            let mut why: Option<String> = None;
            match &r {
                Ok(msgs) => {
                    if expect_failure {
                        why = Some("succeeded (a table lock blocks every tenant)".into());
                    }
                    for m in msgs {
                        if let SimpleQueryMessage::Row(row) = m {
                            for i in 0..row.len() {
                                if let Some(v) = row.get(i) {
                                    if let Some(w) = leak_in(v, sql) {
                                        why = Some(w);
                                    }
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    let text = match e.as_db_error() {
                        Some(db) => format!(
                            "{} {} {}",
                            db.message(),
                            db.detail().unwrap_or(""),
                            db.hint().unwrap_or("")
                        ),
                        None => e.to_string(),
                    };
                    if let Some(w) = leak_in(&text, sql) {
                        why = Some(format!("error {w}"));
                    }
                    for o in ORACLES {
                        if text.contains(o) {
                            why = Some(format!("error oracle: {o}"));
                        }
                    }
                }
            }
            let (beta_now, acme_now) = snap.take(&admin).await;
            if beta_now != beta_before {
                why = Some("changed beta (or created a tenant)".into());
                beta_before = beta_now;
            }
            if acme_now != acme_before {
                let changed: Vec<&str> = acme_now
                    .iter()
                    .zip(&acme_before)
                    .filter(|(a, b)| a != b)
                    .map(|(a, _)| a.split(':').next().unwrap_or(""))
                    .collect();
                why = Some(format!(
                    "changed acme rows its role may not change: {changed:?}"
                ));
                acme_before = acme_now;
            }
            if let Some(w) = why {
                leaks.push(format!("[{}] {name}: {w}", id.name));
            }
        }
    }
    // A stolen login altering its own role settings does not take the SDK down: every
    // transaction asserts what it needs.
    let app = pg.app_raw().await;
    let db = pg.db.clone();
    for setting in [
        "default_transaction_read_only = on",
        "search_path = pg_temp",
        "statement_timeout = '1s'",
        "lock_timeout = '1ms'",
    ] {
        if let Err(e) = app
            .batch_execute(&format!(
                "ALTER ROLE CURRENT_USER IN DATABASE {db} SET {setting}"
            ))
            .await
        {
            eprintln!("ALTER ROLE ... SET {setting} refused: {e}");
        }
    }
    let fresh_store = pg.store().await;
    let ctx = user("acme", "mem", Role::Member);
    let r = fresh_store
        .put_record(&ctx, &record("after-alter", "acme", 3))
        .await;
    if r.is_err() {
        leaks.push(format!(
            "role settings altered by the app login broke the SDK: {r:?}"
        ));
    }
    app.batch_execute(&format!(
        "ALTER ROLE CURRENT_USER IN DATABASE {db} RESET ALL"
    ))
    .await
    .ok();
    let total = attacks.len() + locks.len();
    eprintln!(
        "raw SQL attacks: {} statements ({} corpus + {} locks) x {} identities = {runs} runs, {} leaks",
        total,
        attacks.len(),
        locks.len(),
        ids.len(),
        leaks.len()
    );
    assert!(total >= 150, "the corpus shrank: {total}");
    assert!(
        leaks.is_empty(),
        "{} of {runs} raw SQL attacks leaked or changed data:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

fn record(id: &str, class: &str, fill: u8) -> SealedRecord {
    let sealed = if class.starts_with('b') {
        beta_bytes(fill)
    } else {
        vec![fill; 32]
    };
    SealedRecord {
        id: id.into(),
        class: class.into(),
        subject: if class.starts_with('b') {
            Some("bsubj-9910".into())
        } else {
            None
        },
        key_id: KeyId::new(1).unwrap(),
        sealed,
        created_at: 1,
        updated_at: 1,
    }
}

async fn seed(s: &tenantguard::PostgresStore) {
    let acme_owner = user("acme", "own", Role::Owner);
    s.create_tenant(&acme_owner, &key(1, KeyState::Active))
        .await
        .unwrap();
    let beta = svc("beta");
    s.create_tenant(
        &beta,
        &TenantKeyRecord {
            key_id: KeyId::new(1).unwrap(),
            state: KeyState::Active,
            kek_id: "bkek-5150".into(),
            wrapped: beta_bytes(1),
            created_at: 1,
        },
    )
    .await
    .unwrap();
    for (name, r) in [
        ("vic", Role::Viewer),
        ("mem", Role::Member),
        ("adm", Role::Admin),
    ] {
        s.set_member(&svc("acme"), &u(name), r, 1).await.unwrap();
    }
    for (name, r) in [
        ("bob", Role::Owner),
        ("bea", Role::Member),
        ("bhidden-3003", Role::Viewer),
    ] {
        s.set_member(&beta, &u(name), r, 1).await.unwrap();
    }
    // acme: records, a rotated key, a destroyed key, a revoked token and session, a spent
    // refresh token, audit, rules, policies.
    let acme = svc("acme");
    for i in 0..3 {
        s.put_record(&acme, &record(&format!("acme-{i}"), "acme", i))
            .await
            .unwrap();
    }
    s.rotate_key(&acme, &key(2, KeyState::Active))
        .await
        .unwrap();
    s.rotate_key(&acme, &key(3, KeyState::Active))
        .await
        .unwrap();
    // Key 2, unused: key 1 still seals the records above, and a key a record names is
    // never destroyed.
    s.destroy_key(&acme, KeyId::new(2).unwrap()).await.unwrap();
    let tok = |id: &str, tenant: &str, fill: u8| TokenRecord {
        id: id.into(),
        tenant: t(tenant),
        agent: if tenant == "beta" {
            "bagent-2201".into()
        } else {
            "a".into()
        },
        name: "n".into(),
        hash: if tenant == "beta" {
            beta_bytes(fill).try_into().unwrap()
        } else {
            [fill; 32]
        },
        scopes: vec![],
        created_at: 1,
        expires_at: None,
        revoked_at: None,
    };
    s.insert_token(&acme, &tok("acme-tok", "acme", 5))
        .await
        .unwrap();
    s.revoke_token(&acme, "acme-tok", 2).await.unwrap();
    s.insert_token(&beta, &tok("btok-3310", "beta", 9))
        .await
        .unwrap();
    let sess = |id: &str, tenant: &str, user: &str| SessionRecord {
        id: id.into(),
        tenant: t(tenant),
        user: user.into(),
        role: Role::Viewer,
        created_at: 1,
        expires_at: 9_999_999_999,
        refreshed_at: 1,
        revoked_at: None,
        label: "l".into(),
    };
    let refresh = |sid: &str, tenant: &str, hash: [u8; 32]| RefreshRecord {
        hash,
        session_id: sid.into(),
        tenant: t(tenant),
        expires_at: 9_999_999_999,
        used: false,
    };
    s.insert_session(
        &acme,
        &sess("acme-sess", "acme", "vic"),
        &refresh("acme-sess", "acme", [6; 32]),
    )
    .await
    .unwrap();
    s.rotate_refresh(&acme, &[6; 32], &refresh("acme-sess", "acme", [7; 32]), 3)
        .await
        .unwrap();
    s.revoke_session(&acme, "acme-sess", 4).await.unwrap();
    s.insert_session(
        &beta,
        &sess("bsess-6612", "beta", "bob"),
        &refresh("bsess-6612", "beta", beta_bytes(2).try_into().unwrap()),
    )
    .await
    .unwrap();
    for (ctx, target) in [(&acme, "acme-target"), (&beta, "btarget-8181")] {
        s.append_audit(
            ctx,
            &AuditDraft {
                time: 1,
                actor: "service".into(),
                action: "test".into(),
                target: target.into(),
                reason: None,
                details: Default::default(),
                mac_key: None,
                // Erasable fields: the target lives in tg_audit's `personal` column,
                // the one column the service role may clear.
                personal_salt: Some(tenantguard::audit::PersonalSalt::from_bytes([9; 32])),
            },
        )
        .await
        .unwrap();
    }
    s.set_retention_rule(&acme, "acme", RetentionWindow::Secs(100))
        .await
        .unwrap();
    s.set_retention_rule(&beta, "bclass-771", RetentionWindow::Secs(100))
        .await
        .unwrap();
    s.put_policy(&acme, "egress", "acme-policy", 1)
        .await
        .unwrap();
    s.put_policy(&beta, "egress", "bpolicy-4040", 1)
        .await
        .unwrap();
    for i in 0..7 {
        s.put_record(
            &beta,
            &record(
                if i == 0 {
                    "bx-rec-4471"
                } else {
                    ["bx-1", "bx-2", "bx-3", "bx-4", "bx-5", "bx-6"][i - 1]
                },
                "bclass-771",
                i as u8,
            ),
        )
        .await
        .unwrap();
    }
}

/// A removed member's proof stops working at once, and a proof is bound to its tenant.
#[tokio::test]
async fn removed_member_proof_and_other_tenant_proof_see_nothing() {
    let Some(pg) = fresh("rawproof").await else {
        return;
    };
    let s = pg.store().await;
    seed(&s).await;
    let service = pg.service_raw().await;
    let app = pg.app_raw().await;
    let secret = [42u8; 32];
    service
        .execute(
            "SELECT tg_mint_proof('acme', 'mem', sha256($1), 300)",
            &[&&secret[..]],
        )
        .await
        .unwrap();
    let count = |tenant: &'static str| {
        let app = &app;
        async move {
            app.batch_execute("BEGIN").await.unwrap();
            app.execute(
                "SELECT set_config('app.proof', $1, true), set_config('app.tenant_id', $2, true)",
                &[&hex::encode(secret), &tenant],
            )
            .await
            .unwrap();
            let n: i64 = app
                .query_one("SELECT count(*) FROM tg_records", &[])
                .await
                .unwrap()
                .get(0);
            app.batch_execute("COMMIT").await.unwrap();
            n
        }
    };
    assert_eq!(count("acme").await, 3, "the member sees acme's records");
    assert_eq!(
        count("beta").await,
        3,
        "the scope setting does not choose the tenant"
    );
    s.remove_member(&svc("acme"), &u("mem")).await.unwrap();
    assert_eq!(count("acme").await, 0, "removed: the proof shows nothing");
    s.set_member(&svc("acme"), &u("mem"), Role::Member, 2)
        .await
        .unwrap();
    assert_eq!(
        count("acme").await,
        0,
        "the old proof was forgotten on removal"
    );
}

/// A sweep deletes exactly its batch size whatever plan the server picks. Schema 3's
/// `id IN (SELECT ... LIMIT n FOR UPDATE)` deleted 507 rows with a limit of 50 under a
/// nested loop; this test first runs that statement under the forced plan and requires it
/// to over-delete (so the plan really is the bad one), then the store's sweep must be exact.
#[tokio::test]
async fn sweep_batches_are_exact_under_any_plan() {
    let Some(pg) = fresh("sweepexact").await else {
        return;
    };
    let s = pg.store().await;
    let acme = svc("acme");
    s.create_tenant(&acme, &key(1, KeyState::Active))
        .await
        .unwrap();
    let admin = pg.admin().await;
    admin
        .batch_execute(
            "INSERT INTO tg_records (tenant_id, id, class, subject, key_id, sealed, created_at, updated_at)
             SELECT 'acme', 'old-' || g, 'chat', NULL, 1, '\\x00', 0, 0 FROM generate_series(1, 600) g;
             ANALYZE tg_records;",
        )
        .await
        .unwrap();
    // Force nested loops for the service login in this database (new connections).
    let db = pg.db.clone();
    let service = pg.service_raw().await;
    service
        .batch_execute(&format!(
            "ALTER ROLE CURRENT_USER IN DATABASE {db} SET enable_hashjoin = off;
             ALTER ROLE CURRENT_USER IN DATABASE {db} SET enable_mergejoin = off;
             ALTER ROLE CURRENT_USER IN DATABASE {db} SET enable_material = off;
             ALTER ROLE CURRENT_USER IN DATABASE {db} SET enable_hashagg = off;
             ALTER ROLE CURRENT_USER IN DATABASE {db} SET enable_sort = off;"
        ))
        .await
        .unwrap();
    // The plan is really forced: on a new connection of the same login, the statement of
    // schema 3 (`id IN (SELECT ... LIMIT n FOR UPDATE)`) deletes far more than its batch
    // (the subquery is re-run per outer row of the nested loop, and FOR UPDATE skips the
    // rows this statement already deleted, so each re-run finds 50 new ones). Rolled back.
    let probe = pg.service_raw().await;
    probe
        .batch_execute("BEGIN; SELECT set_config('app.tenant_id', 'acme', true)")
        .await
        .unwrap();
    let old = probe
        .query(
            "DELETE FROM tg_records WHERE tenant_id = $1 AND id IN (
                 SELECT id FROM tg_records WHERE tenant_id = $1 AND class = $2 AND updated_at < $3 ORDER BY id LIMIT $4 FOR UPDATE)
             RETURNING id",
            &[&"acme", &"chat", &10i64, &50i64],
        )
        .await
        .unwrap();
    probe.batch_execute("ROLLBACK").await.unwrap();
    assert!(
        old.len() > 50,
        "the forced plan must reproduce the over-deletion of the old statement (got {})",
        old.len()
    );
    let s = pg.store().await;
    let gone = s.delete_expired(&acme, "chat", 10, 50).await.unwrap();
    assert_eq!(gone.len(), 50);
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM tg_records WHERE tenant_id = 'acme'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 550, "exactly one batch deleted");
    assert_eq!(
        s.delete_by_subject(&acme, "nobody", 50)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(s.delete_all_records(&acme, 70).await.unwrap(), 70);
    service
        .batch_execute(&format!(
            "ALTER ROLE CURRENT_USER IN DATABASE {db} RESET ALL"
        ))
        .await
        .unwrap();
}
