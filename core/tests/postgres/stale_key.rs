//! Two instances on one database, each with its own guard, key cache and connection pools:
//! while instance A rotates, re-encrypts and retires a tenant key (or shreds the tenant),
//! instance B still holds the old key in its cache (it has not heard A's news: here it runs
//! without a listener; with one the window is shorter, not closed). B's write afterwards is
//! either stored under a key that opens or refused; never stored under a destroyed key and
//! lost. Through both write paths: a user's (the definer function `tg_put_record`) and the
//! service role's (plain statements).
//!
//! Plus the two lock orders of a write racing a key's destruction, made deterministic by
//! holding one side's transaction open on a raw connection.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::postgres_support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres_support::*;
use tenantguard::store::KeyStore;
use tenantguard::tenant::Resolved;
use tenantguard::{
    ErrorKind, Guard, KeyId, LocalKeyProvider, PgOptions, PostgresStore, Role, ServiceRole,
    TenantContext,
};

/// An instance with its own pools and caches. No listener: it hears nothing of the other.
async fn instance(pg: &Pg, keys: &Path) -> (Guard, ServiceRole, Arc<PostgresStore>) {
    let store = Arc::new(
        PostgresStore::connect_with(
            pg.app.clone(),
            Some(pg.service.clone()),
            PgOptions {
                events: false,
                ..PgOptions::default()
            },
        )
        .await
        .expect("connect"),
    );
    let (guard, cap) = Guard::builder()
        .key_provider(LocalKeyProvider::open_or_create(keys).expect("key file"))
        .store_arc(store.clone())
        .build_with_service()
        .expect("guard");
    (guard, cap, store)
}

/// Alice (the tenant's creator, so its owner in the database too) or the service role.
fn ctx(cap: &ServiceRole, as_user: bool) -> TenantContext {
    if as_user {
        TenantContext::resolved(Resolved::vouch(cap, t("acme"), u("alice"), Role::Owner))
    } else {
        TenantContext::service(t("acme"), cap)
    }
}

const K1: u32 = 1;

fn k(id: u32) -> KeyId {
    KeyId::new(id).unwrap()
}

struct Two {
    _dir: tempfile::TempDir,
    keys: std::path::PathBuf,
    a: (Guard, ServiceRole, Arc<PostgresStore>),
    b: (Guard, ServiceRole, Arc<PostgresStore>),
}

/// Tenant `acme` made by A; B stores `b-1`, so B's cache holds key 1.
async fn two(pg: &Pg, as_user: bool) -> Two {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let a = instance(pg, &keys).await;
    let creator =
        TenantContext::resolved(Resolved::vouch(&a.1, t("acme"), u("alice"), Role::Owner));
    a.0.keys().create_tenant(&creator).await.unwrap();
    let b = instance(pg, &keys).await;
    b.0.records()
        .put(&ctx(&b.1, as_user), "b-1", "notes", None, b"first")
        .await
        .unwrap();
    Two {
        _dir: dir,
        keys,
        a,
        b,
    }
}

/// A fresh instance (no cache) opens every listed record.
async fn all_open(pg: &Pg, keys: &Path, ids: &[&str]) {
    let (g, cap, _) = instance(pg, keys).await;
    for id in ids {
        let (_, plain) = g
            .records()
            .open_record(&ctx(&cap, false), id)
            .await
            .unwrap_or_else(|e| panic!("{id} lost: {e}"));
        assert!(!plain.expose().is_empty());
    }
}

async fn retired_under_a_writer(name: &str, as_user: bool) {
    let Some(pg) = fresh(name).await else {
        return;
    };
    let w = two(&pg, as_user).await;
    let (a, ca) = (&w.a.0, ctx(&w.a.1, as_user));
    let new = a.keys().rotate(&ca).await.unwrap();
    assert_eq!(
        a.keys()
            .reencrypt_all(&ca, 100, |_| ())
            .await
            .unwrap()
            .moved,
        1
    );
    a.keys().retire(&ca, k(K1)).await.unwrap();
    // B still seals under key 1: the database refuses it, B drops its cached key and
    // stores under the active one.
    w.b.0
        .records()
        .put(&ctx(&w.b.1, as_user), "b-2", "notes", None, b"second")
        .await
        .unwrap();
    all_open(&pg, &w.keys, &["b-1", "b-2"]).await;
    let census = a.keys().census(&ca).await.unwrap();
    assert_eq!(census.count(new), 2);
}

#[tokio::test]
async fn a_user_write_with_a_key_another_instance_retired_is_not_lost() {
    retired_under_a_writer("stalekeyuser", true).await;
}

#[tokio::test]
async fn a_service_write_with_a_key_another_instance_retired_is_not_lost() {
    retired_under_a_writer("stalekeysvc", false).await;
}

async fn shredded_under_a_writer(name: &str, as_user: bool) {
    let Some(pg) = fresh(name).await else {
        return;
    };
    let w = two(&pg, as_user).await;
    w.a.0.keys().shred(&ctx(&w.a.1, as_user)).await.unwrap();
    let e =
        w.b.0
            .records()
            .put(&ctx(&w.b.1, as_user), "b-2", "notes", None, b"second")
            .await
            .expect_err("a write after the shred is refused");
    assert_eq!(e.kind(), ErrorKind::KeyDestroyed, "{e}");
}

#[tokio::test]
async fn a_user_write_with_a_key_of_a_tenant_another_instance_shredded_is_refused() {
    shredded_under_a_writer("stalekeyshreduser", true).await;
}

#[tokio::test]
async fn a_service_write_with_a_key_of_a_tenant_another_instance_shredded_is_refused() {
    shredded_under_a_writer("stalekeyshredsvc", false).await;
}

/// Waits until a backend of this database waits for a lock (bounded; false if none did).
async fn someone_waits(admin: &tokio_postgres::Client) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Key 1 decrypt-only and unused (rotated, re-encrypted); B still caches it.
async fn rotated(pg: &Pg) -> Two {
    let w = two(pg, false).await;
    let ca = ctx(&w.a.1, false);
    w.a.0.keys().rotate(&ca).await.unwrap();
    assert_eq!(
        w.a.0
            .keys()
            .reencrypt_all(&ca, 100, |_| ())
            .await
            .unwrap()
            .moved,
        1
    );
    w
}

/// The writer locks first: a record under key 1 is written in a transaction held open;
/// the destruction of key 1 waits for it, then sees the record and refuses.
#[tokio::test]
async fn a_key_destruction_waits_for_a_write_under_it_and_refuses() {
    let Some(pg) = fresh("stalekeylockw").await else {
        return;
    };
    let w = rotated(&pg).await;
    let mut admin = pg.admin().await;
    let tx = admin.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO tg_records (id, tenant_id, class, subject, key_id, sealed, created_at, updated_at)
         SELECT 'held', tenant_id, class, subject, 1, sealed, created_at, updated_at
           FROM tg_records WHERE tenant_id = 'acme' AND id = 'b-1'",
        &[],
    )
    .await
    .unwrap();
    let watcher = pg.admin().await;
    let c = ctx(&w.a.1, false);
    let (destroyed, waited) = tokio::join!(w.a.2.destroy_key(&c, k(K1)), async {
        let waited = someone_waits(&watcher).await;
        tx.commit().await.unwrap();
        waited
    });
    assert!(waited, "the destruction waits for the write's lock");
    match destroyed {
        Err(tenantguard::store::StoreError::Conflict(m)) => {
            assert!(m.contains("still seals 1"), "{m}")
        }
        other => panic!("key 1 destroyed under a committed record: {other:?}"),
    }
}

/// The destruction locks first (held open on a raw connection): B's write under key 1
/// waits for it, then finds the key destroyed; B retries under the active key.
#[tokio::test]
async fn a_write_waits_for_a_key_destruction_and_moves_to_the_active_key() {
    let Some(pg) = fresh("stalekeylockd").await else {
        return;
    };
    let w = rotated(&pg).await;
    let mut admin = pg.admin().await;
    let tx = admin.transaction().await.unwrap();
    tx.execute(
        "UPDATE tg_tenant_keys SET state = 'destroyed', kek_id = '', wrapped = '\\x'::bytea
          WHERE tenant_id = 'acme' AND key_id = 1",
        &[],
    )
    .await
    .unwrap();
    let watcher = pg.admin().await;
    let c = ctx(&w.b.1, false);
    let (put, waited) = tokio::join!(
        w.b.0.records().put(&c, "b-2", "notes", None, b"second"),
        async {
            let waited = someone_waits(&watcher).await;
            tx.commit().await.unwrap();
            waited
        }
    );
    assert!(waited, "the write waits for the destruction's lock");
    put.unwrap();
    all_open(&pg, &w.keys, &["b-1", "b-2"]).await;
}
