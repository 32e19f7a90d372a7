//! Policy documents ([`PolicyStore`], with [`KeyStore`] to make tenants): one document per
//! tenant and kind, versioned by the store, within bounds.

use tenantguard::store::{KeyStore, PolicyDocument, PolicyStore};
use tenantguard::store::{MAX_POLICY_KIND_LEN, MAX_POLICY_LEN};
use tenantguard::ErrorKind;

use crate::fixtures::{ctx, kind, new_tenant};

/// Runs every check of this suite, in order.
pub async fn run<S: KeyStore + PolicyStore + ?Sized>(store: &S) {
    unknown_tenant_is_not_found(store).await;
    versions_count_the_writes(store).await;
    invalid_kinds_and_bodies_are_refused(store).await;
}

/// Reading or writing a policy of a tenant that does not exist is `NotFound`.
pub async fn unknown_tenant_is_not_found<S: KeyStore + PolicyStore + ?Sized>(store: &S) {
    rule!(
        unknown_tenant_is_not_found,
        "reading or writing a policy of a tenant that does not exist is NotFound",
        {
            let nobody = ctx("pn-nobody");
            assert_eq!(
                kind(store.get_policy(&nobody, "egress").await),
                ErrorKind::NotFound
            );
            assert_eq!(
                kind(store.put_policy(&nobody, "egress", "{}", 5).await),
                ErrorKind::NotFound
            );
        }
    )
}

/// A tenant's document of a kind starts absent, gets version 1 on its first write and one
/// more on each replacement, apart from other kinds and other tenants.
pub async fn versions_count_the_writes<S: KeyStore + PolicyStore + ?Sized>(store: &S) {
    rule!(
        versions_count_the_writes,
        "a tenant's document of a kind starts absent, gets version 1 on its first write \
         and one more on each replacement, apart from other kinds and other tenants",
        {
            let a = new_tenant(store, "pv-a").await;
            let b = new_tenant(store, "pv-b").await;
            assert_eq!(store.get_policy(&a, "egress").await.unwrap(), None);
            assert_eq!(store.put_policy(&a, "egress", "{}", 5).await.unwrap(), 1);
            assert_eq!(
                store
                    .put_policy(&a, "egress", "{\"a\":1}", 6)
                    .await
                    .unwrap(),
                2
            );
            let doc = |body: &str, version, updated_at| PolicyDocument {
                body: body.to_owned(),
                version,
                updated_at,
            };
            assert_eq!(
                store.get_policy(&a, "egress").await.unwrap(),
                Some(doc("{\"a\":1}", 2, 6))
            );
            assert_eq!(
                store.put_policy(&a, "retention_2", "[]", 7).await.unwrap(),
                1,
                "another kind has its own versions"
            );
            assert_eq!(store.get_policy(&b, "egress").await.unwrap(), None);
            assert_eq!(store.put_policy(&b, "egress", "{}", 8).await.unwrap(), 1);
            assert_eq!(
                store.get_policy(&a, "egress").await.unwrap(),
                Some(doc("{\"a\":1}", 2, 6)),
                "another tenant's write changes nothing here"
            );
            assert_eq!(
                store.get_policy(&a, "retention_2").await.unwrap(),
                Some(doc("[]", 1, 7))
            );
        }
    )
}

/// A kind outside 1 to 64 characters of `a-z 0-9 _`, or a body over `MAX_POLICY_LEN`
/// bytes, is `InvalidInput` and writes nothing; a body of exactly `MAX_POLICY_LEN` is kept.
pub async fn invalid_kinds_and_bodies_are_refused<S: KeyStore + PolicyStore + ?Sized>(store: &S) {
    rule!(
        invalid_kinds_and_bodies_are_refused,
        "a kind outside 1 to 64 characters of a-z 0-9 _, or a body over MAX_POLICY_LEN \
         bytes, is InvalidInput and writes nothing; a body of exactly MAX_POLICY_LEN is \
         kept",
        {
            let a = new_tenant(store, "pi-a").await;
            let long = "k".repeat(MAX_POLICY_KIND_LEN + 1);
            for bad in ["", "Egress", "egress-v2", "eg ress", long.as_str()] {
                assert_eq!(
                    kind(store.put_policy(&a, bad, "{}", 1).await),
                    ErrorKind::InvalidInput,
                    "put kind {bad:?}"
                );
                assert_eq!(
                    kind(store.get_policy(&a, bad).await),
                    ErrorKind::InvalidInput,
                    "get kind {bad:?}"
                );
            }
            let widest = "k".repeat(MAX_POLICY_KIND_LEN);
            assert_eq!(store.put_policy(&a, &widest, "{}", 1).await.unwrap(), 1);
            let too_big = "x".repeat(MAX_POLICY_LEN + 1);
            assert_eq!(
                kind(store.put_policy(&a, "egress", &too_big, 1).await),
                ErrorKind::InvalidInput,
                "body over the limit"
            );
            assert_eq!(store.get_policy(&a, "egress").await.unwrap(), None);
            let biggest = "x".repeat(MAX_POLICY_LEN);
            assert_eq!(
                store.put_policy(&a, "egress", &biggest, 2).await.unwrap(),
                1
            );
            assert_eq!(
                store
                    .get_policy(&a, "egress")
                    .await
                    .unwrap()
                    .unwrap()
                    .body
                    .len(),
                MAX_POLICY_LEN
            );
        }
    )
}
