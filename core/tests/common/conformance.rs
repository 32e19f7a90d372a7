//! The store conformance suite: every backend (MemoryStore, SqliteStore, a future
//! PostgresStore...) must pass `run_all`.
//!
//! Each check uses its own tenant ids and record ids (prefixed by the check's name), so the
//! suite can run on a store that already holds data, and checks do not depend on each other.
//! To reuse it from another test crate: `#[path = ".../common/mod.rs"] mod common;` then
//! `common::conformance::run_all(&store).await`.

#![allow(dead_code)]

use tenantguard::crypto::KeyId;
use tenantguard::store::{KeyState, SealedRecord, StoreError, TenantKeyRecord, MAX_PAGE};
use tenantguard::{ErrorKind, ServiceRole, Store, TenantContext, TenantId};

/// How a backend answers a request naming another tenant's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantics {
    /// MemoryStore, SqliteStore. Record ids are per tenant on every store, so another
    /// tenant's id is simply absent everywhere; the variants differ only for governance
    /// rows (tokens, sessions).
    Strict,
    /// Row Level Security (PostgresStore).
    Rls,
}

/// Runs every check, in order, failing (panicking) on the first violation.
pub async fn run_all(store: &dyn Store) {
    run_all_with(store, Semantics::Strict).await;
}

/// [`run_all`] for a backend with the given cross-tenant semantics.
pub async fn run_all_with(store: &dyn Store, sem: Semantics) {
    create_tenant_twice_is_conflict(store).await;
    unknown_tenant_is_not_found(store).await;
    put_get_replace_delete(store).await;
    cross_tenant_access_is_refused_and_changes_nothing_with(store, sem).await;
    records_by_key_pages_in_id_order(store).await;
    replace_sealed_is_compare_and_swap(store).await;
    rotate_key_is_atomic(store).await;
    rewrap_key_is_compare_and_swap(store).await;
    destroy_key_refuses_active(store).await;
    destroy_all_keys_shreds_for_good(store).await;
    list_tenants_pages_in_order(store).await;
    invalid_inputs_are_refused(store).await;
}

fn svc() -> std::rc::Rc<ServiceRole> {
    crate::tg_cap::cap()
}

/// A service-role context for `tenant`.
pub fn ctx(tenant: &str) -> TenantContext {
    TenantContext::service(TenantId::new(tenant).unwrap(), &svc())
}

fn kid(id: u32) -> KeyId {
    KeyId::new(id).unwrap()
}

/// A wrapped key record as a key provider would produce it (contents are opaque to stores).
pub fn key_rec(id: u32, state: KeyState, kek: &str) -> TenantKeyRecord {
    TenantKeyRecord {
        key_id: kid(id),
        state,
        kek_id: kek.to_owned(),
        wrapped: vec![id as u8; 60],
        created_at: 1_700_000_000 + id as i64,
    }
}

/// A record whose sealed bytes are distinct per (id, key, version).
pub fn rec(id: &str, key: u32, version: u8) -> SealedRecord {
    let mut sealed = vec![1u8];
    sealed.extend_from_slice(&key.to_be_bytes());
    sealed.extend_from_slice(id.as_bytes());
    sealed.push(version);
    SealedRecord {
        id: id.to_owned(),
        class: "password".to_owned(),
        subject: Some("user-1".to_owned()),
        key_id: kid(key),
        sealed,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000 + version as i64,
    }
}

#[track_caller]
fn kind<T: std::fmt::Debug>(r: Result<T, StoreError>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

async fn new_tenant(store: &dyn Store, tenant: &str) -> TenantContext {
    let c = ctx(tenant);
    store
        .create_tenant(&c, &key_rec(1, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    c
}

fn active_count(keys: &[TenantKeyRecord]) -> usize {
    keys.iter().filter(|k| k.state == KeyState::Active).count()
}

pub async fn create_tenant_twice_is_conflict(store: &dyn Store) {
    let c = new_tenant(store, "ct-twice").await;
    let again = store
        .create_tenant(&c, &key_rec(1, KeyState::Active, "kek-2"))
        .await;
    assert_eq!(kind(again), ErrorKind::Conflict);
    // The original key is untouched.
    assert_eq!(
        store.tenant_keys(&c).await.unwrap(),
        vec![key_rec(1, KeyState::Active, "kek-1")]
    );
}

pub async fn unknown_tenant_is_not_found(store: &dyn Store) {
    let c = ctx("nf-nobody");
    assert_eq!(kind(store.tenant_keys(&c).await), ErrorKind::NotFound);
    assert_eq!(
        kind(store.put_record(&c, &rec("nf-r1", 1, 0)).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind(
            store
                .rotate_key(&c, &key_rec(2, KeyState::Active, "k"))
                .await
        ),
        ErrorKind::NotFound
    );
    assert_eq!(store.get_record(&c, "nf-r1").await.unwrap(), None);
}

pub async fn put_get_replace_delete(store: &dyn Store) {
    let c = new_tenant(store, "pg-a").await;
    let r = rec("pg-r1", 1, 0);
    store.put_record(&c, &r).await.unwrap();
    assert_eq!(
        store.get_record(&c, "pg-r1").await.unwrap(),
        Some(r.clone())
    );
    // Replace: new contents, creation time kept.
    let mut r2 = rec("pg-r1", 1, 1);
    r2.created_at = 1_800_000_000;
    r2.class = "api_token".to_owned();
    r2.subject = None;
    store.put_record(&c, &r2).await.unwrap();
    let got = store.get_record(&c, "pg-r1").await.unwrap().unwrap();
    assert_eq!(got.sealed, r2.sealed);
    assert_eq!(got.class, "api_token");
    assert_eq!(got.subject, None);
    assert_eq!(got.updated_at, r2.updated_at);
    assert_eq!(got.created_at, r.created_at, "replacing keeps created_at");
    assert_eq!(store.count_by_key(&c, kid(1)).await.unwrap(), 1);
    // Ids up to 255 bytes, any non-control characters.
    let long = "é".repeat(127) + "x";
    assert_eq!(long.len(), 255);
    store.put_record(&c, &rec(&long, 1, 0)).await.unwrap();
    assert_eq!(store.get_record(&c, &long).await.unwrap().unwrap().id, long);
    // Delete.
    assert!(store.delete_record(&c, "pg-r1").await.unwrap());
    assert_eq!(store.get_record(&c, "pg-r1").await.unwrap(), None);
    assert!(!store.delete_record(&c, "pg-r1").await.unwrap());
    assert!(store.delete_record(&c, &long).await.unwrap());
    assert_eq!(store.count_by_key(&c, kid(1)).await.unwrap(), 0);
    assert_eq!(store.get_record(&c, "pg-never").await.unwrap(), None);
}

pub async fn cross_tenant_access_is_refused_and_changes_nothing(store: &dyn Store) {
    cross_tenant_access_is_refused_and_changes_nothing_with(store, Semantics::Strict).await;
}

pub async fn cross_tenant_access_is_refused_and_changes_nothing_with(
    store: &dyn Store,
    sem: Semantics,
) {
    let a = new_tenant(store, "xt-a").await;
    let b = new_tenant(store, "xt-b").await;
    let r = rec("xt-r1", 1, 0);
    store.put_record(&a, &r).await.unwrap();

    let _ = sem;
    // Ids are per tenant on every store: A's id is "not found" in B, and B may have its
    // own record with the same id, which never touches A's.
    assert_eq!(store.get_record(&b, "xt-r1").await.unwrap(), None);
    assert!(!store.delete_record(&b, "xt-r1").await.unwrap());
    assert!(!store
        .replace_sealed(&b, "xt-r1", &r.sealed, kid(1), b"evil")
        .await
        .unwrap());
    let theirs = rec("xt-r1", 1, 9);
    store.put_record(&b, &theirs).await.unwrap();
    assert_eq!(
        store.get_record(&b, "xt-r1").await.unwrap(),
        Some(theirs.clone())
    );
    assert!(store.delete_record(&b, "xt-r1").await.unwrap());

    // Nothing changed for A, and B sees nothing of A's.
    assert_eq!(store.get_record(&a, "xt-r1").await.unwrap(), Some(r));
    assert_eq!(store.count_by_key(&a, kid(1)).await.unwrap(), 1);
    assert_eq!(store.count_by_key(&b, kid(1)).await.unwrap(), 0);
    assert!(store
        .records_by_key(&b, kid(1), None, 100)
        .await
        .unwrap()
        .is_empty());
    // Key operations are scoped too: B rotating does not touch A's keys.
    store
        .rotate_key(&b, &key_rec(2, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    assert_eq!(
        store.tenant_keys(&a).await.unwrap(),
        vec![key_rec(1, KeyState::Active, "kek-1")]
    );
    store.destroy_all_keys(&b).await.unwrap();
    assert_eq!(
        store.tenant_keys(&a).await.unwrap(),
        vec![key_rec(1, KeyState::Active, "kek-1")]
    );
}

pub async fn records_by_key_pages_in_id_order(store: &dyn Store) {
    let c = new_tenant(store, "pk-a").await;
    let other = new_tenant(store, "pk-b").await;
    store
        .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    // Insert out of order.
    for i in (0..25).rev() {
        store
            .put_record(&c, &rec(&format!("pk-k1-{i:03}"), 1, 0))
            .await
            .unwrap();
    }
    for i in 0..5 {
        store
            .put_record(&c, &rec(&format!("pk-k2-{i:03}"), 2, 0))
            .await
            .unwrap();
        store
            .put_record(&other, &rec(&format!("pk-other-{i:03}"), 1, 0))
            .await
            .unwrap();
    }
    assert_eq!(store.count_by_key(&c, kid(1)).await.unwrap(), 25);
    assert_eq!(store.count_by_key(&c, kid(2)).await.unwrap(), 5);
    assert_eq!(store.count_by_key(&c, kid(3)).await.unwrap(), 0);
    assert_eq!(store.count_by_key(&other, kid(1)).await.unwrap(), 5);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let page = store
            .records_by_key(&c, kid(1), cursor.as_deref(), 10)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        pages.push(page.len());
        assert!(page
            .iter()
            .all(|r| r.key_id == kid(1) && r.id.starts_with("pk-k1-")));
        cursor = Some(page.last().unwrap().id.clone());
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(pages, vec![10, 10, 5]);
    let expected: Vec<String> = (0..25).map(|i| format!("pk-k1-{i:03}")).collect();
    assert_eq!(seen, expected, "ascending, complete, no duplicates");
    let k2 = store
        .records_by_key(&c, kid(2), None, MAX_PAGE)
        .await
        .unwrap();
    assert_eq!(k2.len(), 5);
    // A cursor past the end.
    assert!(store
        .records_by_key(&c, kid(1), Some("pk-k1-zzz"), 10)
        .await
        .unwrap()
        .is_empty());
    // Full record contents come back.
    let first = store.records_by_key(&c, kid(1), None, 1).await.unwrap();
    assert_eq!(first, vec![rec("pk-k1-000", 1, 0)]);
}

pub async fn replace_sealed_is_compare_and_swap(store: &dyn Store) {
    let c = new_tenant(store, "cas-a").await;
    store
        .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    let r = rec("cas-r1", 1, 0);
    store.put_record(&c, &r).await.unwrap();
    let new = rec("cas-r1", 2, 1).sealed;
    assert!(store
        .replace_sealed(&c, "cas-r1", &r.sealed, kid(2), &new)
        .await
        .unwrap());
    let got = store.get_record(&c, "cas-r1").await.unwrap().unwrap();
    assert_eq!(got.sealed, new);
    assert_eq!(got.key_id, kid(2));
    assert_eq!(got.class, r.class);
    assert_eq!(store.count_by_key(&c, kid(1)).await.unwrap(), 0);
    assert_eq!(store.count_by_key(&c, kid(2)).await.unwrap(), 1);
    // Stale expectation: refused, nothing changes.
    assert!(!store
        .replace_sealed(&c, "cas-r1", &r.sealed, kid(1), b"stale")
        .await
        .unwrap());
    assert_eq!(store.get_record(&c, "cas-r1").await.unwrap().unwrap(), got);
    // Absent record.
    assert!(!store
        .replace_sealed(&c, "cas-none", &r.sealed, kid(2), &new)
        .await
        .unwrap());
    assert_eq!(store.get_record(&c, "cas-none").await.unwrap(), None);
}

pub async fn rotate_key_is_atomic(store: &dyn Store) {
    let c = new_tenant(store, "rot-a").await;
    store
        .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    let keys = store.tenant_keys(&c).await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.key_id.get(), k.state))
            .collect::<Vec<_>>(),
        vec![(1, KeyState::DecryptOnly), (2, KeyState::Active)]
    );
    assert_eq!(keys[1], key_rec(2, KeyState::Active, "kek-1"));
    // A duplicate id is refused and leaves the keys exactly as they were.
    for dup in [1, 2] {
        assert_eq!(
            kind(
                store
                    .rotate_key(&c, &key_rec(dup, KeyState::Active, "kek-9"))
                    .await
            ),
            ErrorKind::Conflict
        );
        assert_eq!(
            store.tenant_keys(&c).await.unwrap(),
            keys,
            "failed rotation changed nothing"
        );
    }
    store
        .rotate_key(&c, &key_rec(3, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    let keys = store.tenant_keys(&c).await.unwrap();
    assert_eq!(active_count(&keys), 1);
    assert_eq!(
        keys.iter()
            .find(|k| k.state == KeyState::Active)
            .unwrap()
            .key_id,
        kid(3)
    );
    assert_eq!(
        keys.iter().map(|k| k.key_id.get()).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "oldest first"
    );
}

pub async fn rewrap_key_is_compare_and_swap(store: &dyn Store) {
    let c = new_tenant(store, "rw-a").await;
    store
        .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    assert!(store
        .rewrap_key(&c, kid(1), "kek-1", "kek-2", b"new-wrap")
        .await
        .unwrap());
    // Already re-wrapped: the expectation no longer holds.
    assert!(!store
        .rewrap_key(&c, kid(1), "kek-1", "kek-3", b"other")
        .await
        .unwrap());
    let keys = store.tenant_keys(&c).await.unwrap();
    assert_eq!(keys[0].kek_id, "kek-2");
    assert_eq!(keys[0].wrapped, b"new-wrap");
    assert_eq!(
        keys[0].state,
        KeyState::DecryptOnly,
        "rewrap keeps the state"
    );
    assert_eq!(
        keys[1],
        key_rec(2, KeyState::Active, "kek-1"),
        "other keys untouched"
    );
    // Unknown key id, and a destroyed key, are not re-wrapped.
    assert!(!store
        .rewrap_key(&c, kid(9), "kek-1", "kek-2", b"x")
        .await
        .unwrap());
    store.destroy_key(&c, kid(1)).await.unwrap();
    assert!(!store
        .rewrap_key(&c, kid(1), "", "kek-2", b"x")
        .await
        .unwrap());
    assert!(!store
        .rewrap_key(&c, kid(1), "kek-2", "kek-3", b"x")
        .await
        .unwrap());
    let k1 = &store.tenant_keys(&c).await.unwrap()[0];
    assert_eq!(k1.state, KeyState::Destroyed);
    assert!(k1.wrapped.is_empty());
}

pub async fn destroy_key_refuses_active(store: &dyn Store) {
    let c = new_tenant(store, "dk-a").await;
    assert_eq!(
        kind(store.destroy_key(&c, kid(1)).await),
        ErrorKind::Conflict
    );
    assert_eq!(
        store.tenant_keys(&c).await.unwrap(),
        vec![key_rec(1, KeyState::Active, "kek-1")]
    );
    store
        .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    store.destroy_key(&c, kid(1)).await.unwrap();
    let keys = store.tenant_keys(&c).await.unwrap();
    assert_eq!(keys[0].state, KeyState::Destroyed);
    assert!(keys[0].wrapped.is_empty(), "wrapped bytes erased");
    assert!(keys[0].kek_id.is_empty());
    assert_eq!(keys[1], key_rec(2, KeyState::Active, "kek-1"));
    // Destroying again is harmless; an unknown id is refused.
    store.destroy_key(&c, kid(1)).await.unwrap();
    let k = kind(store.destroy_key(&c, kid(7)).await);
    assert!(
        matches!(k, ErrorKind::Conflict | ErrorKind::NotFound),
        "unknown key: {k}"
    );
    assert_eq!(
        kind(store.destroy_key(&c, kid(2)).await),
        ErrorKind::Conflict
    );
}

pub async fn destroy_all_keys_shreds_for_good(store: &dyn Store) {
    let c = new_tenant(store, "da-a").await;
    store
        .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    store.put_record(&c, &rec("da-r1", 2, 0)).await.unwrap();
    store.destroy_all_keys(&c).await.unwrap();
    let keys = store.tenant_keys(&c).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys
        .iter()
        .all(|k| k.state == KeyState::Destroyed && k.wrapped.is_empty() && k.kek_id.is_empty()));
    // Idempotent.
    store.destroy_all_keys(&c).await.unwrap();
    // No new keys, and the id cannot be reused.
    assert_eq!(
        kind(
            store
                .rotate_key(&c, &key_rec(3, KeyState::Active, "kek-1"))
                .await
        ),
        ErrorKind::Conflict
    );
    assert_eq!(
        kind(
            store
                .create_tenant(&c, &key_rec(1, KeyState::Active, "kek-1"))
                .await
        ),
        ErrorKind::Conflict
    );
    assert_eq!(active_count(&store.tenant_keys(&c).await.unwrap()), 0);
}

pub async fn list_tenants_pages_in_order(store: &dyn Store) {
    let mut created = Vec::new();
    for i in (0..23).rev() {
        let name = format!("lt-{i:02}");
        new_tenant(store, &name).await;
        created.push(name);
    }
    created.sort();
    let service = svc();
    let mut all = Vec::new();
    let mut cursor: Option<TenantId> = None;
    loop {
        let page = store
            .list_tenants(&service, cursor.as_ref(), 7)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        cursor = page.last().cloned();
        all.extend(page);
    }
    let names: Vec<String> = all.iter().map(|t| t.as_str().to_owned()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "ascending, no duplicates");
    let ours: Vec<String> = names.into_iter().filter(|n| n.starts_with("lt-")).collect();
    assert_eq!(ours, created);
    // Starting after one of them.
    let after = TenantId::new("lt-10").unwrap();
    let page = store.list_tenants(&service, Some(&after), 3).await.unwrap();
    assert_eq!(
        page.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        vec!["lt-11", "lt-12", "lt-13"]
    );
}

pub async fn invalid_inputs_are_refused(store: &dyn Store) {
    let c = new_tenant(store, "inv-a").await;
    let invalid = ErrorKind::InvalidInput;
    let long = "a".repeat(256);
    for bad_id in ["", long.as_str(), "with\nnewline", "nul\0"] {
        assert_eq!(
            kind(store.put_record(&c, &rec(bad_id, 1, 0)).await),
            invalid,
            "put {bad_id:?}"
        );
        assert_eq!(
            kind(store.get_record(&c, bad_id).await),
            invalid,
            "get {bad_id:?}"
        );
        assert_eq!(
            kind(store.delete_record(&c, bad_id).await),
            invalid,
            "delete {bad_id:?}"
        );
    }
    let mut r = rec("inv-r1", 1, 0);
    r.class = String::new();
    assert_eq!(kind(store.put_record(&c, &r).await), invalid, "empty class");
    r.class = "c".repeat(129);
    assert_eq!(kind(store.put_record(&c, &r).await), invalid, "long class");
    let mut r = rec("inv-r1", 1, 0);
    r.subject = Some(String::new());
    assert_eq!(
        kind(store.put_record(&c, &r).await),
        invalid,
        "empty subject"
    );
    assert_eq!(
        store.get_record(&c, "inv-r1").await.unwrap(),
        None,
        "nothing written"
    );

    for bad in [0, MAX_PAGE + 1] {
        assert_eq!(
            kind(store.records_by_key(&c, kid(1), None, bad).await),
            invalid,
            "records_by_key page {bad}"
        );
        assert_eq!(
            kind(store.list_tenants(&svc(), None, bad).await),
            invalid,
            "list_tenants page {bad}"
        );
    }
    assert!(store
        .records_by_key(&c, kid(1), None, MAX_PAGE)
        .await
        .is_ok());
    assert!(store.list_tenants(&svc(), None, MAX_PAGE).await.is_ok());
}
