//! Settings and per-`Guard` state of the governance features (tokens, sessions).

use crate::tokens::{format::validate_prefix, TokenCache, TokenConfig, TokenError};

/// Governance settings for a [`Guard`](crate::Guard), given to
/// [`GuardBuilder::governance`](crate::GuardBuilder::governance).
#[derive(Debug, Clone, Default)]
pub struct GovernanceConfig {
    /// Agent-token settings.
    pub tokens: TokenConfig,
}

pub(crate) struct GovState {
    pub(crate) tokens: TokenConfig,
    pub(crate) token_cache: TokenCache,
}

impl GovState {
    pub(crate) fn new(cfg: GovernanceConfig) -> Result<Self, crate::Error> {
        validate_prefix(&cfg.tokens.prefix)?;
        if cfg.tokens.cache_capacity > 1_000_000 {
            return Err(TokenError::InvalidInput("token cache capacity must be at most 1,000,000".into()).into());
        }
        let token_cache = TokenCache::new(cfg.tokens.cache_ttl, cfg.tokens.cache_capacity);
        Ok(GovState { tokens: cfg.tokens, token_cache })
    }
}

impl crate::GuardBuilder {
    /// Governance settings (token prefix and cache, session keys and lifetimes).
    pub fn governance(mut self, config: GovernanceConfig) -> Self {
        self.governance = config;
        self
    }
}
