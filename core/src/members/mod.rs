//! Membership management on the guard, and the live role check of sensitive operations.
//!
//! The store keeps memberships (every built-in backend). Sensitive operations (shred,
//! key rotation and retirement, member, token, policy and session management) re-read the
//! acting user's role from the store on every call: a context, a session or an access
//! token carries the role it was made with, and that role is never trusted alone for them.

mod store;
pub use store::{plan_member_change, MemberChange, MembershipStore, MAX_MEMBERS_PER_TENANT};

use crate::audit::{AuditAction, AuditEvent};
use crate::error::Result;
use crate::guard::Guard;
use crate::scope::Action as ScopeAction;
use crate::storage::{StoreError, MAX_PAGE};
use crate::tenant::{
    Membership, Principal, PrincipalKind, Resolved, Role, TenantContext, TenantError, UserId,
};

area_handle!(
    /// Organization memberships and roles: list, set, remove. From [`Guard::members`].
    Members,
    members,
    "Membership operations."
);

impl Guard {
    /// For a user, the context rebuilt with the role the store holds now (`NotAMember` if
    /// none); for an agent, the context unchanged if its token is still live in the store
    /// (`AgentRevoked` if not); the service context unchanged.
    pub(crate) async fn live_context(&self, ctx: &TenantContext) -> Result<TenantContext> {
        let Principal::User { user, .. } = ctx.principal() else {
            if let Principal::Agent(g) = ctx.principal() {
                // Another instance may have revoked the token or killed the agent without
                // this one hearing of it yet (SQLite and memory stores have no feed;
                // PostgreSQL within the propagation bound): its cached token and the
                // contexts made from it would still stand here. Sensitive operations read
                // the token back from the store, and a dead one stops in this process.
                if !self.agent_token_live(ctx, g).await? {
                    self.forget_agent_token(ctx, g);
                    return Err(TenantError::AgentRevoked.into());
                }
            }
            return Ok(ctx.clone());
        };
        let service = TenantContext::service(ctx.tenant().clone(), &self.service_role());
        let role = match self.stores().members()?.member_role(&service, user).await {
            Ok(Some(r)) => r,
            Ok(None) | Err(StoreError::TenantNotFound) => {
                return Err(TenantError::NotAMember.into())
            }
            Err(e) => return Err(e.into()),
        };
        Ok(TenantContext::resolved(Resolved::make_for(
            self.capability_id(),
            ctx.tenant().clone(),
            user.clone(),
            role,
        )))
    }

    /// [`Guard::authorize`] for sensitive operations: a user is checked with the role the
    /// store holds now, never the one its context claims. One store read per call.
    pub(crate) async fn authorize_live(
        &self,
        ctx: &TenantContext,
        needed: Role,
        resource: &str,
        action: ScopeAction,
        what: &'static str,
    ) -> Result<()> {
        self.check_principal(ctx)?;
        let live = self.live_context(ctx).await?;
        live.authorize(needed, resource, action, what)?;
        Ok(())
    }

    /// [`Guard::require`] for sensitive operations (users by stored role, the service).
    pub(crate) async fn require_live(
        &self,
        ctx: &TenantContext,
        needed: Role,
        what: &'static str,
    ) -> Result<()> {
        self.check_principal(ctx)?;
        let live = self.live_context(ctx).await?;
        live.require(needed, what)?;
        Ok(())
    }

    /// Appends an SDK entry whose actor is `ctx`'s principal, over the guard's own service
    /// scope (so it is written even when the actor just removed itself).
    async fn audit_as(&self, ctx: &TenantContext, event: AuditEvent) -> Result<()> {
        let service = TenantContext::service(ctx.tenant().clone(), &self.service_role());
        let draft = self.audit_draft(ctx, event).await?;
        let appended = self
            .audit_store()
            .append_audit_owned(&service, draft)
            .await?;
        self.after_audit_append(&service, &appended).await;
        Ok(())
    }

    /// The news of a membership change, in this process at once (other instances hear
    /// it from the store's feed): access tokens `user` holds in the tenant, which carry
    /// the old role, are checked against the stored membership from now on.
    fn membership_changed(&self, ctx: &TenantContext, user: &UserId) {
        self.publish(&crate::events::Event::MembershipChanged {
            tenant: ctx.tenant().clone(),
            user: user.as_str().to_owned(),
        });
    }

    fn no_agents(ctx: &TenantContext, action: &'static str) -> Result<()> {
        if ctx.kind() == PrincipalKind::Agent {
            return Err(TenantError::WrongPrincipal {
                action,
                kind: PrincipalKind::Agent,
            }
            .into());
        }
        Ok(())
    }
}

impl Members<'_> {
    /// `user`'s role in the context's tenant as stored now (`None`: not a member). Any
    /// member (its stored membership is checked) or the service; agents never.
    pub async fn role(self, ctx: &TenantContext, user: &UserId) -> Result<Option<Role>> {
        Guard::no_agents(ctx, "read memberships")?;
        self.g
            .require_live(ctx, Role::Viewer, "read memberships")
            .await?;
        Ok(self.g.stores().members()?.member_role(ctx, user).await?)
    }

    /// The tenant's members, user ids after `after` ascending, at most `limit` (1 to
    /// 10,000). Any member or the service; agents never.
    pub async fn list(
        self,
        ctx: &TenantContext,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<Membership>> {
        Guard::no_agents(ctx, "list members")?;
        self.g
            .require_live(ctx, Role::Viewer, "list members")
            .await?;
        if limit == 0 || limit > MAX_PAGE {
            return Err(
                StoreError::InvalidInput(format!("page size must be 1 to {MAX_PAGE}")).into(),
            );
        }
        Ok(self
            .g
            .stores()
            .members()?
            .list_members(ctx, after, limit)
            .await?)
    }

    /// Adds `user` to the context's tenant with `role`, or changes its role; returns the
    /// role it had (`None`: it was not a member). Admins manage viewers, members and
    /// admins; granting the owner role or changing an owner needs the owner role; the
    /// last owner cannot be demoted. The acting user's role is read from the store in the
    /// same transaction as the change. Agents never. Audited (`member.change`). A demoted
    /// member's next session refresh carries the new role.
    pub async fn set(self, ctx: &TenantContext, user: &UserId, role: Role) -> Result<Option<Role>> {
        Guard::no_agents(ctx, "manage members")?;
        self.g.check_principal(ctx)?;
        let c = self
            .g
            .stores()
            .members()?
            .apply_member_change(ctx, user, Some(role), self.g.now())
            .await?;
        if c.previous != Some(role) {
            self.g.membership_changed(ctx, user);
            self.g
                .audit_as(
                    ctx,
                    AuditEvent::new(AuditAction::MemberChange, format!("user:{user}"))
                        .detail("from", c.previous.map_or("none", Role::as_str))
                        .detail("to", role.as_str()),
                )
                .await?;
        }
        Ok(c.previous)
    }

    /// Removes `user` from the context's tenant (same rules as [`Members::set`](crate::Members::set); the
    /// last owner stays) and revokes its login sessions in the tenant, so its next
    /// refresh fails at once. Returns whether it was a member. Audited (`member.change`).
    pub async fn remove(self, ctx: &TenantContext, user: &UserId) -> Result<bool> {
        Guard::no_agents(ctx, "manage members")?;
        self.g.check_principal(ctx)?;
        let c = self
            .g
            .stores()
            .members()?
            .apply_member_change(ctx, user, None, self.g.now())
            .await?;
        if c.previous.is_some() {
            self.g.membership_changed(ctx, user);
        }
        let service = TenantContext::service(ctx.tenant().clone(), &self.g.service_role());
        let sessions = self
            .g
            .stores()
            .sessions()?
            .revoke_sessions(&service, Some(user.as_str()), self.g.now())
            .await?;
        if sessions > 0 {
            // Their access tokens stop with them, also if the user is added back.
            self.g.publish(&crate::events::Event::UserSessionsRevoked {
                tenant: ctx.tenant().clone(),
                user: user.as_str().to_owned(),
            });
        }
        if c.previous.is_some() || sessions > 0 {
            self.g
                .audit_as(
                    ctx,
                    AuditEvent::new(AuditAction::MemberChange, format!("user:{user}"))
                        .detail("from", c.previous.map_or("none", Role::as_str))
                        .detail("to", "none")
                        .detail("sessions_revoked", sessions.to_string()),
                )
                .await?;
        }
        Ok(c.previous.is_some())
    }

    /// Every tenant `user` belongs to, with its role there (its personal tenant and each
    /// organization), by tenant id, at most 10,000. Needs this guard's service capability:
    /// a host's resolver uses it to build the user's contexts from the store.
    pub async fn memberships_of(
        self,
        service: &crate::tenant::ServiceRole,
        user: &UserId,
    ) -> Result<Vec<Membership>> {
        self.g.check_service(service)?;
        Ok(self
            .g
            .stores()
            .members()?
            .memberships_of_user(service, user, MAX_PAGE)
            .await?)
    }
}
