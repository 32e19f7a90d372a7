//! Operators: what replaces a recognized value.

use std::collections::BTreeMap;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{EntityKind, Finding, PseudonymSession};
use crate::crypto::TenantKey;

/// How recognized values are replaced (the serializable choice a policy stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Letters and digits become `*`; cards, phones, IBANs and SSNs keep their last 4 digits.
    Mask,
    /// The value becomes its type tag, e.g. `[EMAIL]`.
    Tag,
    /// The value becomes a keyed hash tag, e.g. `[EMAIL:3f9a1c2b7d6e]`: HMAC-SHA256 under a
    /// per-tenant key, so equal values give equal tags across calls without revealing them.
    Hash,
    /// Cards and IBANs become valid-looking fakes (Luhn, mod-97), e-mails and phones fakes
    /// of the same shape; other kinds become placeholders. Restorable.
    Fake,
    /// The value becomes a per-request placeholder such as `<EMAIL_1>`. Restorable.
    #[default]
    Pseudonymize,
}

/// An operator together with what it needs.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Operation<'a> {
    /// See [`Operator::Mask`].
    Mask,
    /// See [`Operator::Tag`].
    Tag,
    /// See [`Operator::Hash`].
    Hash(&'a HashKey),
    /// See [`Operator::Fake`]; the session keeps the mapping.
    Fake(&'a PseudonymSession),
    /// See [`Operator::Pseudonymize`]; the session keeps the mapping.
    Pseudonymize(&'a PseudonymSession),
}

const HASH_INFO: &[u8] = b"tenantguard/v1/redact-hash";

/// The HMAC-SHA256 key of the hash operator. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct HashKey(Zeroizing<[u8; 32]>);

impl HashKey {
    /// Derives the key from a tenant's data key (HKDF-SHA256, its own label), so each
    /// tenant's tags are unrelated to every other tenant's. Rotating the tenant key changes the tags.
    pub fn from_tenant_key(key: &TenantKey) -> Self {
        HashKey(Zeroizing::new(key.derive_subkey(HASH_INFO)))
    }

    /// Wraps raw key bytes (tests, host-managed keys).
    pub fn from_bytes(key: [u8; 32]) -> Self {
        HashKey(Zeroizing::new(key))
    }

    pub(crate) fn tag(&self, kind: &EntityKind, value: &str) -> String {
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(kind.tag().as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut s = String::with_capacity(kind.tag().len() + 16);
        s.push('[');
        s.push_str(kind.tag());
        s.push(':');
        for b in &out[..6] {
            s.push_str(&format!("{b:02x}"));
        }
        s.push(']');
        s
    }
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey([REDACTED])")
    }
}

/// The result of a redaction.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Redacted {
    /// The text with every finding replaced.
    pub text: String,
    /// What was found, with byte ranges into the original text.
    pub findings: Vec<Finding>,
}

impl Redacted {
    /// How many values of each tag were replaced (no values, only counts).
    pub fn summary(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for f in &self.findings {
            *m.entry(f.kind.tag().to_owned()).or_insert(0) += 1;
        }
        m
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redacted")
            .field("text", &self.text)
            .field("summary", &self.summary())
            .finish()
    }
}

/// Masks `value` into `out`.
pub(crate) fn mask(kind: &EntityKind, value: &str, out: &mut String) {
    let keep_last = match kind {
        EntityKind::CreditCard | EntityKind::Phone | EntityKind::Iban | EntityKind::UsSsn => 4,
        _ => 0,
    };
    let total = value.bytes().filter(u8::is_ascii_alphanumeric).count();
    let mut seen = 0;
    for c in value.chars() {
        if c.is_ascii_alphanumeric() {
            seen += 1;
            if total - seen < keep_last {
                out.push(c);
            } else {
                out.push('*');
            }
        } else if c.is_ascii_punctuation() || c.is_ascii_whitespace() {
            out.push(c);
        } else {
            out.push('*');
        }
    }
}

/// Writes the type tag of `kind`.
pub(crate) fn tag(kind: &EntityKind, out: &mut String) {
    out.push('[');
    out.push_str(kind.tag());
    out.push(']');
}
