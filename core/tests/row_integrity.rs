//! Integrity of authorization rows (issue 14): a database writer who edits or plants a
//! token, session, refresh-token or membership row outside the SDK is refused with the
//! `integrity` kind. Always on: the MAC key is the service keyring's row-MAC key, stored
//! in the database only wrapped by the KEK. Rows of a database written before (schema 4)
//! are MACed once at open and keep working. SQLite always; PostgreSQL when a server is
//! configured (see postgres_support).

#[cfg(feature = "postgres")]
mod postgres_support;
mod tg_cap;

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
        .build()
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
    assert!(integrity(s.token_by_hash(&sr, &[0; 32]).await), "unknown key");
    // A store no guard gave a keyring refuses rather than trusting rows unchecked.
    let plain = SqliteStore::open(&path).unwrap();
    let e = plain.token_by_hash(&sr, &[1; 32]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store, "{e:?}");
    // The keyring's key never sits in the file in clear.
    let ring = _g.service_keys();
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
