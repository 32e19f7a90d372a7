//! The typed outcome of an audit-chain verification: a broken chain is a finding to act
//! on, not a failure of the call, so it is a value ([`AuditVerification::Broken`]); only
//! I/O, store and permission failures are errors.

use super::verify::{VerifyProblem, VerifyReport};
use super::AuditError;

/// What an audit-chain verification found ([`verify_jsonl`](super::verify_jsonl),
/// [`Audit::verify`](crate::Audit::verify)). Check it: a `Broken` chain
/// means the log was altered, cut or reordered.
#[must_use = "a broken audit chain is reported as a value: check it"]
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerification {
    /// The whole chain verifies.
    Valid(VerifyReport),
    /// The chain is broken at its first bad entry.
    Broken {
        /// 1-based line of the export (or position in the stored log).
        line: u64,
        /// That entry's `seq`, when it could be read.
        seq: Option<u64>,
        /// What is wrong.
        problem: VerifyProblem,
    },
}

impl AuditVerification {
    /// Whether the whole chain verifies.
    pub fn is_valid(&self) -> bool {
        matches!(self, AuditVerification::Valid(_))
    }

    /// The report of a valid chain.
    pub fn report(&self) -> Option<&VerifyReport> {
        match self {
            AuditVerification::Valid(r) => Some(r),
            AuditVerification::Broken { .. } => None,
        }
    }

    /// The report, or a broken chain as [`AuditError::Broken`] (kind `Integrity`, reason
    /// `broken_chain`), for callers that treat a broken chain as a failure (`?`).
    pub fn into_result(self) -> Result<VerifyReport, AuditError> {
        match self {
            AuditVerification::Valid(r) => Ok(r),
            AuditVerification::Broken { line, seq, problem } => {
                Err(AuditError::Broken { line, seq, problem })
            }
        }
    }

    /// A strict verification result with a broken chain turned into the outcome; any
    /// other error stays an error.
    pub(crate) fn from_strict(r: crate::Result<VerifyReport>) -> crate::Result<Self> {
        match r {
            Ok(report) => Ok(AuditVerification::Valid(report)),
            Err(crate::Error::Audit(AuditError::Broken { line, seq, problem })) => {
                Ok(AuditVerification::Broken { line, seq, problem })
            }
            Err(e) => Err(e),
        }
    }
}
