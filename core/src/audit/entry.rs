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

fn write_str(out: &mut String, s: &str) {
    // serde_json's string escaping is deterministic.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

impl AuditEntry {
    /// Chains `draft` as entry `seq` of `tenant` after the entry whose hash is `prev`.
    pub fn chain(tenant: &str, seq: u64, prev: &str, draft: &AuditDraft) -> AuditEntry {
        let mut e = AuditEntry {
            tenant: tenant.to_owned(),
            seq,
            time: draft.time,
            actor: draft.actor.clone(),
            action: draft.action.clone(),
            target: draft.target.clone(),
            reason: draft.reason.clone(),
            details: draft.details.clone(),
            prev: prev.to_owned(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    /// The canonical JSON (without `hash`) that the hash covers.
    pub fn canonical(&self) -> String {
        let mut o = String::with_capacity(256);
        // Keys in byte order: action, actor, details, prev, reason, seq, target, tenant, time.
        o.push_str("{\"action\":");
        write_str(&mut o, &self.action);
        o.push_str(",\"actor\":");
        write_str(&mut o, &self.actor);
        o.push_str(",\"details\":{");
        for (i, (k, v)) in self.details.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            write_str(&mut o, k);
            o.push(':');
            write_str(&mut o, v);
        }
        o.push_str("},\"prev\":");
        write_str(&mut o, &self.prev);
        o.push_str(",\"reason\":");
        match &self.reason {
            Some(r) => write_str(&mut o, r),
            None => o.push_str("null"),
        }
        o.push_str(",\"seq\":");
        o.push_str(&self.seq.to_string());
        o.push_str(",\"target\":");
        write_str(&mut o, &self.target);
        o.push_str(",\"tenant\":");
        write_str(&mut o, &self.tenant);
        o.push_str(",\"time\":");
        o.push_str(&self.time.to_string());
        o.push('}');
        o
    }

    /// Recomputes this entry's hash from its other fields.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update(self.canonical().as_bytes());
        hex::encode(h.finalize())
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
}
