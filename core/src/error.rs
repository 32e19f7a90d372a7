//! The crate-wide error type and its stable, matchable kind.

use thiserror::Error;

use crate::audit::AuditError;
#[cfg(feature = "auth")]
use crate::auth::AuthError;
use crate::crypto::CryptoError;
#[cfg(feature = "egress")]
use crate::egress::EgressError;
use crate::kms::KmsError;
use crate::portal::PortalError;
#[cfg(feature = "egress")]
use crate::redact::RedactError;
#[cfg(feature = "totp")]
use crate::reveal::RevealError;
use crate::storage::StoreError;
use crate::tenant::TenantError;
use crate::tokens::TokenError;
#[cfg(feature = "totp")]
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
    /// An authentication was refused: a wrong password, or a token or session that is
    /// unknown, expired, revoked, badly signed or reused, or an agent whose token was
    /// revoked. The caller presented bad credentials; nothing stored is damaged.
    /// [`Error::reason`] says which.
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
    /// Data failed an integrity check: a sealed value that does not authenticate (altered,
    /// or opened under another tenant, key or context), a wrapped key the key provider
    /// rejects for its context, an authorization row (token, session, membership) edited
    /// or planted outside the SDK, or a broken audit chain. Not an authentication refusal.
    /// [`Error::reason`] says which.
    Integrity,
    /// Over a rate limit: retry after the error's `retry_after` (see
    /// [`crate::ratelimit::RateLimitError::RateLimited`]).
    RateLimited,
}

impl ErrorKind {
    /// Every kind, in declaration order (bindings check at start-up that they map each one).
    pub const ALL: [ErrorKind; 17] = [
        ErrorKind::InvalidInput,
        ErrorKind::Malformed,
        ErrorKind::UnsupportedVersion,
        ErrorKind::TooLarge,
        ErrorKind::AuthenticationFailed,
        ErrorKind::UnknownKey,
        ErrorKind::KeyDestroyed,
        ErrorKind::CrossTenant,
        ErrorKind::NotFound,
        ErrorKind::PermissionDenied,
        ErrorKind::Conflict,
        ErrorKind::KeyProvider,
        ErrorKind::Unavailable,
        ErrorKind::Store,
        ErrorKind::Config,
        ErrorKind::Integrity,
        ErrorKind::RateLimited,
    ];

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

impl std::str::FromStr for ErrorKind {
    type Err = UnknownName;

    /// Parses a name produced by [`ErrorKind::as_str`].
    fn from_str(s: &str) -> std::result::Result<Self, UnknownName> {
        ErrorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(UnknownName("error kind"))
    }
}

/// A name that is not one of the stable names of its table (the field says which table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("unknown {0} name")]
pub struct UnknownName(pub &'static str);

/// Why an error happened, where one [`ErrorKind`] has several causes a caller may want to
/// tell apart: every `AuthenticationFailed` and `Integrity` error has one, and so do all
/// token and session errors. Names are stable (bindings expose them as `reason`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    // Integrity failures (kind `Integrity`).
    /// A sealed value did not authenticate: altered, or opened under another tenant or
    /// context (the two cannot be told apart, by design).
    Tampered,
    /// A sealed value's key commitment names another key (another tenant or key version).
    WrongKey,
    /// The key provider rejected a wrapped key for its context (swapped or altered).
    WrappedKeyRejected,
    /// A stored authorization row (token, session, membership, key state) fails its MAC.
    TamperedRow,
    /// The audit chain is broken (an entry altered, removed, reordered or inserted).
    BrokenChain,
    // Authentication refusals (kind `AuthenticationFailed`).
    /// The password does not match.
    WrongPassword,
    /// A session access token's signature does not verify.
    BadSignature,
    /// The token or session has expired.
    Expired,
    /// The token or session was revoked (or its agent killed).
    Revoked,
    /// No such token or session.
    Unknown,
    /// A refresh token was used twice; the session was revoked.
    RefreshReuse,
    /// The session's user is no longer a member of its tenant.
    MembershipEnded,
    /// An agent context whose token was revoked or expired since it was made.
    AgentRevoked,
    // Other token and session errors (other kinds).
    /// The token string is not shaped like a token (kind `Malformed`).
    Malformed,
    /// The token's checksum does not match (kind `Malformed`).
    BadChecksum,
    /// The stored password hash is not a valid PHC string (kind `Malformed`).
    MalformedHash,
    /// The token does not allow this action on this resource (kind `PermissionDenied`).
    OutOfScope,
    /// An agent asked for a token wider than its own (kind `PermissionDenied`).
    Widening,
    /// An argument is out of range (kind `InvalidInput`).
    InvalidInput,
    /// A scope pattern breaks the grammar (kind `InvalidInput`).
    InvalidScope,
    /// Password-hashing parameters are below the floor (kind `InvalidInput`).
    WeakParams,
    /// The operating system's random generator failed (kind `KeyProvider`).
    Rng,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 22] = [
        Reason::Tampered,
        Reason::WrongKey,
        Reason::WrappedKeyRejected,
        Reason::TamperedRow,
        Reason::BrokenChain,
        Reason::WrongPassword,
        Reason::BadSignature,
        Reason::Expired,
        Reason::Revoked,
        Reason::Unknown,
        Reason::RefreshReuse,
        Reason::MembershipEnded,
        Reason::AgentRevoked,
        Reason::Malformed,
        Reason::BadChecksum,
        Reason::MalformedHash,
        Reason::OutOfScope,
        Reason::Widening,
        Reason::InvalidInput,
        Reason::InvalidScope,
        Reason::WeakParams,
        Reason::Rng,
    ];

    /// A short, stable, snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Tampered => "tampered",
            Reason::WrongKey => "wrong_key",
            Reason::WrappedKeyRejected => "wrapped_key_rejected",
            Reason::TamperedRow => "tampered_row",
            Reason::BrokenChain => "broken_chain",
            Reason::WrongPassword => "wrong_password",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::Revoked => "revoked",
            Reason::Unknown => "unknown",
            Reason::RefreshReuse => "refresh_reuse",
            Reason::MembershipEnded => "membership_ended",
            Reason::AgentRevoked => "agent_revoked",
            Reason::Malformed => "malformed",
            Reason::BadChecksum => "bad_checksum",
            Reason::MalformedHash => "malformed_hash",
            Reason::OutOfScope => "out_of_scope",
            Reason::Widening => "widening",
            Reason::InvalidInput => "invalid_input",
            Reason::InvalidScope => "invalid_scope",
            Reason::WeakParams => "weak_params",
            Reason::Rng => "rng",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Reason {
    type Err = UnknownName;

    /// Parses a name produced by [`Reason::as_str`].
    fn from_str(s: &str) -> std::result::Result<Self, UnknownName> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownName("error reason"))
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
    #[cfg(feature = "auth")]
    /// A password or session operation failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[cfg(feature = "totp")]
    /// Computing a TOTP code failed.
    #[error(transparent)]
    Totp(#[from] TotpError),
    #[cfg(feature = "totp")]
    /// Opening a credential was refused by the reveal path.
    #[error(transparent)]
    Reveal(#[from] RevealError),
    #[cfg(feature = "egress")]
    /// Redaction or restore failed.
    #[error(transparent)]
    Redact(#[from] RedactError),
    #[cfg(feature = "egress")]
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
            #[cfg(feature = "auth")]
            Error::Auth(e) => e.kind(),
            #[cfg(feature = "totp")]
            Error::Totp(e) => e.kind(),
            #[cfg(feature = "totp")]
            Error::Reveal(e) => e.kind(),
            #[cfg(feature = "egress")]
            Error::Redact(e) => e.kind(),
            #[cfg(feature = "egress")]
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

    /// Why, where the kind has several causes (see [`Reason`]): always set for the kinds
    /// `AuthenticationFailed` and `Integrity`, and for every token and session error.
    pub fn reason(&self) -> Option<Reason> {
        use crate::kms::KeyringError;
        match self {
            Error::Crypto(e) => e.reason(),
            Error::Kms(e) => e.reason(),
            Error::Store(e) => e.reason(),
            Error::Tenant(e) => e.reason(),
            Error::Token(e) => Some(e.reason()),
            Error::Audit(e) => e.reason(),
            #[cfg(feature = "auth")]
            Error::Auth(e) => Some(e.reason()),
            #[cfg(feature = "egress")]
            Error::Redact(crate::redact::RedactError::Crypto(e)) => e.reason(),
            Error::Keyring(KeyringError::Kms(e)) => e.reason(),
            Error::Keyring(KeyringError::Store(e)) => e.reason(),
            _ => None,
        }
    }
}

/// Result alias with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "auth")]
    use crate::auth::AuthError;
    use crate::crypto::{CryptoError, KeyId};
    use crate::kms::KmsError;
    use crate::tokens::TokenError;

    #[test]
    fn names_are_unique_and_round_trip() {
        let kinds: std::collections::HashSet<_> =
            ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(kinds.len(), ErrorKind::ALL.len());
        for k in ErrorKind::ALL {
            assert_eq!(k.as_str().parse::<ErrorKind>(), Ok(k));
        }
        let reasons: std::collections::HashSet<_> =
            Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(reasons.len(), Reason::ALL.len());
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>(), Ok(r));
        }
        assert!("authenticationfailed".parse::<ErrorKind>().is_err());
        assert!("".parse::<Reason>().is_err());
    }

    /// Integrity failures and authentication refusals never share a kind, and each
    /// carries the reason a binding shows.
    #[test]
    fn integrity_and_refusal_are_distinct_kinds_with_reasons() {
        let integrity: Vec<(Error, Reason)> = vec![
            (CryptoError::AuthenticationFailed.into(), Reason::Tampered),
            (CryptoError::WrongKey(KeyId::FIRST).into(), Reason::WrongKey),
            (KmsError::WrongContext.into(), Reason::WrappedKeyRejected),
            (
                crate::storage::StoreError::Integrity("row".into()).into(),
                Reason::TamperedRow,
            ),
            (
                crate::audit::AuditError::Broken {
                    line: 3,
                    seq: Some(2),
                    problem: crate::audit::VerifyProblem::TenantChanged,
                }
                .into(),
                Reason::BrokenChain,
            ),
        ];
        for (e, r) in integrity {
            assert_eq!(e.kind(), ErrorKind::Integrity, "{e:?}");
            assert_eq!(e.reason(), Some(r), "{e:?}");
        }
        #[cfg_attr(not(feature = "auth"), allow(unused_mut))]
        let mut refused: Vec<(Error, Reason)> = vec![
            (TokenError::Unknown.into(), Reason::Unknown),
            (TokenError::Expired.into(), Reason::Expired),
            (TokenError::Revoked.into(), Reason::Revoked),
            (
                crate::tenant::TenantError::AgentRevoked.into(),
                Reason::AgentRevoked,
            ),
        ];
        #[cfg(feature = "auth")]
        refused.extend([
            (AuthError::WrongPassword.into(), Reason::WrongPassword),
            (AuthError::Expired.into(), Reason::Expired),
            (AuthError::Revoked.into(), Reason::Revoked),
            (AuthError::BadSignature.into(), Reason::BadSignature),
            (AuthError::RefreshReuse.into(), Reason::RefreshReuse),
            (AuthError::MembershipEnded.into(), Reason::MembershipEnded),
        ]);
        for (e, r) in refused {
            assert_eq!(e.kind(), ErrorKind::AuthenticationFailed, "{e:?}");
            assert_eq!(e.reason(), Some(r), "{e:?}");
        }
        assert_eq!(
            Error::from(KmsError::Unavailable("x".into())).reason(),
            None
        );
    }
}
