//! AI egress control (in progress).

use thiserror::Error;

use crate::error::ErrorKind;

/// Errors from egress policies and requests.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EgressError {
    /// The policy document is invalid.
    #[error("invalid egress policy: {0}")]
    InvalidPolicy(String),
}

impl EgressError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EgressError::InvalidPolicy(_) => ErrorKind::InvalidInput,
        }
    }
}
