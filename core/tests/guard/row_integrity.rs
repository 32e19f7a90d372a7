//! Integrity of authorization rows (issue 14): a database writer who edits or plants a
//! token, session, refresh-token or membership row outside the SDK is refused with the
//! `integrity` kind. Always on: the MAC key is the service keyring's row-MAC key, stored
//! in the database only wrapped by the KEK. Rows of a database written before (schema 4)
//! are MACed once at open and keep working. SQLite always; PostgreSQL when a server is
//! configured (see postgres_support).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "postgres")]
use crate::postgres_support;
use crate::tg_cap;

use std::sync::Arc;

use tenantguard::store::{
    RefreshRecord, SessionRecord, SessionStore, StoreError, TokenRecord, TokenStore,
};
use tenantguard::{ErrorKind, Guard, LocalKeyProvider, Role, SqliteStore, TenantContext, TenantId};

/// A guard over `store`: its builder gives the store the keyring's row-MAC key. Keep it
/// alive while the store is used.
fn keyring_guard(store: Arc<dyn tenantguard::Store>) -> Guard {
    Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store)
        .build_with_service()
        .map(crate::tg_cap::keep)
        .unwrap()
}

fn tid(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

fn tok(id: &str, tenant: &str, fill: u8) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        tenant: tid(tenant),
        agent: "bot".into(),
        name: "n".into(),
        hash: [fill; 32],
        scopes: vec![],
        created_at: 1,
        expires_at: Some(4_000_000_000),
        revoked_at: None,
    }
}

fn sess(id: &str, tenant: &str) -> (SessionRecord, RefreshRecord) {
    (
        SessionRecord {
            id: id.into(),
            tenant: tid(tenant),
            user: "vic".into(),
            role: Role::Viewer,
            created_at: 1,
            expires_at: 4_000_000_000,
            refreshed_at: 1,
            revoked_at: None,
            label: "l".into(),
        },
        RefreshRecord {
            hash: [9; 32],
            session_id: id.into(),
            tenant: tid(tenant),
            expires_at: 4_000_000_000,
            used: false,
        },
    )
}

fn integrity<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(&r, Err(e) if e.kind() == ErrorKind::Integrity)
}

#[tokio::test]
async fn sqlite_refuses_edited_and_planted_authorization_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tg.db");
    let s = Arc::new(SqliteStore::open(&path).unwrap());
    let _g = keyring_guard(s.clone());
    let acme = TenantContext::service(tid("acme"), &tg_cap::cap());
    tenantguard::store::KeyStore::create_tenant(
        &*s,
        &acme,
        &tenantguard::store::TenantKeyRecord {
            key_id: tenantguard::KeyId::new(1).unwrap(),
            state: tenantguard::store::KeyState::Active,
            kek_id: "k".into(),
            wrapped: vec![1; 40],
            created_at: 1,
        },
    )
    .await
    .unwrap();
    let sr = tg_cap::cap();
    s.insert_token(&acme, &tok("t1", "acme", 1)).await.unwrap();
    let (se, rf) = sess("s1", "acme");
    s.insert_session(&acme, &se, &rf).await.unwrap();
    assert!(s.token_by_hash(&sr, &[1; 32]).await.unwrap().is_some());
    assert!(s.get_session(&acme, "s1").await.unwrap().is_some());
    assert!(s.refresh_by_hash(&sr, &[9; 32]).await.unwrap().is_some());

    // A writer of the database file, outside the SDK.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE tg_tokens SET scopes = '[\"admin\"]'", [])
        .unwrap();
    assert!(
        integrity(s.token_by_hash(&sr, &[1; 32]).await),
        "widened scopes"
    );
    assert!(integrity(s.list_tokens(&acme, None, None, 10).await));
    raw.execute("UPDATE tg_sessions SET role = 'owner'", [])
        .unwrap();
    assert!(integrity(s.get_session(&acme, "s1").await), "raised role");
    raw.execute("UPDATE tg_refresh_tokens SET expires_at = 9999999999", [])
        .unwrap();
    assert!(
        integrity(s.refresh_by_hash(&sr, &[9; 32]).await),
        "extended expiry"
    );
    // A planted token copied from a valid row but with its own hash: no valid MAC.
    raw.execute(
        "INSERT INTO tg_tokens (id, tenant_id, agent, name, hash, scopes, created_at, expires_at, revoked_at, mac, mac_key_id)
         SELECT 't2', tenant_id, agent, name, zeroblob(32), scopes, created_at, expires_at, NULL, mac, mac_key_id FROM tg_tokens",
        [],
    )
    .unwrap();
    assert!(
        integrity(s.token_by_hash(&sr, &[0; 32]).await),
        "planted row"
    );
    // Planted without a MAC, or naming a key that does not exist.
    raw.execute(
        "UPDATE tg_tokens SET scopes = '[]', mac = NULL, mac_key_id = NULL WHERE id = 't2'",
        [],
    )
    .unwrap();
    assert!(integrity(s.token_by_hash(&sr, &[0; 32]).await), "no MAC");
    raw.execute("UPDATE tg_tokens SET mac_key_id = 7 WHERE id = 't2'", [])
        .unwrap();
    assert!(
        integrity(s.token_by_hash(&sr, &[0; 32]).await),
        "unknown key"
    );
    // A store no guard gave a keyring refuses rather than trusting rows unchecked.
    let plain = SqliteStore::open(&path).unwrap();
    let e = plain.token_by_hash(&sr, &[1; 32]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store, "{e:?}");
    // The keyring's key never sits in the file in clear.
    let ring = _g.service_keys(&crate::tg_cap::cap()).unwrap();
    let k = ring
        .current(tenantguard::kms::ServicePurpose::RowMac)
        .await
        .unwrap();
    let file = std::fs::read(&path).unwrap();
    assert!(!file.windows(32).any(|w| w == k.expose()));
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_refuses_edited_and_planted_authorization_rows() {
    use tenantguard::tenant::Directory;
    let Some(pg) = postgres_support::fresh("rowmac").await else {
        return;
    };
    let s = pg.store().await;
    let owner = postgres_support::user("acme", "own", Role::Owner);
    tenantguard::store::KeyStore::create_tenant(
        &s,
        &owner,
        &postgres_support::key(1, tenantguard::store::KeyState::Active),
    )
    .await
    .unwrap();
    let acme = postgres_support::svc("acme");
    s.set_member(&acme, &postgres_support::u("vic"), Role::Viewer, 1)
        .await
        .unwrap();
    let sr = tg_cap::cap();
    s.insert_token(&acme, &tok("t1", "acme", 1)).await.unwrap();
    let (se, rf) = sess("s1", "acme");
    s.insert_session(&acme, &se, &rf).await.unwrap();
    assert!(s.token_by_hash(&sr, &[1; 32]).await.unwrap().is_some());
    assert_eq!(
        s.role_of(&postgres_support::u("vic"), &postgres_support::t("acme"))
            .await
            .unwrap(),
        Some(Role::Viewer)
    );
    // The database superuser (or a stolen service login) edits rows directly.
    let admin = pg.admin().await;
    admin
        .batch_execute(
            "UPDATE tg_tokens SET scopes = '[\"admin\"]';
             UPDATE tg_sessions SET role = 'owner';
             UPDATE tg_refresh_tokens SET expires_at = 9999999999;
             UPDATE tg_memberships SET role = 'owner' WHERE user_id = 'vic';",
        )
        .await
        .unwrap();
    assert!(
        integrity(s.token_by_hash(&sr, &[1; 32]).await),
        "widened scopes"
    );
    assert!(integrity(s.get_session(&acme, "s1").await), "raised role");
    assert!(
        integrity(s.refresh_by_hash(&sr, &[9; 32]).await),
        "extended expiry"
    );
    let r = s
        .role_of(&postgres_support::u("vic"), &postgres_support::t("acme"))
        .await;
    assert!(r.is_err(), "forged membership refused: {r:?}");
    assert!(integrity(s.members(&acme).await));
    // Changing roles through the SDK re-reads (and checks) every member row first.
    assert!(s
        .set_member(&owner, &postgres_support::u("x"), Role::Viewer, 1)
        .await
        .is_err());
}

fn governance() -> tenantguard::GovernanceConfig {
    tenantguard::GovernanceConfig {
        sessions: tenantguard::auth::SessionConfig {
            signing_key: Some(tenantguard::SecretBytes::from_slice(&[5; 32])),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn guard_on(store: Arc<dyn tenantguard::Store>, kp: &Arc<LocalKeyProvider>) -> Guard {
    Guard::builder()
        .key_provider_arc(kp.clone())
        .store_arc(store)
        .governance(governance())
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap()
}

/// What the SDK issued before the upgrade: a token and a session, and their secrets.
struct Issued {
    token: String,
    refresh: String,
    session: String,
}

async fn issue(g: &Guard, admin: &TenantContext) -> Issued {
    let svc = TenantContext::service(tid("acme"), &tg_cap::cap());
    g.keys().create_tenant(&svc).await.unwrap();
    // Sessions are for stored members (issue 13).
    g.members()
        .set(&svc, admin.user().unwrap(), Role::Admin)
        .await
        .unwrap();
    let t = g
        .tokens()
        .create(
            &svc,
            tenantguard::tokens::TokenSpec::read_only(
                tenantguard::UserId::new("bot").unwrap(),
                "ci",
            ),
        )
        .await
        .unwrap();
    // Contexts are bound to the capability that vouched for them: this guard's.
    let admin = TenantContext::resolved(tenantguard::tenant::Resolved::vouch(
        &tg_cap::cap(),
        tid("acme"),
        admin.user().unwrap().clone(),
        Role::Admin,
    ));
    let s = g.sessions().create(&admin, "laptop").await.unwrap();
    Issued {
        token: t.secret.expose().to_owned(),
        refresh: s.refresh_token.expose().to_owned(),
        session: s.session_id,
    }
}

/// Everything issued before the upgrade still works after it, through a new guard.
async fn still_works(g: &Guard, admin: &TenantContext, i: &Issued) {
    let v = g
        .tokens()
        .verify(&i.token, "runs/1", tenantguard::tokens::Action::Read)
        .await
        .unwrap();
    assert_eq!(v.context.tenant().as_str(), "acme");
    let s = g.sessions().refresh(&i.refresh).await.unwrap();
    assert_eq!(s.session_id, i.session);
    assert_eq!(g.sessions().list(admin, None, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_schema_4_database_keeps_every_token_and_session_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tg.db");
    let kp = Arc::new(LocalKeyProvider::open_or_create(dir.path().join("keys.json")).unwrap());
    let admin = TenantContext::resolved(tenantguard::tenant::Resolved::vouch(
        &tg_cap::cap(),
        tid("acme"),
        tenantguard::UserId::new("ada").unwrap(),
        Role::Admin,
    ));
    let issued = {
        let s: Arc<dyn tenantguard::Store> = Arc::new(SqliteStore::open(&path).unwrap());
        issue(&guard_on(s, &kp), &admin).await
    };
    // Turn the file into what a schema-4 build left: global token and session ids, MACs
    // absent (or made with a host key), no keyring.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = OFF;
             CREATE TABLE t4 (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, agent TEXT NOT NULL, name TEXT NOT NULL,
                 hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32), scopes TEXT NOT NULL, created_at INTEGER NOT NULL,
                 expires_at INTEGER, revoked_at INTEGER, mac BLOB);
             INSERT INTO t4 SELECT id, tenant_id, agent, name, hash, scopes, created_at, expires_at, revoked_at, NULL FROM tg_tokens;
             DROP TABLE tg_tokens; ALTER TABLE t4 RENAME TO tg_tokens;
             CREATE INDEX tg_tokens_by_agent ON tg_tokens(tenant_id, agent, id);
             CREATE TABLE s4 (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL,
                 created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, refreshed_at INTEGER NOT NULL,
                 revoked_at INTEGER, label TEXT NOT NULL, mac BLOB);
             INSERT INTO s4 SELECT id, tenant_id, user_id, role, created_at, expires_at, refreshed_at, revoked_at, label, zeroblob(32) FROM tg_sessions;
             CREATE TABLE r4 (hash BLOB PRIMARY KEY CHECK (length(hash) = 32), session_id TEXT NOT NULL REFERENCES s4(id),
                 tenant_id TEXT NOT NULL, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0, mac BLOB);
             INSERT INTO r4 SELECT hash, session_id, tenant_id, expires_at, used, NULL FROM tg_refresh_tokens;
             DROP TABLE tg_refresh_tokens; DROP TABLE tg_sessions;
             ALTER TABLE s4 RENAME TO tg_sessions; ALTER TABLE r4 RENAME TO tg_refresh_tokens;
             CREATE INDEX tg_sessions_by_user ON tg_sessions(tenant_id, user_id);
             CREATE INDEX tg_refresh_by_session ON tg_refresh_tokens(session_id);
             DROP TABLE tg_service_keys; DROP TABLE tg_service_state; DROP TABLE tg_memberships;
             DROP TRIGGER tg_audit_no_update; ALTER TABLE tg_audit DROP COLUMN personal;
             CREATE TRIGGER tg_audit_no_update BEFORE UPDATE ON tg_audit
             BEGIN SELECT RAISE(ABORT, 'tg_audit is append-only'); END;
             PRAGMA user_version = 4;",
        )
        .unwrap();
    }
    let s = Arc::new(SqliteStore::open(&path).unwrap());
    let g = guard_on(s.clone(), &kp);
    let admin = TenantContext::resolved(tenantguard::tenant::Resolved::vouch(
        &tg_cap::cap(),
        tid("acme"),
        admin.user().unwrap().clone(),
        Role::Admin,
    ));
    still_works(&g, &admin, &issued).await;
    let c = rusqlite::Connection::open(&path).unwrap();
    let unmaced: i64 = c
        .query_row(
            "SELECT (SELECT count(*) FROM tg_tokens WHERE mac_key_id IS NULL)
                  + (SELECT count(*) FROM tg_sessions WHERE mac_key_id IS NULL)
                  + (SELECT count(*) FROM tg_refresh_tokens WHERE mac_key_id IS NULL)
                  + (SELECT count(*) FROM tg_memberships WHERE mac_key_id IS NULL)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unmaced, 0, "the backfill MACed every row");
    // The upgrade seeded ada's membership from her live session (nobody is logged out).
    assert_eq!(
        g.members()
            .role(&admin, admin.user().unwrap())
            .await
            .unwrap(),
        Some(Role::Admin)
    );
    // After the backfill, a row without a MAC is planted or stripped: refused, even
    // through a fresh guard (the backfill runs once per database, never again).
    c.execute("UPDATE tg_tokens SET mac = NULL, mac_key_id = NULL", [])
        .unwrap();
    let g2 = guard_on(Arc::new(SqliteStore::open(&path).unwrap()), &kp);
    let e = g2
        .tokens()
        .verify(&issued.token, "runs/1", tenantguard::tokens::Action::Read)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity, "{e:?}");
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
async fn postgres_rows_from_before_schema_6_keep_working() {
    let Some(pg) = postgres_support::fresh("rowmacup").await else {
        return;
    };
    let kp = Arc::new(LocalKeyProvider::ephemeral());
    let issued = {
        let s = Arc::new(pg.bare_store().await);
        let g = guard_on(s.clone(), &kp);
        let i = {
            let svc = postgres_support::svc("acme");
            g.keys().create_tenant(&svc).await.unwrap();
            s.set_member(&svc, &postgres_support::u("ada"), Role::Admin, 1)
                .await
                .unwrap();
            let t = g
                .tokens()
                .create(
                    &svc,
                    tenantguard::tokens::TokenSpec::read_only(
                        tenantguard::UserId::new("bot").unwrap(),
                        "ci",
                    ),
                )
                .await
                .unwrap();
            // Contexts are bound to the capability that vouched for them: this guard's.
            let admin = postgres_support::user("acme", "ada", Role::Admin);
            let s = g.sessions().create(&admin, "laptop").await.unwrap();
            Issued {
                token: t.secret.expose().to_owned(),
                refresh: s.refresh_token.expose().to_owned(),
                session: s.session_id,
            }
        };
        i
    };
    // What a schema-4 database holds: no MAC key ids, no keyring, no backfill marker.
    let admin_db = pg.admin().await;
    admin_db
        .batch_execute(
            "ALTER TABLE tg_tokens DISABLE TRIGGER tg_guard_mac;
             ALTER TABLE tg_sessions DISABLE TRIGGER tg_guard_mac;
             ALTER TABLE tg_refresh_tokens DISABLE TRIGGER tg_guard_mac;
             ALTER TABLE tg_memberships DISABLE TRIGGER tg_guard_mac;
             UPDATE tg_tokens SET mac = NULL, mac_key_id = NULL;
             UPDATE tg_sessions SET mac = NULL, mac_key_id = NULL;
             UPDATE tg_refresh_tokens SET mac = NULL, mac_key_id = NULL;
             UPDATE tg_memberships SET mac = NULL, mac_key_id = NULL;
             ALTER TABLE tg_tokens ENABLE TRIGGER tg_guard_mac;
             ALTER TABLE tg_sessions ENABLE TRIGGER tg_guard_mac;
             ALTER TABLE tg_refresh_tokens ENABLE TRIGGER tg_guard_mac;
             ALTER TABLE tg_memberships ENABLE TRIGGER tg_guard_mac;
             DELETE FROM tg_service_keys; DELETE FROM tg_service_state;",
        )
        .await
        .unwrap();
    let kp2 = Arc::new(LocalKeyProvider::ephemeral());
    let g = guard_on(Arc::new(pg.bare_store().await), &kp2);
    let admin = postgres_support::user("acme", "ada", Role::Admin);
    still_works(&g, &admin, &issued).await;
    let left: i64 = admin_db
        .query_one(
            "SELECT (SELECT count(*) FROM tg_tokens WHERE mac_key_id IS NULL)
                  + (SELECT count(*) FROM tg_sessions WHERE mac_key_id IS NULL)
                  + (SELECT count(*) FROM tg_refresh_tokens WHERE mac_key_id IS NULL)
                  + (SELECT count(*) FROM tg_memberships WHERE mac_key_id IS NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the backfill MACed every row");
    // A keyed MAC never changes, even for the service login (trigger); the backfill
    // marker cannot be removed by it either.
    let svc = pg.service_raw().await;
    let e = svc
        .batch_execute(
            "BEGIN; SELECT set_config('app.tenant_id', 'acme', true);
             UPDATE tg_tokens SET mac = NULL, mac_key_id = NULL; COMMIT;",
        )
        .await;
    assert!(e.is_err(), "the service login stripped a keyed MAC");
    let _ = svc.batch_execute("ROLLBACK").await;
    assert!(svc
        .batch_execute("DELETE FROM tg_service_state")
        .await
        .is_err());
    assert!(svc
        .batch_execute("SELECT * FROM tg_service_keys")
        .await
        .is_ok());
    let app = pg.app_raw().await;
    assert!(app
        .batch_execute("SELECT * FROM tg_service_keys")
        .await
        .is_err());
    // The superuser strips one anyway: refused after the backfill, through a new guard.
    admin_db
        .batch_execute(
            "ALTER TABLE tg_tokens DISABLE TRIGGER tg_guard_mac;
             UPDATE tg_tokens SET mac = NULL, mac_key_id = NULL;
             ALTER TABLE tg_tokens ENABLE TRIGGER tg_guard_mac;",
        )
        .await
        .unwrap();
    let g2 = guard_on(Arc::new(pg.bare_store().await), &kp2);
    let e = g2
        .tokens()
        .verify(&issued.token, "runs/1", tenantguard::tokens::Action::Read)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Integrity, "{e:?}");
}

/// Issue 14, item 3 on the embedded stores: token and session ids are per tenant (two
/// tenants may use the same id), and every lookup by id is scoped to the caller's tenant:
/// another tenant's id is "not found".
#[tokio::test(flavor = "multi_thread")]
async fn token_and_session_ids_are_per_tenant_on_sqlite_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<(&str, Arc<dyn tenantguard::Store>)> = vec![
        ("memory", Arc::new(tenantguard::MemoryStore::new())),
        (
            "sqlite",
            Arc::new(SqliteStore::open(dir.path().join("ids.db")).unwrap()),
        ),
    ];
    for (name, s) in stores {
        let _g = keyring_guard(s.clone());
        let sr = tg_cap::cap();
        for t in ["acme", "beta"] {
            let ctx = TenantContext::service(tid(t), &sr);
            s.create_tenant(
                &ctx,
                &tenantguard::store::TenantKeyRecord {
                    key_id: tenantguard::KeyId::new(1).unwrap(),
                    state: tenantguard::store::KeyState::Active,
                    kek_id: "k".into(),
                    wrapped: vec![1; 40],
                    created_at: 1,
                },
            )
            .await
            .unwrap();
        }
        let acme = TenantContext::service(tid("acme"), &sr);
        let beta = TenantContext::service(tid("beta"), &sr);
        // The same token id and session id in both tenants.
        s.insert_token(&acme, &tok("same", "acme", 1))
            .await
            .unwrap();
        s.insert_token(&beta, &tok("same", "beta", 2))
            .await
            .unwrap();
        let (sa, mut ra) = sess("s-same", "acme");
        ra.hash = [3; 32];
        s.insert_session(&acme, &sa, &ra).await.unwrap();
        let (sb, mut rb) = sess("s-same", "beta");
        rb.hash = [4; 32];
        s.insert_session(&beta, &sb, &rb).await.unwrap();
        // Each tenant sees its own.
        assert_eq!(
            s.get_session(&acme, "s-same")
                .await
                .unwrap()
                .unwrap()
                .tenant,
            tid("acme"),
            "{name}"
        );
        assert!(s.revoke_token(&beta, "same", 5).await.unwrap(), "{name}");
        let acme_tok = s.list_tokens(&acme, None, None, 10).await.unwrap();
        assert_eq!(
            acme_tok[0].revoked_at, None,
            "{name}: beta's revoke left acme's token"
        );
        // Another tenant's id is simply not there.
        let (sc, mut rc) = sess("only-acme", "acme");
        rc.hash = [5; 32];
        s.insert_session(&acme, &sc, &rc).await.unwrap();
        assert_eq!(
            s.get_session(&beta, "only-acme").await.unwrap(),
            None,
            "{name}"
        );
        let e = s.revoke_session(&beta, "only-acme", 5).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{name}");
        s.insert_token(&acme, &tok("only-acme-t", "acme", 6))
            .await
            .unwrap();
        let e = s.revoke_token(&beta, "only-acme-t", 5).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{name}");
        // A refresh token of acme presented under beta's context: not found either.
        let mut next = rc.clone();
        next.hash = [7; 32];
        next.tenant = tid("beta");
        let e = s
            .rotate_refresh(&beta, &[5; 32], &next, 6)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{name}");
    }
}
