//! Settings and per-`Guard` state of the governance features (tokens, sessions).

use crate::auth::SessionConfig;
use crate::secret::SecretBytes;
use crate::tokens::{format::validate_prefix, TokenCache, TokenConfig, TokenError};

/// Governance settings for a [`Guard`](crate::Guard), given to
/// [`GuardBuilder::governance`](crate::GuardBuilder::governance).
#[derive(Debug, Clone, Default)]
pub struct GovernanceConfig {
    /// Agent-token settings.
    pub tokens: TokenConfig,
    /// Login-session settings.
    pub sessions: SessionConfig,
}

pub(crate) struct GovState {
    pub(crate) tokens: TokenConfig,
    pub(crate) token_cache: TokenCache,
    pub(crate) sessions: SessionConfig,
    pub(crate) session_key: SecretBytes,
}

impl GovState {
    pub(crate) fn new(cfg: GovernanceConfig) -> Result<Self, crate::Error> {
        validate_prefix(&cfg.tokens.prefix)?;
        if cfg.tokens.cache_capacity > 1_000_000 {
            return Err(TokenError::InvalidInput(
                "token cache capacity must be at most 1,000,000".into(),
            )
            .into());
        }
        let token_cache = TokenCache::new(cfg.tokens.cache_ttl, cfg.tokens.cache_capacity);
        let (sessions, session_key) = cfg.sessions.into_key()?;
        Ok(GovState {
            tokens: cfg.tokens,
            token_cache,
            sessions,
            session_key,
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
