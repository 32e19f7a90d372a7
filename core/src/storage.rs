//! What every store trait shares: the store error, the limits on labels and pages, and
//! their checks. Part of the small core: it names no area, so each area's store trait
//! (e.g. [`TokenStore`](crate::tokens::TokenStore)) can use it without importing another
//! area or the backends in [`store`](crate::store).

use thiserror::Error;

use crate::error::ErrorKind;

/// Longest data-class or subject label, in bytes.
pub const MAX_LABEL_LEN: usize = 128;
/// Largest page a listing call returns.
pub const MAX_PAGE: usize = 10_000;

/// Errors from stores.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The tenant does not exist.
    #[error("tenant not found: create it first")]
    TenantNotFound,
    /// The record does not exist.
    #[error("record not found")]
    RecordNotFound,
    /// The id belongs to another tenant.
    #[error("cross-tenant access refused: the record belongs to another tenant")]
    CrossTenant,
    /// The write conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// An argument is out of range.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The backend failed (I/O, database error). The message holds no record data.
    #[error("store backend error: {0}")]
    Backend(String),
    /// The backend's own access control refused (e.g. a PostgreSQL row-level security
    /// policy: the user's role in the tenant does not allow the write).
    #[error("permission denied by the store: {0}")]
    PermissionDenied(String),
    /// A stored authorization row failed its integrity check (a missing or invalid MAC
    /// under the service keyring's `row-mac` key).
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// The guard was built without the store this operation needs (the message names the
    /// `GuardBuilder` method that sets it).
    #[error("this guard has no {0}: set it with GuardBuilder::{0} or give GuardBuilder::store a complete backend")]
    NotConfigured(String),
    /// The write was sealed under a key version that is destroyed (retired by another
    /// process, or the tenant shredded) while the writer still held it: what it sealed
    /// could never be opened, so nothing was written.
    #[error("key {0} is destroyed: the value sealed under it was not stored")]
    KeyDestroyed(crate::crypto::KeyId),
}

impl StoreError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::TenantNotFound | StoreError::RecordNotFound => ErrorKind::NotFound,
            StoreError::CrossTenant => ErrorKind::CrossTenant,
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::InvalidInput(_) => ErrorKind::InvalidInput,
            StoreError::Backend(_) => ErrorKind::Store,
            StoreError::PermissionDenied(_) => ErrorKind::PermissionDenied,
            StoreError::Integrity(_) => ErrorKind::Integrity,
            StoreError::NotConfigured(_) => ErrorKind::Config,
            StoreError::KeyDestroyed(_) => ErrorKind::KeyDestroyed,
        }
    }

    /// Why, for a row that fails its integrity check (see [`crate::Error::reason`]).
    pub fn reason(&self) -> Option<crate::Reason> {
        match self {
            StoreError::Integrity(_) => Some(crate::Reason::TamperedRow),
            _ => None,
        }
    }
}

/// Checks a data-class or subject label (1 to 128 bytes, no control characters).
pub fn validate_label(what: &str, label: &str) -> Result<(), StoreError> {
    if label.is_empty() || label.len() > MAX_LABEL_LEN || label.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput(format!(
            "{what} must be 1 to {MAX_LABEL_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

/// Checks a job's batch size (1 to `MAX_PAGE`).
pub(crate) fn check_batch(batch: usize) -> crate::Result<usize> {
    if batch == 0 || batch > MAX_PAGE {
        return Err(StoreError::InvalidInput(format!("batch size must be 1 to {MAX_PAGE}")).into());
    }
    Ok(batch)
}
