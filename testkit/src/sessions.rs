//! Login sessions and their refresh tokens ([`SessionStore`], with [`KeyStore`] to make
//! tenants): per-tenant ids, one-time refresh, revocation, listing.
//!
//! A store that MACs session rows needs a keyring attached first
//! ([`attach_keyring`](crate::fixtures::attach_keyring)).

use tenantguard::store::{KeyStore, RefreshRecord, SessionRecord, SessionStore, MAX_PAGE};
use tenantguard::{ErrorKind, TenantContext};

use crate::fixtures::{hash_of, kind, new_tenant, refresh, service, session};

/// Runs every check of this suite, in order.
pub async fn run<S: KeyStore + SessionStore + ?Sized>(store: &S) {
    insert_then_get_and_find_refresh(store).await;
    ids_are_per_tenant_and_refresh_hashes_unique(store).await;
    insert_refuses_another_tenants_session(store).await;
    rotate_refresh_is_one_time(store).await;
    revoked_session_does_not_refresh(store).await;
    rotate_refresh_stays_in_its_tenant(store).await;
    list_sessions_newest_first_by_user(store).await;
    list_tenant_sessions_pages_newest_first(store).await;
    revoke_session_once_in_its_tenant(store).await;
    revoke_sessions_by_user_or_all(store).await;
    invalid_pages_are_refused(store).await;
}

async fn refresh_of<S: SessionStore + ?Sized>(
    store: &S,
    r: &RefreshRecord,
) -> Option<RefreshRecord> {
    store.refresh_by_hash(service(), &r.hash).await.unwrap()
}

async fn get<S: SessionStore + ?Sized>(
    store: &S,
    c: &TenantContext,
    id: &str,
) -> Option<SessionRecord> {
    store.get_session(c, id).await.unwrap()
}

fn used(r: &RefreshRecord) -> RefreshRecord {
    RefreshRecord {
        used: true,
        ..r.clone()
    }
}

/// A session and its first refresh token come back exactly as inserted; another tenant's
/// session id, or an unknown one, is `None`.
pub async fn insert_then_get_and_find_refresh<S: KeyStore + SessionStore + ?Sized>(store: &S) {
    rule!(
        insert_then_get_and_find_refresh,
        "a session and its first refresh token come back exactly as inserted; another \
         tenant's session id, or an unknown one, is None",
        {
            let a = new_tenant(store, "ss-a").await;
            let b = new_tenant(store, "ss-b").await;
            let s = session("ss-1", "ss-a", "alice", 1_000);
            let r = refresh("ss-a/1", "ss-1", "ss-a");
            store.insert_session(&a, &s, &r).await.unwrap();
            assert_eq!(get(store, &a, "ss-1").await, Some(s));
            assert_eq!(refresh_of(store, &r).await, Some(r));
            assert_eq!(get(store, &a, "ss-none").await, None);
            assert_eq!(get(store, &b, "ss-1").await, None, "another tenant's id");
            assert_eq!(
                store
                    .refresh_by_hash(service(), &hash_of("ss-none"))
                    .await
                    .unwrap(),
                None
            );
        }
    )
}

/// Session ids are unique per tenant (another tenant may reuse one), refresh-token hashes
/// across all tenants; a refused insert writes neither the session nor its token.
pub async fn ids_are_per_tenant_and_refresh_hashes_unique<S: KeyStore + SessionStore + ?Sized>(
    store: &S,
) {
    rule!(
        ids_are_per_tenant_and_refresh_hashes_unique,
        "session ids are unique per tenant (another tenant may reuse one), refresh-token \
         hashes across all tenants; a refused insert writes neither the session nor its \
         token",
        {
            let a = new_tenant(store, "su-a").await;
            let b = new_tenant(store, "su-b").await;
            let s1 = session("su-1", "su-a", "alice", 1_000);
            let r1 = refresh("su-a/1", "su-1", "su-a");
            store.insert_session(&a, &s1, &r1).await.unwrap();
            let r2 = refresh("su-a/2", "su-1", "su-a");
            let again = session("su-1", "su-a", "mallory", 2_000);
            assert_eq!(
                kind(store.insert_session(&a, &again, &r2).await),
                ErrorKind::Conflict,
                "same session id in one tenant"
            );
            assert_eq!(refresh_of(store, &r2).await, None, "its token not written");
            let s2 = session("su-2", "su-a", "bob", 1_000);
            let dup = RefreshRecord {
                session_id: "su-2".into(),
                ..r1.clone()
            };
            assert_eq!(
                kind(store.insert_session(&a, &s2, &dup).await),
                ErrorKind::Conflict,
                "same refresh hash"
            );
            assert_eq!(
                get(store, &a, "su-2").await,
                None,
                "the session not written"
            );
            assert_eq!(get(store, &a, "su-1").await, Some(s1.clone()));
            assert_eq!(refresh_of(store, &r1).await, Some(r1));
            // The same session id in another tenant is another session.
            let theirs = session("su-1", "su-b", "bob", 3_000);
            let r3 = refresh("su-b/1", "su-1", "su-b");
            store.insert_session(&b, &theirs, &r3).await.unwrap();
            assert_eq!(get(store, &b, "su-1").await, Some(theirs));
            assert_eq!(get(store, &a, "su-1").await, Some(s1));
        }
    )
}

/// Inserting a session that names another tenant than the context's is `CrossTenant` and
/// writes nothing.
pub async fn insert_refuses_another_tenants_session<S: KeyStore + SessionStore + ?Sized>(
    store: &S,
) {
    rule!(
        insert_refuses_another_tenants_session,
        "inserting a session that names another tenant than the context's is CrossTenant \
         and writes nothing",
        {
            let a = new_tenant(store, "sc-a").await;
            let b = new_tenant(store, "sc-b").await;
            let planted = session("sc-1", "sc-b", "mallory", 1_000);
            let r = refresh("sc-b/1", "sc-1", "sc-b");
            assert_eq!(
                kind(store.insert_session(&a, &planted, &r).await),
                ErrorKind::CrossTenant
            );
            assert_eq!(get(store, &b, "sc-1").await, None);
            assert_eq!(get(store, &a, "sc-1").await, None);
            assert_eq!(refresh_of(store, &r).await, None);
        }
    )
}

/// `rotate_refresh` exchanges an unused refresh token once: it marks it used, adds the new
/// one and sets `refreshed_at`; a replay, a token of another session, a new hash that
/// exists, or an unknown token writes nothing.
pub async fn rotate_refresh_is_one_time<S: KeyStore + SessionStore + ?Sized>(store: &S) {
    rule!(
        rotate_refresh_is_one_time,
        "rotate_refresh exchanges an unused refresh token once: it marks it used, adds \
         the new one and sets refreshed_at; a replay, a token of another session, a new \
         hash that exists, or an unknown token writes nothing",
        {
            let a = new_tenant(store, "sr-a").await;
            let s = session("sr-1", "sr-a", "alice", 1_000);
            let r1 = refresh("sr-a/1", "sr-1", "sr-a");
            store.insert_session(&a, &s, &r1).await.unwrap();
            let r2 = refresh("sr-a/2", "sr-1", "sr-a");
            assert!(store
                .rotate_refresh(&a, &r1.hash, &r2, 1_500)
                .await
                .unwrap());
            assert_eq!(get(store, &a, "sr-1").await.unwrap().refreshed_at, 1_500);
            assert_eq!(refresh_of(store, &r1).await, Some(used(&r1)));
            assert_eq!(refresh_of(store, &r2).await, Some(r2.clone()));
            // A replay of the used token.
            let r3 = refresh("sr-a/3", "sr-1", "sr-a");
            assert!(!store
                .rotate_refresh(&a, &r1.hash, &r3, 1_600)
                .await
                .unwrap());
            assert_eq!(
                refresh_of(store, &r3).await,
                None,
                "replay: nothing written"
            );
            assert_eq!(get(store, &a, "sr-1").await.unwrap().refreshed_at, 1_500);
            // A new token for another session than the old one's.
            let elsewhere = refresh("sr-a/x", "sr-other", "sr-a");
            assert!(!store
                .rotate_refresh(&a, &r2.hash, &elsewhere, 1_700)
                .await
                .unwrap());
            assert_eq!(
                refresh_of(store, &r2).await,
                Some(r2.clone()),
                "still unused"
            );
            assert_eq!(refresh_of(store, &elsewhere).await, None);
            // A new hash that already exists.
            let clash = RefreshRecord {
                hash: r1.hash,
                ..r3.clone()
            };
            assert_eq!(
                kind(store.rotate_refresh(&a, &r2.hash, &clash, 1_800).await),
                ErrorKind::Conflict
            );
            assert_eq!(
                refresh_of(store, &r2).await,
                Some(r2.clone()),
                "still unused"
            );
            assert_eq!(
                kind(
                    store
                        .rotate_refresh(&a, &hash_of("sr-none"), &r3, 1_900)
                        .await
                ),
                ErrorKind::NotFound
            );
            assert_eq!(refresh_of(store, &r3).await, None);
            // The live token still works once.
            assert!(store
                .rotate_refresh(&a, &r2.hash, &r3, 2_000)
                .await
                .unwrap());
            assert_eq!(refresh_of(store, &r2).await, Some(used(&r2)));
            assert_eq!(get(store, &a, "sr-1").await.unwrap().refreshed_at, 2_000);
        }
    )
}

/// A revoked session's refresh token is not exchanged: `rotate_refresh` returns false and
/// writes nothing.
pub async fn revoked_session_does_not_refresh<S: KeyStore + SessionStore + ?Sized>(store: &S) {
    rule!(
        revoked_session_does_not_refresh,
        "a revoked session's refresh token is not exchanged: rotate_refresh returns false \
         and writes nothing",
        {
            let a = new_tenant(store, "sv-a").await;
            let s = session("sv-1", "sv-a", "alice", 1_000);
            let r1 = refresh("sv-a/1", "sv-1", "sv-a");
            store.insert_session(&a, &s, &r1).await.unwrap();
            assert!(store.revoke_session(&a, "sv-1", 1_100).await.unwrap());
            let r2 = refresh("sv-a/2", "sv-1", "sv-a");
            assert!(!store
                .rotate_refresh(&a, &r1.hash, &r2, 1_200)
                .await
                .unwrap());
            assert_eq!(refresh_of(store, &r1).await, Some(r1), "still unused");
            assert_eq!(refresh_of(store, &r2).await, None);
            let got = get(store, &a, "sv-1").await.unwrap();
            assert_eq!((got.refreshed_at, got.revoked_at), (1_000, Some(1_100)));
        }
    )
}

/// Another tenant's refresh token is `NotFound` to `rotate_refresh`, which writes nothing.
pub async fn rotate_refresh_stays_in_its_tenant<S: KeyStore + SessionStore + ?Sized>(store: &S) {
    rule!(
        rotate_refresh_stays_in_its_tenant,
        "another tenant's refresh token is NotFound to rotate_refresh, which writes \
         nothing",
        {
            let a = new_tenant(store, "sx-a").await;
            let b = new_tenant(store, "sx-b").await;
            let s = session("sx-1", "sx-a", "alice", 1_000);
            let r1 = refresh("sx-a/1", "sx-1", "sx-a");
            store.insert_session(&a, &s, &r1).await.unwrap();
            store
                .insert_session(
                    &b,
                    &session("sx-1", "sx-b", "mallory", 1_000),
                    &refresh("sx-b/1", "sx-1", "sx-b"),
                )
                .await
                .unwrap();
            let stolen = refresh("sx-b/2", "sx-1", "sx-b");
            assert_eq!(
                kind(store.rotate_refresh(&b, &r1.hash, &stolen, 1_100).await),
                ErrorKind::NotFound
            );
            assert_eq!(refresh_of(store, &r1).await, Some(r1), "still unused");
            assert_eq!(refresh_of(store, &stolen).await, None);
            assert_eq!(get(store, &a, "sx-1").await, Some(s));
        }
    )
}

/// `list_sessions` lists the tenant's sessions (of one user if given) newest first, ties by
/// ascending id, at most `limit`, none of another tenant's.
pub async fn list_sessions_newest_first_by_user<S: KeyStore + SessionStore + ?Sized>(store: &S) {
    rule!(
        list_sessions_newest_first_by_user,
        "list_sessions lists the tenant's sessions (of one user if given) newest first, \
         ties by ascending id, at most limit, none of another tenant's",
        {
            let a = new_tenant(store, "sl-a").await;
            let b = new_tenant(store, "sl-b").await;
            for (id, user, at) in [
                ("sl-1", "alice", 100),
                ("sl-4", "alice", 300),
                ("sl-2", "bob", 300),
                ("sl-3", "alice", 200),
            ] {
                store
                    .insert_session(
                        &a,
                        &session(id, "sl-a", user, at),
                        &refresh(&format!("sl-a/{id}"), id, "sl-a"),
                    )
                    .await
                    .unwrap();
            }
            store
                .insert_session(
                    &b,
                    &session("sl-9", "sl-b", "alice", 400),
                    &refresh("sl-b/9", "sl-9", "sl-b"),
                )
                .await
                .unwrap();
            let ids = |v: Vec<SessionRecord>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
            assert_eq!(
                ids(store.list_sessions(&a, None, 10).await.unwrap()),
                ["sl-2", "sl-4", "sl-3", "sl-1"]
            );
            assert_eq!(
                ids(store.list_sessions(&a, Some("alice"), 10).await.unwrap()),
                ["sl-4", "sl-3", "sl-1"]
            );
            assert_eq!(
                ids(store.list_sessions(&a, None, 2).await.unwrap()),
                ["sl-2", "sl-4"]
            );
            assert!(store
                .list_sessions(&a, Some("carol"), 10)
                .await
                .unwrap()
                .is_empty());
            assert_eq!(
                ids(store.list_sessions(&b, None, 10).await.unwrap()),
                ["sl-9"]
            );
        }
    )
}

/// `list_tenant_sessions` pages every session of the tenant newest first (ties by
/// ascending id) after a `(created_at, id)` cursor, complete and without duplicates.
pub async fn list_tenant_sessions_pages_newest_first<S: KeyStore + SessionStore + ?Sized>(
    store: &S,
) {
    rule!(
        list_tenant_sessions_pages_newest_first,
        "list_tenant_sessions pages every session of the tenant newest first (ties by \
         ascending id) after a (created_at, id) cursor, complete and without duplicates",
        {
            let a = new_tenant(store, "sp-a").await;
            let b = new_tenant(store, "sp-b").await;
            let created = [200, 400, 500, 200, 400, 300, 400];
            for (i, at) in created.iter().enumerate().rev() {
                let id = format!("sp-{i}");
                let user = if i % 2 == 0 { "alice" } else { "bob" };
                store
                    .insert_session(
                        &a,
                        &session(&id, "sp-a", user, *at),
                        &refresh(&format!("sp-a/{id}"), &id, "sp-a"),
                    )
                    .await
                    .unwrap();
            }
            store
                .insert_session(
                    &b,
                    &session("sp-9", "sp-b", "alice", 450),
                    &refresh("sp-b/9", "sp-9", "sp-b"),
                )
                .await
                .unwrap();
            let mut seen = Vec::new();
            let mut pages = Vec::new();
            let mut cursor: Option<(i64, String)> = None;
            loop {
                let page = store
                    .list_tenant_sessions(&a, cursor.as_ref().map(|(c, id)| (*c, id.as_str())), 3)
                    .await
                    .unwrap();
                if page.is_empty() {
                    break;
                }
                pages.push(page.len());
                cursor = page.last().map(|s| (s.created_at, s.id.clone()));
                seen.extend(page.into_iter().map(|s| s.id));
            }
            assert_eq!(pages, [3, 3, 1]);
            assert_eq!(
                seen,
                ["sp-2", "sp-1", "sp-4", "sp-6", "sp-5", "sp-0", "sp-3"],
                "newest first, ties by id, complete"
            );
            let after = store
                .list_tenant_sessions(&a, Some((400, "sp-4")), 10)
                .await
                .unwrap();
            assert_eq!(
                after.into_iter().map(|s| s.id).collect::<Vec<_>>(),
                ["sp-6", "sp-5", "sp-0", "sp-3"]
            );
        }
    )
}

/// `revoke_session` revokes a live session of the tenant once (true, then false, the
/// first time kept); another tenant's id or an unknown one is `NotFound` and changes
/// nothing.
pub async fn revoke_session_once_in_its_tenant<S: KeyStore + SessionStore + ?Sized>(store: &S) {
    rule!(
        revoke_session_once_in_its_tenant,
        "revoke_session revokes a live session of the tenant once (true, then false, the \
         first time kept); another tenant's id or an unknown one is NotFound and changes \
         nothing",
        {
            let a = new_tenant(store, "sk-a").await;
            let b = new_tenant(store, "sk-b").await;
            store
                .insert_session(
                    &a,
                    &session("sk-1", "sk-a", "alice", 1_000),
                    &refresh("sk-a/1", "sk-1", "sk-a"),
                )
                .await
                .unwrap();
            let theirs_same_id = session("sk-1", "sk-b", "bob", 1_000);
            let theirs = session("sk-2", "sk-b", "bob", 1_000);
            store
                .insert_session(&b, &theirs_same_id, &refresh("sk-b/1", "sk-1", "sk-b"))
                .await
                .unwrap();
            store
                .insert_session(&b, &theirs, &refresh("sk-b/2", "sk-2", "sk-b"))
                .await
                .unwrap();
            assert!(store.revoke_session(&a, "sk-1", 10).await.unwrap());
            assert!(!store.revoke_session(&a, "sk-1", 20).await.unwrap());
            assert_eq!(
                get(store, &a, "sk-1").await.unwrap().revoked_at,
                Some(10),
                "the first revocation time is kept"
            );
            assert_eq!(get(store, &b, "sk-1").await, Some(theirs_same_id));
            assert_eq!(
                kind(store.revoke_session(&a, "sk-2", 30).await),
                ErrorKind::NotFound,
                "another tenant's id"
            );
            assert_eq!(get(store, &b, "sk-2").await, Some(theirs));
            assert_eq!(
                kind(store.revoke_session(&a, "sk-none", 30).await),
                ErrorKind::NotFound
            );
        }
    )
}

/// `revoke_sessions` revokes every live session of the tenant (of one user if given),
/// counts them, and leaves revoked sessions and other tenants' as they were.
pub async fn revoke_sessions_by_user_or_all<S: KeyStore + SessionStore + ?Sized>(store: &S) {
    rule!(
        revoke_sessions_by_user_or_all,
        "revoke_sessions revokes every live session of the tenant (of one user if given), \
         counts them, and leaves revoked sessions and other tenants' as they were",
        {
            let a = new_tenant(store, "sa-a").await;
            let b = new_tenant(store, "sa-b").await;
            let old = SessionRecord {
                revoked_at: Some(50),
                ..session("sa-4", "sa-a", "alice", 1_000)
            };
            for s in [
                session("sa-1", "sa-a", "alice", 1_000),
                session("sa-2", "sa-a", "alice", 1_000),
                session("sa-3", "sa-a", "bob", 1_000),
                old,
            ] {
                let r = refresh(&format!("sa-a/{}", s.id), &s.id, "sa-a");
                store.insert_session(&a, &s, &r).await.unwrap();
            }
            let theirs = session("sa-1", "sa-b", "alice", 1_000);
            store
                .insert_session(&b, &theirs, &refresh("sa-b/1", "sa-1", "sa-b"))
                .await
                .unwrap();
            assert_eq!(
                store.revoke_sessions(&a, Some("alice"), 100).await.unwrap(),
                2
            );
            assert_eq!(get(store, &a, "sa-3").await.unwrap().revoked_at, None);
            assert_eq!(store.revoke_sessions(&a, None, 200).await.unwrap(), 1);
            assert_eq!(store.revoke_sessions(&a, None, 300).await.unwrap(), 0);
            let mut revoked = Vec::new();
            for id in ["sa-1", "sa-2", "sa-3", "sa-4"] {
                revoked.push(get(store, &a, id).await.unwrap().revoked_at);
            }
            assert_eq!(revoked, [Some(100), Some(100), Some(200), Some(50)]);
            assert_eq!(get(store, &b, "sa-1").await, Some(theirs));
        }
    )
}

/// A page size of 0 or over `MAX_PAGE` is `InvalidInput` for `list_sessions` and
/// `list_tenant_sessions`.
pub async fn invalid_pages_are_refused<S: KeyStore + SessionStore + ?Sized>(store: &S) {
    rule!(
        invalid_pages_are_refused,
        "a page size of 0 or over MAX_PAGE is InvalidInput for list_sessions and \
         list_tenant_sessions",
        {
            let a = new_tenant(store, "sg-a").await;
            for bad in [0, MAX_PAGE + 1] {
                assert_eq!(
                    kind(store.list_sessions(&a, None, bad).await),
                    ErrorKind::InvalidInput,
                    "list_sessions page {bad}"
                );
                assert_eq!(
                    kind(store.list_tenant_sessions(&a, None, bad).await),
                    ErrorKind::InvalidInput,
                    "list_tenant_sessions page {bad}"
                );
            }
            assert!(store.list_sessions(&a, None, MAX_PAGE).await.is_ok());
        }
    )
}
