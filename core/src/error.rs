//! The crate-wide error type and its stable, matchable kind.

use thiserror::Error;

use crate::audit::AuditError;
use crate::auth::AuthError;
use crate::crypto::CryptoError;
use crate::egress::EgressError;
use crate::kms::KmsError;
use crate::portal::PortalError;
use crate::redact::RedactError;
use crate::reveal::RevealError;
use crate::store::StoreError;
use crate::tenant::TenantError;
use crate::tokens::TokenError;
use crate::totp::TotpError;

/// A stable classification of every error tenantguard returns.
///
/// Match on this (via [`Error::kind`]) rather than on messages: kinds are part of the
/// public API and bindings map each one to its own exception type.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An argument is out of range or badly formed (ids, sizes, configuration values).
    InvalidInput,
    /// A sealed value could not be parsed: truncated, bad encoding, bad header.
    Malformed,
    /// A sealed value uses a format version this build does not know.
    UnsupportedVersion,
    /// An input exceeds a documented size limit.
    TooLarge,
    /// Authentication failed: the value was tampered with, or opened with the wrong
    /// tenant, key or context.
    AuthenticationFailed,
    /// The key id named by a value is not known for this tenant.
    UnknownKey,
    /// The key was destroyed (crypto-shredded or retired): the data is gone for good.
    KeyDestroyed,
    /// A tenant context was used on data of another tenant.
    CrossTenant,
    /// The tenant or record does not exist.
    NotFound,
    /// The principal's role does not allow this operation.
    PermissionDenied,
    /// The operation conflicts with the current state (e.g. retiring a key still in use).
    Conflict,
    /// The key provider (KMS/HSM/key file) refused or failed.
    KeyProvider,
    /// The key provider is unreachable or timed out; retrying may succeed.
    Unavailable,
    /// The store (database) failed.
    Store,
    /// Configuration is missing, unreadable or unsafe (e.g. a world-readable key file).
    Config,
    /// Stored data failed an integrity check: an authorization row (token, session,
    /// membership) edited or planted outside the SDK. Not an authentication refusal.
    Integrity,
    /// Over a rate limit: retry after the error's `retry_after` (see
    /// [`crate::ratelimit::RateLimitError::RateLimited`]).
    RateLimited,
}

impl ErrorKind {
    /// A short, stable, snake_case name for this kind (used by bindings and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Malformed => "malformed",
            ErrorKind::UnsupportedVersion => "unsupported_version",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::AuthenticationFailed => "authentication_failed",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::KeyDestroyed => "key_destroyed",
            ErrorKind::CrossTenant => "cross_tenant",
            ErrorKind::NotFound => "not_found",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Conflict => "conflict",
            ErrorKind::KeyProvider => "key_provider",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Store => "store",
            ErrorKind::Config => "config",
            ErrorKind::Integrity => "integrity",
            ErrorKind::RateLimited => "rate_limited",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error tenantguard returns: one variant per module, each with a stable [`ErrorKind`].
///
/// Messages never contain secret material.
#[non_exhaustive]
#[derive(Debug, Error)]
pub enum Error {
    /// Sealing, opening or parsing a sealed value failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The key provider failed.
    #[error(transparent)]
    Kms(#[from] KmsError),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A tenant id, context or permission check failed.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// An agent token was refused or could not be created.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The audit log refused an event or its chain is broken.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A password or session operation failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Computing a TOTP code failed.
    #[error(transparent)]
    Totp(#[from] TotpError),
    /// Opening a credential was refused by the reveal path.
    #[error(transparent)]
    Reveal(#[from] RevealError),
    /// Redaction or restore failed.
    #[error(transparent)]
    Redact(#[from] RedactError),
    /// An egress policy or request failed.
    #[error(transparent)]
    Egress(#[from] EgressError),
    /// SSO/MFA portal marks.
    #[error(transparent)]
    Portal(#[from] PortalError),
    /// The service keyring failed.
    #[error(transparent)]
    Keyring(#[from] crate::kms::KeyringError),
    /// A rate limit refused the action (`RateLimited`, with retry-after) or its shared
    /// backend was unreachable for a fail-closed class.
    #[error(transparent)]
    RateLimit(crate::ratelimit::RateLimitError),
}

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Crypto(e) => e.kind(),
            Error::Kms(e) => e.kind(),
            Error::Store(e) => e.kind(),
            Error::Tenant(e) => e.kind(),
            Error::Token(e) => e.kind(),
            Error::Audit(e) => e.kind(),
            Error::Auth(e) => e.kind(),
            Error::Totp(e) => e.kind(),
            Error::Reveal(e) => e.kind(),
            Error::Redact(e) => e.kind(),
            Error::Egress(e) => e.kind(),
            Error::Portal(e) => e.kind(),
            Error::Keyring(e) => e.kind(),
            Error::RateLimit(e) => e.kind(),
        }
    }

    /// How long to wait before retrying, for a `RateLimited` error.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::RateLimit(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// Result alias with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
