//! Audit entries, their canonical JSON, the chain hash and the entry MAC.
//!
//! An entry's hash is `SHA-256("tenantguard/audit/v1\n" || canonical)`, where `canonical`
//! is the entry as a JSON object without its `hash` field, keys sorted by byte order, no
//! whitespace, absent `reason` written as `null`, `mac` present only when the entry has
//! one. The `prev` field holds the previous entry's hash (64 zeros for `seq` 1), so each
//! entry commits to the whole chain before it.
//!
//! The `mac` (`"<key id>:<64 hex>"`) is HMAC-SHA256 under the keyring's `audit-mac` key
//! over `"tenantguard/audit-mac/v1\n" || canonical-without-mac`: it covers the tenant,
//! `seq` and `prev`, so a database writer (who never holds the key) can neither forge an
//! entry, nor move, renumber or re-link one. Entries written before MACs existed have
//! none (see docs/FORMAT.md, "legacy prefix").
//!
//! Personal data (format v2, docs/FORMAT.md "Erasable personal fields"): an entry written
//! with a salt keeps `actor`, `target` and `reason` out of its hash, MAC and Merkle leaf.
//! Those cover `personal`, a salted commitment
//! `SHA-256("tenantguard/audit-personal/v1\n" || salt || {"actor":..,"reason":..,"target":..})`.
//! Erasing the entry's personal data deletes the three fields and the 32-byte random salt;
//! the commitment stays, so the chain, the MAC and the tree still verify, and without the
//! salt nobody (the key holder included) can test a guessed subject against it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hash of "no previous entry" (`seq` 1 links to it).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Domain separator hashed before the canonical JSON.
pub const HASH_DOMAIN: &[u8] = b"tenantguard/audit/v1\n";
/// Domain separator of the entry MAC.
pub const MAC_DOMAIN: &[u8] = b"tenantguard/audit-mac/v1\n";
/// Domain separator of the hash of an entry with erasable personal fields (format v2).
pub const HASH_DOMAIN_V2: &[u8] = b"tenantguard/audit/v2\n";
/// Domain separator of the MAC of an entry with erasable personal fields (format v2).
pub const MAC_DOMAIN_V2: &[u8] = b"tenantguard/audit-mac/v2\n";
/// Domain separator of the salted commitment to an entry's personal fields.
pub const PERSONAL_DOMAIN: &[u8] = b"tenantguard/audit-personal/v1\n";

/// The 32 random bytes that salt one entry's personal-field commitment. Deleting them
/// (with the fields) is what erases the entry's personal data; Debug never shows them.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct PersonalSalt(pub(crate) [u8; 32]);

impl PersonalSalt {
    /// A fresh salt from the OS generator.
    pub fn generate() -> crate::Result<Self> {
        let mut s = [0u8; 32];
        crate::crypto::rng::fill(&mut s).map_err(crate::Error::from)?;
        Ok(PersonalSalt(s))
    }

    /// A salt from known bytes (test vectors).
    pub fn from_bytes(b: [u8; 32]) -> Self {
        PersonalSalt(b)
    }
}

impl std::fmt::Debug for PersonalSalt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonalSalt([REDACTED])")
    }
}

/// The `audit-mac` service key a store MACs a new entry with (handed over in the draft:
/// the store computes the MAC under its append lock, once `seq` and `prev` are known).
#[derive(Clone)]
pub struct AuditMacKey(pub(crate) std::sync::Arc<crate::kms::ServiceKey>);

impl AuditMacKey {
    /// Wraps a key of the `audit-mac` purpose.
    pub fn new(key: std::sync::Arc<crate::kms::ServiceKey>) -> Self {
        AuditMacKey(key)
    }

    /// The key's version (written before the MAC).
    pub fn id(&self) -> u32 {
        self.0.id().get()
    }
}

impl std::fmt::Debug for AuditMacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditMacKey(#{}, [REDACTED])", self.id())
    }
}

impl PartialEq for AuditMacKey {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}
impl Eq for AuditMacKey {}

/// Refuses a JSON object that repeats a key (serde's maps keep the last value silently:
/// `{"role":"owner","role":"viewer"}` would read as a viewer).
fn unique_map<'de, D>(d: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of strings")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            let mut m = BTreeMap::new();
            while let Some((k, v)) = a.next_entry::<String, String>()? {
                if m.contains_key(&k) {
                    return Err(serde::de::Error::custom(format_args!(
                        "duplicate field `{k}`"
                    )));
                }
                m.insert(k, v);
            }
            Ok(m)
        }
    }
    d.deserialize_map(V)
}

/// One entry of a tenant's audit log, as stored and exported (one JSON Lines line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// The tenant.
    pub tenant: String,
    /// Position in the tenant's chain, from 1, without gaps.
    pub seq: u64,
    /// When, Unix seconds.
    pub time: i64,
    /// Who: `service`, `user:<id>` or `agent:<id>`.
    pub actor: String,
    /// What, e.g. `token.create` (see [`AuditAction`](super::AuditAction)).
    pub action: String,
    /// On what (a token id, key id, record id...).
    pub target: String,
    /// Why, when the action needs a justification (credential opens).
    pub reason: Option<String>,
    /// Further facts (counts, key ids, decisions). No secrets, ever.
    #[serde(deserialize_with = "unique_map")]
    pub details: BTreeMap<String, String>,
    /// The entry MAC, `"<key id>:<64 hex>"` (absent on entries written before MACs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The salted commitment to `actor`, `target` and `reason` (lowercase hex), on entries
    /// whose personal fields are erasable (format v2); absent on older entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal: Option<String>,
    /// The commitment's salt (lowercase hex); absent once the personal fields are erased
    /// (then `actor` and `target` are empty and `reason` is null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// The previous entry's hash (lowercase hex).
    pub prev: String,
    /// This entry's hash (lowercase hex).
    pub hash: String,
}

/// What a store reports of an entry it appended by value ([`AuditStore::append_audit_owned`](super::AuditStore::append_audit_owned)):
/// its place in the chain and its Merkle leaf, so the SDK can extend its transparency tree
/// with its own entry instead of reading it back and re-verifying it. Built with
/// [`AppendedEntry::of`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppendedEntry {
    /// The entry's sequence number.
    pub seq: u64,
    /// Its time, Unix seconds.
    pub time: i64,
    /// The previous entry's hash it was chained to (lowercase hex).
    pub prev: String,
    /// Its own hash (lowercase hex).
    pub hash: String,
    /// Whether it carries a MAC.
    pub has_mac: bool,
    /// Its Merkle leaf hash: `SHA-256(0x00 || leaf_line)`.
    pub leaf: [u8; 32],
}

impl AppendedEntry {
    /// What to report of `e`.
    pub fn of(e: &AuditEntry) -> Self {
        Self::of_in(e, &mut Vec::with_capacity(512))
    }

    /// [`AppendedEntry::of`], serializing the leaf line into `o`.
    fn of_in(e: &AuditEntry, o: &mut Vec<u8>) -> Self {
        AppendedEntry {
            seq: e.seq,
            time: e.time,
            prev: e.prev.clone(),
            hash: e.hash.clone(),
            has_mac: e.mac.is_some(),
            leaf: e.leaf_hash_in(o),
        }
    }
}

/// What to append: everything but the chain fields, which the store fills in atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    /// When, Unix seconds.
    pub time: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Why.
    pub reason: Option<String>,
    /// Further facts.
    pub details: BTreeMap<String, String>,
    /// The key the store MACs the entry with (the guard sets it; `None` writes an
    /// entry without MAC, which verification after the legacy prefix refuses).
    pub mac_key: Option<AuditMacKey>,
    /// The salt of the personal-field commitment (the guard sets a fresh one; `None`
    /// writes a format-v1 entry whose personal fields cannot be erased).
    pub personal_salt: Option<PersonalSalt>,
}

/// The erasable part of an entry, as a store keeps it apart from the entry's JSON (SQLite
/// and PostgreSQL: the `personal` column of `tg_audit`, the one column erasure may clear).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalFields {
    /// Who.
    pub actor: String,
    /// On what.
    pub target: String,
    /// Why.
    pub reason: Option<String>,
    /// The commitment's salt (lowercase hex).
    pub salt: String,
}

impl std::fmt::Debug for PersonalFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonalFields")
            .field("actor", &self.actor)
            .field("target", &self.target)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl PersonalFields {
    /// The JSON a store keeps them as.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses [`PersonalFields::to_json`].
    pub fn from_json(s: &str) -> Option<Self> {
        serde_json::from_str(s).ok()
    }
}

/// The commitment to an entry's personal fields under `salt` (lowercase hex).
pub fn personal_commitment(
    salt: &[u8; 32],
    actor: &str,
    target: &str,
    reason: Option<&str>,
) -> String {
    personal_commitment_in(&mut Vec::new(), salt, actor, target, reason)
}

/// [`personal_commitment`], serializing into `o` (cleared first; a buffer reused across
/// the hashes of one append).
fn personal_commitment_in(
    o: &mut Vec<u8>,
    salt: &[u8; 32],
    actor: &str,
    target: &str,
    reason: Option<&str>,
) -> String {
    o.clear();
    o.extend_from_slice(PERSONAL_DOMAIN);
    o.extend_from_slice(salt);
    o.extend_from_slice(b"{\"actor\":");
    write_str(o, actor);
    o.extend_from_slice(b",\"reason\":");
    match reason {
        Some(r) => write_str(o, r),
        None => o.extend_from_slice(b"null"),
    }
    o.extend_from_slice(b",\"target\":");
    write_str(o, target);
    o.push(b'}');
    hex32(&Sha256::digest(&o[..]).into())
}

/// Lowercase hex of 32 bytes, through a stack buffer: `hex::encode` builds its `String`
/// one `char` at a time, and every audited action hex-encodes a salt and a commitment.
pub(crate) fn hex32(b: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    // 32 bytes always fit 64 hex digits, which are ASCII.
    let _ = hex::encode_to_slice(b, &mut out);
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

/// Whether `subject` is named by a personal field: `actor` or `target` equal to it or
/// ending in `:<subject>` (`user:alice`, `member:alice`), or a `reason` that contains it.
pub fn names_subject(subject: &str, actor: &str, target: &str, reason: Option<&str>) -> bool {
    let field = |f: &str| {
        f == subject
            || f.strip_suffix(subject)
                .is_some_and(|head| head.ends_with(':'))
    };
    !subject.is_empty()
        && (field(actor) || field(target) || reason.is_some_and(|r| r.contains(subject)))
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's string escaping is deterministic (`to_string` is this writer into a
    // Vec); writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_num(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    use std::io::Write;
    let _ = write!(out, "{n}");
}

impl AuditEntry {
    /// Chains `draft` as entry `seq` of `tenant` after the entry whose hash is `prev`.
    pub fn chain(tenant: &str, seq: u64, prev: &str, draft: &AuditDraft) -> AuditEntry {
        Self::chain_owned(tenant, seq, prev, draft.clone())
    }

    /// [`AuditEntry::chain`] moving the draft's fields into the entry.
    pub fn chain_owned(tenant: &str, seq: u64, prev: &str, draft: AuditDraft) -> AuditEntry {
        Self::chain_in(&mut Vec::with_capacity(512), tenant, seq, prev, draft)
    }

    /// [`AuditEntry::chain_owned`] and what an [`AuditStore::append_audit_owned`](super::AuditStore::append_audit_owned)
    /// reports of it, with one serialization buffer for all four hashes.
    pub(crate) fn chain_appended(
        tenant: &str,
        seq: u64,
        prev: &str,
        draft: AuditDraft,
    ) -> (AuditEntry, AppendedEntry) {
        let mut o = Vec::with_capacity(512);
        let e = Self::chain_in(&mut o, tenant, seq, prev, draft);
        let appended = AppendedEntry::of_in(&e, &mut o);
        (e, appended)
    }

    fn chain_in(
        o: &mut Vec<u8>,
        tenant: &str,
        seq: u64,
        prev: &str,
        draft: AuditDraft,
    ) -> AuditEntry {
        let mut e = AuditEntry {
            tenant: tenant.to_owned(),
            seq,
            time: draft.time,
            actor: draft.actor,
            action: draft.action,
            target: draft.target,
            reason: draft.reason,
            details: draft.details,
            mac: None,
            personal: None,
            salt: None,
            prev: prev.to_owned(),
            hash: String::new(),
        };
        if let Some(salt) = &draft.personal_salt {
            e.personal = Some(personal_commitment_in(
                o,
                &salt.0,
                &e.actor,
                &e.target,
                e.reason.as_deref(),
            ));
            e.salt = Some(hex32(&salt.0));
        }
        if let Some(k) = &draft.mac_key {
            e.mac = Some(e.compute_mac_in(o, k.id(), k.0.expose()));
        }
        e.hash = e.compute_hash_in(o);
        e
    }

    /// The MAC of this entry under `key` (version `key_id`): `"<key_id>:<hex>"`.
    pub(crate) fn compute_mac(&self, key_id: u32, key: &[u8; 32]) -> String {
        self.compute_mac_in(&mut Vec::with_capacity(MAC_DOMAIN.len() + 320), key_id, key)
    }

    fn compute_mac_in(&self, o: &mut Vec<u8>, key_id: u32, key: &[u8; 32]) -> String {
        use hmac::{KeyInit, Mac};
        o.clear();
        if self.personal.is_some() {
            o.extend_from_slice(MAC_DOMAIN_V2);
            self.write_committed(o, false, false);
        } else {
            o.extend_from_slice(MAC_DOMAIN);
            self.write_fields(o, false, false);
        }
        let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(o);
        // Hex into a stack buffer: `hex::encode` builds its String char by char.
        let mut hex = [0u8; 64];
        let _ = hex::encode_to_slice(m.finalize().into_bytes(), &mut hex);
        let mut out = String::with_capacity(75);
        let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{key_id}:"));
        out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
        out
    }

    /// The key version named by this entry's MAC, if it has a well-formed one.
    pub fn mac_key_id(&self) -> Option<u32> {
        let (id, hex) = self.mac.as_deref()?.split_once(':')?;
        if hex.len() != 64 || id.is_empty() || id.starts_with('0') || id.len() > 10 {
            return None;
        }
        id.parse().ok()
    }

    /// Whether the MAC matches under `key` (constant time).
    pub(crate) fn mac_matches(&self, key: &[u8; 32]) -> bool {
        let (Some(id), Some(have)) = (self.mac_key_id(), self.mac.as_deref()) else {
            return false;
        };
        let want = self.compute_mac(id, key);
        bool::from(subtle::ConstantTimeEq::ct_eq(
            want.as_bytes(),
            have.as_bytes(),
        ))
    }

    /// The canonical line of an export: every field (`hash` and `mac` included), keys
    /// sorted, no whitespace (docs/FORMAT.md). For a format-v1 entry its bytes are the
    /// Merkle leaf; see [`AuditEntry::leaf_line`].
    pub fn canonical_line(&self) -> String {
        let mut o = Vec::with_capacity(384);
        self.write_fields(&mut o, true, true);
        String::from_utf8(o).unwrap_or_default()
    }

    /// The bytes the Merkle leaf hashes: the canonical line, without the personal fields
    /// and salt on a format-v2 entry (so erasing them leaves the tree as it was).
    pub fn leaf_line(&self) -> String {
        if self.personal.is_none() {
            return self.canonical_line();
        }
        let mut o = Vec::with_capacity(320);
        self.write_committed(&mut o, true, true);
        String::from_utf8(o).unwrap_or_default()
    }

    /// Whether this entry's personal fields can be erased (format v2).
    pub fn is_erasable(&self) -> bool {
        self.personal.is_some()
    }

    /// Whether this entry's personal fields were erased.
    pub fn is_erased(&self) -> bool {
        self.personal.is_some() && self.salt.is_none()
    }

    /// Checks the personal fields against the commitment: present fields must match it
    /// under the salt; erased ones must be empty. A format-v1 entry passes.
    pub fn personal_fields_match(&self) -> bool {
        let Some(personal) = &self.personal else {
            return self.salt.is_none();
        };
        let Some(salt) = &self.salt else {
            return self.actor.is_empty() && self.target.is_empty() && self.reason.is_none();
        };
        let mut s = [0u8; 32];
        if salt.len() != 64
            || hex::decode_to_slice(salt, &mut s).is_err()
            || salt.bytes().any(|b| b.is_ascii_uppercase())
        {
            return false;
        }
        let want = personal_commitment(&s, &self.actor, &self.target, self.reason.as_deref());
        bool::from(subtle::ConstantTimeEq::ct_eq(
            want.as_bytes(),
            personal.as_bytes(),
        ))
    }

    /// Splits a format-v2 entry into the row a store appends (personal fields empty, no
    /// salt) and the erasable fields it keeps apart. A v1 entry has no erasable part.
    pub fn split_personal(&self) -> (AuditEntry, Option<PersonalFields>) {
        let (Some(_), Some(salt)) = (&self.personal, &self.salt) else {
            return (self.clone(), None);
        };
        let fields = PersonalFields {
            actor: self.actor.clone(),
            target: self.target.clone(),
            reason: self.reason.clone(),
            salt: salt.clone(),
        };
        let mut row = self.clone();
        row.erase_personal();
        (row, Some(fields))
    }

    /// Puts the erasable fields a store kept apart back into the entry.
    pub fn with_personal(mut self, p: Option<PersonalFields>) -> AuditEntry {
        if let (Some(p), Some(_)) = (p, &self.personal) {
            self.actor = p.actor;
            self.target = p.target;
            self.reason = p.reason;
            self.salt = Some(p.salt);
        }
        self
    }

    /// Drops the personal fields and salt (the commitment stays). No-op on a v1 entry.
    pub fn erase_personal(&mut self) {
        if self.personal.is_some() {
            self.actor.clear();
            self.target.clear();
            self.reason = None;
            self.salt = None;
        }
    }

    /// Whether the entry's personal fields name `subject` ([`names_subject`]).
    pub fn names_subject(&self, subject: &str) -> bool {
        names_subject(subject, &self.actor, &self.target, self.reason.as_deref())
    }

    /// The canonical JSON (without `hash`) that the hash covers.
    pub fn canonical(&self) -> String {
        let mut o = Vec::with_capacity(256);
        self.write_canonical(&mut o);
        // Only JSON text and serde_json's escapes were written: always UTF-8.
        String::from_utf8(o).unwrap_or_default()
    }

    /// Writes the canonical JSON into `o`, each string escaped straight into it (one
    /// buffer per entry: the hash of every audited open pays for this).
    fn write_canonical(&self, o: &mut Vec<u8>) {
        self.write_fields(o, true, false)
    }

    /// Writes the entry's fields in key order; `mac` only if `with_mac` and present,
    /// `hash` only if `with_hash`.
    fn write_fields(&self, o: &mut Vec<u8>, with_mac: bool, with_hash: bool) {
        // Keys in byte order: action, actor, details, hash, mac, prev, reason, seq,
        // target, tenant, time.
        o.extend_from_slice(b"{\"action\":");
        write_str(o, &self.action);
        o.extend_from_slice(b",\"actor\":");
        write_str(o, &self.actor);
        o.extend_from_slice(b",\"details\":");
        self.write_details(o);
        if with_hash {
            o.extend_from_slice(b",\"hash\":");
            write_str(o, &self.hash);
        }
        if let (true, Some(m)) = (with_mac, &self.mac) {
            o.extend_from_slice(b",\"mac\":");
            write_str(o, m);
        }
        if let Some(p) = &self.personal {
            o.extend_from_slice(b",\"personal\":");
            write_str(o, p);
        }
        o.extend_from_slice(b",\"prev\":");
        write_str(o, &self.prev);
        o.extend_from_slice(b",\"reason\":");
        match &self.reason {
            Some(r) => write_str(o, r),
            None => o.extend_from_slice(b"null"),
        }
        if let Some(salt) = &self.salt {
            o.extend_from_slice(b",\"salt\":");
            write_str(o, salt);
        }
        o.extend_from_slice(b",\"seq\":");
        write_num(o, self.seq);
        o.extend_from_slice(b",\"target\":");
        write_str(o, &self.target);
        o.extend_from_slice(b",\"tenant\":");
        write_str(o, &self.tenant);
        o.extend_from_slice(b",\"time\":");
        write_num(o, self.time);
        o.push(b'}');
    }

    /// Writes `details` as a JSON object, keys in byte order.
    fn write_details(&self, o: &mut Vec<u8>) {
        o.push(b'{');
        for (i, (k, v)) in self.details.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            write_str(o, k);
            o.push(b':');
            write_str(o, v);
        }
        o.push(b'}');
    }

    /// Writes a format-v2 entry's committed fields in key order: no `actor`, `reason`,
    /// `salt` or `target` (the `personal` commitment stands for them).
    fn write_committed(&self, o: &mut Vec<u8>, with_mac: bool, with_hash: bool) {
        // Keys in byte order: action, details, hash, mac, personal, prev, seq, tenant, time.
        o.extend_from_slice(b"{\"action\":");
        write_str(o, &self.action);
        o.extend_from_slice(b",\"details\":");
        self.write_details(o);
        if with_hash {
            o.extend_from_slice(b",\"hash\":");
            write_str(o, &self.hash);
        }
        if let (true, Some(m)) = (with_mac, &self.mac) {
            o.extend_from_slice(b",\"mac\":");
            write_str(o, m);
        }
        o.extend_from_slice(b",\"personal\":");
        write_str(o, self.personal.as_deref().unwrap_or_default());
        o.extend_from_slice(b",\"prev\":");
        write_str(o, &self.prev);
        o.extend_from_slice(b",\"seq\":");
        write_num(o, self.seq);
        o.extend_from_slice(b",\"tenant\":");
        write_str(o, &self.tenant);
        o.extend_from_slice(b",\"time\":");
        write_num(o, self.time);
        o.push(b'}');
    }

    /// Recomputes this entry's hash from its other fields.
    pub fn compute_hash(&self) -> String {
        self.compute_hash_in(&mut Vec::with_capacity(HASH_DOMAIN.len() + 320))
    }

    fn compute_hash_in(&self, o: &mut Vec<u8>) -> String {
        o.clear();
        if self.personal.is_some() {
            o.extend_from_slice(HASH_DOMAIN_V2);
            self.write_committed(o, true, false);
        } else {
            o.extend_from_slice(HASH_DOMAIN);
            self.write_canonical(o);
        }
        hex32(&Sha256::digest(&o[..]).into())
    }

    /// The Merkle leaf hash of [`AuditEntry::leaf_line`], serializing into `o`.
    fn leaf_hash_in(&self, o: &mut Vec<u8>) -> [u8; 32] {
        o.clear();
        if self.personal.is_none() {
            self.write_fields(o, true, true);
        } else {
            self.write_committed(o, true, true);
        }
        super::merkle::leaf_hash(o)
    }

    /// The entry as one JSON Lines line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_sorted_and_stable() {
        let mut details = BTreeMap::new();
        details.insert("b".to_string(), "2".to_string());
        details.insert("a".to_string(), "\"q\"".to_string());
        let d = AuditDraft {
            time: 5,
            actor: "service".into(),
            action: "key.rotate".into(),
            target: "key:2".into(),
            reason: None,
            details,
            mac_key: None,
            personal_salt: None,
        };
        let e = AuditEntry::chain("acme", 1, GENESIS, &d);
        assert_eq!(
            e.canonical(),
            format!("{{\"action\":\"key.rotate\",\"actor\":\"service\",\"details\":{{\"a\":\"\\\"q\\\"\",\"b\":\"2\"}},\"prev\":\"{GENESIS}\",\"reason\":null,\"seq\":1,\"target\":\"key:2\",\"tenant\":\"acme\",\"time\":5}}")
        );
        // The canonical form is the serde form minus `hash`, with keys sorted.
        let v: serde_json::Value = serde_json::from_str(&e.to_json_line()).unwrap();
        let mut m = v.as_object().unwrap().clone();
        m.remove("hash");
        let sorted: BTreeMap<_, _> = m.into_iter().collect();
        assert_eq!(serde_json::to_string(&sorted).unwrap(), e.canonical());
        assert_eq!(e.hash.len(), 64);
        assert_eq!(e.hash, e.compute_hash());
    }

    /// The canonical form is written straight into one buffer: it must stay the serde
    /// form (escapes of quotes, controls, non-ASCII) and the hash SHA-256 over it.
    #[test]
    fn canonical_escapes_match_serde_and_the_hash_covers_them() {
        let mut details = BTreeMap::new();
        details.insert("k\u{1}\"".to_string(), "v\\\n\u{7f}é😀".to_string());
        let d = AuditDraft {
            time: -7,
            actor: "user:\u{0}x".into(),
            action: "credential.open".into(),
            target: "value:a\tb\u{2028}".into(),
            reason: Some("why \"not\"\r".into()),
            details,
            mac_key: None,
            personal_salt: None,
        };
        let e = AuditEntry::chain("t-1", u64::MAX, GENESIS, &d);
        let v: serde_json::Value = serde_json::from_str(&e.to_json_line()).unwrap();
        let mut m = v.as_object().unwrap().clone();
        m.remove("hash");
        let sorted: BTreeMap<_, _> = m.into_iter().collect();
        assert_eq!(serde_json::to_string(&sorted).unwrap(), e.canonical());
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update(e.canonical().as_bytes());
        assert_eq!(e.hash, hex::encode(h.finalize()));
    }
}
