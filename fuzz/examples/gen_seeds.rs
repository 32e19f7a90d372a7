//! Regenerates the small checked-in seed corpora in fuzz/seeds/<target>/ (deterministic:
//! fixed keys and salts). Run from the repository root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds`.

use std::path::Path;

use tenantguard::hazmat::{seal_with_salt, TenantKey};
use tenantguard::{KeyId, TenantId};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let acme = TenantId::new("acme").unwrap();
    // The `open` target's fixed key is [0x42; 32]; seeds use another key with the same id so
    // the fuzzer starts right at the commitment and tag checks (and nothing may open).
    let key = TenantKey::from_bytes(KeyId::FIRST, [0x43; 32]);
    let big_id = TenantKey::from_bytes(KeyId::new(u32::MAX).unwrap(), [0x43; 32]);
    let cases: [(&str, &TenantKey, &[u8], &[u8]); 4] = [
        ("empty", &key, b"", b""),
        ("password", &key, b"credentials/password/row-42", b"hunter2"),
        (
            "max_key_id",
            &big_id,
            b"ctx",
            b"0123456789abcdef0123456789abcdef",
        ),
        (
            "binary_plaintext",
            &key,
            &[0, 255, 1, 254],
            &[0u8, 1, 2, 3, 0xff, 0xfe, 0x80, 0x7f],
        ),
    ];
    for (i, (name, k, context, plaintext)) in cases.iter().enumerate() {
        let salt = [i as u8 + 1; 16];
        let sealed = seal_with_salt(k, &acme, context, plaintext, &salt).unwrap();
        for target in ["parse_binary", "open"] {
            write(target, &format!("{name}.bin"), sealed.as_bytes());
        }
        for target in ["parse_text", "open"] {
            write(target, &format!("{name}.txt"), sealed.to_text().as_bytes());
        }
    }
    for (name, text) in [
        ("bad_version", "tg2:1:AQID"),
        ("leading_zero", "tg1:01:AQID"),
        ("id_zero", "tg1:0:AQID"),
    ] {
        write("parse_text", &format!("{name}.txt"), text.as_bytes());
    }
    write("parse_binary", "truncated.bin", &[1, 0, 0, 0, 1, 2, 3]);

    let kek = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
    let one = format!(
        r#"{{"format":"tenantguard-local-kek/1","current":"kek-1","keks":[{{"id":"kek-1","key":"{kek}"}}]}}"#
    );
    let two = format!(
        r#"{{"format":"tenantguard-local-kek/1","current":"kek-2","keks":[{{"id":"kek-1","key":"{kek}"}},{{"id":"kek-2","key":"{kek}"}}]}}"#
    );
    write("local_keyfile", "one_kek.json", one.as_bytes());
    write("local_keyfile", "two_keks.json", two.as_bytes());
    write(
        "local_keyfile",
        "short_key.json",
        one.replace(kek, "QUFB").as_bytes(),
    );
    write(
        "local_keyfile",
        "missing_current.json",
        one.replace("\"current\":\"kek-1\"", "\"current\":\"kek-9\"")
            .as_bytes(),
    );

    // roundtrip takes structured input (arbitrary): any bytes are a valid seed.
    let mut rt = vec![0x42u8; 32];
    rt.extend_from_slice(&1u32.to_le_bytes());
    rt.extend_from_slice(b"acme\x00credentials/password/row-42\x00hunter2");
    write("roundtrip", "password.bin", &rt);
    write("roundtrip", "zeros.bin", &[0u8; 64]);
}
