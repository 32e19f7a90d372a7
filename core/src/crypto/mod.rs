//! Keys, HKDF record-key derivation, AES-256-GCM sealing and the sealed-value format.
//!
//! See `docs/FORMAT.md` for the byte layouts. New values use format v2 (`tg2`): an
//! XAES-256-GCM record key from the key version's cached state and a fresh 192-bit nonce,
//! and an HMAC-SHA256 commitment over the header, the tenant and the typed context,
//! checked before decryption. Format v1 (`tg1`, HKDF-SHA256 record keys) keeps opening.

mod aead;
mod format;
pub(crate) mod keys;
pub(crate) mod rng;
pub(crate) mod seal;
pub(crate) mod v2;

pub use aead::BACKEND;
pub use format::{
    SealedValue, BINARY_OVERHEAD, COMMITMENT_LEN, SALT_LEN, TAG_LEN, TEXT_PREFIX, TEXT_PREFIX_V2,
};
pub use keys::{DataKey, KeyId};
pub use seal::{SealFormat, MAX_CONTEXT_LEN, MAX_PLAINTEXT_LEN};
pub use v2::{BINARY_OVERHEAD_V2, COMMITMENT_V2_LEN, NONCE_LEN};

// The primitives that work on a raw key are public only through `crate::hazmat`.
pub(crate) use keys::TenantKey;
pub(crate) use seal::{open, open_owned, seal};
#[cfg(feature = "egress")]
pub(crate) use seal::{open_with_key, seal_with_key};
pub(crate) use v2::Context;

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
    /// The value did not authenticate: tampered, or opened with the wrong tenant or
    /// context (kind `Integrity`; the variant keeps the AEAD term).
    #[error("authentication failed: the value was altered or is opened with the wrong tenant or context")]
    AuthenticationFailed,
    /// A key id is out of range (key ids start at 1).
    #[error("invalid key id: key ids are integers from 1 to 4294967295")]
    InvalidKeyId,
    /// The operating system's random generator failed.
    #[error("the operating system's random generator failed")]
    Rng,
    /// The value is in format v1, which is switched off for this tenant or guard.
    #[error("format v1 values are refused for this tenant: re-seal it in format v2")]
    V1Refused,
}

impl CryptoError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CryptoError::Malformed(_) => ErrorKind::Malformed,
            CryptoError::UnsupportedVersion(_) => ErrorKind::UnsupportedVersion,
            CryptoError::TooLarge { .. } => ErrorKind::TooLarge,
            CryptoError::WrongKey(_) | CryptoError::AuthenticationFailed => ErrorKind::Integrity,
            CryptoError::InvalidKeyId => ErrorKind::InvalidInput,
            CryptoError::Rng => ErrorKind::KeyProvider,
            CryptoError::V1Refused => ErrorKind::UnsupportedVersion,
        }
    }

    /// Why, for an integrity failure (see [`crate::Error::reason`]).
    pub fn reason(&self) -> Option<crate::Reason> {
        match self {
            CryptoError::WrongKey(_) => Some(crate::Reason::WrongKey),
            CryptoError::AuthenticationFailed => Some(crate::Reason::Tampered),
            _ => None,
        }
    }
}

/// Says whether upgrading can help: only a version above the newest this build knows.
fn unsupported_version(v: u8) -> String {
    if v > v2::VERSION_2 {
        format!(
            "unsupported sealed-value version {v}: it is newer than this tenantguard \
             (which reads versions {} and {}); upgrade tenantguard to open it",
            format::VERSION_1,
            v2::VERSION_2
        )
    } else {
        format!(
            "unsupported sealed-value version {v}: no tenantguard release wrote it; \
             the value is corrupted or not a tenantguard sealed value"
        )
    }
}
