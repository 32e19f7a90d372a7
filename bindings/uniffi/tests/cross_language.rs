//! Cross-language checks on the Rust side.
//!
//! * The shared format vectors (`TG_VECTORS`, default `core/tests/vectors/format_v1.json`,
//!   falling back to the temporary copy in `bindings/testdata/`) open in Rust exactly as
//!   they must in Python and Kotlin. `TG_WRITE_VECTORS=1` regenerates the temporary copy.
//! * With `TG_XLANG_DIR` set, `TG_XLANG_STAGE=write` writes `rust.json` (a value sealed in
//!   Rust, low-level and through an embedded Guard), and `TG_XLANG_STAGE=check` opens the
//!   values Python and Kotlin wrote (`python.json`, `kotlin.json`), failing if one is missing.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tenantguard::hazmat::{open_with_key, seal_with_key, seal_with_salt, TenantKey};
use tenantguard::{Guard, KeyId, SealedValue, TenantContext, TenantId};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vectors_path() -> PathBuf {
    if let Ok(p) = std::env::var("TG_VECTORS") {
        return PathBuf::from(p);
    }
    let shared = root().join("core/tests/vectors/format_v1.json");
    if shared.exists() {
        shared
    } else {
        root().join("bindings/testdata/format_v1.json")
    }
}

fn h(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap_or_else(|| panic!("{k} missing"))).unwrap()
}

fn key(v: &Value) -> TenantKey {
    let k: [u8; 32] = h(v, "key_hex").try_into().unwrap();
    TenantKey::from_bytes(KeyId::new(v["key_id"].as_u64().unwrap() as u32).unwrap(), k)
}

fn tenant(v: &Value) -> TenantId {
    TenantId::new(v["tenant"].as_str().unwrap()).unwrap()
}

/// One vector case: name, key, key id, tenant, context, salt, plaintext.
type Case<'a> = (
    &'a str,
    &'a Vec<u8>,
    u32,
    &'a str,
    &'a [u8],
    &'a Vec<u8>,
    Vec<u8>,
);

fn generate() -> Value {
    let k1: Vec<u8> = (0u8..32).collect();
    let k7: Vec<u8> = (0u8..32).map(|i| 0xA0 ^ i.wrapping_mul(7)).collect();
    let salt: Vec<u8> = (0u8..16).map(|i| 0x10 + i).collect();
    let salt2: Vec<u8> = (0u8..16).map(|i| 0xF0 - i).collect();
    let cases: Vec<Case> = vec![
        ("empty plaintext", &k1, 1, "acme", b"", &salt, vec![]),
        (
            "short password",
            &k1,
            1,
            "acme",
            b"credentials/password/row-42",
            &salt,
            b"hunter2".to_vec(),
        ),
        (
            "256 bytes, key id 7",
            &k7,
            7,
            "tenant-7.eu_west",
            b"records/chat/1",
            &salt2,
            (0..=255u8).collect(),
        ),
        (
            "utf-8 context and plaintext",
            &k1,
            4294967295,
            "t",
            "ctx/ünïcødé".as_bytes(),
            &salt2,
            "gr\u{fc}\u{df}e \u{1f512}".as_bytes().to_vec(),
        ),
    ];
    let mut valid = vec![];
    for (name, k, id, t, ctx, s, pt) in &cases {
        let key = TenantKey::from_bytes(KeyId::new(*id).unwrap(), (*k).clone().try_into().unwrap());
        let v = seal_with_salt(
            &key,
            &TenantId::new(*t).unwrap(),
            ctx,
            pt,
            &(*s).clone().try_into().unwrap(),
        )
        .unwrap();
        valid.push(json!({
            "name": name, "key_hex": hex::encode(k), "key_id": id, "tenant": t, "context_hex": hex::encode(ctx),
            "salt_hex": hex::encode(s), "plaintext_hex": hex::encode(pt), "binary_hex": hex::encode(v.as_bytes()), "text": v.to_text(),
        }));
    }
    let base = valid[1].clone();
    let bin = h(&base, "binary_hex");
    let text = base["text"].as_str().unwrap().to_owned();
    let mut tampered = bin.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let mut v2 = bin.clone();
    v2[0] = 2;
    let mut ct_flip = bin.clone();
    ct_flip[45] ^= 0x80;
    let inv = |name: &str, tenant: &str, ctx: &[u8], field: &str, val: String, kind: &str| {
        let mut o = json!({"name": name, "key_hex": base["key_hex"], "key_id": 1, "tenant": tenant,
            "context_hex": hex::encode(ctx), "error_kind": kind});
        o[field] = Value::String(val);
        o
    };
    let ctx = h(&base, "context_hex");
    let invalid = vec![
        inv(
            "wrong tenant",
            "other",
            &ctx,
            "text",
            text.clone(),
            "integrity",
        ),
        inv(
            "wrong context",
            "acme",
            b"credentials/password/row-43",
            "text",
            text.clone(),
            "integrity",
        ),
        inv(
            "tampered tag",
            "acme",
            &ctx,
            "binary_hex",
            hex::encode(&tampered),
            "integrity",
        ),
        inv(
            "tampered ciphertext",
            "acme",
            &ctx,
            "binary_hex",
            hex::encode(&ct_flip),
            "integrity",
        ),
        inv(
            "truncated",
            "acme",
            &ctx,
            "binary_hex",
            hex::encode(&bin[..40]),
            "malformed",
        ),
        inv(
            "empty",
            "acme",
            &ctx,
            "binary_hex",
            String::new(),
            "malformed",
        ),
        inv(
            "version 2 binary",
            "acme",
            &ctx,
            "binary_hex",
            hex::encode(&v2),
            "unsupported_version",
        ),
        inv(
            "version 3 text",
            "acme",
            &ctx,
            "text",
            text.replacen("tg1:", "tg3:", 1),
            "unsupported_version",
        ),
        inv(
            "bad prefix",
            "acme",
            &ctx,
            "text",
            text.replacen("tg1:", "xx1:", 1),
            "malformed",
        ),
        inv(
            "key id 0",
            "acme",
            &ctx,
            "text",
            text.replacen("tg1:1:", "tg1:0:", 1),
            "malformed",
        ),
        inv(
            "leading zero key id",
            "acme",
            &ctx,
            "text",
            text.replacen("tg1:1:", "tg1:01:", 1),
            "malformed",
        ),
        inv(
            "padded base64",
            "acme",
            &ctx,
            "text",
            format!("{text}="),
            "malformed",
        ),
        inv(
            "other key id",
            "acme",
            &ctx,
            "text",
            text.replacen("tg1:1:", "tg1:2:", 1),
            "integrity",
        ),
    ];
    json!({
        "description": "tenantguard sealed-value format v1 vectors (temporary copy generated by bindings/uniffi/tests/cross_language.rs until core/tests/vectors/format_v1.json lands)",
        "valid": valid, "invalid": invalid,
    })
}

/// Accepts both vector schemas: the bindings' and the one in core/tests/vectors.
fn normalize(v: &mut Value) {
    for (landed, ours) in [
        ("data_key_hex", "key_hex"),
        ("tenant_id", "tenant"),
        ("sealed_hex", "binary_hex"),
        ("sealed_text", "text"),
        ("expected_error", "error_kind"),
    ] {
        if v.get(ours).is_none() {
            if let Some(x) = v.get(landed).cloned() {
                v[ours] = x;
            }
        }
    }
    if let (Some(form), Some(input)) = (
        v.get("form").and_then(Value::as_str),
        v.get("input").cloned(),
    ) {
        let field = if form == "text" { "text" } else { "binary_hex" };
        v[field] = input;
    }
}

fn parse_invalid(v: &Value) -> Result<SealedValue, tenantguard::Error> {
    match v.get("text").and_then(Value::as_str) {
        Some(t) => Ok(SealedValue::parse(t)?),
        None => Ok(SealedValue::from_bytes(&h(v, "binary_hex"))?),
    }
}

#[test]
fn vectors_open_in_rust() {
    let path = vectors_path();
    if std::env::var_os("TG_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&generate()).unwrap() + "\n",
        )
        .unwrap();
    }
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for list in ["valid", "invalid"] {
        doc[list]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .for_each(normalize);
    }
    let valid = doc["valid"].as_array().unwrap();
    assert!(!valid.is_empty());
    for v in valid {
        let name = v["name"].as_str().unwrap();
        let salt: [u8; 16] = h(v, "salt_hex").try_into().unwrap();
        let sealed = seal_with_salt(
            &key(v),
            &tenant(v),
            &h(v, "context_hex"),
            &h(v, "plaintext_hex"),
            &salt,
        )
        .unwrap();
        assert_eq!(
            hex::encode(sealed.as_bytes()),
            v["binary_hex"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(sealed.to_text(), v["text"].as_str().unwrap(), "{name}");
        let parsed = SealedValue::parse(v["text"].as_str().unwrap()).unwrap();
        let plain = open_with_key(&key(v), &tenant(v), &h(v, "context_hex"), &parsed).unwrap();
        assert_eq!(plain.expose(), h(v, "plaintext_hex").as_slice(), "{name}");
    }
    let invalid = doc["invalid"].as_array().unwrap();
    assert!(!invalid.is_empty());
    for v in invalid {
        let name = v["name"].as_str().unwrap();
        let err = parse_invalid(v)
            .and_then(|s| {
                Ok(open_with_key(
                    &key(v),
                    &tenant(v),
                    &h(v, "context_hex"),
                    &s,
                )?)
            })
            .expect_err(name);
        assert_eq!(
            err.kind().as_str(),
            v["error_kind"].as_str().unwrap(),
            "{name}: {err}"
        );
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Writes `rust.json`: a value sealed low-level with a random key, and one sealed through
/// the embedded Guard in the shared directory `embedded/`.
fn write_stage(dir: &Path) {
    let mut k = [0u8; 32];
    getrandom_fill(&mut k);
    let key = TenantKey::from_bytes(KeyId::new(3).unwrap(), k);
    let t = TenantId::new("xlang-rust").unwrap();
    let ctx = b"xlang/rust".to_vec();
    let plain = "sealed in Rust \u{1f980}".as_bytes().to_vec();
    let sealed = seal_with_key(&key, &t, &ctx, &plain).unwrap();
    let embedded = dir.join("embedded");
    let text = rt().block_on(async {
        let (g, service) = Guard::embedded_with_service(&embedded).unwrap();
        let tctx = TenantContext::service(t.clone(), &service);
        g.keys().create_tenant(&tctx).await.unwrap();
        g.records()
            .seal(&tctx, "xlang/rust/embedded", &plain)
            .await
            .unwrap()
            .to_text()
    });
    let doc = json!({
        "writer": "rust", "key_hex": hex::encode(k), "key_id": 3, "tenant": "xlang-rust", "context_hex": hex::encode(&ctx),
        "plaintext_hex": hex::encode(&plain), "text": sealed.to_text(), "binary_hex": hex::encode(sealed.as_bytes()),
        "embedded_context": "xlang/rust/embedded", "embedded_text": text,
    });
    std::fs::write(
        dir.join("rust.json"),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
}

fn getrandom_fill(out: &mut [u8]) {
    // A fresh data key from the core's generator, used only as random bytes here.
    let k = tenantguard::crypto::DataKey::generate().unwrap();
    out.copy_from_slice(&k.expose()[..out.len()]);
}

/// Opens the value another language wrote, both ways.
fn check_file(dir: &Path, writer: &str) {
    let path = dir.join(format!("{writer}.json"));
    let raw = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{} is missing ({e}): run its writer first", path.display()));
    let v: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["writer"], writer);
    let sealed = SealedValue::parse(v["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        hex::encode(sealed.as_bytes()),
        v["binary_hex"].as_str().unwrap()
    );
    let plain = open_with_key(&key(&v), &tenant(&v), &h(&v, "context_hex"), &sealed).unwrap();
    assert_eq!(
        plain.expose(),
        h(&v, "plaintext_hex").as_slice(),
        "{writer} low-level"
    );
    let embedded = SealedValue::parse(v["embedded_text"].as_str().unwrap()).unwrap();
    let opened = rt().block_on(async {
        let (g, service) = Guard::embedded_with_service(dir.join("embedded")).unwrap();
        let tctx = TenantContext::service(tenant(&v), &service);
        g.records()
            .open(&tctx, v["embedded_context"].as_str().unwrap(), &embedded)
            .await
            .unwrap()
    });
    assert_eq!(
        opened.expose(),
        h(&v, "plaintext_hex").as_slice(),
        "{writer} embedded"
    );
}

#[test]
fn cross_language_files() {
    let (Ok(dir), Ok(stage)) = (
        std::env::var("TG_XLANG_DIR"),
        std::env::var("TG_XLANG_STAGE"),
    ) else {
        eprintln!("TG_XLANG_DIR/TG_XLANG_STAGE not set: the scripts run this stage");
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    match stage.as_str() {
        "write" => write_stage(&dir),
        "check" => {
            check_file(&dir, "python");
            check_file(&dir, "kotlin");
        }
        other => panic!("unknown TG_XLANG_STAGE {other:?}"),
    }
}
