//! Signed checkpoints of a tenant's audit log, in the C2SP `tlog-checkpoint` form inside a
//! C2SP `signed-note` (docs/FORMAT.md, "Audit checkpoints"):
//!
//! ```text
//! tenantguard/audit/acme          <- origin: the configured prefix, "/", the tenant
//! 1042                            <- tree size (entries)
//! 2ZJ...Q=                        <- base64 RFC 6962 root hash
//! time 1764700000                 <- extension line: Unix seconds when signed
//!
//! — tenantguard/audit Bx3kA...    <- key name, base64(4-byte key hash || Ed25519 signature)
//! ```
//!
//! Ed25519 from `ed25519-dalek` (a well-kept, audited crate); the seed is a
//! `checkpoint-signing` key of the service keyring, wrapped by the KEK: the database
//! never holds it in clear, and customers verify with the public key alone.

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// Longest signed note accepted, in bytes.
pub const MAX_NOTE_LEN: usize = 16 * 1024;
/// Most signature lines read from one note.
pub const MAX_SIGNATURES: usize = 16;
/// Longest origin line, in bytes.
pub const MAX_ORIGIN_LEN: usize = 256;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Signed-note algorithm byte of Ed25519.
const ALG_ED25519: u8 = 0x01;
const EM_DASH: &str = "\u{2014} ";

/// What a checkpoint states: the log `origin` had `size` entries with root `root` at `time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name: the origin prefix, `/`, the tenant id.
    pub origin: String,
    /// Number of entries covered.
    pub size: u64,
    /// RFC 6962 root over those entries' canonical lines.
    pub root: Hash,
    /// When it was signed, Unix seconds.
    pub time: i64,
}

impl Checkpoint {
    /// The note body that is signed (ends with a newline).
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\n",
            self.origin,
            self.size,
            B64.encode(self.root),
            self.time
        )
    }
}

/// Why a checkpoint note was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Not a well-formed signed note or checkpoint (or over the limits).
    #[error("malformed checkpoint")]
    Malformed,
    /// No signature line is by a key given to the verifier.
    #[error("checkpoint not signed by a known key")]
    UnknownKey,
    /// A signature by a known key does not verify: the note was altered.
    #[error("checkpoint signature does not verify")]
    BadSignature,
}

/// An audit checkpoint public key, as a C2SP note verifier key
/// (`<name>+<8 hex key hash>+<base64(0x01 || 32-byte Ed25519 key)>`).
#[derive(Clone, PartialEq, Eq)]
pub struct AuditPublicKey {
    name: String,
    key: VerifyingKey,
}

impl std::fmt::Debug for AuditPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditPublicKey({})", self.to_vkey())
    }
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ORIGIN_LEN
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '+')
}

/// The C2SP note key id of an Ed25519 key of signature type `alg` (log keys 0x01,
/// cosignature/v1 witness keys 0x04): `SHA-256(name || "\n" || alg || key)[..4]`.
pub(crate) fn note_key_id(name: &str, alg: u8, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A C2SP verifier key string: `<name>+<hex key id>+<base64(alg || key)>`.
pub(crate) fn encode_vkey(name: &str, alg: u8, key: &VerifyingKey) -> String {
    let mut k = vec![alg];
    k.extend_from_slice(key.as_bytes());
    format!(
        "{name}+{}+{}",
        hex::encode(note_key_id(name, alg, key)),
        B64.encode(k)
    )
}

/// Parses what [`encode_vkey`] writes for signature type `alg`; `None` on any
/// deviation (another type, a bad name, a key id that does not match the key).
pub(crate) fn parse_vkey(vkey: &str, alg: u8) -> Option<(String, VerifyingKey)> {
    let mut it = vkey.trim_end_matches('\n').splitn(3, '+');
    let (name, h, k) = (it.next()?, it.next()?, it.next()?);
    if !valid_name(name) || h.len() != 8 {
        return None;
    }
    let raw = B64.decode(k).ok()?;
    let (&first, rest) = raw.split_first()?;
    if first != alg {
        return None;
    }
    let key = VerifyingKey::from_bytes(&rest.try_into().ok()?).ok()?;
    (hex::encode(note_key_id(name, alg, &key)) == h).then(|| (name.to_owned(), key))
}

impl AuditPublicKey {
    /// The key's name (the origin prefix it signs under).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn ed25519(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The 4-byte key hash: `SHA-256(name || "\n" || 0x01 || key)[..4]`.
    pub fn key_hash(&self) -> [u8; 4] {
        note_key_id(&self.name, ALG_ED25519, &self.key)
    }

    /// The C2SP verifier key string a customer keeps.
    pub fn to_vkey(&self) -> String {
        encode_vkey(&self.name, ALG_ED25519, &self.key)
    }

    /// Parses a verifier key string (as [`AuditPublicKey::to_vkey`] writes it).
    pub fn parse(vkey: &str) -> Result<Self, CheckpointError> {
        let (name, key) = parse_vkey(vkey, ALG_ED25519).ok_or(CheckpointError::Malformed)?;
        Ok(AuditPublicKey { name, key })
    }
}

/// Signs checkpoints with one Ed25519 seed. Never printed.
pub(crate) struct CheckpointSigner {
    name: String,
    key: SigningKey,
}

impl CheckpointSigner {
    pub(crate) fn new(name: &str, seed: &[u8; 32]) -> Self {
        CheckpointSigner {
            name: name.to_owned(),
            key: SigningKey::from_bytes(seed),
        }
    }

    pub(crate) fn public(&self) -> AuditPublicKey {
        AuditPublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The signed note of `cp`.
    pub(crate) fn sign(&self, cp: &Checkpoint) -> String {
        let body = cp.body();
        let sig = self.key.sign(body.as_bytes());
        let mut blob = self.public().key_hash().to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!("{body}\n{EM_DASH}{} {}\n", self.name, B64.encode(blob))
    }
}

fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
    let m = CheckpointError::Malformed;
    let lines: Vec<&str> = body.strip_suffix('\n').ok_or(m)?.split('\n').collect();
    let [origin, size, root, rest @ ..] = lines.as_slice() else {
        return Err(m);
    };
    if !valid_name(origin) || size.is_empty() || size.len() > 20 {
        return Err(m);
    }
    if !size.bytes().all(|b| b.is_ascii_digit()) || (size.len() > 1 && size.starts_with('0')) {
        return Err(m);
    }
    let size: u64 = size.parse().map_err(|_| m)?;
    let root_bytes = B64.decode(root).map_err(|_| m)?;
    let root_hash: Hash = root_bytes.try_into().map_err(|_| m)?;
    if B64.encode(root_hash) != *root {
        return Err(m);
    }
    let root = root_hash;
    // Exactly one extension line, ours: the signing time.
    let [time] = rest else { return Err(m) };
    let t = time.strip_prefix("time ").ok_or(m)?;
    let valid_int = |s: &str| {
        let d = s.strip_prefix('-').unwrap_or(s);
        !d.is_empty()
            && d.len() <= 19
            && d.bytes().all(|b| b.is_ascii_digit())
            && (d.len() == 1 || !d.starts_with('0'))
            && s != "-0"
    };
    if !valid_int(t) {
        return Err(m);
    }
    Ok(Checkpoint {
        origin: (*origin).to_owned(),
        size,
        root,
        time: t.parse().map_err(|_| m)?,
    })
}

/// Splits a signed note into its body (with its final newline) and its signature lines,
/// refusing an oversized, non-UTF-8 or unterminated note.
pub(crate) fn split_note(
    note: &[u8],
) -> Result<(&str, std::str::Split<'_, char>), CheckpointError> {
    let m = CheckpointError::Malformed;
    if note.len() > MAX_NOTE_LEN {
        return Err(m);
    }
    let text = std::str::from_utf8(note).map_err(|_| m)?;
    let split = text.find("\n\n").ok_or(m)?;
    let sigs = text[split + 2..].strip_suffix('\n').ok_or(m)?;
    Ok((&text[..split + 1], sigs.split('\n')))
}

/// Opens a signed checkpoint note: parses it strictly and verifies one signature by one of
/// `keys`. The note's bytes must be exactly as signed.
pub fn open_checkpoint(
    note: &[u8],
    keys: &[AuditPublicKey],
) -> Result<Checkpoint, CheckpointError> {
    let m = CheckpointError::Malformed;
    let (body, sigs) = split_note(note)?;
    let cp = parse_body(body)?;
    let (mut known, mut verified) = (false, false);
    // Every signature line is read, also after one that verifies: a note with a blank or
    // malformed line after its signatures is not a note (it would be a second byte form
    // of the same checkpoint).
    for (i, line) in sigs.enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(m);
        }
        let rest = line.strip_prefix(EM_DASH).ok_or(m)?;
        let (name, blob) = rest.split_once(' ').ok_or(m)?;
        let blob = B64.decode(blob).map_err(|_| m)?;
        if blob.len() < 4 {
            return Err(m);
        }
        for k in keys
            .iter()
            .filter(|k| k.name == name && k.key_hash() == blob[..4])
        {
            known = true;
            let sig = ed25519_dalek::Signature::from_slice(&blob[4..])
                .map_err(|_| CheckpointError::BadSignature)?;
            verified = verified || k.key.verify(body.as_bytes(), &sig).is_ok();
        }
    }
    if verified {
        return Ok(cp);
    }
    Err(if known {
        CheckpointError::BadSignature
    } else {
        CheckpointError::UnknownKey
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_open_and_every_byte_matters() {
        let s = CheckpointSigner::new("tenantguard/audit", &[7u8; 32]);
        let cp = Checkpoint {
            origin: "tenantguard/audit/acme".into(),
            size: 1042,
            root: [9u8; 32],
            time: 1_764_700_000,
        };
        let note = s.sign(&cp);
        let pk = s.public();
        assert_eq!(
            open_checkpoint(note.as_bytes(), std::slice::from_ref(&pk)),
            Ok(cp)
        );
        assert_eq!(AuditPublicKey::parse(&pk.to_vkey()), Ok(pk.clone()));
        let other = CheckpointSigner::new("tenantguard/audit", &[8u8; 32]).public();
        assert_eq!(
            open_checkpoint(note.as_bytes(), &[other]),
            Err(CheckpointError::UnknownKey)
        );
        for i in 0..note.len() {
            let mut b = note.clone().into_bytes();
            b[i] ^= 1;
            assert!(
                open_checkpoint(&b, std::slice::from_ref(&pk)).is_err(),
                "byte {i}"
            );
        }
        // A changed size with a valid-looking body: signature fails.
        let forged = note.replacen("\n1042\n", "\n1041\n", 1);
        assert_eq!(
            open_checkpoint(forged.as_bytes(), &[pk]),
            Err(CheckpointError::BadSignature)
        );
    }
}
