//! Sealed-value format vectors (`tests/vectors/format_v1.json`), shared with the Python and
//! Kotlin bindings' tests.
//!
//! Regenerate (only when the format deliberately changes, which needs a new version):
//! `cargo test -p tenantguard --test crypto -- --ignored vectors::regenerate`
//! or `TG_REGENERATE_VECTORS=1 cargo test -p tenantguard --test crypto vectors::`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tenantguard::crypto::{KeyId, SealedValue};
use tenantguard::hazmat::{open_with_key, seal_with_salt, TenantKey};
use tenantguard::TenantId;

const DESCRIPTION: &str = "tenantguard sealed-value format v1 test vectors. \
Top level: {description, format, valid: [Valid], invalid: [Invalid]}. All byte strings are lowercase hex. \
Valid = {name, data_key_hex (32 bytes), key_id (1..4294967295), tenant_id (1-64 chars of [A-Za-z0-9._-]), \
context (the caller context as a string), context_hex (its UTF-8 bytes: the bytes actually bound), \
salt_hex (16 bytes), plaintext_hex, sealed_hex (binary form), sealed_text (text form)}. \
For each valid vector an implementation must: seal plaintext with the given salt and get exactly sealed_hex; \
encode sealed_hex as text and get exactly sealed_text; parse sealed_text and get exactly sealed_hex; \
open it with (data key, key id, tenant id, context) and get plaintext. \
Construction: okm = HKDF-SHA256(salt = \"tenantguard/v1/record-key\", ikm = data key, \
info = \"tg1 record\" || salt, L = 56); record key = okm[0..32], commitment = okm[32..56]; \
aad = \"tenantguard/v1/aad\" || u8(len(tenant id)) || tenant id || u32be(key id) || u32be(len(context)) || context; \
ct || tag = AES-256-GCM(record key, nonce = 12 zero bytes, aad, plaintext); \
binary = 0x01 || u32be(key id) || salt || commitment || ct || tag (61 bytes + plaintext); \
text = \"tg1:\" || decimal key id (no leading zeros) || \":\" || base64url without padding of binary[5..]. \
Invalid = {name, form (\"binary\": input is hex of the binary form; \"text\": input is the text form), input, \
data_key_hex, key_id, tenant_id, context_hex (the key and scope the opener holds), \
stage (\"parse\": parsing the input must fail; \"open\": parsing succeeds and opening must fail), \
expected_error (the error kind string: malformed, unsupported_version, too_large, integrity)}. \
Opening checks the key id in the value against the opener's key id, then the commitment, then the GCM tag; \
a mismatch in any of them is integrity.";

#[derive(Serialize, Deserialize, Debug, PartialEq)]
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
    context: String,
    context_hex: String,
    salt_hex: String,
    plaintext_hex: String,
    sealed_hex: String,
    sealed_text: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Invalid {
    name: String,
    form: String,
    input: String,
    data_key_hex: String,
    key_id: u32,
    tenant_id: String,
    context_hex: String,
    stage: String,
    expected_error: String,
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/format_v1.json")
}

/// Fixed, reproducible bytes: SHA-256 of a label, truncated or repeated.
fn fixed(label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
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

fn key_bytes(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str)
        .unwrap()
        .try_into()
        .expect("32-byte data key")
}

fn tenant_key(data_key_hex: &str, key_id: u32) -> TenantKey {
    TenantKey::from_bytes(KeyId::new(key_id).unwrap(), key_bytes(data_key_hex))
}

/// The format, computed straight from the primitives (not through tenantguard).
fn reference_seal(
    data_key: &[u8; 32],
    key_id: u32,
    tenant: &str,
    context: &[u8],
    salt: &[u8],
    pt: &[u8],
) -> Vec<u8> {
    let mut okm = [0u8; 56];
    let mut info = b"tg1 record".to_vec();
    info.extend_from_slice(salt);
    Hkdf::<Sha256>::new(Some(b"tenantguard/v1/record-key"), data_key)
        .expand(&info, &mut okm)
        .unwrap();
    let mut aad = b"tenantguard/v1/aad".to_vec();
    aad.push(tenant.len() as u8);
    aad.extend_from_slice(tenant.as_bytes());
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad.extend_from_slice(&(context.len() as u32).to_be_bytes());
    aad.extend_from_slice(context);
    let cipher = Aes256Gcm::new_from_slice(&okm[..32]).unwrap();
    let mut body = pt.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from([0u8; 12]), &aad, body.as_mut_slice().into())
        .unwrap();
    let mut out = vec![0x01];
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(salt);
    out.extend_from_slice(&okm[32..]);
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    out
}

struct Spec {
    name: &'static str,
    key_label: &'static str,
    key_id: u32,
    tenant: String,
    context: String,
    plaintext: Vec<u8>,
}

fn specs() -> Vec<Spec> {
    let s = |name, key_label, key_id, tenant: &str, context: &str, plaintext: Vec<u8>| Spec {
        name,
        key_label,
        key_id,
        tenant: tenant.to_owned(),
        context: context.to_owned(),
        plaintext,
    };
    vec![
        s(
            "basic",
            "key-a",
            1,
            "acme",
            "credentials/password/row-42",
            b"hunter2".to_vec(),
        ),
        s(
            "empty_plaintext",
            "key-a",
            1,
            "acme",
            "credentials/password/row-43",
            Vec::new(),
        ),
        s("one_byte_plaintext", "key-a", 1, "acme", "c", vec![0x00]),
        s(
            "thousand_byte_plaintext",
            "key-b",
            7,
            "globex",
            "chat/transcript/9",
            (0..1000u32).map(|i| (i % 251) as u8).collect(),
        ),
        s(
            "empty_context",
            "key-a",
            1,
            "acme",
            "",
            b"no context".to_vec(),
        ),
        s(
            "non_ascii_context",
            "key-c",
            2,
            "initech",
            "données/ключ/鍵/🔑",
            "pässwörd €".as_bytes().to_vec(),
        ),
        s(
            "max_key_id",
            "key-d",
            u32::MAX,
            "umbrella",
            "api_token/prod",
            b"sk_live_0123456789".to_vec(),
        ),
        s(
            "tenant_id_64_chars",
            "key-e",
            3,
            &"t".repeat(32)
                .chars()
                .chain("0123456789._-ABCDEFGHIJKLMNOPQRS".chars())
                .collect::<String>(),
            "generic/x",
            b"x".to_vec(),
        ),
        s(
            "max_context",
            "key-a",
            1,
            "acme",
            &"c".repeat(1024),
            b"long context".to_vec(),
        ),
        s(
            "binary_plaintext_same_key_other_tenant",
            "key-a",
            1,
            "acme-2",
            "credentials/password/row-42",
            (0..=255u8).collect(),
        ),
    ]
}

fn build_valid() -> Vec<Valid> {
    specs()
        .into_iter()
        .map(|sp| {
            assert!(
                TenantId::new(sp.tenant.clone()).is_ok(),
                "{}: bad tenant id",
                sp.name
            );
            let data_key_hex = hex::encode(fixed(sp.key_label, 32));
            let salt: [u8; 16] = fixed(&format!("salt/{}", sp.name), 16).try_into().unwrap();
            let key = tenant_key(&data_key_hex, sp.key_id);
            let tenant = TenantId::new(sp.tenant.clone()).unwrap();
            let sealed =
                seal_with_salt(&key, &tenant, sp.context.as_bytes(), &sp.plaintext, &salt).unwrap();
            Valid {
                name: sp.name.to_owned(),
                data_key_hex,
                key_id: sp.key_id,
                tenant_id: sp.tenant,
                context_hex: hex::encode(sp.context.as_bytes()),
                context: sp.context,
                salt_hex: hex::encode(salt),
                plaintext_hex: hex::encode(&sp.plaintext),
                sealed_hex: hex::encode(sealed.as_bytes()),
                sealed_text: sealed.to_text(),
            }
        })
        .collect()
}

fn build_invalid(valid: &[Valid]) -> Vec<Invalid> {
    let base = &valid[0]; // "basic": acme, key 1, 7-byte plaintext
    let empty = &valid[1]; // "empty_plaintext": 61 bytes, body length 56 (≡ 2 mod 3)
    let bin = hex::decode(&base.sealed_hex).unwrap();
    let text = base.sealed_text.clone();
    let mut out = Vec::new();
    let mut add = |name: &str,
                   form: &str,
                   input: String,
                   v: &Valid,
                   key_id: u32,
                   tenant: &str,
                   ctx: &[u8],
                   stage: &str,
                   err: &str| {
        out.push(Invalid {
            name: name.to_owned(),
            form: form.to_owned(),
            input,
            data_key_hex: v.data_key_hex.clone(),
            key_id,
            tenant_id: tenant.to_owned(),
            context_hex: hex::encode(ctx),
            stage: stage.to_owned(),
            expected_error: err.to_owned(),
        });
    };
    let ctx = hex::decode(&base.context_hex).unwrap();
    let flip = |i: usize| {
        let mut b = bin.clone();
        b[i] ^= 0x01;
        hex::encode(b)
    };
    let n = bin.len();

    // Parse-stage failures, binary form.
    add(
        "empty_binary",
        "binary",
        String::new(),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "truncated_to_60_bytes",
        "binary",
        hex::encode(&hex::decode(&empty.sealed_hex).unwrap()[..60]),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "truncated_header_only",
        "binary",
        hex::encode(&bin[..5]),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    // Version 3: no release reads it (2 is format v2, docs/FORMAT.md 1.2).
    let mut v2 = bin.clone();
    v2[0] = 0x03;
    add(
        "wrong_version_byte",
        "binary",
        hex::encode(&v2),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "unsupported_version",
    );
    let mut v0 = bin.clone();
    v0[0] = 0x00;
    add(
        "version_byte_zero",
        "binary",
        hex::encode(&v0),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "unsupported_version",
    );
    let mut k0 = bin.clone();
    k0[1..5].copy_from_slice(&[0, 0, 0, 0]);
    add(
        "key_id_zero_binary",
        "binary",
        hex::encode(&k0),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );

    // Parse-stage failures, text form.
    let body = text.strip_prefix("tg1:1:").unwrap();
    add(
        "empty_text",
        "text",
        String::new(),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "wrong_prefix",
        "text",
        format!("xx1:1:{body}"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "wrong_version_text",
        "text",
        format!("tg3:1:{body}"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "unsupported_version",
    );
    add(
        "version_text_leading_zero",
        "text",
        format!("tg01:1:{body}"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "key_id_zero_text",
        "text",
        format!("tg1:0:{body}"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "key_id_leading_zero_text",
        "text",
        format!("tg1:01:{body}"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "key_id_negative_text",
        "text",
        format!("tg1:-1:{body}"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "key_id_plus_sign_text",
        "text",
        format!("tg1:+1:{body}"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "key_id_overflow_text",
        "text",
        format!("tg1:4294967296:{body}"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "key_id_missing_text",
        "text",
        format!("tg1::{body}"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "missing_body_separator",
        "text",
        "tg1:1".to_owned(),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "truncated_text",
        "text",
        text[..text.len() - 12].to_owned(),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "truncated_text_empty_body",
        "text",
        "tg1:1:".to_owned(),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    // base64url of 63 bytes (body length 7 + 56) has no spare bits; use the empty-plaintext
    // value (body 56 bytes: the last character carries 2 unused bits) for non-canonical forms.
    let e_text = &empty.sealed_text;
    let e_ctx = hex::decode(&empty.context_hex).unwrap();
    let last = e_text.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    assert_eq!(idx & 0b11, 0, "canonical encoding has zero trailing bits");
    let noncanon = alphabet.as_bytes()[idx | 0b01] as char;
    add(
        "non_canonical_trailing_bits",
        "text",
        format!("{}{noncanon}", &e_text[..e_text.len() - 1]),
        empty,
        1,
        "acme",
        &e_ctx,
        "parse",
        "malformed",
    );
    add(
        "padding",
        "text",
        format!("{e_text}="),
        empty,
        1,
        "acme",
        &e_ctx,
        "parse",
        "malformed",
    );
    add(
        "double_padding",
        "text",
        format!("{e_text}=="),
        empty,
        1,
        "acme",
        &e_ctx,
        "parse",
        "malformed",
    );
    let std_alpha: String = body.replace('-', "+").replace('_', "/");
    let std_body = if std_alpha == body {
        format!("+{}", &body[1..])
    } else {
        std_alpha
    };
    add(
        "standard_base64_alphabet",
        "text",
        format!("tg1:1:{std_body}"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "whitespace_in_body",
        "text",
        format!("tg1:1:{} {}", &body[..10], &body[10..]),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );
    add(
        "trailing_newline",
        "text",
        format!("{text}\n"),
        base,
        1,
        "acme",
        &ctx,
        "parse",
        "malformed",
    );

    // Open-stage failures.
    add(
        "tampered_tag",
        "binary",
        flip(n - 1),
        base,
        1,
        "acme",
        &ctx,
        "open",
        "integrity",
    );
    add(
        "tampered_ciphertext",
        "binary",
        flip(61 - 16),
        base,
        1,
        "acme",
        &ctx,
        "open",
        "integrity",
    );
    add(
        "tampered_commitment",
        "binary",
        flip(5 + 16),
        base,
        1,
        "acme",
        &ctx,
        "open",
        "integrity",
    );
    add(
        "tampered_salt",
        "binary",
        flip(5),
        base,
        1,
        "acme",
        &ctx,
        "open",
        "integrity",
    );
    let mut k2 = bin.clone();
    k2[1..5].copy_from_slice(&2u32.to_be_bytes());
    add(
        "key_id_changed_opened_with_that_id",
        "binary",
        hex::encode(&k2),
        base,
        2,
        "acme",
        &ctx,
        "open",
        "integrity",
    );
    add(
        "opened_with_other_key_id",
        "binary",
        base.sealed_hex.clone(),
        base,
        2,
        "acme",
        &ctx,
        "open",
        "integrity",
    );
    let wrong_ctx = b"credentials/password/row-41";
    add(
        "wrong_context",
        "text",
        text.clone(),
        base,
        1,
        "acme",
        wrong_ctx,
        "open",
        "integrity",
    );
    add(
        "wrong_context_empty",
        "text",
        text.clone(),
        base,
        1,
        "acme",
        b"",
        "open",
        "integrity",
    );
    add(
        "wrong_tenant",
        "text",
        text.clone(),
        base,
        1,
        "acme-2",
        &ctx,
        "open",
        "integrity",
    );
    let mut other = base.clone();
    other.data_key_hex = hex::encode(fixed("key-z", 32));
    add(
        "wrong_data_key",
        "text",
        text.clone(),
        &other,
        1,
        "acme",
        &ctx,
        "open",
        "integrity",
    );
    add(
        "context_too_large",
        "text",
        text.clone(),
        base,
        1,
        "acme",
        &[b'c'; 1025],
        "open",
        "too_large",
    );
    out
}

fn build() -> File {
    let valid = build_valid();
    let invalid = build_invalid(&valid);
    File {
        description: DESCRIPTION.to_owned(),
        format: "tenantguard-sealed-value/1".to_owned(),
        valid,
        invalid,
    }
}

fn write(file: &File) {
    let mut json = serde_json::to_string_pretty(file).unwrap();
    json.push('\n');
    std::fs::create_dir_all(path().parent().unwrap()).unwrap();
    std::fs::write(path(), json).unwrap();
}

fn load() -> File {
    if std::env::var_os("TG_REGENERATE_VECTORS").is_some() {
        write(&build());
    }
    let raw = std::fs::read_to_string(path())
        .expect("tests/vectors/format_v1.json (regenerate: see this file's header)");
    serde_json::from_str(&raw).expect("vector file parses")
}

#[test]
#[ignore = "writes tests/vectors/format_v1.json; run only when the format deliberately changes"]
fn regenerate() {
    write(&build());
}

#[test]
fn valid_vectors_seal_parse_and_open() {
    let file = load();
    assert!(file.valid.len() >= 10);
    for v in &file.valid {
        let data_key = key_bytes(&v.data_key_hex);
        let key = tenant_key(&v.data_key_hex, v.key_id);
        let tenant = TenantId::new(v.tenant_id.clone()).unwrap();
        let context = hex::decode(&v.context_hex).unwrap();
        assert_eq!(
            context,
            v.context.as_bytes(),
            "{}: context_hex is the context's UTF-8",
            v.name
        );
        let salt: [u8; 16] = hex::decode(&v.salt_hex).unwrap().try_into().unwrap();
        let pt = hex::decode(&v.plaintext_hex).unwrap();
        let expected = hex::decode(&v.sealed_hex).unwrap();

        // Seal: byte for byte, and equal to the from-primitives reference.
        let sealed = seal_with_salt(&key, &tenant, &context, &pt, &salt).unwrap();
        assert_eq!(
            hex::encode(sealed.as_bytes()),
            v.sealed_hex,
            "{}: seal",
            v.name
        );
        assert_eq!(
            reference_seal(&data_key, v.key_id, &v.tenant_id, &context, &salt, &pt),
            expected,
            "{}: reference",
            v.name
        );
        assert_eq!(
            expected.len(),
            pt.len() + tenantguard::crypto::BINARY_OVERHEAD
        );

        // Binary <-> text, both ways.
        assert_eq!(sealed.to_text(), v.sealed_text, "{}: to_text", v.name);
        let from_text = SealedValue::parse(&v.sealed_text).unwrap();
        assert_eq!(
            from_text.as_bytes(),
            expected.as_slice(),
            "{}: parse",
            v.name
        );
        let from_bin = SealedValue::from_bytes(&expected).unwrap();
        assert_eq!(
            from_bin.to_text(),
            v.sealed_text,
            "{}: from_bytes->to_text",
            v.name
        );
        assert_eq!(from_text, from_bin);
        assert_eq!(v.sealed_text.parse::<SealedValue>().unwrap(), from_bin);
        assert_eq!(from_bin.to_string(), v.sealed_text);
        assert!(v.sealed_text.starts_with(&format!("tg1:{}:", v.key_id)));

        // Header fields readable without a key.
        assert_eq!(from_text.version(), 1);
        assert_eq!(from_text.key_id().get(), v.key_id);
        assert_eq!(from_text.plaintext_len(), pt.len());

        // Open, from both forms.
        for value in [&from_text, &from_bin] {
            let opened = open_with_key(&key, &tenant, &context, value).unwrap();
            assert_eq!(opened.expose(), pt.as_slice(), "{}: open", v.name);
        }
    }
}

#[test]
fn valid_vectors_cover_the_edge_cases() {
    let file = load();
    let names: Vec<&str> = file.valid.iter().map(|v| v.name.as_str()).collect();
    for needed in [
        "empty_plaintext",
        "one_byte_plaintext",
        "thousand_byte_plaintext",
        "non_ascii_context",
        "max_key_id",
        "tenant_id_64_chars",
    ] {
        assert!(names.contains(&needed), "missing {needed}");
    }
    assert!(file.valid.iter().any(|v| v.plaintext_hex.is_empty()));
    assert!(file.valid.iter().any(|v| v.plaintext_hex.len() == 2));
    assert!(file.valid.iter().any(|v| v.plaintext_hex.len() == 2000));
    assert!(file.valid.iter().any(|v| !v.context.is_ascii()));
    assert!(file.valid.iter().any(|v| v.key_id == 1));
    assert!(file.valid.iter().any(|v| v.key_id == u32::MAX));
    assert!(file.valid.iter().any(|v| v.tenant_id.len() == 64));
    // Salts and plaintexts are distinct per vector, so no two share a record key and message.
    let mut salts: Vec<&str> = file.valid.iter().map(|v| v.salt_hex.as_str()).collect();
    salts.sort();
    salts.dedup();
    assert_eq!(salts.len(), file.valid.len());
}

#[test]
fn invalid_vectors_fail_with_their_kind() {
    let file = load();
    let mut by_kind = std::collections::BTreeMap::<String, usize>::new();
    for v in &file.invalid {
        let parsed = match v.form.as_str() {
            "binary" => SealedValue::from_bytes(&hex::decode(&v.input).unwrap()),
            "text" => SealedValue::parse(&v.input),
            other => panic!("{}: unknown form {other}", v.name),
        };
        match v.stage.as_str() {
            "parse" => {
                let err = parsed.expect_err(&v.name);
                assert_eq!(err.kind().as_str(), v.expected_error, "{}: {err}", v.name);
            }
            "open" => {
                let value = parsed.unwrap_or_else(|e| panic!("{}: must parse, got {e}", v.name));
                let key = tenant_key(&v.data_key_hex, v.key_id);
                let tenant = TenantId::new(v.tenant_id.clone()).unwrap();
                let err =
                    open_with_key(&key, &tenant, &hex::decode(&v.context_hex).unwrap(), &value)
                        .expect_err(&v.name);
                assert_eq!(err.kind().as_str(), v.expected_error, "{}: {err}", v.name);
                // The same value opened the right way would succeed unless the bytes were altered:
                // the failure is due to the mutation, not to a broken base value.
            }
            other => panic!("{}: unknown stage {other}", v.name),
        }
        *by_kind.entry(v.expected_error.clone()).or_default() += 1;
    }
    for kind in ["malformed", "unsupported_version", "integrity", "too_large"] {
        assert!(
            by_kind.get(kind).copied().unwrap_or(0) > 0,
            "no invalid vector of kind {kind}"
        );
    }
    let names: Vec<&str> = file.invalid.iter().map(|v| v.name.as_str()).collect();
    for needed in [
        "truncated_to_60_bytes",
        "wrong_version_byte",
        "tampered_tag",
        "tampered_commitment",
        "wrong_context",
        "wrong_tenant",
        "key_id_zero_text",
        "non_canonical_trailing_bits",
        "padding",
    ] {
        assert!(names.contains(&needed), "missing invalid vector {needed}");
    }
}

#[test]
fn file_is_what_the_generator_produces() {
    // Catches hand edits and generator changes that were not regenerated.
    assert_eq!(
        load(),
        build(),
        "format_v1.json is stale: see this file's header to regenerate"
    );
}
