//! Agent tokens ([`TokenStore`], with [`KeyStore`] to make tenants): lookup by hash,
//! per-tenant ids, globally unique hashes, listing, revocation.
//!
//! A store that MACs token rows needs a keyring attached first
//! ([`attach_keyring`](crate::fixtures::attach_keyring)).

use tenantguard::store::{KeyStore, TokenRecord, TokenStore, MAX_PAGE};
use tenantguard::{ErrorKind, TenantContext};

use crate::fixtures::{hash_of, kind, new_tenant, service, token};

/// Runs every check of this suite, in order.
pub async fn run<S: KeyStore + TokenStore + ?Sized>(store: &S) {
    insert_then_find_by_hash(store).await;
    ids_are_per_tenant_and_hashes_unique(store).await;
    insert_refuses_another_tenants_token(store).await;
    list_tokens_pages_by_id_and_agent(store).await;
    revoke_token_once_in_its_tenant(store).await;
    revoke_tokens_by_agent_or_all(store).await;
    invalid_pages_are_refused(store).await;
}

async fn by_hash<S: TokenStore + ?Sized>(store: &S, t: &TokenRecord) -> Option<TokenRecord> {
    store.token_by_hash(service(), &t.hash).await.unwrap()
}

async fn all_ids<S: TokenStore + ?Sized>(
    store: &S,
    c: &TenantContext,
    agent: Option<&str>,
) -> Vec<String> {
    store
        .list_tokens(c, agent, None, MAX_PAGE)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect()
}

/// A token comes back from `token_by_hash` exactly as inserted, whatever its tenant; an
/// unknown hash is `None`.
pub async fn insert_then_find_by_hash<S: KeyStore + TokenStore + ?Sized>(store: &S) {
    rule!(
        insert_then_find_by_hash,
        "a token comes back from token_by_hash exactly as inserted, whatever its tenant; \
         an unknown hash is None",
        {
            let a = new_tenant(store, "tk-a").await;
            let live = token("tk-1", "tk-a", "bot-1");
            let revoked = TokenRecord {
                expires_at: None,
                revoked_at: Some(1_700_000_500),
                scopes: Vec::new(),
                ..token("tk-2", "tk-a", "bot-2")
            };
            for t in [&live, &revoked] {
                store.insert_token(&a, t).await.unwrap();
                assert_eq!(by_hash(store, t).await.as_ref(), Some(t));
            }
            assert_eq!(
                store
                    .token_by_hash(service(), &hash_of("tk-none"))
                    .await
                    .unwrap(),
                None
            );
        }
    )
}

/// Token ids are unique per tenant (another tenant may reuse one), hashes across all
/// tenants; a refused insert writes nothing.
pub async fn ids_are_per_tenant_and_hashes_unique<S: KeyStore + TokenStore + ?Sized>(store: &S) {
    rule!(
        ids_are_per_tenant_and_hashes_unique,
        "token ids are unique per tenant (another tenant may reuse one), hashes across \
         all tenants; a refused insert writes nothing",
        {
            let a = new_tenant(store, "tu-a").await;
            let b = new_tenant(store, "tu-b").await;
            let first = token("tu-1", "tu-a", "bot-1");
            store.insert_token(&a, &first).await.unwrap();
            let same_id = TokenRecord {
                hash: hash_of("tu-other"),
                ..first.clone()
            };
            assert_eq!(
                kind(store.insert_token(&a, &same_id).await),
                ErrorKind::Conflict,
                "same id in one tenant"
            );
            let same_hash = TokenRecord {
                hash: first.hash,
                ..token("tu-2", "tu-b", "bot-1")
            };
            assert_eq!(
                kind(store.insert_token(&b, &same_hash).await),
                ErrorKind::Conflict,
                "same hash in another tenant"
            );
            assert_eq!(by_hash(store, &same_id).await, None, "nothing written");
            assert_eq!(all_ids(store, &b, None).await, Vec::<String>::new());
            // The same id in another tenant is another token.
            let theirs = token("tu-1", "tu-b", "bot-9");
            store.insert_token(&b, &theirs).await.unwrap();
            assert_eq!(by_hash(store, &theirs).await, Some(theirs.clone()));
            assert_eq!(by_hash(store, &first).await, Some(first.clone()));
            assert_eq!(
                store.list_tokens(&a, None, None, 10).await.unwrap(),
                vec![first]
            );
            assert_eq!(
                store.list_tokens(&b, None, None, 10).await.unwrap(),
                vec![theirs]
            );
        }
    )
}

/// Inserting a token that names another tenant than the context's is `CrossTenant` and
/// writes nothing.
pub async fn insert_refuses_another_tenants_token<S: KeyStore + TokenStore + ?Sized>(store: &S) {
    rule!(
        insert_refuses_another_tenants_token,
        "inserting a token that names another tenant than the context's is CrossTenant \
         and writes nothing",
        {
            let a = new_tenant(store, "tc-a").await;
            let b = new_tenant(store, "tc-b").await;
            let planted = token("tc-1", "tc-b", "bot-1");
            assert_eq!(
                kind(store.insert_token(&a, &planted).await),
                ErrorKind::CrossTenant
            );
            assert_eq!(by_hash(store, &planted).await, None);
            assert!(all_ids(store, &a, None).await.is_empty());
            assert!(all_ids(store, &b, None).await.is_empty());
        }
    )
}

/// `list_tokens` pages the tenant's tokens (of one agent if given) in ascending id order
/// after a cursor, and none of another tenant's.
pub async fn list_tokens_pages_by_id_and_agent<S: KeyStore + TokenStore + ?Sized>(store: &S) {
    rule!(
        list_tokens_pages_by_id_and_agent,
        "list_tokens pages the tenant's tokens (of one agent if given) in ascending id \
         order after a cursor, and none of another tenant's",
        {
            let a = new_tenant(store, "tl-a").await;
            let b = new_tenant(store, "tl-b").await;
            for i in (0..7).rev() {
                let agent = if i % 2 == 0 { "bot-1" } else { "bot-2" };
                store
                    .insert_token(&a, &token(&format!("tl-{i:02}"), "tl-a", agent))
                    .await
                    .unwrap();
            }
            store
                .insert_token(&b, &token("tl-03", "tl-b", "bot-1"))
                .await
                .unwrap();
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = store
                    .list_tokens(&a, None, cursor.as_deref(), 3)
                    .await
                    .unwrap();
                if page.is_empty() {
                    break;
                }
                assert!(page.len() <= 3);
                assert!(page.iter().all(|t| t.tenant.as_str() == "tl-a"));
                cursor = page.last().map(|t| t.id.clone());
                seen.extend(page.into_iter().map(|t| t.id));
            }
            let expected: Vec<String> = (0..7).map(|i| format!("tl-{i:02}")).collect();
            assert_eq!(seen, expected, "ascending, complete, no duplicates");
            assert_eq!(
                all_ids(store, &a, Some("bot-1")).await,
                ["tl-00", "tl-02", "tl-04", "tl-06"]
            );
            let after: Vec<String> = store
                .list_tokens(&a, Some("bot-2"), Some("tl-01"), 10)
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.id)
                .collect();
            assert_eq!(after, ["tl-03", "tl-05"]);
            assert!(all_ids(store, &a, Some("bot-9")).await.is_empty());
            assert_eq!(all_ids(store, &b, None).await, ["tl-03"]);
        }
    )
}

/// `revoke_token` revokes a live token of the tenant once (true, then false, the first
/// time kept); another tenant's id or an unknown one is `NotFound` and changes nothing.
pub async fn revoke_token_once_in_its_tenant<S: KeyStore + TokenStore + ?Sized>(store: &S) {
    rule!(
        revoke_token_once_in_its_tenant,
        "revoke_token revokes a live token of the tenant once (true, then false, the \
         first time kept); another tenant's id or an unknown one is NotFound and changes \
         nothing",
        {
            let a = new_tenant(store, "tr-a").await;
            let b = new_tenant(store, "tr-b").await;
            let mine = token("tr-1", "tr-a", "bot-1");
            let theirs_same_id = token("tr-1", "tr-b", "bot-1");
            let theirs = token("tr-2", "tr-b", "bot-1");
            store.insert_token(&a, &mine).await.unwrap();
            store.insert_token(&b, &theirs_same_id).await.unwrap();
            store.insert_token(&b, &theirs).await.unwrap();
            assert!(store.revoke_token(&a, "tr-1", 100).await.unwrap());
            assert!(!store.revoke_token(&a, "tr-1", 200).await.unwrap());
            assert_eq!(
                by_hash(store, &mine).await.unwrap().revoked_at,
                Some(100),
                "the first revocation time is kept"
            );
            assert_eq!(
                by_hash(store, &theirs_same_id).await,
                Some(theirs_same_id),
                "another tenant's token with the same id is untouched"
            );
            assert_eq!(
                kind(store.revoke_token(&a, "tr-2", 300).await),
                ErrorKind::NotFound,
                "another tenant's id"
            );
            assert_eq!(by_hash(store, &theirs).await, Some(theirs));
            assert_eq!(
                kind(store.revoke_token(&a, "tr-none", 300).await),
                ErrorKind::NotFound
            );
        }
    )
}

/// `revoke_tokens` revokes every live token of the tenant (of one agent if given), counts
/// them, and leaves revoked tokens and other tenants' as they were.
pub async fn revoke_tokens_by_agent_or_all<S: KeyStore + TokenStore + ?Sized>(store: &S) {
    rule!(
        revoke_tokens_by_agent_or_all,
        "revoke_tokens revokes every live token of the tenant (of one agent if given), \
         counts them, and leaves revoked tokens and other tenants' as they were",
        {
            let a = new_tenant(store, "ta-a").await;
            let b = new_tenant(store, "ta-b").await;
            let old = TokenRecord {
                revoked_at: Some(50),
                ..token("ta-4", "ta-a", "bot-1")
            };
            for t in [
                token("ta-1", "ta-a", "bot-1"),
                token("ta-2", "ta-a", "bot-1"),
                token("ta-3", "ta-a", "bot-2"),
                old.clone(),
            ] {
                store.insert_token(&a, &t).await.unwrap();
            }
            let theirs = token("ta-1", "ta-b", "bot-1");
            store.insert_token(&b, &theirs).await.unwrap();
            assert_eq!(
                store.revoke_tokens(&a, Some("bot-1"), 100).await.unwrap(),
                2
            );
            assert_eq!(
                by_hash(store, &token("ta-3", "ta-a", "bot-2"))
                    .await
                    .unwrap()
                    .revoked_at,
                None,
                "another agent's token stays live"
            );
            assert_eq!(store.revoke_tokens(&a, None, 200).await.unwrap(), 1);
            assert_eq!(store.revoke_tokens(&a, None, 300).await.unwrap(), 0);
            let revoked: Vec<(String, Option<i64>)> = store
                .list_tokens(&a, None, None, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|t| (t.id, t.revoked_at))
                .collect();
            assert_eq!(
                revoked,
                [
                    ("ta-1".to_owned(), Some(100)),
                    ("ta-2".to_owned(), Some(100)),
                    ("ta-3".to_owned(), Some(200)),
                    ("ta-4".to_owned(), Some(50)),
                ]
            );
            assert_eq!(by_hash(store, &theirs).await, Some(theirs));
        }
    )
}

/// A page size of 0 or over `MAX_PAGE` is `InvalidInput` for `list_tokens`.
pub async fn invalid_pages_are_refused<S: KeyStore + TokenStore + ?Sized>(store: &S) {
    rule!(
        invalid_pages_are_refused,
        "a page size of 0 or over MAX_PAGE is InvalidInput for list_tokens",
        {
            let a = new_tenant(store, "tp-a").await;
            for bad in [0, MAX_PAGE + 1] {
                assert_eq!(
                    kind(store.list_tokens(&a, None, None, bad).await),
                    ErrorKind::InvalidInput,
                    "page {bad}"
                );
            }
            assert!(store.list_tokens(&a, None, None, MAX_PAGE).await.is_ok());
        }
    )
}
