//! Editing memberships in the PostgreSQL store (`tg_memberships`, the table its Row Level
//! Security and `DirectoryResolver.fromStore` read). Conversions only: the role rules are
//! the core's (`PostgresStore::set_member`).

use std::sync::Arc;

use crate::dual::dual;
use crate::error::TenantguardError;
use crate::guard::Guard;
use crate::isolation::Membership;
use crate::provider::Store;
use crate::types::{Credential, Role, TenantContext};
use tenantguard::ErrorKind;

impl Store {
    fn postgres_store(&self) -> Result<&tenantguard::PostgresStore, TenantguardError> {
        self.3.as_deref().ok_or_else(|| {
            TenantguardError::new(ErrorKind::Config,
                "memberships are edited in a PostgreSQL store; use a MemoryDirectory or your own Directory",
            )
        })
    }
}

fn user_id(s: String) -> Result<tenantguard::UserId, TenantguardError> {
    Ok(tenantguard::UserId::new(s)?)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

dual! {
impl Store {
    /// Adds a member to the context's tenant or changes its role (PostgreSQL only, over the
    /// service connection). Admins manage viewers, members and admins; granting or changing
    /// an owner needs the owner role; the last owner stays. The acting user's role is
    /// re-read from the database. `Config` for other stores.
    fn set_member / set_member_async(&self, ctx: Arc<TenantContext>, user: String, role: Role) -> () {
        let pg = self.postgres_store()?;
        Ok(pg.set_member(&ctx.0, &user_id(user)?, role.into(), unix_now()).await?)
    }

    /// Removes a member of the context's tenant (same rules as `setMember`); returns
    /// whether it was one. PostgreSQL only.
    fn remove_member / remove_member_async(&self, ctx: Arc<TenantContext>, user: String) -> bool {
        let pg = self.postgres_store()?;
        Ok(pg.remove_member(&ctx.0, &user_id(user)?).await?)
    }

    /// The members of the context's tenant, by user id (at most 10,000). Any member.
    /// PostgreSQL only.
    fn members / members_async(&self, ctx: Arc<TenantContext>) -> Vec<Membership> {
        let pg = self.postgres_store()?;
        Ok(pg.members(&ctx.0).await?.into_iter().map(Membership::from).collect())
    }
}
}

// Memberships kept by every store, through the guard (the role rules and the live role
// check are the core's), and SSO/MFA portal marks.
dual! {
impl Guard {
    /// Adds `user` to the context's tenant with `role` or changes its role; returns the
    /// role it had (`null`: not a member). Admins manage non-owners, owners also owners;
    /// the last owner stays; the acting user's stored role counts. Audited.
    fn set_member / set_member_async(
        &self, ctx: Arc<TenantContext>, user: String, role: Role
    ) -> Option<Role> {
        Ok(self.0.members().set(&ctx.0, &user_id(user)?, role.into()).await?.map(Role::from))
    }

    /// Removes `user` from the context's tenant and revokes its sessions there; returns
    /// whether it was a member. Audited.
    fn remove_member / remove_member_async(&self, ctx: Arc<TenantContext>, user: String) -> bool {
        Ok(self.0.members().remove(&ctx.0, &user_id(user)?).await?)
    }

    /// `user`'s role in the context's tenant as stored now (`null`: not a member).
    fn member_role / member_role_async(&self, ctx: Arc<TenantContext>, user: String) -> Option<Role> {
        Ok(self.0.members().role(&ctx.0, &user_id(user)?).await?.map(Role::from))
    }

    /// The tenant's members, user ids after `after` ascending, at most `limit` (1 to 10,000).
    fn members / members_async(
        &self, ctx: Arc<TenantContext>, after: Option<String>, limit: i32
    ) -> Vec<Membership> {
        let after = after.map(user_id).transpose()?;
        // A negative limit is out of range like any other (the core bounds it to 1..=10,000).
        let limit = usize::try_from(limit).unwrap_or(0);
        Ok(self
            .0
            .members().list(&ctx.0, after.as_ref(), limit)
            .await?
            .into_iter()
            .map(Membership::from)
            .collect())
    }

    /// Marks `portal` (a host name; covers its subdomains) as SSO/MFA, or unmarks it: a
    /// password credential for a marked portal is then refused. Admin role. Audited.
    fn mark_portal / mark_portal_async(
        &self, ctx: Arc<TenantContext>, portal: String, sso_mfa: bool
    ) -> () {
        Ok(self.0.portal().mark(&ctx.0, &portal, sso_mfa).await?)
    }

    /// The marked name covering `portal` (itself or a parent domain), `null` if none.
    fn portal_mark / portal_mark_async(&self, ctx: Arc<TenantContext>, portal: String) -> Option<String> {
        Ok(self.0.portal().mark_of(&ctx.0, &portal).await?)
    }

    /// Stores a credential for `portal`; a password for a portal marked SSO/MFA is refused
    /// (`PermissionDenied`).
    fn put_portal_credential / put_portal_credential_async(
        &self, ctx: Arc<TenantContext>, record_id: String, portal: String, credential: Arc<Credential>
    ) -> () {
        Ok(self.0.portal().put_credential(&ctx.0, &record_id, &portal, &credential.0).await?)
    }
}
}

impl crate::runtime::CallId for Store {}
