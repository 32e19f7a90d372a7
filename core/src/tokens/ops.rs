//! Token operations on the [`Guard`]: create, list, revoke, kill an agent, verify.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::TokenRecord;
use super::{
    format, Action, IssuedToken, TokenError, TokenInfo, TokenSecret, TokenSpec, VerifiedToken,
};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::Result;
use crate::guard::Guard;
use crate::tenant::{AgentGrant, Principal, Role, TenantContext, UserId};

area_handle!(
    /// Agent tokens: create, list, revoke, kill an agent, authenticate, verify. From [`Guard::tokens`].
    Tokens,
    tokens,
    "Agent token operations."
);

/// The resource token management touches.
pub(crate) const TOKENS: &str = "tokens";

pub(crate) fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn info(rec: &TokenRecord) -> Result<TokenInfo> {
    Ok(TokenInfo {
        id: rec.id.clone(),
        agent: UserId::new(rec.agent.clone())?,
        name: rec.name.clone(),
        scopes: rec.scopes.clone(),
        created_at: rec.created_at,
        expires_at: rec.expires_at,
        revoked_at: rec.revoked_at,
    })
}

impl Tokens<'_> {
    /// Creates an agent token and returns its plaintext, once; the store keeps only its
    /// SHA-256. Read-only on everything unless `spec` says otherwise. Audited
    /// (`token.create`). Needs the admin role, or an agent with `admin` on `tokens`: an
    /// agent mints only for itself (so its kill switch ends what it minted), only scopes
    /// within its own, and never outliving its own token (`Widening` otherwise).
    pub async fn create(self, ctx: &TenantContext, spec: TokenSpec) -> Result<IssuedToken> {
        self.g
            .authorize_live(
                ctx,
                Role::Admin,
                TOKENS,
                Action::Admin,
                "create an agent token",
            )
            .await?;
        self.g
            .limit(ctx, crate::ratelimit::ActionClass::TokenCreate, None)
            .await?;
        spec.validate()?;
        if let Principal::Agent(g) = ctx.principal() {
            if spec.agent != g.agent {
                return Err(TokenError::Widening("an agent mints tokens for itself only").into());
            }
            if !spec
                .scopes
                .iter()
                .all(|s| g.scopes.iter().any(|own| s.within(own)))
            {
                return Err(TokenError::Widening("a scope the agent does not hold").into());
            }
            if let Some(own) = g.expires_at {
                let asked = spec.ttl_secs.map(|t| self.g.now().saturating_add(t));
                if asked.is_none_or(|e| e > own) {
                    return Err(
                        TokenError::Widening("a lifetime beyond the agent's own token").into(),
                    );
                }
            }
        }
        let gov = self.g.gov();
        let secret = format::generate(&gov.tokens.prefix)?;
        let now = self.g.now();
        let rec = TokenRecord {
            id: format::random_id("tok_")?,
            tenant: ctx.tenant().clone(),
            agent: spec.agent.as_str().to_owned(),
            name: spec.name,
            hash: sha256(&secret),
            scopes: spec.scopes,
            created_at: now,
            expires_at: spec.ttl_secs.map(|t| now.saturating_add(t)),
            revoked_at: None,
        };
        self.g.stores().tokens()?.insert_token(ctx, &rec).await?;
        if let Principal::Agent(g) = ctx.principal() {
            // A kill switch that landed between the check above and the insert revoked the
            // minter's tokens but not this one: it must not outlive the kill. Either the
            // kill comes after the insert (and revokes this token too) or the minter's own
            // token reads as revoked here, and this one is revoked before anyone sees it.
            if !self.g.agent_token_live(ctx, g).await? {
                self.g
                    .stores()
                    .tokens()?
                    .revoke_token(ctx, &rec.id, now)
                    .await?;
                return Err(crate::tenant::TenantError::AgentRevoked.into());
            }
        }
        let scopes: Vec<String> = rec
            .scopes
            .iter()
            .map(|s| format!("{}:{}", s.action, s.resource))
            .collect();
        let mut ev = AuditEvent::new(AuditAction::TokenCreate, rec.id.clone())
            .detail("agent", rec.agent.clone())
            .detail("scopes", scopes.join(" "));
        if let Some(e) = rec.expires_at {
            ev = ev.detail("expires_at", e.to_string());
        }
        self.g.append_audit(ctx, ev).await?;
        Ok(IssuedToken {
            id: rec.id,
            secret: TokenSecret::new(secret),
            expires_at: rec.expires_at,
        })
    }

    /// The tenant's tokens (of one agent if given), ids after `after` ascending, at most
    /// `limit` (1 to 10,000). Metadata only. Needs the admin role.
    pub async fn list(
        self,
        ctx: &TenantContext,
        agent: Option<&UserId>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TokenInfo>> {
        self.g
            .authorize_live(ctx, Role::Admin, TOKENS, Action::Read, "list agent tokens")
            .await?;
        let recs = self
            .g
            .stores()
            .tokens()?
            .list_tokens(ctx, agent.map(UserId::as_str), after, limit)
            .await?;
        recs.iter().map(info).collect()
    }

    /// Revokes one token; returns whether it was live. Audited (`token.revoke`). Needs
    /// the admin role.
    pub async fn revoke(self, ctx: &TenantContext, id: &str) -> Result<bool> {
        self.g
            .authorize_live(
                ctx,
                Role::Admin,
                TOKENS,
                Action::Admin,
                "revoke an agent token",
            )
            .await?;
        let was_live = self
            .g
            .stores()
            .tokens()?
            .revoke_token(ctx, id, self.g.now())
            .await?;
        self.g.publish(&crate::events::Event::TokenRevoked {
            tenant: ctx.tenant().clone(),
            token_id: id.to_owned(),
        });
        if was_live {
            self.g
                .append_audit(ctx, AuditEvent::new(AuditAction::TokenRevoke, id))
                .await?;
        }
        Ok(was_live)
    }

    /// Kill switch: revokes every live token of `agent` at once; returns how many.
    /// Audited (`token.kill_agent`). Needs the admin role.
    pub async fn kill_agent(self, ctx: &TenantContext, agent: &UserId) -> Result<u64> {
        self.g
            .authorize_live(
                ctx,
                Role::Admin,
                TOKENS,
                Action::Admin,
                "revoke an agent's tokens",
            )
            .await?;
        let n = self
            .g
            .stores()
            .tokens()?
            .revoke_tokens(ctx, Some(agent.as_str()), self.g.now())
            .await?;
        self.g.publish(&crate::events::Event::AgentKilled {
            tenant: ctx.tenant().clone(),
            agent: agent.as_str().to_owned(),
        });
        self.g.forget_revoked(ctx, Some(agent)).await?;
        self.g
            .append_audit(
                ctx,
                AuditEvent::new(AuditAction::AgentKill, format!("agent:{agent}"))
                    .detail("revoked", n.to_string()),
            )
            .await?;
        Ok(n)
    }

    /// Authenticates a token string: rejects a malformed one or a bad checksum before any
    /// lookup, finds it by SHA-256 (warm: from the in-process cache), compares hashes in
    /// constant time, and checks expiry and revocation. Yields the agent and its
    /// [`TenantContext`], or `Error::Token` with the reason (`Unknown`, `Expired`, `Revoked`...).
    ///
    /// Without a host key, every caller's unknown tokens count in one shared cell: prefer
    /// [`Tokens::authenticate_from`](crate::Tokens::authenticate_from).
    pub async fn authenticate(self, token: &str) -> Result<VerifiedToken> {
        self.g.tokens().authenticate_from(token, None).await
    }

    /// [`Tokens::authenticate`](crate::Tokens::authenticate) for a caller known by `host_key` (its IP address or
    /// client id): unknown tokens are counted per host key (`TokenFailure` class), and a
    /// host key over that limit is refused with `RateLimited` before any lookup. A token
    /// found in the in-process cache never reaches the limiter.
    pub async fn authenticate_from(
        self,
        token: &str,
        host_key: Option<&str>,
    ) -> Result<VerifiedToken> {
        let gov = self.g.gov();
        format::parse(token, &gov.tokens.prefix)?;
        let hash = sha256(token);
        let cached = match gov.token_cache.get(&hash) {
            Some(c) => c,
            None => {
                // Taken before the lookup: news that arrives while the lookup is in
                // flight moves it on, and the stale row is then not cached.
                let generation = gov.token_cache.generation();
                let limiter = self.g.rate_limiter();
                let key = crate::ratelimit::LimitKey::anonymous().host(Some(
                    host_key.unwrap_or(crate::ratelimit::enforce::NO_HOST_KEY),
                ));
                let class = crate::ratelimit::ActionClass::TokenFailure;
                limiter.peek(class, &key).await?;
                let Some(rec) = self
                    .g
                    .stores()
                    .tokens()?
                    .token_by_hash(&self.g.service_role(), &hash)
                    .await?
                else {
                    limiter.failure(class, &key).await;
                    return Err(TokenError::Unknown.into());
                };
                let c = Arc::new(super::cache::CachedToken::new(rec)?);
                gov.token_cache.insert_if_current(c.clone(), generation);
                c
            }
        };
        let rec = &cached.rec;
        if !bool::from(rec.hash.ct_eq(&hash)) {
            return Err(TokenError::Unknown.into());
        }
        if rec.revoked_at.is_some() {
            return Err(TokenError::Revoked.into());
        }
        if rec.expires_at.is_some_and(|e| self.g.now() >= e) {
            return Err(TokenError::Expired.into());
        }
        let agent = cached.agent.clone();
        if gov.revocations.is_shredded(&rec.tenant) {
            return Err(TokenError::Revoked.into());
        }
        let Some(epoch) = gov.revocations.epoch_unless_revoked(&rec.id) else {
            return Err(TokenError::Revoked.into());
        };
        let context = TenantContext::agent(
            rec.tenant.clone(),
            AgentGrant {
                agent: agent.clone(),
                token_id: rec.id.clone(),
                scopes: cached.scopes.clone(),
                created_at: rec.created_at,
                expires_at: rec.expires_at,
                epoch,
            },
        );
        Ok(VerifiedToken {
            token_id: rec.id.clone(),
            agent,
            scopes: rec.scopes.clone(),
            expires_at: rec.expires_at,
            context,
        })
    }

    /// [`Tokens::authenticate`](crate::Tokens::authenticate), then checks that a scope allows `action` on
    /// `resource` (`OutOfScope` otherwise).
    pub async fn verify(
        self,
        token: &str,
        resource: &str,
        action: Action,
    ) -> Result<VerifiedToken> {
        let v = self.g.tokens().authenticate(token).await?;
        if !v.allows(resource, action) {
            // Echo at most 128 bytes of the caller's resource name.
            return Err(TokenError::OutOfScope {
                resource: super::echo(resource),
                action,
            }
            .into());
        }
        Ok(v)
    }
}

impl Guard {
    /// Whether the agent token that `grant` was verified from is still live in the store
    /// (not revoked, not expired) and in this process: read back after an agent mints a
    /// token, and by every sensitive operation an agent asks for.
    pub(crate) async fn agent_token_live(
        &self,
        ctx: &TenantContext,
        grant: &crate::tenant::AgentGrant,
    ) -> Result<bool> {
        if self.check_principal(ctx).is_err() {
            return Ok(false);
        }
        // Read over the guard's own service scope, whatever the agent's scopes allow it
        // to read (as the live role check reads a user's membership).
        let scope = TenantContext::service(ctx.tenant().clone(), &self.service_role());
        let mut after: Option<String> = None;
        loop {
            let page = self
                .stores()
                .tokens()?
                .list_tokens(
                    &scope,
                    Some(grant.agent.as_str()),
                    after.as_deref(),
                    crate::storage::MAX_PAGE,
                )
                .await?;
            if let Some(own) = page.iter().find(|r| r.id == grant.token_id) {
                let now = self.now();
                return Ok(own.revoked_at.is_none() && own.expires_at.is_none_or(|e| now < e));
            }
            let Some(last) = page.last() else {
                return Ok(false);
            };
            if page.len() < crate::storage::MAX_PAGE {
                return Ok(false);
            }
            after = Some(last.id.clone());
        }
    }

    /// A token found dead in the store by [`Guard::agent_token_live`]: it joins the
    /// in-process revocation set and leaves the token cache, so neither it nor any context
    /// made from it works in this process any more.
    pub(crate) fn forget_agent_token(
        &self,
        ctx: &TenantContext,
        grant: &crate::tenant::AgentGrant,
    ) {
        let gov = self.gov();
        gov.revocations
            .revoke_tokens(std::iter::once(grant.token_id.clone()));
        let tenant = ctx.tenant();
        gov.token_cache
            .evict(|r| &r.tenant == tenant && r.id == grant.token_id);
    }

    /// After a store-side revocation: every revoked token of the tenant (of `agent` if
    /// given) joins the in-process revocation set, so contexts already made from them stop
    /// working at once.
    pub(crate) async fn forget_revoked(
        &self,
        ctx: &TenantContext,
        agent: Option<&UserId>,
    ) -> Result<()> {
        let mut after: Option<String> = None;
        loop {
            let page = self
                .stores()
                .tokens()?
                .list_tokens(
                    ctx,
                    agent.map(UserId::as_str),
                    after.as_deref(),
                    crate::storage::MAX_PAGE,
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            self.gov().revocations.revoke_tokens(
                page.iter()
                    .filter(|r| r.revoked_at.is_some())
                    .map(|r| r.id.clone()),
            );
            let tenant = ctx.tenant().clone();
            self.gov()
                .token_cache
                .evict(|r| r.tenant == tenant && agent.is_none_or(|a| r.agent == a.as_str()));
        }
        Ok(())
    }
}
