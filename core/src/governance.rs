//! Settings and per-`Guard` state of the governance features (tokens, sessions).

#[cfg(feature = "auth")]
use crate::auth::SessionConfig;
#[cfg(feature = "auth")]
use crate::secret::SecretBytes;
use crate::tokens::{format::validate_prefix, TokenCache, TokenConfig, TokenError};

/// Governance settings for a [`Guard`](crate::Guard), given to
/// [`GuardBuilder::governance`](crate::GuardBuilder::governance).
#[derive(Debug, Clone, Default)]
pub struct GovernanceConfig {
    /// Agent-token settings.
    pub tokens: TokenConfig,
    /// Login-session settings.
    #[cfg(feature = "auth")]
    pub sessions: SessionConfig,
}

pub(crate) struct GovState {
    pub(crate) tokens: TokenConfig,
    pub(crate) token_cache: TokenCache,
    #[cfg(feature = "auth")]
    pub(crate) sessions: SessionConfig,
    /// The configured session signing key; `None`: the service keyring's (the default).
    #[cfg(feature = "auth")]
    pub(crate) session_key: Option<SecretBytes>,
    pub(crate) revocations: Revocations,
    #[cfg(feature = "auth")]
    pub(crate) session_revocations: crate::auth::SessionRevocations,
}

/// Most token ids the in-process revocation set holds; past it the set is cleared and
/// the epoch moves on, so every agent context made before must be verified again.
pub const MAX_REVOKED_IN_PROCESS: usize = 1_000_000;

/// Token revocations, kills and shreds seen by this process: agent contexts made before
/// them stop working at once, not only when their token is next verified.
#[derive(Default)]
pub(crate) struct Revocations {
    inner: std::sync::RwLock<RevState>,
}

#[derive(Default)]
struct RevState {
    epoch: u64,
    tokens: std::collections::HashSet<String>,
    /// Shredded tenants: none of their tokens works again (tenant ids are never reused).
    shredded: std::collections::HashSet<crate::tenant::TenantId>,
}

impl Revocations {
    /// The current epoch if `token_id` is not revoked (one lock for both answers, on the
    /// warm verification path), `None` if it is.
    pub(crate) fn epoch_unless_revoked(&self, token_id: &str) -> Option<u64> {
        let s = self.inner.read().unwrap_or_else(|p| p.into_inner());
        (!s.tokens.contains(token_id)).then_some(s.epoch)
    }

    /// Whether a context of `tenant` verified at `epoch` for `token_id` still stands.
    pub(crate) fn live(
        &self,
        tenant: &crate::tenant::TenantId,
        token_id: &str,
        epoch: u64,
    ) -> bool {
        let s = self.inner.read().unwrap_or_else(|p| p.into_inner());
        s.epoch == epoch && !s.tokens.contains(token_id) && !s.shredded.contains(tenant)
    }

    pub(crate) fn is_shredded(&self, tenant: &crate::tenant::TenantId) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .shredded
            .contains(tenant)
    }

    fn shred(&self, tenant: &crate::tenant::TenantId) {
        let mut s = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if s.shredded.len() >= MAX_REVOKED_IN_PROCESS {
            s.shredded.clear();
            s.epoch += 1;
        }
        s.shredded.insert(tenant.clone());
    }

    /// Every agent context made so far must be verified again (news may have been lost).
    fn bump(&self) {
        self.inner.write().unwrap_or_else(|p| p.into_inner()).epoch += 1;
    }

    pub(crate) fn revoke_tokens(&self, ids: impl IntoIterator<Item = String>) {
        let mut s = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            if s.tokens.len() >= MAX_REVOKED_IN_PROCESS {
                s.tokens.clear();
                s.epoch += 1;
            }
            s.tokens.insert(id);
        }
    }
}

impl GovState {
    /// The tokens area's reaction to news: revoked tokens leave the cache and join the
    /// revocation set, so neither a cache hit nor a context made before the news works.
    pub(crate) fn on_token_event(&self, event: &crate::events::Event) {
        use crate::events::Event;
        match event {
            Event::TokenRevoked { tenant, token_id } => {
                self.revocations.revoke_tokens([token_id.clone()]);
                self.token_cache
                    .evict(|r| &r.id == token_id && &r.tenant == tenant);
            }
            Event::AgentKilled { tenant, agent } => {
                self.token_cache
                    .evict(|r| &r.agent == agent && &r.tenant == tenant);
            }
            Event::TenantShredded { tenant } => {
                self.revocations.shred(tenant);
                self.token_cache.evict(|r| &r.tenant == tenant);
            }
            Event::Resync => {
                self.revocations.bump();
                self.token_cache.evict(|_| true);
            }
            _ => {}
        }
    }

    pub(crate) fn new(cfg: GovernanceConfig) -> Result<Self, crate::Error> {
        validate_prefix(&cfg.tokens.prefix)?;
        if cfg.tokens.cache_capacity > 1_000_000 {
            return Err(TokenError::InvalidInput(
                "token cache capacity must be at most 1,000,000".into(),
            )
            .into());
        }
        let token_cache = TokenCache::new(cfg.tokens.cache_ttl, cfg.tokens.cache_capacity);
        #[cfg(feature = "auth")]
        let (sessions, session_key) = cfg.sessions.into_key()?;
        Ok(GovState {
            tokens: cfg.tokens,
            token_cache,
            #[cfg(feature = "auth")]
            sessions,
            #[cfg(feature = "auth")]
            session_key,
            revocations: Revocations::default(),
            #[cfg(feature = "auth")]
            session_revocations: crate::auth::SessionRevocations::default(),
        })
    }
}

impl crate::GuardBuilder {
    /// Governance settings (token prefix and cache, session keys and lifetimes).
    pub fn governance(mut self, config: GovernanceConfig) -> Self {
        self.governance = config;
        self
    }
}
