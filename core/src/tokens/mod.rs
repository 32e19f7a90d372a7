//! Agent API tokens: prefixed, checksummed, stored as SHA-256 only, scoped per resource and
//! action, optionally time-bound, revocable one by one or all at once per agent.
//!
//! ```text
//! tg_4uQ0dHLkX2r9ZbVq1mJ7sWc8yTfA3n0Ke5Lx9
//! ^^ ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ ^^^^^^
//! |  30 base62 random (≈178 bits)   6 base62 CRC32 of "tg_<random>"
//! prefix (configurable)
//! ```
//!
//! The plaintext is returned once, by [`Tokens::create`](crate::Tokens::create), as
//! a [`TokenSecret`] whose `Debug` prints `[REDACTED]`; the store only ever sees its SHA-256.
//! Verification ([`Tokens::verify`](crate::Tokens::verify)) rejects malformed
//! strings and bad checksums before any lookup, finds the token by hash, compares hashes in
//! constant time, and yields the agent's [`TenantContext`] or a typed reason.

mod cache;
pub mod format;
mod ops;
mod store;
pub use ops::Tokens;
pub use store::{TokenRecord, TokenStore};

pub(crate) use crate::scope::echo;
pub use crate::scope::{Action, Scope};

pub(crate) use cache::TokenCache;
#[cfg(feature = "auth")]
pub(crate) use ops::sha256;

use thiserror::Error;

use crate::error::ErrorKind;
use crate::tenant::{TenantContext, UserId};

/// Most scopes one token carries.
pub const MAX_SCOPES: usize = 32;
pub use crate::scope::MAX_RESOURCE_LEN;
/// Longest token name (a label for humans), in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Errors from creating, parsing and verifying tokens.
///
/// The verification failures (`Malformed`, `BadChecksum`, `Unknown`, `Expired`, `Revoked`,
/// `OutOfScope`) are the "clear reason" a caller gets; none of them contain the token.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The string is not shaped like a token of this deployment (rejected before lookup).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The checksum does not match: a typo or a forged candidate (rejected before lookup).
    #[error("token checksum mismatch: the token was mistyped or is not one of ours")]
    BadChecksum,
    /// Well formed, but no such token exists.
    #[error("unknown token")]
    Unknown,
    /// The token's time bound has passed.
    #[error("token expired")]
    Expired,
    /// The token (or every token of its agent) was revoked.
    #[error("token revoked")]
    Revoked,
    /// The token is valid but does not allow this action on this resource.
    #[error("token does not allow {action} on {resource:?}")]
    OutOfScope {
        /// The resource asked for.
        resource: String,
        /// The action asked for.
        action: Action,
    },
    /// A creation argument is out of range.
    #[error("invalid token request: {0}")]
    InvalidInput(String),
    /// A scope pattern breaks the grammar (see [`Scope`]); the reason names the rule.
    #[error("invalid scope pattern: {0}")]
    InvalidScope(&'static str),
    /// An agent asked for a token wider than its own: another agent id, a scope it does
    /// not hold, or a lifetime beyond its own token's.
    #[error("an agent cannot mint a token beyond its own: {0}")]
    Widening(&'static str),
    /// The operating system's random generator failed.
    #[error("the operating system's random generator failed")]
    Rng,
}

impl TokenError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TokenError::Malformed(_) | TokenError::BadChecksum => ErrorKind::Malformed,
            TokenError::Unknown | TokenError::Expired | TokenError::Revoked => {
                ErrorKind::AuthenticationFailed
            }
            TokenError::OutOfScope { .. } => ErrorKind::PermissionDenied,
            TokenError::InvalidInput(_) | TokenError::InvalidScope(_) => ErrorKind::InvalidInput,
            TokenError::Widening(_) => ErrorKind::PermissionDenied,
            TokenError::Rng => ErrorKind::KeyProvider,
        }
    }

    /// Why (see [`crate::Reason`]); its stable names are `malformed`, `bad_checksum`,
    /// `unknown`, `expired`, `revoked`, `out_of_scope`, `invalid_input`, `invalid_scope`,
    /// `widening`, `rng`.
    pub fn reason(&self) -> crate::Reason {
        use crate::Reason as R;
        match self {
            TokenError::Malformed(_) => R::Malformed,
            TokenError::BadChecksum => R::BadChecksum,
            TokenError::Unknown => R::Unknown,
            TokenError::Expired => R::Expired,
            TokenError::Revoked => R::Revoked,
            TokenError::OutOfScope { .. } => R::OutOfScope,
            TokenError::InvalidInput(_) => R::InvalidInput,
            TokenError::InvalidScope(_) => R::InvalidScope,
            TokenError::Widening(_) => R::Widening,
            TokenError::Rng => R::Rng,
        }
    }
}

/// What to create: the agent, a label, scopes (read-only on everything by default) and an
/// optional lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// The agent the token acts as (same rules as user ids).
    pub agent: UserId,
    /// A label for humans (1 to 128 bytes).
    pub name: String,
    /// The permissions (1 to 32).
    pub scopes: Vec<Scope>,
    /// Lifetime in seconds from creation; `None` never expires.
    pub ttl_secs: Option<i64>,
}

impl TokenSpec {
    /// A read-only token for `agent` on every resource, without expiry.
    pub fn read_only(agent: UserId, name: impl Into<String>) -> Self {
        TokenSpec {
            agent,
            name: name.into(),
            scopes: vec![Scope::read("*")],
            ttl_secs: None,
        }
    }

    /// Replaces the scopes.
    pub fn scopes(mut self, scopes: Vec<Scope>) -> Self {
        self.scopes = scopes;
        self
    }

    /// Makes the token expire `secs` seconds after creation.
    pub fn expires_in(mut self, secs: i64) -> Self {
        self.ttl_secs = Some(secs);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), TokenError> {
        if self.name.is_empty()
            || self.name.len() > MAX_NAME_LEN
            || self.name.chars().any(char::is_control)
        {
            return Err(TokenError::InvalidInput(format!(
                "token name must be 1 to {MAX_NAME_LEN} bytes"
            )));
        }
        if self.scopes.is_empty() || self.scopes.len() > MAX_SCOPES {
            return Err(TokenError::InvalidInput(format!(
                "a token needs 1 to {MAX_SCOPES} scopes"
            )));
        }
        self.scopes
            .iter()
            .try_for_each(|s| s.validate().map_err(TokenError::InvalidScope))?;
        if self
            .ttl_secs
            .is_some_and(|t| t <= 0 || t > 100 * 366 * 86_400)
        {
            return Err(TokenError::InvalidInput(
                "token lifetime must be 1 second to 100 years".into(),
            ));
        }
        Ok(())
    }
}

/// A token's plaintext, returned once at creation. `Debug` prints `[REDACTED]`; the
/// string is zeroized on drop.
pub struct TokenSecret(secrecy::SecretString);

impl TokenSecret {
    pub(crate) fn new(s: String) -> Self {
        TokenSecret(secrecy::SecretString::from(s))
    }

    /// The token string, to hand to the agent. Never log it.
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// A token's stored metadata (never the plaintext).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenInfo {
    /// Public id (for listing and revoking).
    pub id: String,
    /// The agent.
    pub agent: UserId,
    /// The label.
    pub name: String,
    /// The permissions.
    pub scopes: Vec<Scope>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// Revocation time, Unix seconds.
    pub revoked_at: Option<i64>,
}

/// A newly created token: its public id and its plaintext (shown once).
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The public id.
    pub id: String,
    /// The plaintext token.
    pub secret: TokenSecret,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
}

/// A verified token: who it is and the scope to act in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedToken {
    /// The token's public id.
    pub token_id: String,
    /// The agent.
    pub agent: UserId,
    /// The permissions.
    pub scopes: Vec<Scope>,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// The agent's scope: its tenant and its [`AgentGrant`](crate::tenant::AgentGrant)
    /// (scopes only, no role).
    pub context: TenantContext,
}

impl VerifiedToken {
    /// Whether one of the token's scopes allows `action` on `resource`.
    pub fn allows(&self, resource: &str, action: Action) -> bool {
        self.scopes.iter().any(|s| s.allows(resource, action))
    }
}

/// Token settings for a [`Guard`](crate::Guard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// Prefix of new tokens and the only one accepted (default `tg`).
    pub prefix: String,
    /// How long verified-token metadata is cached in process (default 10 s; 0 disables).
    /// Revocation evicts at once through the event bus; other instances on PostgreSQL
    /// within the propagation bound (docs/SECURITY.md, "Many instances"); with stores
    /// without a cross-instance feed, within this time.
    pub cache_ttl: std::time::Duration,
    /// Most cached tokens (default 10,000).
    pub cache_capacity: usize,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            prefix: "tg".into(),
            cache_ttl: std::time::Duration::from_secs(10),
            cache_capacity: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_match_exactly_or_by_prefix() {
        assert!(Scope::read("*").allows("anything", Action::Read));
        assert!(!Scope::read("*").allows("anything", Action::Write));
        assert!(Scope::read("runs/*").allows("runs/42", Action::Read));
        assert!(Scope::read("runs/*").allows("runs/a/b", Action::Read));
        assert!(!Scope::read("runs/*").allows("runs/", Action::Read));
        assert!(!Scope::read("runs/*").allows("runs", Action::Read));
        assert!(!Scope::read("runs/*").allows("run", Action::Read));
        assert!(!Scope::read("runs/*").allows("runs/../admin/keys", Action::Read));
        assert!(!Scope::read("runs/*").allows("runs/./x", Action::Read));
        assert!(!Scope::read("runs/*").allows("runs//x", Action::Read));
        assert!(Scope::read("runs/42").allows("runs/42", Action::Read));
        assert!(!Scope::read("runs/42").allows("runs/420", Action::Read));
        // A stored pattern outside the grammar matches only itself.
        assert!(!Scope::read("runs*").allows("runsx", Action::Read));
        assert!(Scope::read("runs*").allows("runs*", Action::Read));
        for bad in [
            "a*b", "", "runs*", "/runs/*", "runs/", "a/../b", "./a", "a//b", "*/x", "x/**", "\u{7}",
        ] {
            assert!(Scope::read(bad).validate().is_err(), "{bad:?}");
        }
        for multibyte in ["é", "runs/é", "ü*", "runs/€/*", "日本"] {
            let _ = Scope::read(multibyte).validate(); // never panics
        }
        assert!(Scope::read("runs/é").validate().is_ok());
        assert!(Scope::read("ü*").validate().is_err());
        assert!(Scope::read("x".repeat(129)).validate().is_err());
    }

    #[test]
    fn within_is_pattern_inclusion() {
        let outer = Scope::new("runs/*", Action::Write);
        assert!(Scope::new("runs/1", Action::Write).within(&outer));
        assert!(Scope::new("runs/a/*", Action::Write).within(&outer));
        assert!(!Scope::new("runs/1", Action::Read).within(&outer));
        assert!(!Scope::new("*", Action::Write).within(&outer));
        assert!(!Scope::new("runs", Action::Write).within(&outer));
        assert!(!Scope::new("runsx/*", Action::Write).within(&outer));
        assert!(!Scope::new("runs/../x", Action::Write).within(&outer));
        assert!(Scope::new("*", Action::Read).within(&Scope::read("*")));
        assert!(!Scope::new("a/*", Action::Read).within(&Scope::read("a/b")));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = TokenSecret::new("tg_secret".into());
        assert_eq!(format!("{s:?}"), "[REDACTED]");
    }
}
