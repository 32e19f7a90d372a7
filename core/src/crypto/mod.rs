//! Keys, HKDF record-key derivation, AES-256-GCM sealing and the sealed-value format.
//!
//! See `docs/FORMAT.md` for the byte layout. In short, a record is sealed under a key
//! derived from the tenant's data key and a fresh random salt; the derivation also yields
//! a commitment that makes the value key-committing; the AES-GCM associated data binds
//! the tenant id, the key id and the caller's context.

mod format;
mod keys;
mod rng;
mod seal;

pub use format::{SealedValue, BINARY_OVERHEAD, COMMITMENT_LEN, SALT_LEN, TAG_LEN, TEXT_PREFIX};
pub use keys::{DataKey, KeyId, TenantKey};
pub use seal::{open_with_key, seal_with_key, MAX_CONTEXT_LEN, MAX_PLAINTEXT_LEN};

#[doc(hidden)]
pub use seal::seal_with_salt;

use thiserror::Error;

use crate::error::ErrorKind;

/// Errors from sealing, opening and parsing sealed values.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The value is not a well-formed sealed value.
    #[error("malformed sealed value: {0}")]
    Malformed(&'static str),
    /// The value's format version is not supported by this build.
    #[error("{}", unsupported_version(*.0))]
    UnsupportedVersion(u8),
    /// An input is larger than its documented limit.
    #[error("{what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// Which input.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value was sealed under another key (another tenant or key version).
    #[error("the value was not sealed under this tenant's key {0}: it belongs to another tenant or was altered")]
    WrongKey(KeyId),
    /// Authentication failed: tampered, or opened with the wrong tenant or context.
    #[error("authentication failed: the value was altered or is opened with the wrong tenant or context")]
    AuthenticationFailed,
    /// A key id is out of range (key ids start at 1).
    #[error("invalid key id: key ids are integers from 1 to 4294967295")]
    InvalidKeyId,
    /// The operating system's random generator failed.
    #[error("the operating system's random generator failed")]
    Rng,
}

impl CryptoError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CryptoError::Malformed(_) => ErrorKind::Malformed,
            CryptoError::UnsupportedVersion(_) => ErrorKind::UnsupportedVersion,
            CryptoError::TooLarge { .. } => ErrorKind::TooLarge,
            CryptoError::WrongKey(_) | CryptoError::AuthenticationFailed => {
                ErrorKind::AuthenticationFailed
            }
            CryptoError::InvalidKeyId => ErrorKind::InvalidInput,
            CryptoError::Rng => ErrorKind::KeyProvider,
        }
    }
}

/// Says whether upgrading can help: only a version above the newest this build knows.
fn unsupported_version(v: u8) -> String {
    if v > format::VERSION_1 {
        format!(
            "unsupported sealed-value version {v}: it is newer than this tenantguard \
             (which reads version {}); upgrade tenantguard to open it",
            format::VERSION_1
        )
    } else {
        format!(
            "unsupported sealed-value version {v}: no tenantguard release wrote it; \
             the value is corrupted or not a tenantguard sealed value"
        )
    }
}
