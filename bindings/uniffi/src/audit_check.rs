//! Audit-chain verification with a typed outcome: `checkAuditJsonl` and `Guard.checkAudit`
//! return `AuditCheck.Valid(report)` or `AuditCheck.Broken(reason, line, seq, ...)` (the
//! core's `AuditError::Broken` and its `VerifyProblem`) instead of throwing for a broken
//! chain; every other failure still throws `TenantguardException`. Conversions only.

use std::sync::Arc;

use tenantguard::audit::{self as core_audit, VerifyProblem};

use crate::dual::dual;
use crate::error::TenantguardError;
use crate::governance::{verify_options, AuditHead, AuditReport};
use crate::guard::Guard;
use crate::types::TenantContext;

/// Why a chain is broken, one case per core `VerifyProblem`.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditProblem {
    /// The line is not a well-formed entry.
    Malformed,
    /// The line is longer than the core's limit (`MAX_LINE_LEN`, 64 KiB).
    TooLong,
    /// The line is of another tenant than the first.
    TenantChanged,
    /// One or more entries are missing before this one (`seq` jumped).
    Missing,
    /// `seq` went backwards or repeated (an entry was duplicated or reordered).
    OutOfOrder,
    /// `prev` does not match the previous entry's hash (an entry before was replaced).
    BrokenLink,
    /// The entry's content does not match its hash (the entry was altered).
    HashMismatch,
    /// The log ends before the expected head (entries were cut off the end).
    Truncated,
    /// The last entry's hash differs from the expected head's.
    HeadMismatch,
    /// An entry without MAC after MACed entries.
    MacMissing,
    /// An entry's MAC does not verify (written or moved without the key).
    MacMismatch,
    /// The log does not extend a checkpoint already signed or published.
    Fork,
    /// An entry's actor, target or reason does not match its commitment.
    PersonalMismatch,
    /// An entry's personal fields were removed without an erasure receipt.
    ErasedWithoutReceipt,
}

/// The outcome of an audit-chain verification.
#[derive(uniffi::Enum, Clone, Debug)]
pub enum AuditCheck {
    /// The whole chain verifies.
    Valid {
        /// What the verification saw.
        report: AuditReport,
    },
    /// The chain is broken: the first bad entry.
    Broken {
        /// What is wrong.
        reason: AuditProblem,
        /// 1-based line of the export (or position in the stored log) of the first bad entry.
        line: u64,
        /// That entry's `seq`, when it could be read.
        seq: Option<u64>,
        /// For `Missing`, `OutOfOrder` and `Truncated`: the `seq` that should have come
        /// (the expected head's, for `Truncated`); `null` otherwise.
        expected_seq: Option<u64>,
        /// For `Missing`, `OutOfOrder` and `Truncated`: the `seq` found (the last one, for
        /// `Truncated`); `null` otherwise.
        found_seq: Option<u64>,
        /// The core's explanation.
        message: String,
    },
}

/// The reason and, where the core names them, the expected and found `seq`.
fn problem(p: &VerifyProblem) -> (AuditProblem, Option<u64>, Option<u64>) {
    match p {
        VerifyProblem::Malformed(_) => (AuditProblem::Malformed, None, None),
        VerifyProblem::TooLong => (AuditProblem::TooLong, None, None),
        VerifyProblem::TenantChanged => (AuditProblem::TenantChanged, None, None),
        VerifyProblem::Missing { expected, found } => {
            (AuditProblem::Missing, Some(*expected), Some(*found))
        }
        VerifyProblem::OutOfOrder { expected, found } => {
            (AuditProblem::OutOfOrder, Some(*expected), Some(*found))
        }
        VerifyProblem::BrokenLink => (AuditProblem::BrokenLink, None, None),
        VerifyProblem::HashMismatch => (AuditProblem::HashMismatch, None, None),
        VerifyProblem::Truncated { expected, found } => {
            (AuditProblem::Truncated, Some(*expected), Some(*found))
        }
        VerifyProblem::HeadMismatch => (AuditProblem::HeadMismatch, None, None),
        VerifyProblem::MacMissing => (AuditProblem::MacMissing, None, None),
        VerifyProblem::MacMismatch => (AuditProblem::MacMismatch, None, None),
        VerifyProblem::Fork => (AuditProblem::Fork, None, None),
        VerifyProblem::PersonalMismatch => (AuditProblem::PersonalMismatch, None, None),
        VerifyProblem::ErasedWithoutReceipt => (AuditProblem::ErasedWithoutReceipt, None, None),
    }
}

/// The core's typed outcome as `Valid` or `Broken`.
fn check(v: core_audit::AuditVerification) -> AuditCheck {
    match v {
        core_audit::AuditVerification::Broken { line, seq, problem } => {
            let (reason, expected_seq, found_seq) = self::problem(&problem);
            // The core's message for the same finding, as the throwing calls show it.
            let message = core_audit::AuditError::Broken { line, seq, problem }.to_string();
            AuditCheck::Broken {
                reason,
                line,
                seq,
                expected_seq,
                found_seq,
                message,
            }
        }
        core_audit::AuditVerification::Valid(report) => AuditCheck::Valid {
            report: report.into(),
        },
        // A case added to the core later: not valid, so never reported as such.
        other => AuditCheck::Broken {
            reason: AuditProblem::Malformed,
            line: 0,
            seq: None,
            expected_seq: None,
            found_seq: None,
            message: format!("{other:?}"),
        },
    }
}

/// Verifies an exported audit log offline like `verifyAuditJsonl`, but returns a broken
/// chain as `AuditCheck.Broken` (reason, line, `seq`) instead of throwing it.
#[uniffi::export(default(start_after = None, expected_head = None))]
pub fn check_audit_jsonl(
    jsonl: String,
    start_after: Option<AuditHead>,
    expected_head: Option<AuditHead>,
) -> Result<AuditCheck, TenantguardError> {
    let opts = verify_options(start_after, expected_head);
    Ok(check(
        core_audit::verify_jsonl(jsonl.as_bytes(), &opts).map_err(tenantguard::Error::from)?,
    ))
}

dual! {
impl Guard {
    /// Verifies the tenant's stored chain like `verifyAudit`, but returns a broken chain
    /// as `AuditCheck.Broken` instead of throwing it. Admin role (a refusal still throws).
    fn check_audit / check_audit_async(&self, ctx: Arc<TenantContext>) -> AuditCheck {
        Ok(check(self.0.audit().verify(&ctx.0).await?))
    }
}
}
