//! Offline verification of an exported audit log (JSON Lines).
//!
//! Checks, line by line: each line parses as an [`AuditEntry`] (unknown fields refused),
//! all entries are of one tenant, `seq` increases by exactly one, each `prev` equals the
//! previous entry's hash, and each `hash` matches the recomputed one. The first failure is
//! reported with its line number and `seq`. With an expected head (taken from the live
//! store or a published checkpoint) a truncated export is detected too.

use std::io::{BufRead, Read};

use super::entry::{AuditEntry, GENESIS};
use super::erasure::ErasureLedger;
use super::{AuditError, AuditVerification};

/// Longest line accepted, in bytes (a longer one is reported, not read whole).
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// Where the chain must start and end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// For an export that starts mid-chain: the `seq` and `hash` of the entry just before
    /// the first line. Default: the first line must be `seq` 1 linked to the genesis hash.
    pub start_after: Option<(u64, String)>,
    /// The `seq` and `hash` the last line must have (detects truncation).
    pub expected_head: Option<(u64, String)>,
}

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The tenant (None for an empty log).
    pub tenant: Option<String>,
    /// The last `seq` (0 for an empty log that starts at the genesis).
    pub last_seq: u64,
    /// The last hash (the genesis hash for an empty log).
    pub head: String,
    /// Entries whose personal fields were erased (each covered by an erasure receipt).
    pub erased_entries: u64,
}

/// Why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyProblem {
    /// The line is not a well-formed entry.
    Malformed(String),
    /// The line is longer than [`MAX_LINE_LEN`].
    TooLong,
    /// The line is of another tenant than the first.
    TenantChanged,
    /// One or more entries are missing before this one (`seq` jumped).
    Missing {
        /// The `seq` that should have come.
        expected: u64,
        /// The `seq` found.
        found: u64,
    },
    /// `seq` went backwards or repeated (an entry was duplicated or reordered).
    OutOfOrder {
        /// The `seq` that should have come.
        expected: u64,
        /// The `seq` found.
        found: u64,
    },
    /// `prev` does not match the previous entry's hash (an entry before was replaced).
    BrokenLink,
    /// The entry's content does not match its hash (the entry was altered).
    HashMismatch,
    /// The log ends before the expected head (entries were cut off the end).
    Truncated {
        /// The expected last `seq`.
        expected: u64,
        /// The last `seq` found.
        found: u64,
    },
    /// The last entry's hash differs from the expected head's.
    HeadMismatch,
    /// An entry without MAC after MACed entries (only the legacy prefix may lack one).
    MacMissing,
    /// The entry's MAC does not verify under the audit-mac key it names: the entry was
    /// written, moved or altered by someone without the key.
    MacMismatch,
    /// The log is not an extension of a checkpoint already signed or published (the
    /// database was rewritten or restored from a backup).
    Fork,
    /// The entry's actor, target or reason does not match its `personal` commitment
    /// (they were altered, or swapped with another entry's).
    PersonalMismatch,
    /// The entry's personal fields were removed, but no erasure receipt lists it: they
    /// were deleted outside the SDK (e.g. to hide who did something).
    ErasedWithoutReceipt,
}

impl VerifyProblem {
    /// Every problem name, in declaration order.
    pub const NAMES: [&'static str; 14] = [
        "malformed",
        "too_long",
        "tenant_changed",
        "missing",
        "out_of_order",
        "broken_link",
        "hash_mismatch",
        "truncated",
        "head_mismatch",
        "mac_missing",
        "mac_mismatch",
        "fork",
        "personal_mismatch",
        "erased_without_receipt",
    ];

    /// A short, stable, snake_case name (one of [`VerifyProblem::NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            VerifyProblem::Malformed(_) => "malformed",
            VerifyProblem::TooLong => "too_long",
            VerifyProblem::TenantChanged => "tenant_changed",
            VerifyProblem::Missing { .. } => "missing",
            VerifyProblem::OutOfOrder { .. } => "out_of_order",
            VerifyProblem::BrokenLink => "broken_link",
            VerifyProblem::HashMismatch => "hash_mismatch",
            VerifyProblem::Truncated { .. } => "truncated",
            VerifyProblem::HeadMismatch => "head_mismatch",
            VerifyProblem::MacMissing => "mac_missing",
            VerifyProblem::MacMismatch => "mac_mismatch",
            VerifyProblem::Fork => "fork",
            VerifyProblem::PersonalMismatch => "personal_mismatch",
            VerifyProblem::ErasedWithoutReceipt => "erased_without_receipt",
        }
    }
}

impl std::fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyProblem::Malformed(m) => write!(f, "malformed entry ({m})"),
            VerifyProblem::TooLong => write!(f, "line longer than {MAX_LINE_LEN} bytes"),
            VerifyProblem::TenantChanged => f.write_str("entry of another tenant"),
            VerifyProblem::Missing { expected, found } => {
                write!(f, "missing entries: expected seq {expected}, found {found}")
            }
            VerifyProblem::OutOfOrder { expected, found } => {
                write!(f, "out of order: expected seq {expected}, found {found}")
            }
            VerifyProblem::BrokenLink => {
                f.write_str("prev does not match the previous entry's hash")
            }
            VerifyProblem::HashMismatch => f.write_str("content does not match its hash"),
            VerifyProblem::Truncated { expected, found } => {
                write!(f, "log ends at seq {found}, expected head seq {expected}")
            }
            VerifyProblem::HeadMismatch => f.write_str("last hash differs from the expected head"),
            VerifyProblem::MacMissing => f.write_str("entry without MAC after MACed entries"),
            VerifyProblem::MacMismatch => f.write_str("entry MAC does not verify"),
            VerifyProblem::Fork => {
                f.write_str("log is not an extension of an earlier signed checkpoint")
            }
            VerifyProblem::PersonalMismatch => {
                f.write_str("actor, target or reason does not match the entry's commitment")
            }
            VerifyProblem::ErasedWithoutReceipt => {
                f.write_str("personal fields removed without an erasure receipt")
            }
        }
    }
}

/// Incremental verifier: feed entries in order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    tenant: Option<String>,
    start_seq: u64,
    last_seq: u64,
    head: String,
    entries: u64,
    erasures: ErasureLedger,
}

impl ChainVerifier {
    /// A verifier starting at the genesis, or after `(seq, hash)`.
    pub fn new(start_after: Option<(u64, String)>) -> Self {
        let (last_seq, head) = start_after.unwrap_or((0, GENESIS.to_owned()));
        ChainVerifier {
            tenant: None,
            start_seq: last_seq,
            last_seq,
            head,
            entries: 0,
            erasures: ErasureLedger::new(),
        }
    }

    /// Checks the next entry; on success it becomes the head.
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), VerifyProblem> {
        if let Some(t) = &self.tenant {
            if *t != e.tenant {
                return Err(VerifyProblem::TenantChanged);
            }
        }
        // Nothing comes after the largest `seq` (a start given past every real entry).
        let Some(expected) = self.last_seq.checked_add(1) else {
            return Err(VerifyProblem::OutOfOrder {
                expected: self.last_seq,
                found: e.seq,
            });
        };
        if e.seq > expected {
            return Err(VerifyProblem::Missing {
                expected,
                found: e.seq,
            });
        }
        if e.seq < expected {
            return Err(VerifyProblem::OutOfOrder {
                expected,
                found: e.seq,
            });
        }
        if e.compute_hash() != e.hash {
            return Err(VerifyProblem::HashMismatch);
        }
        if e.prev != self.head {
            return Err(VerifyProblem::BrokenLink);
        }
        self.tenant.get_or_insert_with(|| e.tenant.clone());
        self.last_seq = e.seq;
        self.head = e.hash.clone();
        self.entries += 1;
        Ok(())
    }

    /// Checks the entry just pushed against its personal-field commitment, and notes an
    /// erasure or an erasure receipt. Callers that check MACs do so first (a forged entry
    /// is a MAC finding before it is anything else).
    pub fn check_personal(&mut self, e: &AuditEntry) -> Result<(), VerifyProblem> {
        if self.erasures.push(e) {
            Ok(())
        } else {
            Err(VerifyProblem::PersonalMismatch)
        }
    }

    /// The first entry (its 1-based position, its `seq`) whose personal fields were
    /// erased without a receipt covering it: [`ChainVerifier::finish`] refuses the log
    /// then, with [`VerifyProblem::ErasedWithoutReceipt`].
    pub fn uncovered_erasure(&self) -> Option<(u64, u64)> {
        let seq = self.erasures.first_uncovered()?;
        Some((seq - self.start_seq, seq))
    }

    /// Ends verification, checking the expected head if given.
    pub fn finish(
        self,
        expected_head: Option<&(u64, String)>,
    ) -> Result<VerifyReport, VerifyProblem> {
        if let Some((seq, hash)) = expected_head {
            if self.last_seq < *seq {
                return Err(VerifyProblem::Truncated {
                    expected: *seq,
                    found: self.last_seq,
                });
            }
            if self.last_seq > *seq {
                return Err(VerifyProblem::Missing {
                    expected: *seq,
                    found: self.last_seq,
                });
            }
            if self.head != *hash {
                return Err(VerifyProblem::HeadMismatch);
            }
        }
        if self.uncovered_erasure().is_some() {
            return Err(VerifyProblem::ErasedWithoutReceipt);
        }
        Ok(VerifyReport {
            entries: self.entries,
            tenant: self.tenant,
            last_seq: self.last_seq,
            head: self.head,
            erased_entries: self.erasures.erased(),
        })
    }
}

/// Parses one line into an entry, with a clear reason on failure.
pub fn parse_line(line: &[u8]) -> Result<AuditEntry, VerifyProblem> {
    if line.len() > MAX_LINE_LEN {
        return Err(VerifyProblem::TooLong);
    }
    let e: AuditEntry =
        serde_json::from_slice(line).map_err(|e| VerifyProblem::Malformed(e.to_string()))?;
    let hex64 =
        |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex64(&e.hash) || !hex64(&e.prev) {
        return Err(VerifyProblem::Malformed(
            "hash and prev must be 64 lowercase hex digits".into(),
        ));
    }
    if e.seq == 0 {
        return Err(VerifyProblem::Malformed("seq starts at 1".into()));
    }
    Ok(e)
}

/// Verifies a JSON Lines export read from `reader`: [`AuditVerification::Broken`] names
/// the first broken or missing entry (1-based line number and `seq`); the only error is a
/// read failure ([`AuditError::Io`]).
pub fn verify_jsonl(
    reader: impl BufRead,
    options: &VerifyOptions,
) -> Result<AuditVerification, AuditError> {
    match verify_jsonl_strict(reader, options) {
        Ok(report) => Ok(AuditVerification::Valid(report)),
        Err(AuditError::Broken { line, seq, problem }) => {
            Ok(AuditVerification::Broken { line, seq, problem })
        }
        Err(e) => Err(e),
    }
}

fn verify_jsonl_strict(
    reader: impl BufRead,
    options: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let mut reader = reader;
    let mut v = ChainVerifier::new(options.start_after.clone());
    let mut buf = Vec::new();
    let mut line_no: u64 = 0;
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_LEN as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(|e| AuditError::Io(e.kind().to_string()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let fail = |seq, problem| AuditError::Broken {
            line: line_no,
            seq,
            problem,
        };
        if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE_LEN {
            return Err(fail(None, VerifyProblem::TooLong));
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let e = parse_line(line).map_err(|p| fail(None, p))?;
        v.push(&e).map_err(|p| fail(Some(e.seq), p))?;
        v.check_personal(&e).map_err(|p| fail(Some(e.seq), p))?;
    }
    if let Some((line, seq)) = v.uncovered_erasure() {
        return Err(AuditError::Broken {
            line,
            seq: Some(seq),
            problem: VerifyProblem::ErasedWithoutReceipt,
        });
    }
    let last = v.last_seq;
    v.finish(options.expected_head.as_ref())
        .map_err(|problem| AuditError::Broken {
            line: line_no,
            seq: Some(last),
            problem,
        })
}
