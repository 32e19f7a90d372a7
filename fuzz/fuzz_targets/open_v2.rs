//! Format v2 parsing and opening: arbitrary bytes forced to version 2 (binary and text)
//! never open and never panic, and a genuine v2 value changed anywhere by the fuzzer (an
//! XOR mask, a cut, another context kind) never opens: only the unchanged value does. Each
//! value is opened both by reference and in place (`open_owned`), with the same outcome.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tenantguard::hazmat::{open, open_owned, seal_v2_with_nonce, Context, TenantKey};
use tenantguard::{KeyId, SealedValue, TenantId};

fn key() -> &'static TenantKey {
    static KEY: OnceLock<TenantKey> = OnceLock::new();
    KEY.get_or_init(|| TenantKey::from_bytes(KeyId::FIRST, [0x42; 32]))
}

fn genuine() -> &'static SealedValue {
    static V: OnceLock<SealedValue> = OnceLock::new();
    V.get_or_init(|| {
        let t = TenantId::new("acme").unwrap();
        seal_v2_with_nonce(
            key(),
            &t,
            Context::Record {
                class: "a",
                id: "b:c",
            },
            b"the genuine plaintext",
            &[7; 24],
        )
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let tenant = TenantId::new("acme").unwrap();
    let selector = data.first().copied().unwrap_or(0);
    let ctx = match selector % 4 {
        0 => Context::Caller(b""),
        1 => Context::Caller(b"record:a:b:c"),
        2 => Context::Record {
            class: "a:b",
            id: "c",
        },
        _ => Context::Record {
            class: "a",
            id: "b:c",
        },
    };
    // Arbitrary input as a v2 value.
    let mut forced = data.to_vec();
    if let Some(b) = forced.first_mut() {
        *b = 2;
    }
    if let Ok(v) = SealedValue::from_bytes(&forced) {
        assert_eq!(v.version(), 2);
        assert!(
            open(key(), &tenant, ctx, &v).is_err(),
            "forged binary v2 opened"
        );
        assert!(
            open_owned(key(), &tenant, ctx, v).is_err(),
            "forged binary v2 opened in place"
        );
    }
    let text = format!("tg2:1:{}", String::from_utf8_lossy(data));
    if let Ok(v) = SealedValue::parse(&text) {
        assert!(
            open(key(), &tenant, ctx, &v).is_err(),
            "forged text v2 opened"
        );
    }
    // A genuine value, masked and cut by the fuzzer.
    let g = genuine().as_bytes();
    let mut b = g.to_vec();
    for (i, m) in data.iter().skip(1).enumerate() {
        b[i % g.len()] ^= m;
    }
    let cut = if selector & 0x80 != 0 {
        b.len() - (selector as usize & 0x3f) % b.len()
    } else {
        b.len()
    };
    b.truncate(cut);
    let unchanged = b == g
        && matches!(
            ctx,
            Context::Record {
                class: "a",
                id: "b:c"
            }
        );
    if let Ok(v) = SealedValue::from_bytes(&b) {
        let r = open(key(), &tenant, ctx, &v);
        let in_place = open_owned(key(), &tenant, ctx, v);
        if unchanged {
            assert_eq!(r.unwrap().expose(), b"the genuine plaintext");
            assert_eq!(in_place.unwrap().expose(), b"the genuine plaintext");
        } else {
            assert!(r.is_err(), "a changed v2 value opened");
            assert!(in_place.is_err(), "a changed v2 value opened in place");
        }
    }
});
