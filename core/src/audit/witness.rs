//! Witness cosignatures (C2SP `tlog-cosignature`, the Ed25519 `cosignature/v1` type): a
//! [`Witness`] holds its own Ed25519 key, remembers the last checkpoint it cosigned per
//! log origin, and countersigns a new checkpoint only when a consistency proof from that
//! one verifies. A customer who requires a witness key
//! ([`verify_export_witnessed`]) then detects a log operator who shows different histories
//! to different parties (a split view), which the log's own signature cannot rule out.
//!
//! Byte format (docs/FORMAT.md, "Witness cosignatures"): one more signed-note line
//!
//! ```text
//! — <witness name> base64(key ID (4) || timestamp (8, big-endian) || Ed25519 signature (64))
//! ```
//!
//! with key ID `SHA-256(<name> || "\n" || 0x04 || public key)[..4]`, over the message
//! `"cosignature/v1\n" || "time <timestamp>\n" || <checkpoint note body>`.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

use super::checkpoint::{
    encode_vkey, note_key_id, open_checkpoint, parse_vkey, valid_name, AuditPublicKey, Checkpoint,
    CheckpointError, MAX_NOTE_LEN, MAX_SIGNATURES,
};
use super::export::{verify_export, ExportSummary, ExportVerdict, RestoreNotice, TamperReason};
use super::merkle::{self, Hash};
use super::transparency::CHECKPOINT_MARK;
use crate::error::ErrorKind;

/// The first line of the message a `cosignature/v1` signs (domain separation).
pub const COSIGNATURE_HEADER: &str = "cosignature/v1";
/// Signed-note key-ID algorithm byte of an Ed25519 `cosignature/v1` key.
const ALG_COSIGNATURE_V1: u8 = 0x04;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const EM_DASH: &str = "\u{2014} ";
/// key ID (4) || timestamp (8) || signature (64).
const COSIG_LEN: usize = 4 + 8 + 64;

/// Why a witness refused to cosign, or a cosignature did not verify.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The checkpoint note is malformed, or not signed by a log key the witness trusts.
    #[error("checkpoint refused: {0}")]
    Checkpoint(CheckpointError),
    /// The checkpoint's origin is not `<log key name>/<tenant>` for the key that signed it.
    #[error("checkpoint origin does not belong to the signing key")]
    OriginMismatch,
    /// The checkpoint is smaller than the last one the witness cosigned for the log.
    #[error("checkpoint of size {offered} is behind the witnessed size {seen}")]
    Rollback {
        /// The size the witness holds.
        seen: u64,
        /// The size offered.
        offered: u64,
    },
    /// Another root at the size the witness holds, or a consistency proof from the held
    /// checkpoint that does not verify: the log forked.
    #[error("checkpoint is not consistent with the one the witness holds (fork)")]
    Fork,
    /// The proof is from another size than the one the witness holds (C2SP tlog-witness's
    /// "conflict": resend with a proof from `seen`).
    #[error("proof is from size {claimed}, the witness holds size {seen}")]
    SizeMismatch {
        /// The size the witness holds.
        seen: u64,
        /// The size the proof starts from.
        claimed: u64,
    },
    /// The note carries no cosignature by the required witness key.
    #[error("no cosignature by witness {0}")]
    Unwitnessed(String),
    /// A cosignature line by the witness key does not verify (forged, or moved from
    /// another checkpoint).
    #[error("cosignature by witness {0} does not verify")]
    BadCosignature(String),
    /// A witness name or key string is malformed, or the note has no room for another
    /// signature line.
    #[error("malformed witness key, name or note")]
    Malformed,
}

impl WitnessError {
    /// The error's stable kind: a fork, rollback or bad cosignature is an integrity
    /// failure; a proof from the wrong size is a conflict (retry with the right one).
    pub fn kind(&self) -> ErrorKind {
        match self {
            WitnessError::SizeMismatch { .. } => ErrorKind::Conflict,
            WitnessError::Malformed | WitnessError::Checkpoint(CheckpointError::Malformed) => {
                ErrorKind::Malformed
            }
            _ => ErrorKind::Integrity,
        }
    }
}

/// The message a `cosignature/v1` signs: header line, time line, the note body.
pub fn cosigned_message(body: &str, time: u64) -> String {
    format!("{COSIGNATURE_HEADER}\ntime {time}\n{body}")
}

/// A witness's public key, as a C2SP verifier key string
/// (`<name>+<8 hex key ID>+<base64(0x04 || 32-byte Ed25519 key)>`).
#[derive(Clone, PartialEq, Eq)]
pub struct WitnessPublicKey {
    name: String,
    key: VerifyingKey,
}

impl std::fmt::Debug for WitnessPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WitnessPublicKey({})", self.to_vkey())
    }
}

impl WitnessPublicKey {
    /// The witness's name (its signature lines carry it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key ID: `SHA-256(name || "\n" || 0x04 || key)[..4]`.
    pub fn key_id(&self) -> [u8; 4] {
        note_key_id(&self.name, ALG_COSIGNATURE_V1, &self.key)
    }

    /// The verifier key string a customer keeps.
    pub fn to_vkey(&self) -> String {
        encode_vkey(&self.name, ALG_COSIGNATURE_V1, &self.key)
    }

    /// Parses a verifier key string (as [`WitnessPublicKey::to_vkey`] writes it).
    pub fn parse(vkey: &str) -> Result<Self, WitnessError> {
        let (name, key) = parse_vkey(vkey, ALG_COSIGNATURE_V1).ok_or(WitnessError::Malformed)?;
        Ok(WitnessPublicKey { name, key })
    }
}

/// [`checkpoint::split_note`](super::checkpoint::split_note), signature lines collected.
fn split_note(note: &[u8]) -> Result<(&str, Vec<&str>), WitnessError> {
    let (body, sigs) = super::checkpoint::split_note(note).map_err(WitnessError::Checkpoint)?;
    Ok((body, sigs.collect()))
}

/// Verifies the cosignature(s) by `witness` on a signed checkpoint note and returns the
/// timestamp of the first that verifies. The log's own signature is not checked here
/// ([`open_checkpoint`] does that).
pub fn verify_cosignature(note: &[u8], witness: &WitnessPublicKey) -> Result<u64, WitnessError> {
    let (body, sigs) = split_note(note)?;
    let id = witness.key_id();
    let mut seen = false;
    for line in sigs.iter().take(MAX_SIGNATURES) {
        let Some((name, blob)) = line.strip_prefix(EM_DASH).and_then(|r| r.split_once(' ')) else {
            continue;
        };
        if name != witness.name {
            continue;
        }
        let Ok(blob) = B64.decode(blob) else { continue };
        if blob.len() < 4 || blob[..4] != id {
            continue;
        }
        seen = true;
        if blob.len() != COSIG_LEN {
            continue;
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&blob[4..12]);
        let time = u64::from_be_bytes(ts);
        if time > i64::MAX as u64 {
            continue;
        }
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&blob[12..]) else {
            continue;
        };
        let msg = cosigned_message(body, time);
        if witness.key.verify(msg.as_bytes(), &sig).is_ok() {
            return Ok(time);
        }
    }
    Err(if seen {
        WitnessError::BadCosignature(witness.name.clone())
    } else {
        WitnessError::Unwitnessed(witness.name.clone())
    })
}

/// A witness: a second Ed25519 key that countersigns a log's checkpoint only if it is
/// consistent with the last one it cosigned for that log. The state (last checkpoint per
/// origin) is kept in memory; [`Witness::trust`] reloads it from a stored note.
pub struct Witness {
    name: String,
    key: SigningKey,
    log_keys: Vec<AuditPublicKey>,
    seen: Mutex<HashMap<String, Checkpoint>>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("public", &self.public())
            .field("log_keys", &self.log_keys)
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// A witness named `name` (a schema-less URL such as `witness.example.com/w1`) with the
    /// Ed25519 seed `seed`, cosigning checkpoints signed by one of `log_keys`.
    pub fn new(
        name: &str,
        seed: &[u8; 32],
        log_keys: Vec<AuditPublicKey>,
    ) -> Result<Self, WitnessError> {
        if !valid_name(name) || log_keys.is_empty() {
            return Err(WitnessError::Malformed);
        }
        Ok(Witness {
            name: name.to_owned(),
            key: SigningKey::from_bytes(seed),
            log_keys,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// The witness's public key.
    pub fn public(&self) -> WitnessPublicKey {
        WitnessPublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The last checkpoint cosigned (or trusted) for `origin`.
    pub fn latest(&self, origin: &str) -> Option<Checkpoint> {
        self.state().get(origin).cloned()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HashMap<String, Checkpoint>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&self, note: &[u8]) -> Result<Checkpoint, WitnessError> {
        let cp = open_checkpoint(note, &self.log_keys).map_err(WitnessError::Checkpoint)?;
        let owned = self.log_keys.iter().any(|k| {
            cp.origin
                .strip_prefix(k.name())
                .is_some_and(|r| r.len() > 1 && r.starts_with('/'))
        });
        if !owned {
            return Err(WitnessError::OriginMismatch);
        }
        Ok(cp)
    }

    /// Takes a signed checkpoint as the witness's state for its log without cosigning
    /// (a restart: the last note the witness cosigned, from where it was kept). Refuses
    /// one behind the state already held.
    pub fn trust(&self, note: &[u8]) -> Result<Checkpoint, WitnessError> {
        let cp = self.open(note)?;
        let mut st = self.state();
        if let Some(last) = st.get(&cp.origin) {
            if cp.size < last.size {
                return Err(WitnessError::Rollback {
                    seen: last.size,
                    offered: cp.size,
                });
            }
        }
        st.insert(cp.origin.clone(), cp.clone());
        Ok(cp)
    }

    /// Cosigns the signed checkpoint `note` at Unix time `now`, given a consistency proof
    /// from `old_size` (the size the witness holds for the log; 0 and an empty proof for a
    /// log it has not seen, which it then trusts on first use). Returns the note with the
    /// cosignature line appended. Refuses a rollback, a fork (another root at the held
    /// size, or a proof that does not verify) and a proof from another size; a refusal
    /// leaves the state unchanged.
    pub fn cosign(
        &self,
        note: &[u8],
        old_size: u64,
        proof: &[Hash],
        now: u64,
    ) -> Result<String, WitnessError> {
        let cp = self.open(note)?;
        let (body, sigs) = split_note(note)?;
        if sigs.len() >= MAX_SIGNATURES || now > i64::MAX as u64 {
            return Err(WitnessError::Malformed);
        }
        let mut st = self.state();
        let (held_size, held_root) = st
            .get(&cp.origin)
            .map_or((0, merkle::EMPTY_ROOT), |c| (c.size, c.root));
        if cp.size < held_size {
            return Err(WitnessError::Rollback {
                seen: held_size,
                offered: cp.size,
            });
        }
        if cp.size == held_size && cp.root != held_root {
            return Err(WitnessError::Fork);
        }
        if old_size != held_size {
            return Err(WitnessError::SizeMismatch {
                seen: held_size,
                claimed: old_size,
            });
        }
        if held_size > 0 {
            merkle::verify_consistency(held_size, cp.size, proof, &held_root, &cp.root)
                .map_err(|_| WitnessError::Fork)?;
        } else if !proof.is_empty() {
            return Err(WitnessError::Fork);
        }
        let msg = cosigned_message(body, now);
        let sig = self.key.sign(msg.as_bytes());
        let mut blob = self.public().key_id().to_vec();
        blob.extend_from_slice(&now.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        let text = std::str::from_utf8(note)
            .map_err(|_| WitnessError::Checkpoint(CheckpointError::Malformed))?;
        let out = format!("{text}{EM_DASH}{} {}\n", self.name, B64.encode(blob));
        if out.len() > MAX_NOTE_LEN {
            return Err(WitnessError::Malformed);
        }
        st.insert(cp.origin.clone(), cp);
        Ok(out)
    }
}

/// The signed note at the end of an export bundle (or a proof), after the `checkpoint`
/// line. Entry lines never hold a raw newline, so the first such line is the mark.
fn note_of(bundle: &[u8]) -> Option<&[u8]> {
    let mark = format!("\n{CHECKPOINT_MARK}\n");
    let at = memchr::memmem::find(bundle, mark.as_bytes())?;
    Some(&bundle[at + mark.len()..])
}

/// Replaces the checkpoint note at the end of an export bundle by `cosigned`, the same
/// checkpoint with cosignature lines added (as [`Witness::cosign`] returns it). Refuses a
/// note of another checkpoint.
pub fn attach_cosigned_note(bundle: &[u8], cosigned: &str) -> Result<Vec<u8>, WitnessError> {
    let malformed = WitnessError::Checkpoint(CheckpointError::Malformed);
    let note = note_of(bundle).ok_or(malformed.clone())?;
    let (old_body, _) = split_note(note)?;
    let (new_body, _) = split_note(cosigned.as_bytes())?;
    if old_body != new_body {
        return Err(malformed);
    }
    let mut out = bundle[..bundle.len() - note.len()].to_vec();
    out.extend_from_slice(cosigned.as_bytes());
    Ok(out)
}

/// The outcome of [`verify_export_witnessed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessedVerdict {
    /// The export verifies and its checkpoint carries a valid cosignature by every
    /// required witness.
    Valid {
        /// What the bundle holds.
        summary: ExportSummary,
        /// Each required witness's cosignature time, in the order given.
        cosigned_at: Vec<u64>,
    },
    /// The export verifies and is witnessed, but the earlier checkpoint is of the lost
    /// window of a recorded database restore ([`ExportVerdict::Restored`]).
    Restored {
        /// What the bundle holds.
        summary: ExportSummary,
        /// The restore that covers the earlier checkpoint.
        restore: RestoreNotice,
        /// Each required witness's cosignature time, in the order given.
        cosigned_at: Vec<u64>,
    },
    /// The export itself does not verify ([`verify_export`]'s reason).
    Tampered {
        /// Why.
        reason: TamperReason,
        /// The entry line to blame, when one is.
        line: Option<u64>,
    },
    /// The export verifies but a required witness's cosignature is missing or forged.
    NotWitnessed(WitnessError),
}

/// [`verify_export`], and then: the bundle's checkpoint must carry a valid cosignature by
/// each of `witnesses`.
pub fn verify_export_witnessed(
    bundle: &[u8],
    keys: &[AuditPublicKey],
    earlier_checkpoint: Option<&[u8]>,
    witnesses: &[WitnessPublicKey],
) -> WitnessedVerdict {
    let (summary, restore) = match verify_export(bundle, keys, earlier_checkpoint) {
        ExportVerdict::Valid(s) => (s, None),
        ExportVerdict::Restored { summary, restore } => (summary, Some(restore)),
        ExportVerdict::Tampered { reason, line } => {
            return WitnessedVerdict::Tampered { reason, line }
        }
    };
    let Some(note) = note_of(bundle) else {
        return WitnessedVerdict::Tampered {
            reason: TamperReason::BundleMalformed,
            line: None,
        };
    };
    let mut cosigned_at = Vec::with_capacity(witnesses.len());
    for w in witnesses {
        match verify_cosignature(note, w) {
            Ok(t) => cosigned_at.push(t),
            Err(e) => return WitnessedVerdict::NotWitnessed(e),
        }
    }
    match restore {
        None => WitnessedVerdict::Valid {
            summary,
            cosigned_at,
        },
        Some(restore) => WitnessedVerdict::Restored {
            summary,
            restore,
            cosigned_at,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::checkpoint::CheckpointSigner;
    use super::*;
    use sha2::{Digest, Sha256};

    const ORIGIN: &str = "tenantguard/audit/acme";

    fn leaves(n: u64, salt: u8) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(&[salt, i as u8, (i >> 8) as u8]))
            .collect()
    }

    fn note(s: &CheckpointSigner, l: &[Hash]) -> String {
        s.sign(&Checkpoint {
            origin: ORIGIN.into(),
            size: l.len() as u64,
            root: merkle::root(l),
            time: 1_800_000_000,
        })
    }

    fn setup() -> (CheckpointSigner, Witness) {
        let s = CheckpointSigner::new("tenantguard/audit", &[7u8; 32]);
        let w = Witness::new("witness.example.com/w1", &[9u8; 32], vec![s.public()]).unwrap();
        (s, w)
    }

    #[test]
    fn consistent_checkpoints_are_cosigned_and_verify() {
        let (s, w) = setup();
        let l = leaves(20, 0);
        let n7 = note(&s, &l[..7]);
        let c7 = w.cosign(n7.as_bytes(), 0, &[], 1_800_000_100).unwrap();
        assert!(c7.starts_with(&n7) && c7.len() > n7.len());
        // The log's signature still opens; the cosignature verifies with its time.
        assert_eq!(
            open_checkpoint(c7.as_bytes(), &[s.public()]).unwrap().size,
            7
        );
        let pk = w.public();
        assert_eq!(verify_cosignature(c7.as_bytes(), &pk), Ok(1_800_000_100));
        assert_eq!(WitnessPublicKey::parse(&pk.to_vkey()), Ok(pk.clone()));
        // A later checkpoint with a proof from 7 is cosigned; the state moves on.
        let n20 = note(&s, &l);
        let proof = merkle::consistency_proof(&l, 7).unwrap();
        let c20 = w.cosign(n20.as_bytes(), 7, &proof, 1_800_000_200).unwrap();
        assert_eq!(verify_cosignature(c20.as_bytes(), &pk), Ok(1_800_000_200));
        assert_eq!(w.latest(ORIGIN).unwrap().size, 20);
        // The same checkpoint again (same root) is cosigned again.
        assert!(w.cosign(n20.as_bytes(), 20, &[], 1_800_000_300).is_ok());
    }

    #[test]
    fn a_fork_a_rollback_and_a_wrong_size_are_refused() {
        let (s, w) = setup();
        let l = leaves(20, 0);
        w.cosign(note(&s, &l[..7]).as_bytes(), 0, &[], 1).unwrap();
        // A forked history: entry 3 rewritten, the log key still signs it.
        let mut forked = l.clone();
        forked[3] = merkle::leaf_hash(b"rewritten");
        let proof = merkle::consistency_proof(&forked, 7).unwrap();
        assert_eq!(
            w.cosign(note(&s, &forked).as_bytes(), 7, &proof, 2),
            Err(WitnessError::Fork)
        );
        // The honest proof offered with the forked checkpoint does not help either.
        let honest = merkle::consistency_proof(&l, 7).unwrap();
        assert_eq!(
            w.cosign(note(&s, &forked).as_bytes(), 7, &honest, 2),
            Err(WitnessError::Fork)
        );
        // Another root at the held size.
        assert_eq!(
            w.cosign(note(&s, &forked[..7]).as_bytes(), 7, &[], 2),
            Err(WitnessError::Fork)
        );
        // A rollback, and a proof from a size the witness does not hold.
        assert_eq!(
            w.cosign(note(&s, &l[..5]).as_bytes(), 7, &[], 2),
            Err(WitnessError::Rollback {
                seen: 7,
                offered: 5
            })
        );
        let p5 = merkle::consistency_proof(&l, 5).unwrap();
        let e = w.cosign(note(&s, &l).as_bytes(), 5, &p5, 2).unwrap_err();
        assert_eq!(
            e,
            WitnessError::SizeMismatch {
                seen: 7,
                claimed: 5
            }
        );
        assert_eq!(e.kind(), ErrorKind::Conflict);
        // Refusals left the state where it was.
        assert_eq!(w.latest(ORIGIN).unwrap().root, merkle::root(&l[..7]));
        // A note not signed by the log key is refused outright.
        let stranger = CheckpointSigner::new("tenantguard/audit", &[8u8; 32]);
        assert_eq!(
            w.cosign(note(&stranger, &l).as_bytes(), 7, &honest, 2),
            Err(WitnessError::Checkpoint(CheckpointError::UnknownKey))
        );
        // A restarted witness that reloads its last note refuses the fork too.
        let (_, w2) = setup();
        w2.trust(note(&s, &l[..7]).as_bytes()).unwrap();
        assert_eq!(
            w2.cosign(note(&s, &forked).as_bytes(), 7, &proof, 2),
            Err(WitnessError::Fork)
        );
    }

    #[test]
    fn a_forged_or_moved_cosignature_fails() {
        let (s, w) = setup();
        let l = leaves(9, 1);
        let n = note(&s, &l);
        let c = w.cosign(n.as_bytes(), 0, &[], 1_800_000_000).unwrap();
        let pk = w.public();
        let line = &c[n.len()..];
        let (prefix, blob) = line.trim_end().rsplit_once(' ').unwrap();
        let blob = B64.decode(blob).unwrap();
        assert_eq!(blob.len(), COSIG_LEN);
        let forge = |i: usize| {
            let mut b = blob.clone();
            b[i] ^= 1;
            format!("{n}{prefix} {}\n", B64.encode(b))
        };
        // The timestamp, or any signature byte, altered.
        for i in [4, 11, 12, 40, 75] {
            assert_eq!(
                verify_cosignature(forge(i).as_bytes(), &pk),
                Err(WitnessError::BadCosignature(pk.name().into())),
                "byte {i}"
            );
        }
        // The key ID altered: no longer by this witness.
        assert_eq!(
            verify_cosignature(forge(0).as_bytes(), &pk),
            Err(WitnessError::Unwitnessed(pk.name().into()))
        );
        // The cosignature moved onto another checkpoint of the same log.
        let other = note(&s, &l[..8]);
        let moved = format!("{other}{line}");
        assert!(open_checkpoint(moved.as_bytes(), &[s.public()]).is_ok());
        assert_eq!(
            verify_cosignature(moved.as_bytes(), &pk),
            Err(WitnessError::BadCosignature(pk.name().into()))
        );
        // Another witness (same name, other key) did not cosign; nor does the bare note.
        let impostor = Witness::new(pk.name(), &[10u8; 32], vec![s.public()]).unwrap();
        assert_eq!(
            verify_cosignature(c.as_bytes(), &impostor.public()),
            Err(WitnessError::Unwitnessed(pk.name().into()))
        );
        assert_eq!(
            verify_cosignature(n.as_bytes(), &pk),
            Err(WitnessError::Unwitnessed(pk.name().into()))
        );
    }

    #[test]
    fn the_bytes_are_c2sp_cosignature_v1() {
        let (s, w) = setup();
        let l = leaves(4, 2);
        let n = note(&s, &l);
        let c = w.cosign(n.as_bytes(), 0, &[], 1_679_315_147).unwrap();
        let line = c[n.len()..].strip_suffix('\n').unwrap();
        let rest = line
            .strip_prefix("\u{2014} witness.example.com/w1 ")
            .unwrap();
        let blob = B64.decode(rest).unwrap();
        // Key ID: SHA-256(name || "\n" || 0x04 || key)[:4].
        let vk = SigningKey::from_bytes(&[9u8; 32]).verifying_key();
        let mut h = Sha256::new();
        h.update(b"witness.example.com/w1\n\x04");
        h.update(vk.as_bytes());
        assert_eq!(blob[..4], h.finalize()[..4]);
        assert_eq!(blob[4..12], 1_679_315_147u64.to_be_bytes());
        // Signed message: "cosignature/v1\ntime <t>\n" then the whole note body.
        let body = &n[..n.find("\n\n").unwrap() + 1];
        let msg = format!("cosignature/v1\ntime 1679315147\n{body}");
        let sig = ed25519_dalek::Signature::from_slice(&blob[12..]).unwrap();
        assert!(vk.verify(msg.as_bytes(), &sig).is_ok());
        let vkey = w.public().to_vkey();
        assert!(vkey.starts_with(&format!(
            "witness.example.com/w1+{}+",
            hex::encode(&blob[..4])
        )));
    }
}
