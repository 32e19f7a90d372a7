//! The service keyring's table ([`ServiceKeyStore`]): keys per purpose in id order,
//! insert-only, retirement that erases, compare-and-swap re-wrapping.
//!
//! The checks write keys with made-up wrapped bytes under ids after those already stored
//! (so a keyring that already uses the store keeps its keys), never of the `row-mac`
//! purpose, and retire them before they return. A purpose that had no key before is then
//! left with retired keys only, which a keyring refuses to use until it rotates: run this
//! suite on a store no guard uses at the same time.

use tenantguard::kms::{ServiceKeyRecord, ServiceKeyState, ServiceKeyStore, ServicePurpose};

use crate::fixtures::{kid, service_key};

/// Runs every check of this suite, in order.
pub async fn run<S: ServiceKeyStore + ?Sized>(store: &S) {
    insert_never_overwrites(store).await;
    keys_are_listed_by_purpose_in_id_order(store).await;
    retire_erases_once(store).await;
    rewrap_is_compare_and_swap(store).await;
}

async fn keys<S: ServiceKeyStore + ?Sized>(store: &S, p: ServicePurpose) -> Vec<ServiceKeyRecord> {
    store.service_keys(p).await.unwrap()
}

/// The first key id after every key of `p` already stored.
async fn next_id<S: ServiceKeyStore + ?Sized>(store: &S, p: ServicePurpose) -> u32 {
    keys(store, p)
        .await
        .iter()
        .map(|k| k.key_id.get())
        .max()
        .unwrap_or(0)
        + 1
}

async fn find<S: ServiceKeyStore + ?Sized>(
    store: &S,
    p: ServicePurpose,
    id: u32,
) -> Option<ServiceKeyRecord> {
    keys(store, p)
        .await
        .into_iter()
        .find(|k| k.key_id.get() == id)
}

/// Retires what a check inserted (see the module docs).
async fn retire_all<S: ServiceKeyStore + ?Sized>(store: &S, p: ServicePurpose, ids: &[u32]) {
    for &id in ids {
        store.retire_service_key(p, kid(id)).await.unwrap();
    }
}

fn retired(k: &ServiceKeyRecord) -> ServiceKeyRecord {
    ServiceKeyRecord {
        state: ServiceKeyState::Retired,
        kek_id: String::new(),
        wrapped: Vec::new(),
        ..k.clone()
    }
}

/// `insert_service_key` inserts a new (purpose, key id) and returns true, and never
/// overwrites one that exists (returns false).
pub async fn insert_never_overwrites<S: ServiceKeyStore + ?Sized>(store: &S) {
    rule!(
        insert_never_overwrites,
        "insert_service_key inserts a new (purpose, key id) and returns true, and never \
         overwrites one that exists (returns false)",
        {
            let p = ServicePurpose::AuditMac;
            let n = next_id(store, p).await;
            let first = service_key(p, n, "kek-1");
            assert!(store.insert_service_key(&first).await.unwrap());
            let other = ServiceKeyRecord {
                wrapped: vec![0xee; 40],
                ..service_key(p, n, "kek-2")
            };
            assert!(!store.insert_service_key(&other).await.unwrap());
            assert_eq!(
                find(store, p, n).await,
                Some(first),
                "the first insert kept"
            );
            retire_all(store, p, &[n]).await;
        }
    )
}

/// `service_keys` lists every key of one purpose, any state, in ascending key id order.
pub async fn keys_are_listed_by_purpose_in_id_order<S: ServiceKeyStore + ?Sized>(store: &S) {
    rule!(
        keys_are_listed_by_purpose_in_id_order,
        "service_keys lists every key of one purpose, any state, in ascending key id \
         order",
        {
            let (p, q) = (
                ServicePurpose::SessionSigning,
                ServicePurpose::CheckpointSigning,
            );
            let n = next_id(store, p).await.max(next_id(store, q).await);
            for (purpose, id) in [(p, n + 1), (q, n), (p, n)] {
                assert!(store
                    .insert_service_key(&service_key(purpose, id, "kek-1"))
                    .await
                    .unwrap());
            }
            assert!(store.retire_service_key(p, kid(n + 1)).await.unwrap());
            let listed = keys(store, p).await;
            assert!(listed.iter().all(|k| k.purpose == p), "one purpose only");
            assert!(
                listed.windows(2).all(|w| w[0].key_id < w[1].key_id),
                "ascending key ids"
            );
            let ours: Vec<ServiceKeyRecord> =
                listed.into_iter().filter(|k| k.key_id.get() >= n).collect();
            assert_eq!(
                ours,
                [
                    service_key(p, n, "kek-1"),
                    retired(&service_key(p, n + 1, "kek-1"))
                ]
            );
            assert_eq!(find(store, q, n).await, Some(service_key(q, n, "kek-1")));
            retire_all(store, p, &[n]).await;
            retire_all(store, q, &[n]).await;
        }
    )
}

/// `retire_service_key` marks an active key retired and erases its KEK id and wrapped
/// bytes (true), once; an unknown key is false.
pub async fn retire_erases_once<S: ServiceKeyStore + ?Sized>(store: &S) {
    rule!(
        retire_erases_once,
        "retire_service_key marks an active key retired and erases its KEK id and wrapped \
         bytes (true), once; an unknown key is false",
        {
            let p = ServicePurpose::AuditMac;
            let n = next_id(store, p).await;
            let k = service_key(p, n, "kek-1");
            store.insert_service_key(&k).await.unwrap();
            assert!(store.retire_service_key(p, kid(n)).await.unwrap());
            assert_eq!(find(store, p, n).await, Some(retired(&k)));
            assert!(!store.retire_service_key(p, kid(n)).await.unwrap(), "once");
            assert!(!store.retire_service_key(p, kid(n + 1)).await.unwrap());
            assert_eq!(find(store, p, n + 1).await, None, "no key made up");
        }
    )
}

/// `rewrap_service_key` replaces an active key's KEK id and wrapped bytes only while it is
/// wrapped under the expected KEK, and never a retired key.
pub async fn rewrap_is_compare_and_swap<S: ServiceKeyStore + ?Sized>(store: &S) {
    rule!(
        rewrap_is_compare_and_swap,
        "rewrap_service_key replaces an active key's KEK id and wrapped bytes only while \
         it is wrapped under the expected KEK, and never a retired key",
        {
            let p = ServicePurpose::AuditMac;
            let n = next_id(store, p).await;
            let k = service_key(p, n, "kek-1");
            store.insert_service_key(&k).await.unwrap();
            assert!(store
                .rewrap_service_key(p, kid(n), "kek-1", "kek-2", b"new-wrap")
                .await
                .unwrap());
            let rewrapped = ServiceKeyRecord {
                kek_id: "kek-2".into(),
                wrapped: b"new-wrap".to_vec(),
                ..k.clone()
            };
            assert_eq!(find(store, p, n).await, Some(rewrapped.clone()));
            assert!(
                !store
                    .rewrap_service_key(p, kid(n), "kek-1", "kek-3", b"stale")
                    .await
                    .unwrap(),
                "stale expectation"
            );
            assert_eq!(find(store, p, n).await, Some(rewrapped.clone()));
            assert!(!store
                .rewrap_service_key(p, kid(n + 1), "kek-1", "kek-3", b"x")
                .await
                .unwrap());
            retire_all(store, p, &[n]).await;
            for (old, new) in [("kek-2", "kek-4"), ("", "kek-4")] {
                assert!(
                    !store
                        .rewrap_service_key(p, kid(n), old, new, b"x")
                        .await
                        .unwrap(),
                    "a retired key is not re-wrapped (expecting {old:?})"
                );
            }
            assert_eq!(find(store, p, n).await, Some(retired(&k)));
        }
    )
}
