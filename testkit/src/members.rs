//! Memberships ([`MembershipStore`], with [`KeyStore`] to make tenants): the creator as
//! first owner, changes checked against the roles the store holds, the last owner, listing.
//!
//! A store that MACs membership rows needs a keyring attached first
//! ([`attach_keyring`](crate::fixtures::attach_keyring)).
//!
//! Not checked, because the built-in stores differ: `member_role` in a tenant that does not
//! exist (`NotFound` on MemoryStore and SqliteStore, `None` on PostgresStore), and the page
//! size of `memberships_of_user` (PostgresStore caps it instead of refusing).

use tenantguard::store::{KeyState, KeyStore, MemberChange, MembershipStore, MAX_PAGE};
use tenantguard::tenant::Membership;
use tenantguard::{ErrorKind, Role, TenantContext};

use crate::fixtures::{ctx, key_rec, kind, new_tenant, service, user, user_ctx};

/// Runs every check of this suite, in order.
pub async fn run<S: KeyStore + MembershipStore + ?Sized>(store: &S) {
    creator_becomes_the_first_owner(store).await;
    changes_report_the_previous_and_the_actors_role(store).await;
    the_actors_stored_role_decides(store).await;
    the_last_owner_stays(store).await;
    list_members_pages_by_user_id(store).await;
    memberships_of_user_spans_tenants(store).await;
    unknown_tenant_is_not_found(store).await;
    invalid_pages_are_refused(store).await;
}

/// Creates `tenant` as `owner` (a user context) and returns that context.
async fn owned_tenant<S: KeyStore + ?Sized>(store: &S, tenant: &str, owner: &str) -> TenantContext {
    let c = user_ctx(tenant, owner, Role::Owner);
    store
        .create_tenant(&c, &key_rec(1, KeyState::Active, "kek-1"))
        .await
        .unwrap();
    c
}

async fn role_of<S: MembershipStore + ?Sized>(store: &S, tenant: &str, who: &str) -> Option<Role> {
    store.member_role(&ctx(tenant), &user(who)).await.unwrap()
}

async fn set<S: MembershipStore + ?Sized>(
    store: &S,
    c: &TenantContext,
    who: &str,
    role: Option<Role>,
) -> MemberChange {
    store
        .apply_member_change(c, &user(who), role, 1_700_000_000)
        .await
        .unwrap()
}

fn names(v: &[Membership]) -> Vec<(&str, Role)> {
    v.iter().map(|m| (m.user.as_str(), m.role)).collect()
}

/// A tenant created by a user makes that user its owner; one created by the service has
/// no member.
pub async fn creator_becomes_the_first_owner<S: KeyStore + MembershipStore + ?Sized>(store: &S) {
    rule!(
        creator_becomes_the_first_owner,
        "a tenant created by a user makes that user its owner; one created by the service \
         has no member",
        {
            owned_tenant(store, "mo-a", "olga").await;
            assert_eq!(role_of(store, "mo-a", "olga").await, Some(Role::Owner));
            let members = store.list_members(&ctx("mo-a"), None, 10).await.unwrap();
            assert_eq!(names(&members), [("olga", Role::Owner)]);
            assert!(members.iter().all(|m| m.tenant.as_str() == "mo-a"));
            new_tenant(store, "mo-b").await;
            assert_eq!(role_of(store, "mo-b", "olga").await, None);
            assert!(store
                .list_members(&ctx("mo-b"), None, 10)
                .await
                .unwrap()
                .is_empty());
        }
    )
}

/// A membership change adds, changes or removes one membership and reports the user's
/// previous role and the acting user's stored role (`None` for the service).
pub async fn changes_report_the_previous_and_the_actors_role<
    S: KeyStore + MembershipStore + ?Sized,
>(
    store: &S,
) {
    rule!(
        changes_report_the_previous_and_the_actors_role,
        "a membership change adds, changes or removes one membership and reports the \
         user's previous role and the acting user's stored role (None for the service)",
        {
            let olga = owned_tenant(store, "mc-a", "olga").await;
            let svc = ctx("mc-a");
            let change = |previous, actor_role| MemberChange {
                previous,
                actor_role,
            };
            assert_eq!(
                set(store, &olga, "cy", Some(Role::Viewer)).await,
                change(None, Some(Role::Owner))
            );
            assert_eq!(
                set(store, &olga, "cy", Some(Role::Member)).await,
                change(Some(Role::Viewer), Some(Role::Owner))
            );
            assert_eq!(role_of(store, "mc-a", "cy").await, Some(Role::Member));
            assert_eq!(
                set(store, &svc, "cy", Some(Role::Admin)).await,
                change(Some(Role::Member), None)
            );
            assert_eq!(role_of(store, "mc-a", "cy").await, Some(Role::Admin));
            assert_eq!(
                set(store, &svc, "cy", None).await,
                change(Some(Role::Admin), None)
            );
            assert_eq!(role_of(store, "mc-a", "cy").await, None);
            assert_eq!(role_of(store, "mc-a", "olga").await, Some(Role::Owner));
        }
    )
}

/// A user acts with the role the store holds, not the one its context claims: a viewer
/// claiming owner, or a non-member, cannot change members, and nothing is written.
pub async fn the_actors_stored_role_decides<S: KeyStore + MembershipStore + ?Sized>(store: &S) {
    rule!(
        the_actors_stored_role_decides,
        "a user acts with the role the store holds, not the one its context claims: a \
         viewer claiming owner, or a non-member, cannot change members, and nothing is \
         written",
        {
            let olga = owned_tenant(store, "ma-a", "olga").await;
            set(store, &olga, "vic", Some(Role::Viewer)).await;
            let vic = user_ctx("ma-a", "vic", Role::Owner);
            let refused = store
                .apply_member_change(&vic, &user("eve"), Some(Role::Viewer), 1)
                .await
                .expect_err("a viewer changed a membership");
            assert_eq!(refused.kind(), ErrorKind::PermissionDenied, "{refused}");
            let refused = store
                .apply_member_change(&vic, &user("vic"), Some(Role::Owner), 1)
                .await
                .expect_err("a viewer made itself owner");
            assert_eq!(refused.kind(), ErrorKind::PermissionDenied, "{refused}");
            // A stranger: refused as not a member, or (Row Level Security) as not seeing
            // the tenant at all.
            let mallory = user_ctx("ma-a", "mallory", Role::Owner);
            let refused = store
                .apply_member_change(&mallory, &user("eve"), Some(Role::Viewer), 1)
                .await
                .expect_err("a non-member changed a membership");
            assert!(
                matches!(
                    refused.kind(),
                    ErrorKind::PermissionDenied | ErrorKind::NotFound
                ),
                "{refused}"
            );
            assert_eq!(role_of(store, "ma-a", "eve").await, None);
            assert_eq!(role_of(store, "ma-a", "vic").await, Some(Role::Viewer));
            assert_eq!(role_of(store, "ma-a", "mallory").await, None);
        }
    )
}

/// The last owner of a tenant can be neither removed nor demoted; with a second owner, it
/// can.
pub async fn the_last_owner_stays<S: KeyStore + MembershipStore + ?Sized>(store: &S) {
    rule!(
        the_last_owner_stays,
        "the last owner of a tenant can be neither removed nor demoted; with a second \
         owner, it can",
        {
            owned_tenant(store, "ml-a", "olga").await;
            let svc = ctx("ml-a");
            for new in [None, Some(Role::Admin)] {
                let refused = store
                    .apply_member_change(&svc, &user("olga"), new, 1)
                    .await
                    .expect_err("the last owner went");
                assert_eq!(refused.kind(), ErrorKind::PermissionDenied, "{refused}");
                assert_eq!(role_of(store, "ml-a", "olga").await, Some(Role::Owner));
            }
            set(store, &svc, "pat", Some(Role::Owner)).await;
            assert_eq!(
                set(store, &svc, "olga", Some(Role::Admin)).await.previous,
                Some(Role::Owner)
            );
            let refused = store
                .apply_member_change(&svc, &user("pat"), None, 1)
                .await
                .expect_err("the last owner went");
            assert_eq!(refused.kind(), ErrorKind::PermissionDenied, "{refused}");
        }
    )
}

/// `list_members` pages the tenant's members in ascending user id order after a cursor,
/// none of another tenant's.
pub async fn list_members_pages_by_user_id<S: KeyStore + MembershipStore + ?Sized>(store: &S) {
    rule!(
        list_members_pages_by_user_id,
        "list_members pages the tenant's members in ascending user id order after a \
         cursor, none of another tenant's",
        {
            let olga = owned_tenant(store, "mp-a", "olga").await;
            owned_tenant(store, "mp-b", "zed").await;
            for (name, role) in [
                ("dan", Role::Member),
                ("cy", Role::Viewer),
                ("bo", Role::Admin),
            ] {
                set(store, &olga, name, Some(role)).await;
            }
            let svc = ctx("mp-a");
            let page1 = store.list_members(&svc, None, 2).await.unwrap();
            assert_eq!(names(&page1), [("bo", Role::Admin), ("cy", Role::Viewer)]);
            let page2 = store
                .list_members(&svc, Some(&user("cy")), 10)
                .await
                .unwrap();
            assert_eq!(
                names(&page2),
                [("dan", Role::Member), ("olga", Role::Owner)]
            );
            assert!(page1
                .iter()
                .chain(&page2)
                .all(|m| m.tenant.as_str() == "mp-a"));
            assert!(store
                .list_members(&svc, Some(&user("olga")), 10)
                .await
                .unwrap()
                .is_empty());
            assert_eq!(
                names(&store.list_members(&ctx("mp-b"), None, 10).await.unwrap()),
                [("zed", Role::Owner)]
            );
        }
    )
}

/// `memberships_of_user` lists the user's memberships in every tenant, by tenant id, and
/// no other user's.
pub async fn memberships_of_user_spans_tenants<S: KeyStore + MembershipStore + ?Sized>(store: &S) {
    rule!(
        memberships_of_user_spans_tenants,
        "memberships_of_user lists the user's memberships in every tenant, by tenant id, \
         and no other user's",
        {
            let uma = "testkit-mu-uma";
            owned_tenant(store, "mu-b", uma).await;
            let a = new_tenant(store, "mu-a").await;
            set(store, &a, uma, Some(Role::Viewer)).await;
            owned_tenant(store, "mu-c", "olga").await;
            let all = store
                .memberships_of_user(service(), &user(uma), 10)
                .await
                .unwrap();
            let got: Vec<(&str, &str, Role)> = all
                .iter()
                .map(|m| (m.tenant.as_str(), m.user.as_str(), m.role))
                .collect();
            assert_eq!(
                got,
                [("mu-a", uma, Role::Viewer), ("mu-b", uma, Role::Owner)]
            );
            let first = store
                .memberships_of_user(service(), &user(uma), 1)
                .await
                .unwrap();
            assert_eq!(first.len(), 1, "at most limit");
        }
    )
}

/// Changing or listing the members of a tenant that does not exist is `NotFound`.
pub async fn unknown_tenant_is_not_found<S: KeyStore + MembershipStore + ?Sized>(store: &S) {
    rule!(
        unknown_tenant_is_not_found,
        "changing or listing the members of a tenant that does not exist is NotFound",
        {
            let nobody = ctx("mn-nobody");
            let refused = store
                .apply_member_change(&nobody, &user("cy"), Some(Role::Viewer), 1)
                .await
                .expect_err("a membership in no tenant");
            assert_eq!(refused.kind(), ErrorKind::NotFound, "{refused}");
            assert_eq!(
                kind(store.list_members(&nobody, None, 10).await),
                ErrorKind::NotFound
            );
        }
    )
}

/// A page size of 0 or over `MAX_PAGE` is `InvalidInput` for `list_members`.
pub async fn invalid_pages_are_refused<S: KeyStore + MembershipStore + ?Sized>(store: &S) {
    rule!(
        invalid_pages_are_refused,
        "a page size of 0 or over MAX_PAGE is InvalidInput for list_members",
        {
            owned_tenant(store, "mv-a", "olga").await;
            for bad in [0, MAX_PAGE + 1] {
                assert_eq!(
                    kind(store.list_members(&ctx("mv-a"), None, bad).await),
                    ErrorKind::InvalidInput,
                    "page {bad}"
                );
            }
        }
    )
}
