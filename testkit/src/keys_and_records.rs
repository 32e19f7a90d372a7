//! Keys and records ([`KeyStore`] + [`RecordStore`]): tenants and their key versions,
//! sealed records, compare-and-swap, paging, crypto-shredding, input bounds.
//!
//! A store implementing only these two traits runs this suite alone:
//! `tenantguard_testkit::keys_and_records::run(&store).await`.

use tenantguard::store::{KeyState, KeyStore, RecordStore, TenantKeyRecord, MAX_PAGE};
use tenantguard::{ErrorKind, TenantId};

use crate::fixtures::{ctx, key_rec, kid, kind, new_tenant, rec, service};

/// Runs every check of this suite, in order.
pub async fn run<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    create_tenant_twice_is_conflict(store).await;
    unknown_tenant_is_not_found(store).await;
    put_get_replace_delete(store).await;
    cross_tenant_access_is_refused_and_changes_nothing(store).await;
    records_by_key_pages_in_id_order(store).await;
    records_page_pages_every_record_or_refuses(store).await;
    replace_sealed_is_compare_and_swap(store).await;
    rotate_key_is_atomic(store).await;
    rewrap_key_is_compare_and_swap(store).await;
    destroy_key_refuses_active(store).await;
    destroy_key_refuses_a_key_a_record_names(store).await;
    destroyed_keys_seal_nothing(store).await;
    destroy_all_keys_shreds_for_good(store).await;
    list_tenants_pages_in_order(store).await;
    invalid_inputs_are_refused(store).await;
}

fn active_count(keys: &[TenantKeyRecord]) -> usize {
    keys.iter().filter(|k| k.state == KeyState::Active).count()
}

/// A second `create_tenant` of one tenant is `Conflict` and leaves its first key as it was.
pub async fn create_tenant_twice_is_conflict<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        create_tenant_twice_is_conflict,
        "a second create_tenant of one tenant is Conflict and leaves its first key as it \
         was",
        {
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
    )
}

/// A tenant never created is `NotFound` for its keys, record writes and rotation, and holds
/// no record.
pub async fn unknown_tenant_is_not_found<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        unknown_tenant_is_not_found,
        "a tenant never created is NotFound for its keys, record writes and rotation, and \
         holds no record",
        {
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
    )
}

/// Records are put, read, replaced (keeping `created_at`) and deleted by id, with ids up to
/// 255 bytes.
pub async fn put_get_replace_delete<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        put_get_replace_delete,
        "records are put, read, replaced (keeping created_at) and deleted by id, with ids \
         up to 255 bytes",
        {
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
    )
}

/// Ids are per tenant: another tenant's record id is absent, never read, replaced or
/// deleted, and key operations stay in their tenant.
pub async fn cross_tenant_access_is_refused_and_changes_nothing<
    S: KeyStore + RecordStore + ?Sized,
>(
    store: &S,
) {
    rule!(
        cross_tenant_access_is_refused_and_changes_nothing,
        "ids are per tenant: another tenant's record id is absent, never read, replaced \
         or deleted, and key operations stay in their tenant",
        {
            let a = new_tenant(store, "xt-a").await;
            let b = new_tenant(store, "xt-b").await;
            let r = rec("xt-r1", 1, 0);
            store.put_record(&a, &r).await.unwrap();

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
    )
}

/// `records_by_key` pages a tenant's records under one key in ascending id order, complete
/// and without duplicates.
pub async fn records_by_key_pages_in_id_order<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        records_by_key_pages_in_id_order,
        "records_by_key pages a tenant's records under one key in ascending id order, \
         complete and without duplicates",
        {
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
    )
}

/// `records_page` either refuses (the trait's default: the store cannot retire keys) or
/// pages every record of the tenant, whatever its key, in ascending id order.
pub async fn records_page_pages_every_record_or_refuses<S: KeyStore + RecordStore + ?Sized>(
    store: &S,
) {
    rule!(
        records_page_pages_every_record_or_refuses,
        "records_page either refuses (the trait's default: the store cannot retire keys) \
         or pages every record of the tenant, whatever its key, in ascending id order",
        {
            let c = new_tenant(store, "rp-a").await;
            let other = new_tenant(store, "rp-b").await;
            store
                .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
                .await
                .unwrap();
            for i in (0..12).rev() {
                let key = if i % 3 == 0 { 2 } else { 1 };
                store
                    .put_record(&c, &rec(&format!("rp-{i:03}"), key, 0))
                    .await
                    .unwrap();
            }
            store
                .put_record(&other, &rec("rp-005", 1, 7))
                .await
                .unwrap();
            let first = match store.records_page(&c, None, 5).await {
                Err(e) => {
                    assert_eq!(
                        e.kind(),
                        ErrorKind::Store,
                        "a store without records_page refuses with a backend error: {e}"
                    );
                    return;
                }
                Ok(page) => page,
            };
            let mut seen: Vec<String> = first.iter().map(|r| r.id.clone()).collect();
            let mut cursor = first.last().map(|r| r.id.clone());
            let mut pages = vec![first.len()];
            while let Some(after) = cursor.take() {
                let page = store.records_page(&c, Some(&after), 5).await.unwrap();
                if page.is_empty() {
                    break;
                }
                pages.push(page.len());
                cursor = page.last().map(|r| r.id.clone());
                seen.extend(page.into_iter().map(|r| r.id));
            }
            assert_eq!(pages, vec![5, 5, 2]);
            let expected: Vec<String> = (0..12).map(|i| format!("rp-{i:03}")).collect();
            assert_eq!(
                seen, expected,
                "ascending, complete, every key, no other tenant's"
            );
            let one = store.records_page(&c, Some("rp-004"), 1).await.unwrap();
            assert_eq!(
                one,
                vec![rec("rp-005", 1, 0)],
                "full contents, this tenant's copy"
            );
            for bad in [0, MAX_PAGE + 1] {
                assert_eq!(
                    kind(store.records_page(&c, None, bad).await),
                    ErrorKind::InvalidInput,
                    "records_page page {bad}"
                );
            }
        }
    )
}

/// `replace_sealed` swaps the sealed value and key id only while the stored value is the
/// expected one.
pub async fn replace_sealed_is_compare_and_swap<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        replace_sealed_is_compare_and_swap,
        "replace_sealed swaps the sealed value and key id only while the stored value is \
         the expected one",
        {
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
    )
}

/// `rotate_key` demotes the active key and adds the new one at once; a duplicate key id is
/// `Conflict` and changes nothing.
pub async fn rotate_key_is_atomic<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        rotate_key_is_atomic,
        "rotate_key demotes the active key and adds the new one at once; a duplicate key \
         id is Conflict and changes nothing",
        {
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
    )
}

/// `rewrap_key` replaces a key's wrapping only while it is wrapped under the expected KEK,
/// and never a destroyed key.
pub async fn rewrap_key_is_compare_and_swap<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        rewrap_key_is_compare_and_swap,
        "rewrap_key replaces a key's wrapping only while it is wrapped under the expected \
         KEK, and never a destroyed key",
        {
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
    )
}

/// `destroy_key` erases a decrypt-only key's wrapped bytes and refuses the active key.
pub async fn destroy_key_refuses_active<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        destroy_key_refuses_active,
        "destroy_key erases a decrypt-only key's wrapped bytes and refuses the active key",
        {
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
    )
}

/// `destroy_key` refuses a decrypt-only key that a stored record still names, and changes
/// nothing; once no record names it, the key is destroyed.
pub async fn destroy_key_refuses_a_key_a_record_names<S: KeyStore + RecordStore + ?Sized>(
    store: &S,
) {
    rule!(
        destroy_key_refuses_a_key_a_record_names,
        "destroy_key refuses a decrypt-only key that a stored record still names (the \
         record could never open again), and destroys it once none does",
        {
            let c = new_tenant(store, "dkn-a").await;
            store
                .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
                .await
                .unwrap();
            let r = rec("dkn-r1", 1, 0);
            store.put_record(&c, &r).await.unwrap();
            assert_eq!(
                kind(store.destroy_key(&c, kid(1)).await),
                ErrorKind::Conflict
            );
            assert_eq!(
                store.tenant_keys(&c).await.unwrap()[0],
                key_rec(1, KeyState::DecryptOnly, "kek-1"),
                "the refused destruction changed the key"
            );
            assert_eq!(
                store.get_record(&c, "dkn-r1").await.unwrap(),
                Some(r.clone())
            );
            // Re-encrypted to key 2: nothing names key 1 any more.
            let moved = rec("dkn-r1", 2, 1).sealed;
            assert!(store
                .replace_sealed(&c, "dkn-r1", &r.sealed, kid(2), &moved)
                .await
                .unwrap());
            store.destroy_key(&c, kid(1)).await.unwrap();
            assert_eq!(
                store.tenant_keys(&c).await.unwrap()[0].state,
                KeyState::Destroyed
            );
        }
    )
}

/// A write or a re-encryption sealed under a destroyed key (a writer that still held the
/// key after another instance retired it or shredded the tenant) is refused with
/// `KeyDestroyed` and stores nothing.
pub async fn destroyed_keys_seal_nothing<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        destroyed_keys_seal_nothing,
        "a write or a re-encryption sealed under a destroyed key is refused with \
         KeyDestroyed and stores nothing (nothing could ever open it)",
        {
            let c = new_tenant(store, "kds-a").await;
            store
                .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
                .await
                .unwrap();
            store.destroy_key(&c, kid(1)).await.unwrap();
            // A new record under the retired key.
            assert_eq!(
                kind(store.put_record(&c, &rec("kds-r1", 1, 0)).await),
                ErrorKind::KeyDestroyed
            );
            assert_eq!(store.get_record(&c, "kds-r1").await.unwrap(), None);
            // A replacement of a live record under the retired key.
            let live = rec("kds-r2", 2, 0);
            store.put_record(&c, &live).await.unwrap();
            assert_eq!(
                kind(store.put_record(&c, &rec("kds-r2", 1, 1)).await),
                ErrorKind::KeyDestroyed
            );
            // A re-encryption onto the retired key.
            assert_eq!(
                kind(
                    store
                        .replace_sealed(&c, "kds-r2", &live.sealed, kid(1), b"under key 1")
                        .await
                ),
                ErrorKind::KeyDestroyed
            );
            assert_eq!(
                store.get_record(&c, "kds-r2").await.unwrap(),
                Some(live.clone())
            );
            // Shredded: the formerly active key seals nothing either.
            store.destroy_all_keys(&c).await.unwrap();
            assert_eq!(
                kind(store.put_record(&c, &rec("kds-r3", 2, 0)).await),
                ErrorKind::KeyDestroyed
            );
            assert_eq!(store.get_record(&c, "kds-r3").await.unwrap(), None);
            assert_eq!(store.count_by_key(&c, kid(2)).await.unwrap(), 1);
        }
    )
}

/// `destroy_all_keys` erases every key for good: no new key, and the tenant id is never
/// reused.
pub async fn destroy_all_keys_shreds_for_good<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        destroy_all_keys_shreds_for_good,
        "destroy_all_keys erases every key for good: no new key, and the tenant id is \
         never reused",
        {
            let c = new_tenant(store, "da-a").await;
            store
                .rotate_key(&c, &key_rec(2, KeyState::Active, "kek-1"))
                .await
                .unwrap();
            store.put_record(&c, &rec("da-r1", 2, 0)).await.unwrap();
            store.destroy_all_keys(&c).await.unwrap();
            let keys = store.tenant_keys(&c).await.unwrap();
            assert_eq!(keys.len(), 2);
            assert!(keys.iter().all(|k| k.state == KeyState::Destroyed
                && k.wrapped.is_empty()
                && k.kek_id.is_empty()));
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
    )
}

/// `list_tenants` pages every tenant in ascending id order, after a cursor.
pub async fn list_tenants_pages_in_order<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        list_tenants_pages_in_order,
        "list_tenants pages every tenant in ascending id order, after a cursor",
        {
            let mut created = Vec::new();
            for i in (0..23).rev() {
                let name = format!("lt-{i:02}");
                new_tenant(store, &name).await;
                created.push(name);
            }
            created.sort();
            let svc = service();
            let mut all = Vec::new();
            let mut cursor: Option<TenantId> = None;
            loop {
                let page = store.list_tenants(svc, cursor.as_ref(), 7).await.unwrap();
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
            let page = store.list_tenants(svc, Some(&after), 3).await.unwrap();
            assert_eq!(
                page.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                vec!["lt-11", "lt-12", "lt-13"]
            );
        }
    )
}

/// Out-of-range record ids, classes, subjects and page sizes are `InvalidInput` and write
/// nothing.
pub async fn invalid_inputs_are_refused<S: KeyStore + RecordStore + ?Sized>(store: &S) {
    rule!(
        invalid_inputs_are_refused,
        "out-of-range record ids, classes, subjects and page sizes are InvalidInput and \
         write nothing",
        {
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
                    kind(store.list_tenants(service(), None, bad).await),
                    invalid,
                    "list_tenants page {bad}"
                );
            }
            assert!(store
                .records_by_key(&c, kid(1), None, MAX_PAGE)
                .await
                .is_ok());
            assert!(store.list_tenants(service(), None, MAX_PAGE).await.is_ok());
        }
    )
}
