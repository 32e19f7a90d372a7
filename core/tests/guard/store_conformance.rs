//! Store conformance: the suites of `tenantguard-testkit` against every built-in backend,
//! one test per suite and backend (`store_conformance::sqlite_file::sessions`...), plus
//! SQLite-specific persistence and upgrade checks. PostgreSQL runs `run_all` in the
//! postgres binary (postgres/governance.rs).
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use std::sync::Arc;

use tenantguard::kms::ServiceKeyring;
use tenantguard::store::{KeyState, KeyStore, PolicyStore, RecordStore};
use tenantguard::{MemoryStore, SqliteStore, Store, TenantContext, TenantId};
use tenantguard_testkit as kit;
use tenantguard_testkit::fixtures::{attach_keyring, ctx, key_rec, rec};

/// A store under test with the keyring its authorization rows are MACed with (as a
/// Guard built on it would attach), and the folder of its database file if any.
struct Backend<S> {
    store: Arc<S>,
    _ring: Arc<ServiceKeyring>,
    _dir: Option<tempfile::TempDir>,
}

impl<S: Store + PolicyStore + 'static> Backend<S> {
    fn new(store: S, dir: Option<tempfile::TempDir>) -> Self {
        let store = Arc::new(store);
        let ring = attach_keyring(&store);
        Backend {
            store,
            _ring: ring,
            _dir: dir,
        }
    }
}

fn memory() -> Backend<MemoryStore> {
    Backend::new(MemoryStore::new(), None)
}

fn sqlite_in_memory() -> Backend<SqliteStore> {
    Backend::new(SqliteStore::in_memory().unwrap(), None)
}

fn sqlite_file() -> Backend<SqliteStore> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("tg.db")).unwrap();
    Backend::new(store, Some(dir))
}

/// One test per suite for the backend the function `$backend` opens (a fresh store each).
macro_rules! suites {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn keys_and_records() {
                let b = super::$backend();
                kit::keys_and_records::run(b.store.as_ref()).await;
            }

            #[tokio::test]
            async fn retention() {
                let b = super::$backend();
                kit::retention::run(b.store.as_ref()).await;
            }

            #[tokio::test]
            async fn tokens() {
                let b = super::$backend();
                kit::tokens::run(b.store.as_ref()).await;
            }

            #[tokio::test]
            async fn sessions() {
                let b = super::$backend();
                kit::sessions::run(b.store.as_ref()).await;
            }

            #[tokio::test]
            async fn audit() {
                let b = super::$backend();
                kit::audit::run(b.store.as_ref()).await;
            }

            #[tokio::test]
            async fn members() {
                let b = super::$backend();
                kit::members::run(b.store.as_ref()).await;
            }

            #[tokio::test]
            async fn policies() {
                let b = super::$backend();
                kit::policies::run(b.store.as_ref()).await;
            }

            #[tokio::test]
            async fn service_keys() {
                let b = super::$backend();
                kit::service_keys::run(b.store.as_ref()).await;
            }
        }
    };
}

suites!(memory);
suites!(sqlite_in_memory);
suites!(sqlite_file);

#[tokio::test]
async fn suites_run_through_a_shared_trait_object() {
    // As the Guard holds it: Arc<dyn Store>. Each suite needs only its own traits, so all
    // but `policies` (PolicyStore is not part of Store) run through it.
    let b = sqlite_in_memory();
    let store: Arc<dyn Store> = b.store.clone();
    let store = store.as_ref();
    kit::keys_and_records::run(store).await;
    kit::retention::run(store).await;
    kit::tokens::run(store).await;
    kit::sessions::run(store).await;
    kit::audit::run(store).await;
    kit::members::run(store).await;
    kit::service_keys::run(store).await;
}

#[tokio::test]
async fn sqlite_file_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tg.db");
    let c = ctx("persist");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .create_tenant(&c, &key_rec(1, KeyState::Active, "kek-1"))
            .await
            .unwrap();
        store
            .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
            .await
            .unwrap();
        store
            .put_record(&c, &rec("persist-r1", 2, 0))
            .await
            .unwrap();
        store
            .destroy_key(&c, tenantguard::KeyId::FIRST)
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let keys = store.tenant_keys(&c).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].state, KeyState::Destroyed);
    assert!(keys[0].wrapped.is_empty());
    assert_eq!(keys[1], key_rec(2, KeyState::Active, "kek-1"));
    assert_eq!(
        store.get_record(&c, "persist-r1").await.unwrap(),
        Some(rec("persist-r1", 2, 0))
    );
    let tenants = store.list_tenants(&tg_cap::cap(), None, 10).await.unwrap();
    assert_eq!(
        tenants.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        vec!["persist"]
    );
    // Every suite also passes on a reopened, non-empty database.
    let store = Arc::new(store);
    let _ring = attach_keyring(&store);
    kit::run_all(store.as_ref()).await;
}

#[tokio::test]
async fn sqlite_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tg.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert_eq!(err.kind(), tenantguard::ErrorKind::Store);
    assert!(err.to_string().contains("newer"), "{err}");
}

/// A SQLite database written by a build with global record ids (schema 1) opens with every
/// record kept, and then holds the same id in two tenants (schema 4).
#[tokio::test]
async fn sqlite_upgrade_to_per_tenant_ids_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE tg_tenants (tenant_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
             CREATE TABLE tg_tenant_keys (tenant_id TEXT NOT NULL REFERENCES tg_tenants(tenant_id),
                 key_id INTEGER NOT NULL CHECK (key_id > 0),
                 state TEXT NOT NULL CHECK (state IN ('active', 'decrypt_only', 'destroyed')),
                 kek_id TEXT NOT NULL, wrapped BLOB NOT NULL, created_at INTEGER NOT NULL,
                 PRIMARY KEY (tenant_id, key_id));
             CREATE TABLE tg_records (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tg_tenants(tenant_id),
                 class TEXT NOT NULL, subject TEXT, key_id INTEGER NOT NULL, sealed BLOB NOT NULL,
                 created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
             CREATE INDEX tg_records_by_key ON tg_records(tenant_id, key_id, id);
             INSERT INTO tg_tenants VALUES ('a', 0), ('b', 0);
             INSERT INTO tg_tenant_keys VALUES ('a', 1, 'active', 'k', x'01', 0), ('b', 1, 'active', 'k', x'02', 0);
             INSERT INTO tg_records VALUES ('r1', 'a', 'c', NULL, 1, x'0a', 5, 6), ('r2', 'b', 'c', 's', 1, x'0b', 7, 8);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let svc = |t: &str| TenantContext::service(TenantId::new(t).unwrap(), &tg_cap::cap());
    let r1 = s.get_record(&svc("a"), "r1").await.unwrap().unwrap();
    assert_eq!(
        (r1.sealed.clone(), r1.created_at, r1.updated_at),
        (vec![0x0a], 5, 6)
    );
    let r2 = s.get_record(&svc("b"), "r2").await.unwrap().unwrap();
    assert_eq!((r2.sealed, r2.subject.as_deref()), (vec![0x0b], Some("s")));
    assert_eq!(s.get_record(&svc("b"), "r1").await.unwrap(), None);
    let mut mine = r1.clone();
    mine.sealed = vec![0x0c];
    s.put_record(&svc("b"), &mine).await.unwrap();
    assert_eq!(
        s.get_record(&svc("a"), "r1").await.unwrap().unwrap().sealed,
        vec![0x0a]
    );
    assert_eq!(
        s.get_record(&svc("b"), "r1").await.unwrap().unwrap().sealed,
        vec![0x0c]
    );
}

/// A guard built on `store`: membership rows carry MACs under its keyring's row-MAC key,
/// so a store without a guard refuses to read or write them. Keep it alive.
fn keyed(store: std::sync::Arc<dyn Store>) -> tenantguard::Guard {
    tenantguard::Guard::builder()
        .key_provider(tenantguard::LocalKeyProvider::ephemeral())
        .store_arc(store)
        .build_with_service()
        .map(tg_cap::keep)
        .unwrap()
}

/// A schema-4 SQLite database (no memberships, no keyring, global token and session ids)
/// upgrades with every row kept; without sessions its membership table starts empty (an
/// upgrade seeds memberships from live sessions: row_integrity.rs beside this file), so its users are
/// members of nothing until the host adds them (sensitive operations fail closed meanwhile).
#[tokio::test]
async fn sqlite_upgrade_from_schema_4_adds_memberships() {
    use tenantguard::store::MembershipStore;
    use tenantguard::tenant::{Role, UserId};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    let svc = |t: &str| TenantContext::service(TenantId::new(t).unwrap(), &tg_cap::cap());
    {
        let s = SqliteStore::open(&path).unwrap();
        s.create_tenant(&svc("a"), &key_rec(1, KeyState::Active, "k"))
            .await
            .unwrap();
        s.put_record(&svc("a"), &rec("r1", 1, 1)).await.unwrap();
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER tg_audit_no_update; ALTER TABLE tg_audit DROP COLUMN personal;
             CREATE TRIGGER tg_audit_no_update BEFORE UPDATE ON tg_audit
             BEGIN SELECT RAISE(ABORT, 'tg_audit is append-only'); END;
             DROP TABLE tg_memberships; DROP TABLE tg_service_keys; DROP TABLE tg_service_state;
             DROP TABLE tg_refresh_tokens; DROP TABLE tg_sessions; DROP TABLE tg_tokens;
             CREATE TABLE tg_tokens (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, agent TEXT NOT NULL, name TEXT NOT NULL,
                 hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32), scopes TEXT NOT NULL, created_at INTEGER NOT NULL,
                 expires_at INTEGER, revoked_at INTEGER, mac BLOB);
             CREATE INDEX tg_tokens_by_agent ON tg_tokens(tenant_id, agent, id);
             CREATE TABLE tg_sessions (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL,
                 created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, refreshed_at INTEGER NOT NULL,
                 revoked_at INTEGER, label TEXT NOT NULL, mac BLOB);
             CREATE TABLE tg_refresh_tokens (hash BLOB PRIMARY KEY CHECK (length(hash) = 32), session_id TEXT NOT NULL REFERENCES tg_sessions(id),
                 tenant_id TEXT NOT NULL, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0, mac BLOB);
             CREATE INDEX tg_sessions_by_user ON tg_sessions(tenant_id, user_id);
             CREATE INDEX tg_refresh_by_session ON tg_refresh_tokens(session_id);
             PRAGMA user_version = 4;",
        )
        .unwrap();
    }
    let s = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
    let _g = keyed(s.clone());
    assert!(s.get_record(&svc("a"), "r1").await.unwrap().is_some());
    assert_eq!(s.tenant_keys(&svc("a")).await.unwrap().len(), 1);
    let olga = UserId::new("olga").unwrap();
    assert_eq!(s.member_role(&svc("a"), &olga).await.unwrap(), None);
    s.apply_member_change(&svc("a"), &olga, Some(Role::Owner), 5)
        .await
        .unwrap();
    assert_eq!(
        s.member_role(&svc("a"), &olga).await.unwrap(),
        Some(Role::Owner)
    );
    let v: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 7);
}

/// No record is ever stored under a destroyed key, and a key a record still names is not
/// destroyed: the store's half of a write racing a retirement by another guard (SQLite
/// across processes in `crypto::stale_key_processes`, PostgreSQL in `postgres::stale_key`).
async fn no_record_under_a_destroyed_key<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    use tenantguard::store::StoreError;
    use tenantguard_testkit::fixtures::{kid, new_tenant};
    let c = new_tenant(store, "dk-live").await;
    store
        .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    // A guard still holding key 1 (decrypt-only now, not destroyed): stored.
    store.put_record(&c, &rec("r1", 1, 2)).await.unwrap();
    assert!(matches!(
        store.destroy_key(&c, kid(1)).await,
        Err(StoreError::Conflict(_))
    ));
    let r1 = store.get_record(&c, "r1").await.unwrap().unwrap();
    assert!(store
        .replace_sealed(&c, "r1", &r1.sealed, kid(2), b"moved")
        .await
        .unwrap());
    store.destroy_key(&c, kid(1)).await.unwrap();
    // Sealed under the destroyed key: refused, nothing written.
    assert_eq!(
        store.put_record(&c, &rec("r2", 1, 2)).await,
        Err(StoreError::KeyDestroyed(kid(1)))
    );
    assert!(store.get_record(&c, "r2").await.unwrap().is_none());
    assert_eq!(
        store
            .replace_sealed(&c, "r1", b"moved", kid(1), b"back")
            .await,
        Err(StoreError::KeyDestroyed(kid(1)))
    );
    assert_eq!(
        store.get_record(&c, "r1").await.unwrap().unwrap().sealed,
        b"moved"
    );
    // Destroying the destroyed key again stays harmless.
    store.destroy_key(&c, kid(1)).await.unwrap();
}

#[tokio::test]
async fn no_record_under_a_destroyed_key_memory() {
    no_record_under_a_destroyed_key(memory().store.as_ref()).await;
}

#[tokio::test]
async fn no_record_under_a_destroyed_key_sqlite() {
    no_record_under_a_destroyed_key(sqlite_file().store.as_ref()).await;
}
