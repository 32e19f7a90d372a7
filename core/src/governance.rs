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
    pub(crate) revocations: Revocations,
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
}

impl Revocations {
    /// The current epoch if `token_id` is not revoked (one lock for both answers, on the
    /// warm verification path), `None` if it is.
    pub(crate) fn epoch_unless_revoked(&self, token_id: &str) -> Option<u64> {
        let s = self.inner.read().unwrap_or_else(|p| p.into_inner());
        (!s.tokens.contains(token_id)).then_some(s.epoch)
    }

    /// Whether a context verified at `epoch` for `token_id` still stands.
    pub(crate) fn live(&self, token_id: &str, epoch: u64) -> bool {
        let s = self.inner.read().unwrap_or_else(|p| p.into_inner());
        s.epoch == epoch && !s.tokens.contains(token_id)
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
            revocations: Revocations::default(),
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
