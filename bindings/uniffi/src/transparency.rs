//! Offline verification of an audit export bundle, an inclusion proof and a consistency
//! proof with a typed outcome: `checkAuditBundle`, `checkAuditInclusionProof` and
//! `checkAuditConsistencyProof` return `Valid(...)` or `Tampered(reason, kind, ...)` (the
//! core's `TamperReason` and its stable `kind` name) instead of throwing; a bad public key
//! string still throws `TenantguardException.InvalidInput`. Conversions only.

use tenantguard::audit::export::{self, ExportVerdict, TamperReason};
use tenantguard::audit::{AuditPublicKey, Checkpoint};

use crate::error::TenantguardError;
use crate::governance::AuditEntry;
use tenantguard::ErrorKind;

/// Why an export or proof does not verify, one case per core `TamperReason` (its
/// `kind` name in SCREAMING_SNAKE case).
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditTamperReason {
    /// Not a bundle or proof of this format.
    BundleMalformed,
    /// An entry line is not a well-formed entry.
    Malformed,
    /// An entry line is longer than the core's limit.
    TooLong,
    /// An entry line repeats a JSON key.
    DuplicateKey,
    /// An entry line is not byte for byte its canonical form.
    NonCanonical,
    /// An entry of another tenant than the first.
    TenantMismatch,
    /// `seq` went backwards or repeated (entries reordered or duplicated).
    OutOfOrder,
    /// `seq` jumped (entries removed from the middle).
    Missing,
    /// An entry's content does not match its hash.
    EntryAltered,
    /// An entry's `prev` is not the previous entry's hash.
    BrokenLink,
    /// An entry without MAC after MACed entries.
    MacMissing,
    /// Fewer entries than the checkpoint covers (the tail was cut off).
    Truncated,
    /// More entries than the checkpoint covers.
    Unattested,
    /// The entries do not hash to the signed root (rewritten or inserted entries).
    RootMismatch,
    /// The checkpoint is malformed.
    CheckpointMalformed,
    /// The checkpoint is not signed by any key given.
    UnknownKey,
    /// The checkpoint's signature does not verify.
    BadSignature,
    /// The checkpoint is of another log.
    OriginMismatch,
    /// The earlier checkpoint is larger than the newer one.
    Rollback,
    /// The earlier checkpoint is not a prefix of the newer log (a fork).
    Fork,
    /// An inclusion proof does not lead to the checkpoint's root.
    ProofMismatch,
    /// An entry's actor, target or reason does not match its commitment.
    PersonalAltered,
    /// An entry's personal fields were removed without an erasure receipt.
    ErasedWithoutReceipt,
    /// A reason added to the core after this binding (see `kind`).
    Other,
}

impl AuditTamperReason {
    fn of(r: &TamperReason) -> Self {
        use AuditTamperReason as A;
        match r {
            TamperReason::BundleMalformed => A::BundleMalformed,
            TamperReason::Malformed => A::Malformed,
            TamperReason::TooLong => A::TooLong,
            TamperReason::DuplicateKey => A::DuplicateKey,
            TamperReason::NonCanonical => A::NonCanonical,
            TamperReason::TenantMismatch => A::TenantMismatch,
            TamperReason::OutOfOrder { .. } => A::OutOfOrder,
            TamperReason::Missing { .. } => A::Missing,
            TamperReason::EntryAltered => A::EntryAltered,
            TamperReason::BrokenLink => A::BrokenLink,
            TamperReason::MacMissing => A::MacMissing,
            TamperReason::Truncated { .. } => A::Truncated,
            TamperReason::Unattested { .. } => A::Unattested,
            TamperReason::RootMismatch => A::RootMismatch,
            TamperReason::CheckpointMalformed => A::CheckpointMalformed,
            TamperReason::UnknownKey => A::UnknownKey,
            TamperReason::BadSignature => A::BadSignature,
            TamperReason::OriginMismatch => A::OriginMismatch,
            TamperReason::Rollback { .. } => A::Rollback,
            TamperReason::Fork => A::Fork,
            TamperReason::ProofMismatch => A::ProofMismatch,
            TamperReason::PersonalAltered => A::PersonalAltered,
            TamperReason::ErasedWithoutReceipt => A::ErasedWithoutReceipt,
            _ => A::Other,
        }
    }
}

/// A signed audit checkpoint: the log `origin` had `size` entries with RFC 6962 root
/// `root` at `time` (Unix seconds).
#[derive(uniffi::Record, Clone, Debug)]
pub struct AuditCheckpoint {
    /// The log's name: the key name, `/`, the tenant.
    pub origin: String,
    /// Entries covered.
    pub size: u64,
    /// The 32-byte RFC 6962 root hash.
    pub root: Vec<u8>,
    /// When it was signed, Unix seconds.
    pub time: i64,
}

impl From<Checkpoint> for AuditCheckpoint {
    fn from(c: Checkpoint) -> Self {
        AuditCheckpoint {
            origin: c.origin,
            size: c.size,
            root: c.root.to_vec(),
            time: c.time,
        }
    }
}

/// What a verified export bundle holds.
#[derive(uniffi::Record, Clone, Debug)]
pub struct AuditBundleSummary {
    /// The tenant (`null` for an empty log).
    pub tenant: Option<String>,
    /// Entries (= the checkpoint's size).
    pub entries: u64,
    /// Entries written before entry MACs existed.
    pub legacy_entries: u64,
    /// Entries whose personal fields were erased (each listed by an erasure receipt).
    pub erased_entries: u64,
    /// The signed checkpoint.
    pub checkpoint: AuditCheckpoint,
}

/// A database restore recorded in the log that explains why the earlier checkpoint is not
/// a prefix of the bundle: entries `restored_size + 1 ..= superseded_size` were lost.
#[derive(uniffi::Record, Clone, Debug)]
pub struct AuditRestoreNotice {
    /// `seq` of the `audit.restore` entry.
    pub restore_seq: u64,
    /// When the restore was recorded, Unix seconds.
    pub restore_time: i64,
    /// The restore point.
    pub restored_size: u64,
    /// Size of the checkpoint the restore superseded.
    pub superseded_size: u64,
    /// Root of the checkpoint the restore superseded (32 bytes).
    pub superseded_root: Vec<u8>,
    /// The earlier checkpoint checked.
    pub earlier: AuditCheckpoint,
}

/// The outcome of verifying an export bundle.
#[derive(uniffi::Enum, Clone, Debug)]
pub enum AuditBundleCheck {
    /// Every check passed.
    Valid {
        /// What the bundle holds.
        summary: AuditBundleSummary,
    },
    /// The bundle verifies, but the earlier checkpoint is of the lost window of a
    /// database restore the log records.
    Restored {
        /// What the bundle holds.
        summary: AuditBundleSummary,
        /// The restore.
        restore: AuditRestoreNotice,
    },
    /// A check failed.
    Tampered {
        /// Why.
        reason: AuditTamperReason,
        /// The core's stable name of the reason (`truncated`, `fork`, ...).
        kind: String,
        /// The 1-based entry line to blame, when one is.
        line: Option<u64>,
        /// The core's description.
        message: String,
    },
}

/// The outcome of verifying an inclusion or consistency proof.
// A value crossing the FFI once per call: boxing the entry would only change the Rust side.
#[allow(clippy::large_enum_variant)]
#[derive(uniffi::Enum, Clone, Debug)]
pub enum AuditProofCheck {
    /// The proof verifies.
    Valid {
        /// The checkpoint proven (the newer one, for a consistency proof).
        checkpoint: AuditCheckpoint,
        /// For an inclusion proof, the entry proven included.
        entry: Option<AuditEntry>,
    },
    /// The proof does not verify.
    Tampered {
        /// Why.
        reason: AuditTamperReason,
        /// The core's stable name of the reason.
        kind: String,
        /// The core's description.
        message: String,
    },
}

fn keys(public_keys: &[String]) -> Result<Vec<AuditPublicKey>, TenantguardError> {
    if public_keys.is_empty() {
        return Err(TenantguardError::new(
            ErrorKind::InvalidInput,
            "publicKeys is empty",
        ));
    }
    public_keys
        .iter()
        .map(|k| {
            AuditPublicKey::parse(k).map_err(|e| {
                TenantguardError::new(ErrorKind::InvalidInput, format!("public key {k:?}: {e}"))
            })
        })
        .collect()
}

fn proof_check(r: Result<(Checkpoint, Option<AuditEntry>), TamperReason>) -> AuditProofCheck {
    match r {
        Ok((cp, entry)) => AuditProofCheck::Valid {
            checkpoint: cp.into(),
            entry,
        },
        Err(r) => AuditProofCheck::Tampered {
            reason: AuditTamperReason::of(&r),
            kind: r.kind().to_owned(),
            message: r.to_string(),
        },
    }
}

/// Verifies an audit export bundle offline against the checkpoint public key(s) (C2SP
/// verifier key strings) and, when kept, an earlier signed checkpoint.
#[uniffi::export(default(earlier_checkpoint = None))]
pub fn check_audit_bundle(
    bundle: Vec<u8>,
    public_keys: Vec<String>,
    earlier_checkpoint: Option<Vec<u8>>,
) -> Result<AuditBundleCheck, TenantguardError> {
    let keys = keys(&public_keys)?;
    let summary = |s: export::ExportSummary| AuditBundleSummary {
        tenant: s.tenant,
        entries: s.entries,
        legacy_entries: s.legacy_entries,
        erased_entries: s.erased_entries,
        checkpoint: s.checkpoint.into(),
    };
    Ok(
        match export::verify_export(&bundle, &keys, earlier_checkpoint.as_deref()) {
            ExportVerdict::Valid(s) => AuditBundleCheck::Valid {
                summary: summary(s),
            },
            ExportVerdict::Restored {
                summary: s,
                restore,
            } => AuditBundleCheck::Restored {
                summary: summary(s),
                restore: AuditRestoreNotice {
                    restore_seq: restore.restore_seq,
                    restore_time: restore.restore_time,
                    restored_size: restore.restored_size,
                    superseded_size: restore.superseded_size,
                    superseded_root: restore.superseded_root.to_vec(),
                    earlier: restore.earlier.into(),
                },
            },
            ExportVerdict::Tampered { reason, line } => AuditBundleCheck::Tampered {
                reason: AuditTamperReason::of(&reason),
                kind: reason.kind().to_owned(),
                line,
                message: reason.to_string(),
            },
        },
    )
}

/// Verifies an inclusion proof offline ("this entry is in the signed log").
#[uniffi::export]
pub fn check_audit_inclusion_proof(
    proof: Vec<u8>,
    public_keys: Vec<String>,
) -> Result<AuditProofCheck, TenantguardError> {
    let keys = keys(&public_keys)?;
    Ok(proof_check(
        export::verify_inclusion_proof(&proof, &keys).map(|(e, cp)| (cp, Some(e.into()))),
    ))
}

/// Verifies a consistency proof offline from the `earlier_checkpoint` kept to the newer
/// checkpoint the proof carries.
#[uniffi::export]
pub fn check_audit_consistency_proof(
    earlier_checkpoint: Vec<u8>,
    proof: Vec<u8>,
    public_keys: Vec<String>,
) -> Result<AuditProofCheck, TenantguardError> {
    let keys = keys(&public_keys)?;
    Ok(proof_check(
        export::verify_consistency_proof(&earlier_checkpoint, &proof, &keys).map(|cp| (cp, None)),
    ))
}

/// Every tamper reason name (`AuditBundleCheck.Tampered.kind`), from the core's table.
#[uniffi::export]
pub fn audit_tamper_reasons() -> Vec<String> {
    TamperReason::KINDS
        .iter()
        .map(|k| (*k).to_owned())
        .collect()
}

/// Every outcome of `checkAuditBundle` (`valid`, `restored`, `tampered`), from the core's
/// table.
#[uniffi::export]
pub fn audit_bundle_outcomes() -> Vec<String> {
    ExportVerdict::OUTCOMES
        .iter()
        .map(|k| (*k).to_owned())
        .collect()
}
