//! Errors: one error enum mapped from the core's `ErrorKind` (Kotlin
//! `TenantguardException.<Kind>`, message = the core's message, `reason` = the core's
//! `Reason` as `ErrorReason`), and the error types foreign hosts throw.

use tenantguard::kms::KmsError;
use tenantguard::{ErrorKind, Reason};

// Kotlin: `uniffi.toml` excludes this type from the generated Kotlin and
// `kotlin/TenantguardException.kt` declares `TenantguardException` by hand with the same wire
// format (uniffi's for this enum: the variant's index from 1, then `message`, then `reason`),
// because uniffi 0.32's generated Kotlin for an error with fields replaces the exception's
// message with `message=..., reason=...`. Keep the two in step: same variants in the same
// order (`ErrorKind::ALL`'s, then `Other`), same fields; a test below checks the layout.
/// Every error tenantguard raises, one variant per stable kind: the core's message, and the
/// core's reason where it gives one (every `Integrity` and `AuthenticationFailed` error,
/// every token and session error).
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum TenantguardError {
    /// An argument is out of range or badly formed.
    #[error("{message}")]
    InvalidInput {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// A sealed value could not be parsed.
    #[error("{message}")]
    Malformed {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// A sealed value uses an unknown format version.
    #[error("{message}")]
    UnsupportedVersion {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// An input exceeds a documented size limit.
    #[error("{message}")]
    TooLarge {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// An authentication was refused (wrong password; unknown, expired, revoked or reused
    /// token or session...); `reason` says which. Nothing stored is damaged.
    #[error("{message}")]
    AuthenticationFailed {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// The key id named by a value is not known for this tenant.
    #[error("{message}")]
    UnknownKey {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// The key was destroyed (crypto-shredded or retired).
    #[error("{message}")]
    KeyDestroyed {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// A tenant context was used on data of another tenant.
    #[error("{message}")]
    CrossTenant {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// The tenant or record does not exist.
    #[error("{message}")]
    NotFound {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// The principal's role does not allow this operation.
    #[error("{message}")]
    PermissionDenied {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// The operation conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// The key provider refused or failed.
    #[error("{message}")]
    KeyProvider {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// The key provider is unreachable or timed out; retrying may succeed.
    #[error("{message}")]
    Unavailable {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// The store (database) failed.
    #[error("{message}")]
    Store {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// Configuration is missing, unreadable or unsafe.
    #[error("{message}")]
    Config {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// Data failed an integrity check (a sealed value altered or opened under another
    /// tenant, key or context; a rejected wrapped key; a tampered authorization row; a broken
    /// audit chain); `reason` says which.
    #[error("{message}")]
    Integrity {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// Over a rate limit; the message ends `retry after <seconds> s`
    /// (`rateLimitedRetryAfter(message)` gives it as a `Duration`).
    #[error("{message}")]
    RateLimited {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
    /// A kind added to the core after this binding was built.
    #[error("{message}")]
    Other {
        /// The core's message.
        message: String,
        /// Why, where the core gives a reason.
        reason: Option<ErrorReason>,
    },
}

impl TenantguardError {
    /// The error of `kind` with `message` and no reason (errors the binding itself raises).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TenantguardError::with_reason(kind, message.into(), None)
    }

    /// The error of `kind`; `Other` for a kind added to the core after this binding.
    fn with_reason(kind: ErrorKind, message: String, reason: Option<ErrorReason>) -> Self {
        match kind {
            ErrorKind::InvalidInput => TenantguardError::InvalidInput { message, reason },
            ErrorKind::Malformed => TenantguardError::Malformed { message, reason },
            ErrorKind::UnsupportedVersion => {
                TenantguardError::UnsupportedVersion { message, reason }
            }
            ErrorKind::TooLarge => TenantguardError::TooLarge { message, reason },
            ErrorKind::AuthenticationFailed => {
                TenantguardError::AuthenticationFailed { message, reason }
            }
            ErrorKind::UnknownKey => TenantguardError::UnknownKey { message, reason },
            ErrorKind::KeyDestroyed => TenantguardError::KeyDestroyed { message, reason },
            ErrorKind::CrossTenant => TenantguardError::CrossTenant { message, reason },
            ErrorKind::NotFound => TenantguardError::NotFound { message, reason },
            ErrorKind::PermissionDenied => TenantguardError::PermissionDenied { message, reason },
            ErrorKind::Conflict => TenantguardError::Conflict { message, reason },
            ErrorKind::KeyProvider => TenantguardError::KeyProvider { message, reason },
            ErrorKind::Unavailable => TenantguardError::Unavailable { message, reason },
            ErrorKind::Store => TenantguardError::Store { message, reason },
            ErrorKind::Config => TenantguardError::Config { message, reason },
            ErrorKind::Integrity => TenantguardError::Integrity { message, reason },
            ErrorKind::RateLimited => TenantguardError::RateLimited { message, reason },
            _ => TenantguardError::Other { message, reason },
        }
    }

    /// The core's stable kind name (`ErrorKind::as_str`), or "other".
    pub fn kind_name(&self) -> &'static str {
        match self {
            TenantguardError::InvalidInput { .. } => ErrorKind::InvalidInput.as_str(),
            TenantguardError::Malformed { .. } => ErrorKind::Malformed.as_str(),
            TenantguardError::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion.as_str(),
            TenantguardError::TooLarge { .. } => ErrorKind::TooLarge.as_str(),
            TenantguardError::AuthenticationFailed { .. } => {
                ErrorKind::AuthenticationFailed.as_str()
            }
            TenantguardError::UnknownKey { .. } => ErrorKind::UnknownKey.as_str(),
            TenantguardError::KeyDestroyed { .. } => ErrorKind::KeyDestroyed.as_str(),
            TenantguardError::CrossTenant { .. } => ErrorKind::CrossTenant.as_str(),
            TenantguardError::NotFound { .. } => ErrorKind::NotFound.as_str(),
            TenantguardError::PermissionDenied { .. } => ErrorKind::PermissionDenied.as_str(),
            TenantguardError::Conflict { .. } => ErrorKind::Conflict.as_str(),
            TenantguardError::KeyProvider { .. } => ErrorKind::KeyProvider.as_str(),
            TenantguardError::Unavailable { .. } => ErrorKind::Unavailable.as_str(),
            TenantguardError::Store { .. } => ErrorKind::Store.as_str(),
            TenantguardError::Config { .. } => ErrorKind::Config.as_str(),
            TenantguardError::Integrity { .. } => ErrorKind::Integrity.as_str(),
            TenantguardError::RateLimited { .. } => ErrorKind::RateLimited.as_str(),
            TenantguardError::Other { .. } => "other",
        }
    }

    /// The core's reason, if it gave one.
    pub fn reason(&self) -> Option<ErrorReason> {
        match self {
            TenantguardError::InvalidInput { reason, .. }
            | TenantguardError::Malformed { reason, .. }
            | TenantguardError::UnsupportedVersion { reason, .. }
            | TenantguardError::TooLarge { reason, .. }
            | TenantguardError::AuthenticationFailed { reason, .. }
            | TenantguardError::UnknownKey { reason, .. }
            | TenantguardError::KeyDestroyed { reason, .. }
            | TenantguardError::CrossTenant { reason, .. }
            | TenantguardError::NotFound { reason, .. }
            | TenantguardError::PermissionDenied { reason, .. }
            | TenantguardError::Conflict { reason, .. }
            | TenantguardError::KeyProvider { reason, .. }
            | TenantguardError::Unavailable { reason, .. }
            | TenantguardError::Store { reason, .. }
            | TenantguardError::Config { reason, .. }
            | TenantguardError::Integrity { reason, .. }
            | TenantguardError::RateLimited { reason, .. }
            | TenantguardError::Other { reason, .. } => *reason,
        }
    }
}

/// Why an error happened, where its kind has several causes: the core's `Reason`, one case
/// per reason (same names, `errorReasonName` gives the core's snake_case name). Set on every
/// `Integrity` error (an integrity failure: `Tampered`, `WrongKey`, `WrappedKeyRejected`,
/// `TamperedRow`, `BrokenChain`), every `AuthenticationFailed` error (a refusal:
/// `WrongPassword`, `Expired`, `Revoked`, `Unknown`, `RefreshReuse`, `MembershipEnded`...)
/// and every token and session error.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorReason {
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
    /// A reason added to the core after this binding was built.
    Other,
}

impl From<Reason> for ErrorReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Tampered => ErrorReason::Tampered,
            Reason::WrongKey => ErrorReason::WrongKey,
            Reason::WrappedKeyRejected => ErrorReason::WrappedKeyRejected,
            Reason::TamperedRow => ErrorReason::TamperedRow,
            Reason::BrokenChain => ErrorReason::BrokenChain,
            Reason::WrongPassword => ErrorReason::WrongPassword,
            Reason::BadSignature => ErrorReason::BadSignature,
            Reason::Expired => ErrorReason::Expired,
            Reason::Revoked => ErrorReason::Revoked,
            Reason::Unknown => ErrorReason::Unknown,
            Reason::RefreshReuse => ErrorReason::RefreshReuse,
            Reason::MembershipEnded => ErrorReason::MembershipEnded,
            Reason::AgentRevoked => ErrorReason::AgentRevoked,
            Reason::Malformed => ErrorReason::Malformed,
            Reason::BadChecksum => ErrorReason::BadChecksum,
            Reason::MalformedHash => ErrorReason::MalformedHash,
            Reason::OutOfScope => ErrorReason::OutOfScope,
            Reason::Widening => ErrorReason::Widening,
            Reason::InvalidInput => ErrorReason::InvalidInput,
            Reason::InvalidScope => ErrorReason::InvalidScope,
            Reason::WeakParams => ErrorReason::WeakParams,
            Reason::Rng => ErrorReason::Rng,
            _ => ErrorReason::Other,
        }
    }
}

impl ErrorReason {
    /// The core's reason, `None` for `Other`.
    pub fn core(self) -> Option<Reason> {
        match self {
            ErrorReason::Tampered => Some(Reason::Tampered),
            ErrorReason::WrongKey => Some(Reason::WrongKey),
            ErrorReason::WrappedKeyRejected => Some(Reason::WrappedKeyRejected),
            ErrorReason::TamperedRow => Some(Reason::TamperedRow),
            ErrorReason::BrokenChain => Some(Reason::BrokenChain),
            ErrorReason::WrongPassword => Some(Reason::WrongPassword),
            ErrorReason::BadSignature => Some(Reason::BadSignature),
            ErrorReason::Expired => Some(Reason::Expired),
            ErrorReason::Revoked => Some(Reason::Revoked),
            ErrorReason::Unknown => Some(Reason::Unknown),
            ErrorReason::RefreshReuse => Some(Reason::RefreshReuse),
            ErrorReason::MembershipEnded => Some(Reason::MembershipEnded),
            ErrorReason::AgentRevoked => Some(Reason::AgentRevoked),
            ErrorReason::Malformed => Some(Reason::Malformed),
            ErrorReason::BadChecksum => Some(Reason::BadChecksum),
            ErrorReason::MalformedHash => Some(Reason::MalformedHash),
            ErrorReason::OutOfScope => Some(Reason::OutOfScope),
            ErrorReason::Widening => Some(Reason::Widening),
            ErrorReason::InvalidInput => Some(Reason::InvalidInput),
            ErrorReason::InvalidScope => Some(Reason::InvalidScope),
            ErrorReason::WeakParams => Some(Reason::WeakParams),
            ErrorReason::Rng => Some(Reason::Rng),
            ErrorReason::Other => None,
        }
    }
}

/// The core's stable name of a reason (`Reason::as_str`, the `reason` Python exceptions
/// carry), `null` for `Other`.
#[uniffi::export]
pub fn error_reason_name(reason: ErrorReason) -> Option<String> {
    reason.core().map(|r| r.as_str().to_owned())
}

macro_rules! from_core {
    ($($t:ty),*) => {$(
        impl From<$t> for TenantguardError {
            fn from(e: $t) -> Self {
                TenantguardError::from(tenantguard::Error::from(e))
            }
        }
    )*};
}
from_core!(
    tenantguard::crypto::CryptoError,
    KmsError,
    tenantguard::store::StoreError,
    tenantguard::tenant::TenantError,
    tenantguard::tokens::TokenError,
    tenantguard::audit::AuditError,
    tenantguard::auth::AuthError,
    tenantguard::totp::TotpError,
    tenantguard::reveal::RevealError,
    tenantguard::redact::RedactError,
    tenantguard::egress::EgressError
);

impl From<tenantguard::Error> for TenantguardError {
    fn from(e: tenantguard::Error) -> Self {
        let reason = e.reason().map(ErrorReason::from);
        TenantguardError::with_reason(e.kind(), e.to_string(), reason)
    }
}

/// What a foreign (Kotlin/Swift) key provider throws; mapped to the core's `KmsError`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ProviderError {
    /// The KMS is unreachable or overloaded; retrying may succeed.
    #[error("{reason}")]
    Unavailable {
        /// Why (no key material).
        reason: String,
    },
    /// The provider's configuration is wrong.
    #[error("{reason}")]
    Config {
        /// Why (no key material).
        reason: String,
    },
    /// The wrapped key does not match its context, or was altered.
    #[error("wrong context")]
    WrongContext,
    /// Any other failure (access denied, unknown key...).
    #[error("{reason}")]
    Failed {
        /// Why (no key material).
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ProviderError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ProviderError::Failed { reason: e.reason }
    }
}

impl From<ProviderError> for KmsError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Unavailable { reason } => KmsError::Unavailable(reason),
            ProviderError::Config { reason } => KmsError::Config(reason),
            ProviderError::WrongContext => KmsError::WrongContext,
            ProviderError::Failed { reason } => KmsError::Provider(reason),
        }
    }
}

/// What a foreign (Kotlin/Swift) directory or open observer throws.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum HostError {
    /// The host could not answer (database down, audit log unavailable...).
    #[error("{reason}")]
    Failed {
        /// Why (no secrets).
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for HostError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HostError::Failed { reason: e.reason }
    }
}

/// Every error kind name (the core's `ErrorKind`), from the core's table.
#[uniffi::export]
pub fn error_kinds() -> Vec<String> {
    ErrorKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect()
}

/// Every error reason name (the core's `Reason`), from the core's table.
#[uniffi::export]
pub fn error_reasons() -> Vec<String> {
    Reason::ALL.iter().map(|r| r.as_str().to_owned()).collect()
}

/// Every role name, least privileged first, from the core's table.
#[uniffi::export]
pub fn role_names() -> Vec<String> {
    tenantguard::Role::ALL
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect()
}

/// Every audit action name, from the core's table.
#[uniffi::export]
pub fn audit_action_names() -> Vec<String> {
    tenantguard::audit::AuditAction::ALL
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantguard::auth::AuthError;
    use tenantguard::crypto::CryptoError;

    /// Adding a reason to the core without its `ErrorReason` case fails here.
    #[test]
    fn every_core_reason_has_its_own_case() {
        for r in Reason::ALL {
            let mirrored = ErrorReason::from(r);
            assert_ne!(
                mirrored,
                ErrorReason::Other,
                "core reason {r} has no ErrorReason case"
            );
            assert_eq!(mirrored.core(), Some(r));
            assert_eq!(error_reason_name(mirrored).as_deref(), Some(r.as_str()));
        }
        assert_eq!(ErrorReason::Other.core(), None);
        assert_eq!(error_reason_name(ErrorReason::Other), None);
    }

    fn lowered(e: TenantguardError) -> Vec<u8> {
        let mut buf = Vec::new();
        <TenantguardError as uniffi::Lower<crate::UniFfiTag>>::write(e, &mut buf);
        buf
    }

    /// `kotlin/TenantguardException.kt` reads this layout: the variant's index (the kind's
    /// place in `ErrorKind::ALL`, from 1; `Other` last), the message, then the reason.
    #[test]
    fn the_wire_format_is_the_one_the_kotlin_exception_reads() {
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            let e = TenantguardError::new(kind, "m");
            assert_eq!(e.kind_name(), kind.as_str());
            let index = i32::try_from(i + 1).expect("few kinds");
            let mut want = index.to_be_bytes().to_vec();
            want.extend(1i32.to_be_bytes());
            want.push(b'm');
            want.push(0); // no reason
            assert_eq!(lowered(e), want, "{kind}");
        }
        let other = TenantguardError::Other {
            message: String::new(),
            reason: Some(ErrorReason::Tampered),
        };
        let index = i32::try_from(ErrorKind::ALL.len() + 1).expect("few kinds");
        let mut want = index.to_be_bytes().to_vec();
        want.extend(0i32.to_be_bytes());
        want.push(1);
        want.extend(1i32.to_be_bytes()); // Tampered, the first case
        assert_eq!(lowered(other), want);
    }

    #[test]
    fn core_errors_keep_their_message_and_carry_their_reason() {
        let e = TenantguardError::from(tenantguard::Error::from(AuthError::WrongPassword));
        assert!(
            matches!(&e, TenantguardError::AuthenticationFailed { message, reason: Some(ErrorReason::WrongPassword) } if message == "wrong password"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "wrong password");
        let e = TenantguardError::from(tenantguard::Error::from(CryptoError::AuthenticationFailed));
        assert!(
            matches!(
                &e,
                TenantguardError::Integrity {
                    reason: Some(ErrorReason::Tampered),
                    ..
                }
            ),
            "{e:?}"
        );
        let core = tenantguard::Error::from(AuthError::InvalidInput("x".into()));
        let e = TenantguardError::from(tenantguard::Error::from(AuthError::InvalidInput(
            "x".into(),
        )));
        assert_eq!(e.to_string(), core.to_string());
        assert_eq!(e.reason(), Some(ErrorReason::InvalidInput));
        let e = TenantguardError::new(ErrorKind::NotFound, "record not found");
        assert_eq!(e.reason(), None);
    }
}
