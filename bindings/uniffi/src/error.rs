//! Errors: one flat error enum mapped from the core's `ErrorKind` (Kotlin
//! `TenantguardException.<Kind>`, message = the core's message), and the error type
//! foreign key providers throw.

use tenantguard::kms::KmsError;
use tenantguard::ErrorKind;

/// Every error tenantguard raises, one variant per stable kind; the message is the core's.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
#[non_exhaustive]
pub enum TenantguardError {
    /// An argument is out of range or badly formed.
    #[error("{0}")]
    InvalidInput(String),
    /// A sealed value could not be parsed.
    #[error("{0}")]
    Malformed(String),
    /// A sealed value uses an unknown format version.
    #[error("{0}")]
    UnsupportedVersion(String),
    /// An input exceeds a documented size limit.
    #[error("{0}")]
    TooLarge(String),
    /// Tampered, or opened with the wrong tenant, key or context.
    #[error("{0}")]
    AuthenticationFailed(String),
    /// The key id named by a value is not known for this tenant.
    #[error("{0}")]
    UnknownKey(String),
    /// The key was destroyed (crypto-shredded or retired).
    #[error("{0}")]
    KeyDestroyed(String),
    /// A tenant context was used on data of another tenant.
    #[error("{0}")]
    CrossTenant(String),
    /// The tenant or record does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The principal's role does not allow this operation.
    #[error("{0}")]
    PermissionDenied(String),
    /// The operation conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The key provider refused or failed.
    #[error("{0}")]
    KeyProvider(String),
    /// The key provider is unreachable or timed out; retrying may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// The store (database) failed.
    #[error("{0}")]
    Store(String),
    /// Configuration is missing, unreadable or unsafe.
    #[error("{0}")]
    Config(String),
    /// Stored data failed an integrity check (an authorization row edited or planted
    /// outside the SDK).
    #[error("{0}")]
    Integrity(String),
    /// Over a rate limit; the message ends `retry after <seconds> s`
    /// (`rateLimitedRetryAfter(message)` gives it as a `Duration`).
    #[error("{0}")]
    RateLimited(String),
    /// A kind added to the core after this binding was built.
    #[error("{0}")]
    Other(String),
}

impl TenantguardError {
    /// The core's stable kind name (`ErrorKind::as_str`), or "other".
    pub fn kind_name(&self) -> &'static str {
        match self {
            TenantguardError::InvalidInput(_) => ErrorKind::InvalidInput.as_str(),
            TenantguardError::Malformed(_) => ErrorKind::Malformed.as_str(),
            TenantguardError::UnsupportedVersion(_) => ErrorKind::UnsupportedVersion.as_str(),
            TenantguardError::TooLarge(_) => ErrorKind::TooLarge.as_str(),
            TenantguardError::AuthenticationFailed(_) => ErrorKind::AuthenticationFailed.as_str(),
            TenantguardError::UnknownKey(_) => ErrorKind::UnknownKey.as_str(),
            TenantguardError::KeyDestroyed(_) => ErrorKind::KeyDestroyed.as_str(),
            TenantguardError::CrossTenant(_) => ErrorKind::CrossTenant.as_str(),
            TenantguardError::NotFound(_) => ErrorKind::NotFound.as_str(),
            TenantguardError::PermissionDenied(_) => ErrorKind::PermissionDenied.as_str(),
            TenantguardError::Conflict(_) => ErrorKind::Conflict.as_str(),
            TenantguardError::KeyProvider(_) => ErrorKind::KeyProvider.as_str(),
            TenantguardError::Unavailable(_) => ErrorKind::Unavailable.as_str(),
            TenantguardError::Store(_) => ErrorKind::Store.as_str(),
            TenantguardError::Config(_) => ErrorKind::Config.as_str(),
            TenantguardError::Integrity(_) => ErrorKind::Integrity.as_str(),
            TenantguardError::RateLimited(_) => ErrorKind::RateLimited.as_str(),
            TenantguardError::Other(_) => "other",
        }
    }
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
        let msg = e.to_string();
        match e.kind() {
            ErrorKind::InvalidInput => TenantguardError::InvalidInput(msg),
            ErrorKind::Malformed => TenantguardError::Malformed(msg),
            ErrorKind::UnsupportedVersion => TenantguardError::UnsupportedVersion(msg),
            ErrorKind::TooLarge => TenantguardError::TooLarge(msg),
            ErrorKind::AuthenticationFailed => TenantguardError::AuthenticationFailed(msg),
            ErrorKind::UnknownKey => TenantguardError::UnknownKey(msg),
            ErrorKind::KeyDestroyed => TenantguardError::KeyDestroyed(msg),
            ErrorKind::CrossTenant => TenantguardError::CrossTenant(msg),
            ErrorKind::NotFound => TenantguardError::NotFound(msg),
            ErrorKind::PermissionDenied => TenantguardError::PermissionDenied(msg),
            ErrorKind::Conflict => TenantguardError::Conflict(msg),
            ErrorKind::KeyProvider => TenantguardError::KeyProvider(msg),
            ErrorKind::Unavailable => TenantguardError::Unavailable(msg),
            ErrorKind::Store => TenantguardError::Store(msg),
            ErrorKind::Config => TenantguardError::Config(msg),
            ErrorKind::Integrity => TenantguardError::Integrity(msg),
            ErrorKind::RateLimited => TenantguardError::RateLimited(msg),
            _ => TenantguardError::Other(msg),
        }
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
    tenantguard::Reason::ALL
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect()
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
