//! `open_with_key` with a fixed tenant key on arbitrary input, read as a binary and as a
//! text sealed value: never panics and never authenticates anything the key did not seal.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tenantguard::hazmat::{open_with_key, TenantKey};
use tenantguard::{KeyId, SealedValue, TenantId};

fn key() -> &'static TenantKey {
    static KEY: OnceLock<TenantKey> = OnceLock::new();
    KEY.get_or_init(|| TenantKey::from_bytes(KeyId::FIRST, [0x42; 32]))
}

fuzz_target!(|data: &[u8]| {
    let tenant = TenantId::new("acme").unwrap();
    // The first byte picks one of a few contexts, so the fuzzer also varies the AAD.
    let context: &[u8] = match data.first().map(|b| b % 3) {
        Some(0) => b"",
        Some(1) => b"credentials/password/row-42",
        _ => data,
    };
    if let Ok(value) = SealedValue::from_bytes(data) {
        assert!(
            open_with_key(key(), &tenant, context, &value).is_err(),
            "forged binary value opened"
        );
    }
    if let Ok(value) = SealedValue::parse(&String::from_utf8_lossy(data)) {
        assert!(
            open_with_key(key(), &tenant, context, &value).is_err(),
            "forged text value opened"
        );
    }
});
