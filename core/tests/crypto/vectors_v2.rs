//! Format v2 (`tg2`) vectors (`tests/vectors/format_v2.json`), checked here against an
//! independent reference built from RustCrypto's `xaes-256-gcm`, `hkdf` and `hmac`
//! crates, and by the Python and Kotlin tests through their public `Guard` API. Also
//! C2SP's XAES-256-GCM vectors (the two fixed ones and the 10,000-iteration accumulated
//! one) through the core's own XAES derivation and AEAD backend.
//!
//! Regenerate (only when the format deliberately changes, which needs a new version):
//! `TG_REGENERATE_VECTORS=1 cargo test -p tenantguard --test crypto vectors_v2::`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use aes_gcm::aead::{AeadInOut, KeyInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tenantguard::crypto::{KeyId, SealFormat, SealedValue};
use tenantguard::hazmat::{open, seal, seal_v2_with_nonce, xaes_256_gcm_seal, Context, TenantKey};
use tenantguard::TenantId;

const DESCRIPTION: &str = "tenantguard sealed-value format v2 (tg2) test vectors. \
Top level: {description, format, valid: [Valid], invalid: [Invalid]}. All byte strings are lowercase hex. \
Valid = {name, data_key_hex (32 bytes), key_id, tenant_id, context_kind (\"caller\" or \"record\"), \
context (the caller context, UTF-8; empty for records), record_class, record_id (empty for caller contexts), \
nonce_hex (24 bytes), plaintext_hex, xaes_key_hex, commit_key_hex, commitment_hex (intermediate values), \
sealed_hex (binary form), sealed_text (text form)}. \
Construction: okm = HKDF-SHA256(salt = \"tenantguard/v2/key-version\", ikm = data key, \
info = \"tg2 xaes key || tg2 commitment key\", L = 64); xaes key = okm[0..32], commit key = okm[32..64] \
(once per key version). header = 0x02 || u32be(key id) || nonce. \
commitment = HMAC-SHA256(commit key, header || u8(len(tenant id)) || tenant id || typed context), \
typed context = 0x01 || u32be(len(context)) || context for a caller context, \
0x02 || u32be(len(class)) || class || u32be(len(id)) || id for a stored record. \
ct || tag = XAES-256-GCM (C2SP) (xaes key, nonce, aad = header || commitment, plaintext). \
binary = header || commitment || ct || tag (77 bytes + plaintext); \
text = \"tg2:\" || decimal key id || \":\" || base64url without padding of binary[5..]. \
Invalid = {name, form (\"binary\" hex or \"text\"), input, data_key_hex, key_id, tenant_id, context_kind, \
context, record_class, record_id (the key and scope the opener holds), stage (\"parse\" or \"open\"), \
expected_error (malformed, unsupported_version, too_large, integrity)}. \
Opening checks the key id, then the commitment (constant time), then the GCM tag.";

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct File {
    description: String,
    format: String,
    valid: Vec<Valid>,
    invalid: Vec<Invalid>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Valid {
    name: String,
    data_key_hex: String,
    key_id: u32,
    tenant_id: String,
    context_kind: String,
    context: String,
    record_class: String,
    record_id: String,
    nonce_hex: String,
    plaintext_hex: String,
    xaes_key_hex: String,
    commit_key_hex: String,
    commitment_hex: String,
    sealed_hex: String,
    sealed_text: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Invalid {
    name: String,
    form: String,
    input: String,
    data_key_hex: String,
    key_id: u32,
    tenant_id: String,
    context_kind: String,
    context: String,
    record_class: String,
    record_id: String,
    stage: String,
    expected_error: String,
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/format_v2.json")
}

/// Deterministic bytes from a label (SHA-256 counter mode): vectors need no randomness.
fn fixed(label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0u32;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(label.as_bytes());
        h.update(i.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(len);
    out
}

fn ctx_of<'a>(kind: &str, context: &'a str, class: &'a str, id: &'a str) -> Context<'a> {
    if kind == "record" {
        Context::Record { class, id }
    } else {
        Context::Caller(context.as_bytes())
    }
}

/// The reference construction, written from the spec with other crates than the core's path.
fn reference(v: &mut Valid) {
    let dk = hex::decode(&v.data_key_hex).unwrap();
    let mut okm = [0u8; 64];
    Hkdf::<Sha256>::new(Some(b"tenantguard/v2/key-version"), &dk)
        .expand(b"tg2 xaes key || tg2 commitment key", &mut okm)
        .unwrap();
    let nonce = hex::decode(&v.nonce_hex).unwrap();
    let mut header = vec![2u8];
    header.extend_from_slice(&v.key_id.to_be_bytes());
    header.extend_from_slice(&nonce);
    let mut m = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&okm[32..]).unwrap();
    m.update(&header);
    m.update(&[v.tenant_id.len() as u8]);
    m.update(v.tenant_id.as_bytes());
    if v.context_kind == "record" {
        m.update(&[2]);
        m.update(&(v.record_class.len() as u32).to_be_bytes());
        m.update(v.record_class.as_bytes());
        m.update(&(v.record_id.len() as u32).to_be_bytes());
        m.update(v.record_id.as_bytes());
    } else {
        m.update(&[1]);
        m.update(&(v.context.len() as u32).to_be_bytes());
        m.update(v.context.as_bytes());
    }
    let commitment = m.finalize().into_bytes();
    let mut aad = header.clone();
    aad.extend_from_slice(&commitment);
    let x = xaes_256_gcm::Xaes256Gcm::new_from_slice(&okm[..32]).unwrap();
    let mut body = hex::decode(&v.plaintext_hex).unwrap();
    let n = xaes_256_gcm::Nonce::try_from(&nonce[..]).unwrap();
    let tag = x
        .encrypt_inout_detached(&n, &aad, body.as_mut_slice().into())
        .unwrap();
    let mut sealed = aad;
    sealed.extend_from_slice(&body);
    sealed.extend_from_slice(&tag);
    v.xaes_key_hex = hex::encode(&okm[..32]);
    v.commit_key_hex = hex::encode(&okm[32..]);
    v.commitment_hex = hex::encode(commitment);
    v.sealed_hex = hex::encode(&sealed);
    v.sealed_text = SealedValue::from_bytes(&sealed).unwrap().to_text();
}

fn build_valid() -> Vec<Valid> {
    let (t64, x1024) = ("t".repeat(64), "x".repeat(1024));
    let specs: Vec<(&str, u32, &str, &str, &str, &str, usize)> = vec![
        // name, key id, tenant, kind, context or class, record id, plaintext length
        (
            "empty_plaintext",
            1,
            "acme",
            "caller",
            "credentials/password/row-42",
            "",
            0,
        ),
        ("short", 1, "acme", "caller", "ctx", "", 12),
        ("one_block", 2, "acme", "caller", "ctx", "", 16),
        ("odd_length", 7, "globex.eu-1", "caller", "", "", 33),
        ("empty_context", 1, "a", "caller", "", "", 5),
        ("max_key_id", 4294967295, "acme", "caller", "c", "", 64),
        ("long_tenant", 3, &t64, "caller", "col", "", 100),
        ("long_context", 1, "acme", "caller", &x1024, "", 7),
        ("kilobyte", 1, "acme", "caller", "blob", "", 1000),
        (
            "utf8_context",
            1,
            "acme",
            "caller",
            "colonne/mot-de-passe/é",
            "",
            9,
        ),
        ("record", 1, "acme", "record", "password", "row-42", 20),
        ("record_colon_in_id", 1, "acme", "record", "a", "b:c", 3),
        ("record_colon_in_class", 1, "acme", "record", "a:b", "c", 3),
        ("record_empty_class", 5, "acme", "record", "", "id", 1),
    ];
    specs
        .into_iter()
        .map(|(name, key_id, tenant, kind, ctx, rid, len)| {
            let mut v = Valid {
                name: name.into(),
                data_key_hex: hex::encode(fixed(&format!("key {key_id}"), 32)),
                key_id,
                tenant_id: tenant.into(),
                context_kind: kind.into(),
                context: if kind == "caller" {
                    ctx.into()
                } else {
                    String::new()
                },
                record_class: if kind == "record" {
                    ctx.into()
                } else {
                    String::new()
                },
                record_id: rid.into(),
                nonce_hex: hex::encode(fixed(&format!("nonce {name}"), 24)),
                plaintext_hex: hex::encode(fixed(&format!("pt {name}"), len)),
                xaes_key_hex: String::new(),
                commit_key_hex: String::new(),
                commitment_hex: String::new(),
                sealed_hex: String::new(),
                sealed_text: String::new(),
            };
            reference(&mut v);
            v
        })
        .collect()
}

fn invalid_from(
    v: &Valid,
    name: &str,
    form: &str,
    input: String,
    stage: &str,
    err: &str,
) -> Invalid {
    Invalid {
        name: name.into(),
        form: form.into(),
        input,
        data_key_hex: v.data_key_hex.clone(),
        key_id: v.key_id,
        tenant_id: v.tenant_id.clone(),
        context_kind: v.context_kind.clone(),
        context: v.context.clone(),
        record_class: v.record_class.clone(),
        record_id: v.record_id.clone(),
        stage: stage.into(),
        expected_error: err.into(),
    }
}

fn build_invalid(valid: &[Valid]) -> Vec<Invalid> {
    let base = valid.iter().find(|v| v.name == "short").unwrap();
    let bytes = hex::decode(&base.sealed_hex).unwrap();
    let flip = |i: usize| {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        hex::encode(b)
    };
    let mut out = vec![
        invalid_from(
            base,
            "flipped_nonce",
            "binary",
            flip(5),
            "open",
            "integrity",
        ),
        invalid_from(
            base,
            "flipped_nonce_gcm_half",
            "binary",
            flip(20),
            "open",
            "integrity",
        ),
        invalid_from(
            base,
            "flipped_commitment",
            "binary",
            flip(40),
            "open",
            "integrity",
        ),
        invalid_from(
            base,
            "flipped_ciphertext",
            "binary",
            flip(62),
            "open",
            "integrity",
        ),
        invalid_from(
            base,
            "flipped_tag",
            "binary",
            flip(bytes.len() - 1),
            "open",
            "integrity",
        ),
        invalid_from(
            base,
            "truncated_to_76",
            "binary",
            hex::encode(&bytes[..76]),
            "parse",
            "malformed",
        ),
        invalid_from(
            base,
            "truncated_tag",
            "binary",
            hex::encode(&bytes[..bytes.len() - 1]),
            "open",
            "integrity",
        ),
        invalid_from(
            base,
            "version_3",
            "binary",
            {
                let mut b = bytes.clone();
                b[0] = 3;
                hex::encode(b)
            },
            "parse",
            "unsupported_version",
        ),
        invalid_from(
            base,
            "key_id_0",
            "binary",
            {
                let mut b = bytes.clone();
                b[1..5].fill(0);
                hex::encode(b)
            },
            "parse",
            "malformed",
        ),
        invalid_from(
            base,
            "other_key_id",
            "binary",
            {
                let mut b = bytes.clone();
                b[4] = 9;
                hex::encode(b)
            },
            "open",
            "integrity",
        ),
        invalid_from(
            base,
            "v2_body_as_v1",
            "text",
            base.sealed_text.replacen("tg2:", "tg1:", 1),
            "open",
            "integrity",
        ),
        invalid_from(
            base,
            "bad_base64",
            "text",
            format!("{}!", base.sealed_text),
            "parse",
            "malformed",
        ),
        invalid_from(
            base,
            "padded_base64",
            "text",
            format!("{}=", base.sealed_text),
            "parse",
            "malformed",
        ),
        invalid_from(
            base,
            "text_version_3",
            "text",
            base.sealed_text.replacen("tg2:", "tg3:", 1),
            "parse",
            "unsupported_version",
        ),
    ];
    let mut other_tenant = invalid_from(
        base,
        "other_tenant",
        "binary",
        base.sealed_hex.clone(),
        "open",
        "integrity",
    );
    other_tenant.tenant_id = "acme2".into();
    out.push(other_tenant);
    let mut other_ctx = invalid_from(
        base,
        "other_context",
        "binary",
        base.sealed_hex.clone(),
        "open",
        "integrity",
    );
    other_ctx.context = "ctx2".into();
    out.push(other_ctx);
    let mut other_key = invalid_from(
        base,
        "other_data_key_same_id",
        "binary",
        base.sealed_hex.clone(),
        "open",
        "integrity",
    );
    other_key.data_key_hex = hex::encode(fixed("another key", 32));
    out.push(other_key);
    // v1's ambiguity, closed: class "a", id "b:c" does not open as class "a:b", id "c",
    // nor as the caller context "record:a:b:c" (v1's spelling of it).
    let rec = valid
        .iter()
        .find(|v| v.name == "record_colon_in_id")
        .unwrap();
    let mut moved = invalid_from(
        rec,
        "record_moved_across_colon",
        "binary",
        rec.sealed_hex.clone(),
        "open",
        "integrity",
    );
    moved.record_class = "a:b".into();
    moved.record_id = "c".into();
    out.push(moved);
    let mut as_caller = invalid_from(
        rec,
        "record_opened_as_caller_context",
        "binary",
        rec.sealed_hex.clone(),
        "open",
        "integrity",
    );
    as_caller.context_kind = "caller".into();
    as_caller.context = "record:a:b:c".into();
    as_caller.record_class.clear();
    as_caller.record_id.clear();
    out.push(as_caller);
    out
}

fn build() -> File {
    let valid = build_valid();
    let invalid = build_invalid(&valid);
    File {
        description: DESCRIPTION.into(),
        format: "tg2".into(),
        valid,
        invalid,
    }
}

fn load() -> File {
    if std::env::var_os("TG_REGENERATE_VECTORS").is_some() {
        let mut json = serde_json::to_string_pretty(&build()).unwrap();
        json.push('\n');
        std::fs::write(path(), json).unwrap();
    }
    let raw = std::fs::read_to_string(path()).expect("tests/vectors/format_v2.json");
    serde_json::from_str(&raw).expect("vector file parses")
}

fn key(data_key_hex: &str, id: u32) -> TenantKey {
    let k: [u8; 32] = hex::decode(data_key_hex).unwrap().try_into().unwrap();
    TenantKey::from_bytes(KeyId::new(id).unwrap(), k)
}

#[test]
fn file_is_what_the_reference_produces() {
    assert_eq!(
        load(),
        build(),
        "format_v2.json is stale or hand-edited: see this file's header"
    );
}

#[test]
fn valid_vectors_seal_parse_and_open() {
    let f = load();
    assert!(f.valid.len() >= 14);
    for v in &f.valid {
        let k = key(&v.data_key_hex, v.key_id);
        let t = TenantId::new(&v.tenant_id).unwrap();
        let ctx = ctx_of(&v.context_kind, &v.context, &v.record_class, &v.record_id);
        let nonce: [u8; 24] = hex::decode(&v.nonce_hex).unwrap().try_into().unwrap();
        let pt = hex::decode(&v.plaintext_hex).unwrap();
        let sealed = seal_v2_with_nonce(&k, &t, ctx, &pt, &nonce).unwrap();
        assert_eq!(hex::encode(sealed.as_bytes()), v.sealed_hex, "{}", v.name);
        assert_eq!(sealed.to_text(), v.sealed_text, "{}", v.name);
        let parsed = SealedValue::parse(&v.sealed_text).unwrap();
        assert_eq!(parsed, sealed);
        assert_eq!(parsed.version(), 2);
        assert_eq!(
            open(&k, &t, ctx, &parsed).unwrap().expose(),
            pt.as_slice(),
            "{}",
            v.name
        );
        // A random-nonce seal of the same input opens too, and differs.
        let fresh = seal(&k, &t, ctx, &pt, SealFormat::V2).unwrap();
        assert_ne!(fresh, sealed);
        assert_eq!(open(&k, &t, ctx, &fresh).unwrap().expose(), pt.as_slice());
    }
}

#[test]
fn invalid_vectors_fail_with_their_kind() {
    let f = load();
    for v in &f.invalid {
        let parsed = if v.form == "text" {
            SealedValue::parse(&v.input)
        } else {
            SealedValue::from_bytes(&hex::decode(&v.input).unwrap())
        };
        let err = match parsed {
            Err(e) => {
                assert_eq!(v.stage, "parse", "{} parsed", v.name);
                e
            }
            Ok(value) => {
                assert_eq!(v.stage, "open", "{} failed to parse", v.name);
                let k = key(&v.data_key_hex, v.key_id);
                let t = TenantId::new(&v.tenant_id).unwrap();
                let ctx = ctx_of(&v.context_kind, &v.context, &v.record_class, &v.record_id);
                open(&k, &t, ctx, &value).expect_err(&v.name)
            }
        };
        assert_eq!(err.kind().as_str(), v.expected_error, "{}", v.name);
    }
}

#[test]
fn c2sp_xaes_256_gcm_accumulated_10000() {
    use shake::{ExtendableOutput, Update, XofReader};
    let mut s = shake::Shake128::default().finalize_xof();
    let mut d = shake::Shake128::default();
    for _ in 0..10_000 {
        let mut key = [0u8; 32];
        s.read(&mut key);
        let mut nonce = [0u8; 24];
        s.read(&mut nonce);
        let mut len = [0u8; 1];
        s.read(&mut len);
        let mut pt = vec![0u8; len[0] as usize];
        s.read(&mut pt);
        s.read(&mut len);
        let mut aad = vec![0u8; len[0] as usize];
        s.read(&mut aad);
        let ct = xaes_256_gcm_seal(&key, &nonce, &aad, &pt);
        d.update(&ct);
    }
    let mut out = [0u8; 32];
    d.finalize_xof().read(&mut out);
    assert_eq!(
        hex::encode(out),
        "e6b9edf2df6cec60c8cbd864e2211b597fb69a529160cd040d56c0c210081939"
    );
}
