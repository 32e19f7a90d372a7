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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hash of "no previous entry" (`seq` 1 links to it).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Domain separator hashed before the canonical JSON.
pub const HASH_DOMAIN: &[u8] = b"tenantguard/audit/v1\n";
/// Domain separator of the entry MAC.
pub const MAC_DOMAIN: &[u8] = b"tenantguard/audit-mac/v1\n";

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
    /// The previous entry's hash (lowercase hex).
    pub prev: String,
    /// This entry's hash (lowercase hex).
    pub hash: String,
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
            prev: prev.to_owned(),
            hash: String::new(),
        };
        if let Some(k) = &draft.mac_key {
            e.mac = Some(e.compute_mac(k.id(), k.0.expose()));
        }
        e.hash = e.compute_hash();
        e
    }

    /// The MAC of this entry under `key` (version `key_id`): `"<key_id>:<hex>"`.
    pub(crate) fn compute_mac(&self, key_id: u32, key: &[u8; 32]) -> String {
        use hmac::{KeyInit, Mac};
        let mut o = Vec::with_capacity(MAC_DOMAIN.len() + 320);
        o.extend_from_slice(MAC_DOMAIN);
        self.write_fields(&mut o, false, false);
        let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(&o);
        // Hex into a stack buffer: `hex::encode` builds its String char by char, and every
        // audited action computes this twice (append, then the checkpoint's re-check).
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
    /// sorted, no whitespace (docs/FORMAT.md). Its bytes are the Merkle leaf.
    pub fn canonical_line(&self) -> String {
        let mut o = Vec::with_capacity(384);
        self.write_fields(&mut o, true, true);
        String::from_utf8(o).unwrap_or_default()
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
        o.extend_from_slice(b",\"details\":{");
        for (i, (k, v)) in self.details.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            write_str(o, k);
            o.push(b':');
            write_str(o, v);
        }
        o.push(b'}');
        if with_hash {
            o.extend_from_slice(b",\"hash\":");
            write_str(o, &self.hash);
        }
        if let (true, Some(m)) = (with_mac, &self.mac) {
            o.extend_from_slice(b",\"mac\":");
            write_str(o, m);
        }
        o.extend_from_slice(b",\"prev\":");
        write_str(o, &self.prev);
        o.extend_from_slice(b",\"reason\":");
        match &self.reason {
            Some(r) => write_str(o, r),
            None => o.extend_from_slice(b"null"),
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

    /// Recomputes this entry's hash from its other fields.
    pub fn compute_hash(&self) -> String {
        let mut o = Vec::with_capacity(HASH_DOMAIN.len() + 320);
        o.extend_from_slice(HASH_DOMAIN);
        self.write_canonical(&mut o);
        let digest = Sha256::digest(&o);
        let mut hex = [0u8; 64];
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(digest, &mut hex);
        std::str::from_utf8(&hex).unwrap_or_default().to_owned()
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
