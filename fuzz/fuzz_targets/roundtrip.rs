//! Seal then open arbitrary data under an arbitrary context: must round-trip in both the
//! binary and the text form, and must not open under another context, tenant or key.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tenantguard::crypto::MAX_CONTEXT_LEN;
use tenantguard::hazmat::{open_with_key, seal_with_key, TenantKey};
use tenantguard::{KeyId, SealedValue, TenantId};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    key: [u8; 32],
    key_id: u32,
    tenant: &'a str,
    context: &'a [u8],
    plaintext: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let Ok(key_id) = KeyId::new(input.key_id) else {
        return;
    };
    let tenant = TenantId::new(input.tenant).unwrap_or_else(|_| TenantId::new("acme").unwrap());
    let key = TenantKey::from_bytes(key_id, input.key);
    let sealed = match seal_with_key(&key, &tenant, input.context, input.plaintext) {
        Ok(s) => s,
        Err(e) => {
            assert!(input.context.len() > MAX_CONTEXT_LEN, "seal failed: {e}");
            return;
        }
    };
    assert_eq!(sealed.key_id(), key_id);
    assert_eq!(sealed.plaintext_len(), input.plaintext.len());
    let opened =
        open_with_key(&key, &tenant, input.context, &sealed).expect("open what was just sealed");
    assert_eq!(opened.expose(), input.plaintext);
    let from_text = SealedValue::parse(&sealed.to_text()).expect("parse the text form");
    assert_eq!(from_text, sealed);
    let from_bin = SealedValue::from_bytes(sealed.as_bytes()).expect("parse the binary form");
    assert_eq!(
        open_with_key(&key, &tenant, input.context, &from_bin)
            .unwrap()
            .expose(),
        input.plaintext
    );

    let mut other_context = input.context.to_vec();
    other_context.push(0);
    assert!(
        open_with_key(&key, &tenant, &other_context, &sealed).is_err(),
        "opened under another context"
    );
    let other_tenant = TenantId::new(if tenant.as_str() == "globex" {
        "acme"
    } else {
        "globex"
    })
    .unwrap();
    assert!(
        open_with_key(&key, &other_tenant, input.context, &sealed).is_err(),
        "opened for another tenant"
    );
    let mut other_bytes = input.key;
    other_bytes[0] ^= 1;
    let other_key = TenantKey::from_bytes(key_id, other_bytes);
    assert!(
        open_with_key(&other_key, &tenant, input.context, &sealed).is_err(),
        "opened under another key"
    );
});
