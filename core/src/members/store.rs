//! The members area's persistence: which role each user holds in each tenant (the
//! [`MembershipStore`] trait and the rules of a change). Every built-in store keeps them
//! (MemoryStore, SqliteStore schema 5, PostgresStore `tg_memberships`), and the guard
//! re-reads them for every sensitive operation and session refresh.

use crate::storage::StoreError;
use crate::tenant::{
    check_member_change, Membership, Principal, PrincipalKind, Resolved, Role, ServiceRole,
    TenantContext, TenantError, UserId,
};

/// Most members one tenant may have.
pub const MAX_MEMBERS_PER_TENANT: usize = 100_000;

/// What a membership change found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberChange {
    /// The user's role before the change (`None`: was not a member).
    pub previous: Option<Role>,
    /// The acting user's role as stored, read in the same transaction (`None` for the
    /// service role).
    pub actor_role: Option<Role>,
}

fn unsupported() -> StoreError {
    StoreError::Backend("this store keeps no memberships".into())
}

/// Persistence of memberships. The defaults refuse (`Backend`), so a store that keeps no
/// memberships gives users no sensitive operation (it fails closed).
#[async_trait::async_trait]
pub trait MembershipStore: Send + Sync {
    /// `user`'s role in the context's tenant as stored, `None` if not a member.
    async fn member_role(
        &self,
        ctx: &TenantContext,
        user: &UserId,
    ) -> Result<Option<Role>, StoreError> {
        let _ = (ctx, user);
        Err(unsupported())
    }

    /// Adds, changes (`Some(role)`) or removes (`None`) `user`'s membership in the
    /// context's tenant, atomically with the checks of [`plan_member_change`]: the acting
    /// user's role is read from the store in the same transaction or lock (never taken
    /// from the context), and the last owner stays.
    async fn apply_member_change(
        &self,
        ctx: &TenantContext,
        user: &UserId,
        new: Option<Role>,
        at: i64,
    ) -> Result<MemberChange, crate::Error> {
        let _ = (ctx, user, new, at);
        Err(unsupported().into())
    }

    /// The tenant's members, user ids after `after` ascending, at most `limit`.
    async fn list_members(
        &self,
        ctx: &TenantContext,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let _ = (ctx, after, limit);
        Err(unsupported())
    }

    /// Every membership of `user` across tenants, by tenant id, at most `limit`.
    async fn memberships_of_user(
        &self,
        service: &ServiceRole,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let _ = (service, user, limit);
        Err(unsupported())
    }
}

/// The rules of a membership change, given what the store read under its lock: the actor's
/// stored role, the target's current role, how many owners and members the tenant has.
/// Agents never manage members; a user acts with its stored role (a removed or demoted
/// actor is refused whatever its context claims); admins manage non-owners; owner grants
/// and changes of an owner need the owner role; the last owner can be neither removed nor
/// demoted.
pub fn plan_member_change(
    ctx: &TenantContext,
    actor_role: Option<Role>,
    current: Option<Role>,
    new: Option<Role>,
    owners: usize,
    members: usize,
) -> Result<(), crate::Error> {
    match ctx.principal() {
        Principal::Agent(_) => {
            return Err(TenantError::WrongPrincipal {
                action: "manage members",
                kind: PrincipalKind::Agent,
            }
            .into())
        }
        Principal::User { user, .. } => {
            let role = actor_role.ok_or(TenantError::NotAMember)?;
            let actor =
                TenantContext::resolved(Resolved::make(ctx.tenant().clone(), user.clone(), role));
            check_member_change(&actor, current, new)?;
        }
        Principal::Service => {}
    }
    if current == Some(Role::Owner) && new != Some(Role::Owner) && owners <= 1 {
        return Err(TenantError::PermissionDenied {
            action: "remove or demote the last owner",
            needed: Role::Owner,
        }
        .into());
    }
    if current.is_none() && new.is_some() && members >= MAX_MEMBERS_PER_TENANT {
        return Err(StoreError::InvalidInput(format!(
            "a tenant has at most {MAX_MEMBERS_PER_TENANT} members"
        ))
        .into());
    }
    Ok(())
}
