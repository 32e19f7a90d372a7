//! Offline verification of an exported audit bundle, an inclusion proof or a consistency
//! proof: pure functions of the bytes and the checkpoint public key(s), no secret, no
//! store. The outcome is typed: [`ExportVerdict::Valid`], [`ExportVerdict::Restored`]
//! (the earlier checkpoint is of history a recorded database restore superseded) or
//! [`ExportVerdict::Tampered`] with one [`TamperReason`] per tamper class.

use base64::Engine;

use super::checkpoint::{open_checkpoint, AuditPublicKey, Checkpoint, CheckpointError};
use super::entry::{AuditEntry, GENESIS};
use super::erasure::ErasureLedger;
use super::merkle::{self, Frontier, Hash};
use super::transparency::{CHECKPOINT_MARK, CONSISTENCY_HEADER, EXPORT_HEADER, INCLUSION_HEADER};
use super::verify::MAX_LINE_LEN;

/// Why a bundle or proof does not verify. Each tamper class has its own reason.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TamperReason {
    /// Not a bundle or proof of this format (header, separator, hash lines).
    BundleMalformed,
    /// An entry line is not a well-formed entry.
    Malformed,
    /// An entry line is longer than [`MAX_LINE_LEN`].
    TooLong,
    /// An entry line repeats a JSON key (`{"role":"owner","role":"viewer"}`).
    DuplicateKey,
    /// An entry line parses but is not byte for byte its canonical form.
    NonCanonical,
    /// An entry of another tenant than the first.
    TenantMismatch,
    /// `seq` went backwards or repeated: entries reordered or duplicated.
    OutOfOrder {
        /// The `seq` that should have come.
        expected: u64,
        /// The `seq` found.
        found: u64,
    },
    /// `seq` jumped: entries removed from the middle.
    Missing {
        /// The `seq` that should have come.
        expected: u64,
        /// The `seq` found.
        found: u64,
    },
    /// An entry's content does not match its `hash` (altered in place).
    EntryAltered,
    /// An entry's `prev` is not the previous entry's `hash`.
    BrokenLink,
    /// An entry without MAC after MACed entries (a forged entry: the writer had no key).
    MacMissing,
    /// Fewer entries than the checkpoint covers: the tail was cut off.
    Truncated {
        /// The checkpoint's size.
        checkpoint_size: u64,
        /// Entries present.
        entries: u64,
    },
    /// More entries than the checkpoint covers: entries were added after signing.
    Unattested {
        /// The checkpoint's size.
        checkpoint_size: u64,
        /// Entries present.
        entries: u64,
    },
    /// The entries are consistent with one another but not with the signed root: a
    /// suffix (or any part) was rewritten and re-hashed, or entries were inserted.
    RootMismatch,
    /// The checkpoint is malformed.
    CheckpointMalformed,
    /// The checkpoint is not signed by any key given.
    UnknownKey,
    /// The checkpoint's signature does not verify (the note was altered).
    BadSignature,
    /// The checkpoint is of another log (origin is not `<key name>/<tenant>`), or two
    /// checkpoints are of different logs.
    OriginMismatch,
    /// The earlier checkpoint is larger than the newer one: the log was rolled back.
    Rollback {
        /// The earlier checkpoint's size.
        earlier: u64,
        /// The newer checkpoint's size.
        latest: u64,
    },
    /// The earlier checkpoint is not a prefix of the newer log: two inconsistent
    /// histories were signed (a fork).
    Fork,
    /// An inclusion proof does not lead to the checkpoint's root.
    ProofMismatch,
    /// An entry's actor, target or reason does not match its `personal` commitment.
    PersonalAltered,
    /// An entry's personal fields were removed without an erasure receipt listing it.
    ErasedWithoutReceipt,
}

impl TamperReason {
    /// A stable snake_case name (the shared vectors and the bindings use it).
    pub fn kind(&self) -> &'static str {
        match self {
            TamperReason::BundleMalformed => "bundle_malformed",
            TamperReason::Malformed => "malformed",
            TamperReason::TooLong => "too_long",
            TamperReason::DuplicateKey => "duplicate_key",
            TamperReason::NonCanonical => "non_canonical",
            TamperReason::TenantMismatch => "tenant_mismatch",
            TamperReason::OutOfOrder { .. } => "out_of_order",
            TamperReason::Missing { .. } => "missing",
            TamperReason::EntryAltered => "entry_altered",
            TamperReason::BrokenLink => "broken_link",
            TamperReason::MacMissing => "mac_missing",
            TamperReason::Truncated { .. } => "truncated",
            TamperReason::Unattested { .. } => "unattested",
            TamperReason::RootMismatch => "root_mismatch",
            TamperReason::CheckpointMalformed => "checkpoint_malformed",
            TamperReason::UnknownKey => "unknown_key",
            TamperReason::BadSignature => "bad_signature",
            TamperReason::OriginMismatch => "origin_mismatch",
            TamperReason::Rollback { .. } => "rollback",
            TamperReason::Fork => "fork",
            TamperReason::ProofMismatch => "proof_mismatch",
            TamperReason::PersonalAltered => "personal_altered",
            TamperReason::ErasedWithoutReceipt => "erased_without_receipt",
        }
    }

    /// Every [`TamperReason::kind`] name, in declaration order: the bindings expose this
    /// list so callers can match on a reason without keeping a copy that drifts.
    pub const KINDS: [&'static str; 23] = [
        "bundle_malformed",
        "malformed",
        "too_long",
        "duplicate_key",
        "non_canonical",
        "tenant_mismatch",
        "out_of_order",
        "missing",
        "entry_altered",
        "broken_link",
        "mac_missing",
        "truncated",
        "unattested",
        "root_mismatch",
        "checkpoint_malformed",
        "unknown_key",
        "bad_signature",
        "origin_mismatch",
        "rollback",
        "fork",
        "proof_mismatch",
        "personal_altered",
        "erased_without_receipt",
    ];
}

impl std::fmt::Display for TamperReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// What a valid bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The tenant (None for an empty log).
    pub tenant: Option<String>,
    /// Entries (= the checkpoint's size).
    pub entries: u64,
    /// The signed checkpoint.
    pub checkpoint: Checkpoint,
    /// Entries written before entry MACs existed (the legacy prefix).
    pub legacy_entries: u64,
    /// Entries whose personal fields were erased (each listed by an erasure receipt).
    pub erased_entries: u64,
}

/// A database restore recorded in the log (an `audit.restore` entry) that explains why an
/// earlier checkpoint is not a prefix of the export: the checkpoint is of the lost window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreNotice {
    /// `seq` of the `audit.restore` entry.
    pub restore_seq: u64,
    /// When the restore was recorded, Unix seconds.
    pub restore_time: i64,
    /// The restore point: entries `1 ..= restored_size` are shared with the lost history.
    pub restored_size: u64,
    /// Size of the checkpoint the restore superseded: the lost window is
    /// `restored_size + 1 ..= superseded_size`.
    pub superseded_size: u64,
    /// Root of the checkpoint the restore superseded.
    pub superseded_root: Hash,
    /// The earlier checkpoint checked (its size is in the lost window).
    pub earlier: Checkpoint,
}

/// The outcome of verifying a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportVerdict {
    /// Every check passed.
    Valid(ExportSummary),
    /// The bundle verifies, but the earlier checkpoint is not a prefix of it: it is of the
    /// lost window of a database restore the log records (signed in the bundle's
    /// checkpoint). Entries the earlier checkpoint covered past `restored_size` are gone.
    Restored {
        /// What the bundle holds.
        summary: ExportSummary,
        /// The restore that covers the earlier checkpoint.
        restore: RestoreNotice,
    },
    /// A check failed: why, and the 1-based entry line when one is to blame.
    Tampered {
        /// Why.
        reason: TamperReason,
        /// The entry line (1 = first entry), when one is to blame.
        line: Option<u64>,
    },
}

impl ExportVerdict {
    /// True for [`ExportVerdict::Valid`] (not for `Restored`: the earlier checkpoint is
    /// not a prefix).
    pub fn is_valid(&self) -> bool {
        matches!(self, ExportVerdict::Valid(_))
    }

    /// Every [`ExportVerdict::outcome`] name: the bindings expose this list.
    pub const OUTCOMES: [&'static str; 3] = ["valid", "restored", "tampered"];

    /// A stable name of the outcome (one of [`ExportVerdict::OUTCOMES`]).
    pub fn outcome(&self) -> &'static str {
        match self {
            ExportVerdict::Valid(_) => "valid",
            ExportVerdict::Restored { .. } => "restored",
            ExportVerdict::Tampered { .. } => "tampered",
        }
    }
}

/// What a verified `audit.restore` entry claims (see [`RestoreNotice`]).
struct RestoreClaim {
    seq: u64,
    time: i64,
    restored_size: u64,
    superseded_size: u64,
    superseded_root: Hash,
}

impl RestoreClaim {
    fn of(e: &AuditEntry) -> Option<Self> {
        let (_, restored_size, superseded_size, superseded_root) =
            super::sink::restore_claim(&e.canonical_line()).ok()?;
        Some(RestoreClaim {
            seq: e.seq,
            time: e.time,
            restored_size,
            superseded_size,
            superseded_root,
        })
    }

    /// Whether the earlier checkpoint `old` is of this restore's lost window: past the
    /// restore point, within the superseded size (with its root at that size), and
    /// signed no later than the restore was recorded.
    fn covers(&self, old: &Checkpoint) -> bool {
        self.restored_size < old.size
            && old.size <= self.superseded_size
            && old.time <= self.time
            && (old.size < self.superseded_size || old.root == self.superseded_root)
    }
}

fn ck(e: CheckpointError) -> TamperReason {
    match e {
        CheckpointError::UnknownKey => TamperReason::UnknownKey,
        CheckpointError::BadSignature => TamperReason::BadSignature,
        _ => TamperReason::CheckpointMalformed,
    }
}

/// Parses one entry line strictly: no repeated key, and byte for byte the canonical
/// line (docs/FORMAT.md) of the entry it holds.
pub fn parse_canonical_line(line: &[u8]) -> Result<AuditEntry, TamperReason> {
    if line.len() > MAX_LINE_LEN {
        return Err(TamperReason::TooLong);
    }
    let e: AuditEntry = serde_json::from_slice(line).map_err(|e| {
        if e.to_string().contains("duplicate field") {
            TamperReason::DuplicateKey
        } else {
            TamperReason::Malformed
        }
    })?;
    if e.canonical_line().as_bytes() != line {
        return Err(TamperReason::NonCanonical);
    }
    Ok(e)
}

fn origin_ok(cp: &Checkpoint, keys: &[AuditPublicKey], tenant: Option<&str>) -> bool {
    keys.iter().any(|k| match tenant {
        Some(t) => cp.origin == format!("{}/{t}", k.name()),
        None => cp
            .origin
            .strip_prefix(k.name())
            .is_some_and(|r| r.starts_with('/')),
    })
}

/// Splits `<header>\n<lines...>\ncheckpoint\n<note>` into its lines and the note.
fn split_bundle<'a>(bytes: &'a [u8], header: &str) -> Option<(Vec<&'a [u8]>, &'a [u8])> {
    let rest = bytes.strip_prefix(header.as_bytes())?.strip_prefix(b"\n")?;
    let mut lines = Vec::new();
    let mut at = 0;
    loop {
        let end = at + memchr::memchr(b'\n', &rest[at..])?;
        let line = &rest[at..end];
        if line == CHECKPOINT_MARK.as_bytes() {
            return Some((lines, &rest[end + 1..]));
        }
        lines.push(line);
        at = end + 1;
    }
}

fn tampered(reason: TamperReason, line: Option<u64>) -> ExportVerdict {
    ExportVerdict::Tampered { reason, line }
}

/// Verifies an export bundle against the checkpoint public key(s) and, when the customer
/// kept one, an earlier signed checkpoint (its note bytes): the entries must be exactly
/// the signed tree, and the earlier tree a prefix of it.
pub fn verify_export(
    bundle: &[u8],
    keys: &[AuditPublicKey],
    earlier_checkpoint: Option<&[u8]>,
) -> ExportVerdict {
    let Some((lines, note)) = split_bundle(bundle, EXPORT_HEADER) else {
        return tampered(TamperReason::BundleMalformed, None);
    };
    let earlier = match earlier_checkpoint.map(|n| open_checkpoint(n, keys)) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return tampered(ck(e), None),
    };
    let mut f = Frontier::new();
    let mut head = GENESIS.to_owned();
    let mut tenant: Option<String> = None;
    let (mut macs_seen, mut legacy) = (false, 0u64);
    let mut earlier_root: Option<Hash> = None;
    let mut erasures = ErasureLedger::new();
    let mut restores: Vec<RestoreClaim> = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let n = i as u64 + 1;
        let at = Some(n);
        let e = match parse_canonical_line(raw) {
            Ok(e) => e,
            Err(r) => return tampered(r, at),
        };
        if tenant.as_ref().is_some_and(|t| *t != e.tenant) {
            return tampered(TamperReason::TenantMismatch, at);
        }
        if e.seq < n {
            return tampered(
                TamperReason::OutOfOrder {
                    expected: n,
                    found: e.seq,
                },
                at,
            );
        }
        if e.seq > n {
            return tampered(
                TamperReason::Missing {
                    expected: n,
                    found: e.seq,
                },
                at,
            );
        }
        if e.compute_hash() != e.hash {
            return tampered(TamperReason::EntryAltered, at);
        }
        if e.prev != head {
            return tampered(TamperReason::BrokenLink, at);
        }
        match (&e.mac, macs_seen) {
            (None, true) => return tampered(TamperReason::MacMissing, at),
            (None, false) => legacy += 1,
            (Some(_), _) => macs_seen = true,
        }
        if !erasures.push(&e) {
            return tampered(TamperReason::PersonalAltered, at);
        }
        tenant.get_or_insert_with(|| e.tenant.clone());
        // A format-v1 line is its own leaf; a v2 leaf leaves out the erasable fields.
        let leaf = if e.is_erasable() {
            merkle::leaf_hash(e.leaf_line().as_bytes())
        } else {
            merkle::leaf_hash(raw)
        };
        if earlier.is_some() && e.action == super::AuditAction::AuditRestore.as_str() {
            restores.extend(RestoreClaim::of(&e));
        }
        head = e.hash;
        f.push(leaf);
        if earlier.as_ref().is_some_and(|c| c.size == n) {
            earlier_root = Some(f.root());
        }
    }
    let cp = match open_checkpoint(note, keys) {
        Ok(c) => c,
        Err(e) => return tampered(ck(e), None),
    };
    if !origin_ok(&cp, keys, tenant.as_deref()) {
        return tampered(TamperReason::OriginMismatch, None);
    }
    if f.size() < cp.size {
        return tampered(
            TamperReason::Truncated {
                checkpoint_size: cp.size,
                entries: f.size(),
            },
            None,
        );
    }
    if f.size() > cp.size {
        return tampered(
            TamperReason::Unattested {
                checkpoint_size: cp.size,
                entries: f.size(),
            },
            Some(cp.size + 1),
        );
    }
    if f.root() != cp.root {
        return tampered(TamperReason::RootMismatch, None);
    }
    if let Some(seq) = erasures.first_uncovered() {
        return tampered(TamperReason::ErasedWithoutReceipt, Some(seq));
    }
    let summary = ExportSummary {
        tenant,
        entries: f.size(),
        checkpoint: cp,
        legacy_entries: legacy,
        erased_entries: erasures.erased(),
    };
    let Some(old) = earlier else {
        return ExportVerdict::Valid(summary);
    };
    if old.origin != summary.checkpoint.origin {
        return tampered(TamperReason::OriginMismatch, None);
    }
    let prefix = if old.size == 0 {
        Some(merkle::EMPTY_ROOT)
    } else {
        earlier_root
    };
    if old.size <= summary.checkpoint.size && prefix == Some(old.root) {
        return ExportVerdict::Valid(summary);
    }
    // Not a prefix: explained only by a restore the signed log records whose lost window
    // holds the earlier checkpoint (signed before the restore; at the superseded size,
    // with the superseded root).
    if let Some(r) = restores.into_iter().rev().find(|r| r.covers(&old)) {
        let restore = RestoreNotice {
            restore_seq: r.seq,
            restore_time: r.time,
            restored_size: r.restored_size,
            superseded_size: r.superseded_size,
            superseded_root: r.superseded_root,
            earlier: old,
        };
        return ExportVerdict::Restored { summary, restore };
    }
    if old.size > summary.checkpoint.size {
        return tampered(
            TamperReason::Rollback {
                earlier: old.size,
                latest: summary.checkpoint.size,
            },
            None,
        );
    }
    tampered(TamperReason::Fork, None)
}

fn hash_lines(lines: &[&[u8]]) -> Result<Vec<Hash>, TamperReason> {
    if lines.len() > merkle::MAX_PROOF_LEN {
        return Err(TamperReason::BundleMalformed);
    }
    lines
        .iter()
        .map(|l| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(l)
                .map_err(|_| TamperReason::BundleMalformed)?;
            b.try_into().map_err(|_| TamperReason::BundleMalformed)
        })
        .collect()
}

/// Verifies an inclusion proof (`InclusionProof::to_text`): the entry line is canonical,
/// the checkpoint is signed by one of `keys` for the entry's tenant, and the path leads
/// from the entry's leaf to its root. Returns the entry and the checkpoint.
pub fn verify_inclusion_proof(
    proof: &[u8],
    keys: &[AuditPublicKey],
) -> Result<(AuditEntry, Checkpoint), TamperReason> {
    let (lines, note) =
        split_bundle(proof, INCLUSION_HEADER).ok_or(TamperReason::BundleMalformed)?;
    let (entry_line, hashes) = lines.split_first().ok_or(TamperReason::BundleMalformed)?;
    let e = parse_canonical_line(entry_line)?;
    // `seq` counts from 1: a line claiming 0 has no leaf index (and is never written).
    let index = e.seq.checked_sub(1).ok_or(TamperReason::Malformed)?;
    let hashes = hash_lines(hashes)?;
    let cp = open_checkpoint(note, keys).map_err(ck)?;
    if !origin_ok(&cp, keys, Some(&e.tenant)) {
        return Err(TamperReason::OriginMismatch);
    }
    if e.compute_hash() != e.hash {
        return Err(TamperReason::EntryAltered);
    }
    if !e.personal_fields_match() {
        return Err(TamperReason::PersonalAltered);
    }
    merkle::verify_inclusion(
        index,
        cp.size,
        &merkle::leaf_hash(e.leaf_line().as_bytes()),
        &hashes,
        &cp.root,
    )
    .map_err(|_| TamperReason::ProofMismatch)?;
    Ok((e, cp))
}

/// Verifies a consistency proof (`ConsistencyProof::to_text`) from the `earlier` signed
/// checkpoint the customer kept to the newer checkpoint the proof carries. Returns the
/// newer checkpoint.
pub fn verify_consistency_proof(
    earlier: &[u8],
    proof: &[u8],
    keys: &[AuditPublicKey],
) -> Result<Checkpoint, TamperReason> {
    let old = open_checkpoint(earlier, keys).map_err(ck)?;
    let (lines, note) =
        split_bundle(proof, CONSISTENCY_HEADER).ok_or(TamperReason::BundleMalformed)?;
    let (size_line, hashes) = lines.split_first().ok_or(TamperReason::BundleMalformed)?;
    let size: u64 = std::str::from_utf8(size_line)
        .ok()
        .filter(|s| !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or(TamperReason::BundleMalformed)?;
    let hashes = hash_lines(hashes)?;
    let new = open_checkpoint(note, keys).map_err(ck)?;
    if old.origin != new.origin || !origin_ok(&new, keys, None) {
        return Err(TamperReason::OriginMismatch);
    }
    if size != old.size {
        return Err(TamperReason::BundleMalformed);
    }
    if old.size > new.size {
        return Err(TamperReason::Rollback {
            earlier: old.size,
            latest: new.size,
        });
    }
    merkle::verify_consistency(old.size, new.size, &hashes, &old.root, &new.root)
        .map_err(|_| TamperReason::Fork)?;
    Ok(new)
}
