//! Tampering, truncation, wrong-scope opening and parser robustness of sealed values.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::tg_cap;

use proptest::prelude::*;
use tenantguard::crypto::{KeyId, SealFormat, SealedValue, BINARY_OVERHEAD, BINARY_OVERHEAD_V2};
use tenantguard::hazmat::{open_owned, open_with_key, seal, seal_with_key, Context, TenantKey};
use tenantguard::{ErrorKind, Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};

const KEY_BYTES: [u8; 32] = [0x5a; 32];

fn key(id: u32) -> TenantKey {
    TenantKey::from_bytes(KeyId::new(id).unwrap(), KEY_BYTES)
}

fn tenant(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

/// Which part of the binary form byte `i` belongs to.
fn region(format: SealFormat, i: usize, len: usize) -> &'static str {
    let (nonce_end, commit_end) = match format {
        SealFormat::V1 => (20, 44),
        _ => (28, 60),
    };
    match i {
        0 => "version",
        1..=4 => "key_id",
        _ if i <= nonce_end => "salt_or_nonce",
        _ if i <= commit_end => "commitment",
        _ if i >= len - 16 => "tag",
        _ => "ciphertext",
    }
}

const FORMATS: [SealFormat; 2] = [SealFormat::V1, SealFormat::V2];

fn overhead(format: SealFormat) -> usize {
    match format {
        SealFormat::V1 => BINARY_OVERHEAD,
        _ => BINARY_OVERHEAD_V2,
    }
}

fn seal_in(format: SealFormat, k: &TenantKey, t: &TenantId, pt: &[u8]) -> SealedValue {
    seal(k, t, Context::Caller(b"ctx"), pt, format).unwrap()
}

/// Opens `v` (context `ctx`) by reference and in place (`open_owned`): both must fail, with
/// the same kind, which is returned.
fn both_fail(k: &TenantKey, t: &TenantId, v: SealedValue, what: &str) -> ErrorKind {
    let by_ref = open_with_key(k, t, b"ctx", &v).map(|_| ()).expect_err(what);
    let in_place = open_owned(k, t, Context::Caller(b"ctx"), v)
        .map(|_| ())
        .expect_err(what);
    assert_eq!(
        by_ref.kind(),
        in_place.kind(),
        "{what}: {by_ref} / {in_place}"
    );
    by_ref.kind()
}

#[test]
fn every_bit_flip_fails_to_open() {
    for format in FORMATS {
        every_bit_flip_fails_in(format);
    }
}

fn every_bit_flip_fails_in(format: SealFormat) {
    let k = key(1);
    let t = tenant("acme");
    let sealed = seal_in(format, &k, &t, b"hello");
    let bytes = sealed.as_bytes().to_vec();
    assert_eq!(bytes.len(), 5 + overhead(format));
    let mut flips = 0;
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            let kind = match SealedValue::from_bytes(&b) {
                Err(e) => e.kind(),
                Ok(v) => both_fail(&k, &t, v, "a flipped value opened"),
            };
            let expected: &[ErrorKind] = match region(format, i, bytes.len()) {
                "version" => &[ErrorKind::UnsupportedVersion],
                // 1 -> 0 is refused by the parser; any other id is not this key.
                "key_id" => &[ErrorKind::Malformed, ErrorKind::Integrity],
                _ => &[ErrorKind::Integrity],
            };
            assert!(
                expected.contains(&kind),
                "{format:?} byte {i} ({}) bit {bit}: got {kind}",
                region(format, i, bytes.len())
            );
            flips += 1;
        }
    }
    assert_eq!(flips, bytes.len() * 8);
}

#[test]
fn every_bit_flip_fails_through_the_guard() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let guard = Guard::builder()
            .key_provider(LocalKeyProvider::ephemeral())
            .store(MemoryStore::new())
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap();
        let svc = tg_cap::cap();
        let ctx = TenantContext::service(tenant("acme"), &svc);
        guard.keys().create_tenant(&ctx).await.unwrap();
        let sealed = guard.records().seal(&ctx, "c", b"abc").await.unwrap();
        let bytes = sealed.as_bytes().to_vec();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let kind = match SealedValue::from_bytes(&b) {
                    Err(e) => e.kind(),
                    Ok(v) => {
                        let by_ref = guard.records().open(&ctx, "c", &v).await;
                        let in_place = guard.records().open_owned(&ctx, "c", v).await;
                        let kind = by_ref
                            .map(|_| ())
                            .expect_err("a flipped value opened")
                            .kind();
                        let owned = in_place.map(|_| ()).expect_err("opened in place").kind();
                        assert_eq!(kind, owned, "byte {i} bit {bit}");
                        kind
                    }
                };
                let expected: &[ErrorKind] = match region(SealFormat::V2, i, bytes.len()) {
                    "version" => &[ErrorKind::UnsupportedVersion],
                    // The tenant has only key 1: any other id is unknown.
                    "key_id" => &[ErrorKind::Malformed, ErrorKind::UnknownKey],
                    _ => &[ErrorKind::Integrity],
                };
                assert!(expected.contains(&kind), "byte {i} bit {bit}: got {kind}");
            }
        }
        // The untouched value still opens, by reference and in place; a wrong context
        // fails before the value is touched.
        assert_eq!(
            guard
                .records()
                .open(&ctx, "c", &sealed)
                .await
                .unwrap()
                .expose(),
            b"abc"
        );
        let wrong = guard.records().open_owned(&ctx, "d", sealed.clone()).await;
        assert_eq!(wrong.map(|_| ()).unwrap_err().kind(), ErrorKind::Integrity);
        let before = guard.audit().entries(&ctx, 0, 1_000).await.unwrap().len();
        let opened = guard.records().open_owned(&ctx, "c", sealed).await.unwrap();
        assert_eq!(opened.expose(), b"abc");
        // Audited like `open`.
        let entries = guard.audit().entries(&ctx, 0, 1_000).await.unwrap();
        assert_eq!(entries.len(), before + 1);
        assert_eq!(entries.last().unwrap().target, "value:c");
    });
}

#[test]
fn every_text_character_substitution_fails() {
    let k = key(1);
    let t = tenant("acme");
    let sealed = seal_with_key(&k, &t, b"ctx", b"hi").unwrap();
    let text = sealed.to_text();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:=+/ \0é";
    for i in 0..text.len() {
        for c in alphabet.chars() {
            let mut s: Vec<char> = text.chars().collect();
            if s[i] == c {
                continue;
            }
            s[i] = c;
            let s: String = s.into_iter().collect();
            let result =
                SealedValue::parse(&s).and_then(|v| open_with_key(&k, &t, b"ctx", &v).map(|_| ()));
            let err = result.expect_err(&format!("substitution at {i} with {c:?} opened"));
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::Malformed | ErrorKind::UnsupportedVersion | ErrorKind::Integrity
                ),
                "position {i} {c:?}: {}",
                err.kind()
            );
        }
    }
}

#[test]
fn every_truncation_and_extension_fails() {
    for format in FORMATS {
        every_truncation_and_extension_fails_in(format);
    }
}

fn every_truncation_and_extension_fails_in(format: SealFormat) {
    let k = key(1);
    let t = tenant("acme");
    let sealed = seal_in(format, &k, &t, b"some plaintext");
    let bytes = sealed.as_bytes();
    for len in 0..bytes.len() {
        let kind = match SealedValue::from_bytes(&bytes[..len]) {
            Err(e) => e.kind(),
            Ok(v) => both_fail(&k, &t, v, "truncated value opened"),
        };
        let expected = if len < overhead(format) {
            ErrorKind::Malformed
        } else {
            ErrorKind::Integrity
        };
        assert_eq!(kind, expected, "{format:?} binary truncated to {len}");
        // Dropping bytes from the front fails too.
        let front = &bytes[bytes.len() - len..];
        let ok = SealedValue::from_bytes(front)
            .ok()
            .and_then(|v| open_with_key(&k, &t, b"ctx", &v).ok());
        assert!(ok.is_none(), "suffix of length {len} opened");
    }
    let text = sealed.to_text();
    for len in 0..text.len() {
        let r = SealedValue::parse(&text[..len])
            .and_then(|v| open_with_key(&k, &t, b"ctx", &v).map(|_| ()));
        let kind = r.expect_err("truncated text opened").kind();
        assert!(
            matches!(
                kind,
                ErrorKind::Malformed | ErrorKind::UnsupportedVersion | ErrorKind::Integrity
            ),
            "text truncated to {len}: {kind}"
        );
    }
    for extra in [&[0u8][..], &[0; 16], b"x"] {
        let mut b = bytes.to_vec();
        b.extend_from_slice(extra);
        let v = SealedValue::from_bytes(&b).unwrap();
        assert_eq!(both_fail(&k, &t, v, "extended"), ErrorKind::Integrity);
    }
}

#[test]
fn wrong_tenant_context_or_key_fails_with_its_kind() {
    let k = key(1);
    let t = tenant("acme");
    let sealed = seal_with_key(&k, &t, b"ctx", b"secret").unwrap();
    let integrity = ErrorKind::Integrity;
    assert_eq!(
        open_with_key(&k, &tenant("acme2"), b"ctx", &sealed)
            .unwrap_err()
            .kind(),
        integrity
    );
    assert_eq!(
        open_with_key(&k, &tenant("acm"), b"ctx", &sealed)
            .unwrap_err()
            .kind(),
        integrity
    );
    assert_eq!(
        open_with_key(&k, &t, b"ctx2", &sealed).unwrap_err().kind(),
        integrity
    );
    assert_eq!(
        open_with_key(&k, &t, b"", &sealed).unwrap_err().kind(),
        integrity
    );
    // Same bytes, other id: refused before any decryption.
    assert_eq!(
        open_with_key(&key(2), &t, b"ctx", &sealed)
            .unwrap_err()
            .kind(),
        integrity
    );
    // Same id, other key bytes: the commitment does not match.
    let other = TenantKey::from_bytes(KeyId::FIRST, [0x5b; 32]);
    assert_eq!(
        open_with_key(&other, &t, b"ctx", &sealed)
            .unwrap_err()
            .kind(),
        integrity
    );
    // Context over the limit.
    assert_eq!(
        open_with_key(&k, &t, &[0u8; 1025], &sealed)
            .unwrap_err()
            .kind(),
        ErrorKind::TooLarge
    );
    assert_eq!(
        seal_with_key(&k, &t, &[0u8; 1025], b"x")
            .unwrap_err()
            .kind(),
        ErrorKind::TooLarge
    );
    // And the right scope opens.
    assert_eq!(
        open_with_key(&k, &t, b"ctx", &sealed).unwrap().expose(),
        b"secret"
    );
}

#[test]
fn wrong_scope_through_the_guard() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let guard = Guard::builder()
            .key_provider(LocalKeyProvider::ephemeral())
            .store(MemoryStore::new())
            .build_with_service()
            .map(tg_cap::keep)
            .unwrap();
        let svc = tg_cap::cap();
        let a = TenantContext::service(tenant("a"), &svc);
        let b = TenantContext::service(tenant("b"), &svc);
        guard.keys().create_tenant(&a).await.unwrap();
        guard.keys().create_tenant(&b).await.unwrap();
        let sealed = guard.records().seal(&a, "ctx", b"secret").await.unwrap();
        assert_eq!(
            guard
                .records()
                .open(&a, "ctx2", &sealed)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::Integrity
        );
        // Tenant b has a key 1 too, but another one: the commitment check refuses it.
        assert_eq!(
            guard
                .records()
                .open(&b, "ctx", &sealed)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::Integrity
        );
        // A key id the tenant does not have.
        let mut bytes = sealed.as_bytes().to_vec();
        bytes[1..5].copy_from_slice(&9u32.to_be_bytes());
        let v = SealedValue::from_bytes(&bytes).unwrap();
        assert_eq!(
            guard
                .records()
                .open(&a, "ctx", &v)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::UnknownKey
        );
        assert_eq!(
            guard
                .records()
                .open(&a, "ctx", &sealed)
                .await
                .unwrap()
                .expose(),
            b"secret"
        );
    });
}

fn any_key() -> impl Strategy<Value = TenantKey> {
    (1u32.., any::<[u8; 32]>())
        .prop_map(|(id, k)| TenantKey::from_bytes(KeyId::new(id).unwrap(), k))
}

fn any_tenant() -> impl Strategy<Value = TenantId> {
    "[A-Za-z0-9._-]{1,64}".prop_map(|s| TenantId::new(s).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_both_forms(
        k in any_key(),
        t in any_tenant(),
        context in proptest::collection::vec(any::<u8>(), 0..=1024),
        pt in proptest::collection::vec(any::<u8>(), 0..=4096),
    ) {
        let sealed = seal_with_key(&k, &t, &context, &pt).unwrap();
        prop_assert_eq!(sealed.as_bytes().len(), pt.len() + BINARY_OVERHEAD_V2);
        prop_assert_eq!(sealed.key_id(), k.id());
        let from_bin = SealedValue::from_bytes(sealed.as_bytes()).unwrap();
        let text = sealed.to_text();
        let prefix = format!("tg2:{}:", k.id().get());
        prop_assert!(text.starts_with(&prefix));
        let from_text = SealedValue::parse(&text).unwrap();
        prop_assert_eq!(&from_text, &sealed);
        prop_assert_eq!(from_bin.to_text(), text);
        let a = open_with_key(&k, &t, &context, &from_bin).unwrap();
        let b = open_with_key(&k, &t, &context, &from_text).unwrap();
        prop_assert_eq!(a.expose(), pt.as_slice());
        prop_assert_eq!(b.expose(), pt.as_slice());
        let c = open_owned(&k, &t, Context::Caller(&context), from_bin).unwrap();
        prop_assert_eq!(c.expose(), pt.as_slice());
        prop_assert_eq!(c.len(), pt.len());
        // A second seal of the same input uses a fresh salt.
        let again = seal_with_key(&k, &t, &context, &pt).unwrap();
        prop_assert_ne!(again.as_bytes(), sealed.as_bytes());
    }

    #[test]
    fn round_trip_string_context(context in "\\PC{0,300}", pt in proptest::collection::vec(any::<u8>(), 0..=512)) {
        prop_assume!(context.len() <= 1024);
        let k = key(3);
        let t = tenant("acme");
        let sealed = seal_with_key(&k, &t, context.as_bytes(), &pt).unwrap();
        let v = SealedValue::parse(&sealed.to_text()).unwrap();
        let opened = open_with_key(&k, &t, context.as_bytes(), &v).unwrap();
        prop_assert_eq!(opened.expose(), pt.as_slice());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..=512)) {
        if let Ok(v) = SealedValue::from_bytes(&bytes) {
            // Structure was accepted: accessors and opening must not panic, and it must not open.
            let _ = (v.version(), v.key_id(), v.plaintext_len(), v.to_text(), format!("{v:?}"));
            prop_assert!(open_with_key(&key(v.key_id().get()), &tenant("acme"), b"", &v).is_err());
            prop_assert_eq!(SealedValue::parse(&v.to_text()).unwrap(), v);
        }
    }

    #[test]
    fn sealed_header_with_arbitrary_tail_never_panics(version in 1u8..=2, id in 1u32.., tail in proptest::collection::vec(any::<u8>(), 0..=200)) {
        let mut bytes = vec![version];
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend_from_slice(&tail);
        let min = if version == 1 { BINARY_OVERHEAD } else { BINARY_OVERHEAD_V2 };
        match SealedValue::from_bytes(&bytes) {
            Ok(v) => {
                prop_assert!(bytes.len() >= min);
                prop_assert!(open_with_key(&key(id), &tenant("acme"), b"", &v).is_err());
            }
            Err(e) => {
                prop_assert!(bytes.len() < min);
                prop_assert_eq!(e.kind(), ErrorKind::Malformed);
            }
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,300}") {
        if let Ok(v) = SealedValue::parse(&s) {
            prop_assert!(open_with_key(&key(v.key_id().get()), &tenant("acme"), b"", &v).is_err());
        }
        let _ = s.parse::<SealedValue>();
    }

    #[test]
    fn text_shaped_strings_never_panic(s in "tg[0-9]{0,2}:[0-9+-]{0,12}:[A-Za-z0-9_=+/-]{0,200}") {
        match SealedValue::parse(&s) {
            Ok(v) => {
                // Whatever parses re-encodes to exactly the input (the text form is canonical).
                prop_assert_eq!(v.to_text(), s);
                prop_assert!(open_with_key(&key(v.key_id().get()), &tenant("acme"), b"", &v).is_err());
            }
            Err(e) => prop_assert!(matches!(e.kind(), ErrorKind::Malformed | ErrorKind::UnsupportedVersion | ErrorKind::TooLarge)),
        }
    }
}

#[test]
fn oversized_inputs_are_refused_without_panic() {
    // Over the 16 MiB plaintext limit (+61), in both forms.
    let big = vec![0u8; 16 * 1024 * 1024 + BINARY_OVERHEAD + 1];
    let mut b = big.clone();
    b[0] = 1;
    b[4] = 1;
    assert_eq!(
        SealedValue::from_bytes(&b).unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    let text = format!("tg1:1:{}", "A".repeat(23 * 1024 * 1024));
    assert_eq!(
        SealedValue::parse(&text).unwrap_err().kind(),
        ErrorKind::TooLarge
    );
    let k = key(1);
    assert_eq!(
        seal_with_key(&k, &tenant("a"), b"", &big[..16 * 1024 * 1024 + 1])
            .unwrap_err()
            .kind(),
        ErrorKind::TooLarge
    );
}
