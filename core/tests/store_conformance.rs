//! Store conformance: the same suite (`common::conformance::run_all`) against every built-in
//! backend, plus SQLite-specific persistence checks.

mod common;
mod tg_cap;

use common::conformance::{self, ctx, key_rec, rec};
use tenantguard::store::{KeyState, KeyStore, RecordStore};
use tenantguard::{MemoryStore, SqliteStore, Store};

#[tokio::test]
async fn memory_store_conforms() {
    conformance::run_all(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_in_memory_conforms() {
    conformance::run_all(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn sqlite_file_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run_all(&SqliteStore::open(dir.path().join("tg.db")).unwrap()).await;
}

#[tokio::test]
async fn suite_runs_through_a_shared_trait_object() {
    // As the Guard holds it: Arc<dyn Store>.
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(MemoryStore::new());
    conformance::run_all(store.as_ref()).await;
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
    // The suite also passes on a reopened, non-empty database.
    conformance::run_all(&store).await;
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
