//! Audit entries, their canonical JSON and the chain hash.
//!
//! An entry's hash is `SHA-256("tenantguard/audit/v1\n" || canonical)`, where `canonical`
//! is the entry as a JSON object without its `hash` field, keys sorted by byte order, no
//! whitespace, absent `reason` written as `null`. The `prev` field holds the previous
//! entry's hash (64 zeros for `seq` 1), so each entry commits to the whole chain before it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hash of "no previous entry" (`seq` 1 links to it).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Domain separator hashed before the canonical JSON.
pub const HASH_DOMAIN: &[u8] = b"tenantguard/audit/v1\n";

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
    pub details: BTreeMap<String, String>,
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
            prev: prev.to_owned(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
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
        // Keys in byte order: action, actor, details, prev, reason, seq, target, tenant, time.
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
        o.extend_from_slice(b"},\"prev\":");
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
