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
//! The plaintext is returned once, by [`Guard::create_token`](crate::Guard::create_token), as
//! a [`TokenSecret`] whose `Debug` prints `[REDACTED]`; the store only ever sees its SHA-256.
//! Verification ([`Guard::verify_token`](crate::Guard::verify_token)) rejects malformed
//! strings and bad checksums before any lookup, finds the token by hash, compares hashes in
//! constant time, and yields the agent's [`TenantContext`] or a typed reason.

mod cache;
pub mod format;
mod ops;

pub(crate) use cache::TokenCache;
pub(crate) use ops::sha256;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::ErrorKind;
use crate::tenant::{Role, TenantContext, UserId};

/// Most scopes one token carries.
pub const MAX_SCOPES: usize = 32;
/// Longest resource pattern, in bytes.
pub const MAX_RESOURCE_LEN: usize = 128;
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
            TokenError::InvalidInput(_) => ErrorKind::InvalidInput,
            TokenError::Rng => ErrorKind::KeyProvider,
        }
    }

    /// A short stable reason code: `malformed`, `bad_checksum`, `unknown`, `expired`,
    /// `revoked`, `out_of_scope`, `invalid_input`, `rng`.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "malformed",
            TokenError::BadChecksum => "bad_checksum",
            TokenError::Unknown => "unknown",
            TokenError::Expired => "expired",
            TokenError::Revoked => "revoked",
            TokenError::OutOfScope { .. } => "out_of_scope",
            TokenError::InvalidInput(_) => "invalid_input",
            TokenError::Rng => "rng",
        }
    }
}

/// What a token may do to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read.
    Read,
    /// Create or replace.
    Write,
    /// Delete.
    Delete,
    /// Manage (settings, members of the resource).
    Admin,
}

impl Action {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Delete => "delete",
            Action::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One permission: an action on a resource pattern. The pattern is an exact name
/// (`"runs/42"`), a prefix ending in `*` (`"runs/*"`), or `"*"` (everything).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// Resource pattern.
    pub resource: String,
    /// The allowed action (exactly this one: `write` does not imply `read`).
    pub action: Action,
}

impl Scope {
    /// A scope for `action` on `resource`.
    pub fn new(resource: impl Into<String>, action: Action) -> Self {
        Scope {
            resource: resource.into(),
            action,
        }
    }

    /// Read access to `resource`.
    pub fn read(resource: impl Into<String>) -> Self {
        Self::new(resource, Action::Read)
    }

    /// Whether this scope allows `action` on `resource`.
    pub fn allows(&self, resource: &str, action: Action) -> bool {
        if self.action != action {
            return false;
        }
        match self.resource.strip_suffix('*') {
            Some(prefix) => resource.starts_with(prefix),
            None => self.resource == resource,
        }
    }

    fn validate(&self) -> Result<(), TokenError> {
        let r = &self.resource;
        if r.is_empty()
            || r.len() > MAX_RESOURCE_LEN
            || r.chars().any(char::is_control)
            || r[..r.len() - 1].contains('*')
        {
            return Err(TokenError::InvalidInput(format!(
                "resource pattern must be 1 to {MAX_RESOURCE_LEN} bytes, no control characters, '*' only at the end"
            )));
        }
        Ok(())
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
        self.scopes.iter().try_for_each(Scope::validate)?;
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

/// The least role whose powers cover every scope: admin for `admin`, member for
/// `write`/`delete`, viewer otherwise. It is the role of the agent's [`TenantContext`].
pub fn role_for(scopes: &[Scope]) -> Role {
    scopes.iter().fold(Role::Viewer, |r, s| {
        r.max(match s.action {
            Action::Read => Role::Viewer,
            Action::Write | Action::Delete => Role::Member,
            Action::Admin => Role::Admin,
        })
    })
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
pub struct VerifiedToken {
    /// The token's public id.
    pub token_id: String,
    /// The agent.
    pub agent: UserId,
    /// The permissions.
    pub scopes: Vec<Scope>,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// The agent's scope: its tenant, with the role from [`role_for`].
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
    /// Revocation through the same `Guard` evicts at once; other processes see it within this time.
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
        assert!(!Scope::read("runs/*").allows("run", Action::Read));
        assert!(Scope::read("runs/42").allows("runs/42", Action::Read));
        assert!(!Scope::read("runs/42").allows("runs/420", Action::Read));
        assert!(Scope::read("a*b").validate().is_err());
        assert!(Scope::read("").validate().is_err());
    }

    #[test]
    fn roles_follow_scopes() {
        assert_eq!(role_for(&[Scope::read("*")]), Role::Viewer);
        assert_eq!(
            role_for(&[Scope::read("*"), Scope::new("x", Action::Delete)]),
            Role::Member
        );
        assert_eq!(role_for(&[Scope::new("x", Action::Admin)]), Role::Admin);
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = TokenSecret::new("tg_secret".into());
        assert_eq!(format!("{s:?}"), "[REDACTED]");
    }
}
