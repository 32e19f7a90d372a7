//! Editing memberships in the PostgreSQL store (`tg_memberships`, the table its Row Level
//! Security and `DirectoryResolver.fromStore` read). Conversions only: the role rules are
//! the core's (`PostgresStore::set_member`).

use std::sync::Arc;

use crate::dual::dual;
use crate::error::TenantguardError;
use crate::isolation::Membership;
use crate::provider::Store;
use crate::types::{Role, TenantContext};

impl Store {
    fn postgres_store(&self) -> Result<&tenantguard::PostgresStore, TenantguardError> {
        self.3.as_deref().ok_or_else(|| {
            TenantguardError::Config(
                "memberships are edited in a PostgreSQL store; use a MemoryDirectory or your own Directory"
                    .into(),
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
