//! Operators, pseudonymization, restore (whole and streaming), expiry, thread safety.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use tenantguard::crypto::KeyId;
use tenantguard::hazmat::TenantKey;
use tenantguard::redact::{
    iban_valid, luhn_valid, HashKey, Operation, PseudonymSession, RedactError, Redactor,
    DEFAULT_SESSION_TTL,
};
use tenantguard::TenantId;

const TEXT: &str = "Hi, I'm jane@example.com, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, cc bob@example.org and jane@example.com again.";

fn session() -> PseudonymSession {
    PseudonymSession::new(&TenantId::new("acme").unwrap(), DEFAULT_SESSION_TTL).unwrap()
}

#[test]
fn mask_and_tag() {
    let r = Redactor::new();
    let m = r.redact(TEXT, &Operation::Mask).unwrap();
    assert!(m.text.contains("****@*******.***"), "{}", m.text);
    assert!(m.text.contains("**** **** **** 1111"), "{}", m.text);
    assert!(m.text.contains("**** **** **** **** **30 00"), "{}", m.text);
    let t = r.redact(TEXT, &Operation::Tag).unwrap();
    assert_eq!(
        t.text,
        "Hi, I'm [EMAIL], card [CARD], IBAN [IBAN], cc [EMAIL] and [EMAIL] again."
    );
    assert_eq!(t.summary().get("EMAIL"), Some(&3));
    assert_eq!(t.summary().get("CARD"), Some(&1));
}

#[test]
fn keyed_hash_is_stable_per_tenant_and_differs_across_tenants() {
    let r = Redactor::new();
    let a = HashKey::from_tenant_key(&TenantKey::from_bytes(KeyId::FIRST, [1; 32]));
    let a2 = HashKey::from_tenant_key(&TenantKey::from_bytes(KeyId::FIRST, [1; 32]));
    let b = HashKey::from_tenant_key(&TenantKey::from_bytes(KeyId::FIRST, [2; 32]));
    let x = r
        .redact("mail jane@example.com", &Operation::Hash(&a))
        .unwrap()
        .text;
    let y = r
        .redact("again jane@example.com", &Operation::Hash(&a2))
        .unwrap()
        .text;
    let z = r
        .redact("mail jane@example.com", &Operation::Hash(&b))
        .unwrap()
        .text;
    let tag = x.strip_prefix("mail ").unwrap();
    assert!(
        tag.starts_with("[EMAIL:") && tag.len() == "[EMAIL:]".len() + 12,
        "{tag}"
    );
    assert_eq!(y, format!("again {tag}"));
    assert_ne!(z, x);
    assert!(!x.contains("jane"));
    assert_eq!(format!("{a:?}"), "HashKey([REDACTED])");
}

#[test]
fn pseudonymize_and_restore() {
    let s = session();
    let out = Redactor::new()
        .redact(TEXT, &Operation::Pseudonymize(&s))
        .unwrap();
    assert_eq!(
        out.text,
        "Hi, I'm <EMAIL_1>, card <CARD_1>, IBAN <IBAN_1>, cc <EMAIL_2> and <EMAIL_1> again."
    );
    assert_eq!(s.len(), 4);
    // Repeated and reordered placeholders, plus unknown and malformed ones left as is.
    let answer = "<EMAIL_2> wrote to <EMAIL_1> (<EMAIL_1>) about <IBAN_1> and <CARD_1>; <EMAIL_9>, <EMAIL_1, EMAIL_2>, <email_1>.";
    assert_eq!(
        s.restore(answer).unwrap(),
        "bob@example.org wrote to jane@example.com (jane@example.com) about DE89 3704 0044 0532 0130 00 and 4111 1111 1111 1111; <EMAIL_9>, <EMAIL_1, EMAIL_2>, <email_1>."
    );
    // Restoring the redacted text gives back the original.
    assert_eq!(s.restore(&out.text).unwrap(), TEXT);
}

#[test]
fn placeholders_already_in_the_text_are_not_reused() {
    let s = session();
    let text = "literal <EMAIL_1> then a@example.com";
    let out = Redactor::new()
        .redact(text, &Operation::Pseudonymize(&s))
        .unwrap();
    assert_eq!(out.text, "literal <EMAIL_1> then <EMAIL_2>");
    assert_eq!(s.restore(&out.text).unwrap(), text);
}

#[test]
fn placeholders_are_stable_across_calls_in_one_session() {
    let s = session();
    let r = Redactor::new();
    let a = r
        .redact("a@example.com", &Operation::Pseudonymize(&s))
        .unwrap()
        .text;
    let b = r
        .redact(
            "b@example.com and a@example.com",
            &Operation::Pseudonymize(&s),
        )
        .unwrap()
        .text;
    assert_eq!(a, "<EMAIL_1>");
    assert_eq!(b, "<EMAIL_2> and <EMAIL_1>");
}

#[test]
fn fakes_are_valid_and_restore_exactly() {
    let s = session();
    let out = Redactor::new().redact(TEXT, &Operation::Fake(&s)).unwrap();
    assert!(
        !out.text.contains("jane@example.com")
            && !out.text.contains("4111 1111 1111 1111")
            && !out.text.contains("DE89 3704")
    );
    let found = Redactor::new().find(&out.text).unwrap();
    let kinds: Vec<_> = found.iter().map(|f| f.kind.tag()).collect();
    // The fakes are recognized again as what they imitate: they stay valid.
    assert_eq!(kinds, ["EMAIL", "CARD", "IBAN", "EMAIL", "EMAIL"]);
    let card = &out.text[found[1].range()];
    let iban = &out.text[found[2].range()];
    assert!(
        luhn_valid(card) && card.starts_with("41") && card.len() == 19,
        "{card}"
    );
    assert!(
        iban_valid(iban) && iban.starts_with("DE") && iban.len() == 27,
        "{iban}"
    );
    assert_eq!(s.restore(&out.text).unwrap(), TEXT);
}

#[test]
fn streaming_restore_handles_split_placeholders() {
    let s = session();
    let red = Redactor::new()
        .redact(TEXT, &Operation::Pseudonymize(&s))
        .unwrap()
        .text;
    let answer = format!("Sure: {red} <EMAIL_3> <EMAIL_1");
    let whole = s.restore(&answer).unwrap();
    for size in 1..12 {
        let mut st = s.stream();
        let mut out = String::new();
        let chars: Vec<char> = answer.chars().collect();
        for chunk in chars.chunks(size) {
            out.push_str(&st.push(&chunk.iter().collect::<String>()).unwrap());
        }
        out.push_str(&st.finish().unwrap());
        assert_eq!(out, whole, "chunk size {size}");
    }
}

#[test]
fn streaming_holds_back_at_most_a_placeholder() {
    let s = session();
    Redactor::new()
        .redact("a@example.com", &Operation::Pseudonymize(&s))
        .unwrap();
    let mut st = s.stream();
    assert_eq!(st.push("Dear <EM").unwrap(), "Dear ");
    assert_eq!(
        st.push("AIL_1> and <b>bold</b>").unwrap(),
        "a@example.com and <b>bold</b>"
    );
    assert_eq!(st.finish().unwrap(), "");
}

#[test]
fn owned_streaming_restore_matches_the_borrowing_one() {
    let s = Arc::new(session());
    let red = Redactor::new()
        .redact(TEXT, &Operation::Pseudonymize(&s))
        .unwrap()
        .text;
    let answer = format!("Sure: {red} <EMAIL_3> <EMAIL_1");
    let whole = s.restore(&answer).unwrap();
    let chars: Vec<char> = answer.chars().collect();
    for size in 1..12 {
        let (mut owned, mut borrowed) = (s.stream_owned(), s.stream());
        let mut out = String::new();
        for chunk in chars.chunks(size) {
            let chunk: String = chunk.iter().collect();
            let piece = owned.push(&chunk).unwrap();
            assert_eq!(piece, borrowed.push(&chunk).unwrap(), "chunk size {size}");
            out.push_str(&piece);
        }
        let tail = owned.finish().unwrap();
        assert_eq!(tail, borrowed.finish().unwrap());
        out.push_str(&tail);
        assert_eq!(out, whole, "chunk size {size}");
    }
    // It keeps the session alive on its own, and stops once the session is expired.
    let mut st = s.stream_owned();
    assert_eq!(format!("{st:?}"), "OwnedStreamRestorer { held_back: 0 }");
    drop(red);
    s.expire();
    assert_eq!(
        st.push("<EMAIL_1>").unwrap_err(),
        RedactError::SessionExpired
    );
}

#[test]
fn owned_stream_outlives_the_callers_handle() {
    let s = Arc::new(session());
    Redactor::new()
        .redact("a@example.com", &Operation::Pseudonymize(&s))
        .unwrap();
    let mut st = s.stream_owned();
    drop(s);
    assert_eq!(st.push("Dear <EM").unwrap(), "Dear ");
    assert_eq!(st.held_back(), 3);
    assert_eq!(st.push("AIL_1>!").unwrap(), "a@example.com!");
    assert_eq!(st.finish().unwrap(), "");
}

#[test]
fn expired_sessions_refuse_and_forget() {
    let s = PseudonymSession::new(&TenantId::new("acme").unwrap(), Duration::ZERO).unwrap();
    let e = Redactor::new()
        .redact("a@example.com", &Operation::Pseudonymize(&s))
        .unwrap_err();
    assert_eq!(e, RedactError::SessionExpired);
    let s = session();
    Redactor::new()
        .redact("a@example.com", &Operation::Pseudonymize(&s))
        .unwrap();
    s.expire();
    assert!(s.is_expired());
    assert_eq!(
        s.restore("<EMAIL_1>").unwrap_err(),
        RedactError::SessionExpired
    );
    assert_eq!(s.len(), 0);
    assert!(
        PseudonymSession::new(&TenantId::new("acme").unwrap(), Duration::from_secs(90_000))
            .is_err()
    );
}

#[test]
fn sessions_are_thread_safe() {
    let s = Arc::new(session());
    let r = Redactor::new();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            let r = r.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let text = format!("u{}@example.com and shared@example.com", t * 100 + i);
                    let red = r.redact(&text, &Operation::Pseudonymize(&s)).unwrap().text;
                    assert_eq!(s.restore(&red).unwrap(), text);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.len(), 201);
}

#[test]
fn debug_never_prints_values() {
    let s = session();
    let out = Redactor::new()
        .redact("a@example.com", &Operation::Pseudonymize(&s))
        .unwrap();
    let d = format!("{s:?} {out:?}");
    assert!(!d.contains("a@example.com"), "{d}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn redact_never_panics_and_offsets_are_boundaries(text in "\\PC{0,200}") {
        let r = Redactor::builder().terms(["acme"]).build().unwrap();
        let f = r.find(&text).unwrap();
        for w in f.windows(2) {
            prop_assert!(w[0].end <= w[1].start);
        }
        for x in &f {
            prop_assert!(text.is_char_boundary(x.start) && text.is_char_boundary(x.end) && x.start < x.end);
        }
    }

    #[test]
    fn numeric_and_key_shapes_never_panic(text in "[0-9 ()+./:-]{0,80}|[A-Z0-9 ]{0,80}|[a-zA-Z0-9_@:./=-]{0,80}|(-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----[A-Za-z0-9+/\n]{0,40}(-----END)?)") {
        let r = Redactor::new();
        for f in r.find(&text).unwrap() {
            prop_assert!(f.start < f.end && f.end <= text.len());
        }
        let _ = r.redact(&text, &Operation::Mask).unwrap();
    }

    #[test]
    fn pseudonymize_roundtrips(parts in proptest::collection::vec(prop_oneof![
        Just("jane@example.com".to_string()),
        Just("4111 1111 1111 1111".to_string()),
        Just("+1 415 555 2671".to_string()),
        Just("<EMAIL_1>".to_string()),
        "[a-zé ,.<>_0-9]{0,12}",
    ], 0..12), chunk in 1usize..9) {
        let text = parts.join(" ");
        let s = session();
        let red = Redactor::new().redact(&text, &Operation::Pseudonymize(&s)).unwrap().text;
        prop_assert_eq!(s.restore(&red).unwrap(), text.clone());
        let mut st = s.stream();
        let mut out = String::new();
        let chars: Vec<char> = red.chars().collect();
        for c in chars.chunks(chunk) {
            out.push_str(&st.push(&c.iter().collect::<String>()).unwrap());
        }
        out.push_str(&st.finish().unwrap());
        prop_assert_eq!(out, text);
    }
}

#[test]
fn owned_stream_restorer_matches_the_borrowed_one_and_moves_across_threads() {
    let s = Arc::new(session());
    let red = Redactor::new()
        .redact(TEXT, &Operation::Pseudonymize(&s))
        .unwrap()
        .text;
    let answer = format!("Sure: {red} <EMAIL_3> <EMAIL_1");
    let whole = s.restore(&answer).unwrap();
    assert_ne!(whole, answer);
    for size in 1..12 {
        let chars: Vec<char> = answer.chars().collect();
        let chunks: Vec<String> = chars.chunks(size).map(|c| c.iter().collect()).collect();
        let mut st = s.stream_owned();
        // The restorer owns its session handle: it can be moved to another thread mid-stream.
        let (first, rest) = chunks.split_at(chunks.len() / 2);
        let mut out = String::new();
        for c in first {
            out.push_str(&st.push(c).unwrap());
        }
        let rest = rest.to_vec();
        let (tail, st) = std::thread::spawn(move || {
            let mut o = String::new();
            for c in &rest {
                o.push_str(&st.push(c).unwrap());
            }
            (o, st)
        })
        .join()
        .unwrap();
        out.push_str(&tail);
        out.push_str(&st.finish().unwrap());
        assert_eq!(out, whole, "chunk size {size}");
    }
    // Same hold-back as the borrowed restorer, and it outlives the caller's handle.
    let mut st = s.stream_owned();
    drop(s);
    assert_eq!(st.push("Dear <EM").unwrap(), "Dear ");
    assert!(format!("{st:?}").contains("held_back: 3"));
    assert_eq!(st.push("AIL_1> ok").unwrap(), "jane@example.com ok");
    assert_eq!(st.finish().unwrap(), "");
}

#[test]
fn owned_stream_restorer_refuses_oversized_chunks_and_expired_sessions() {
    use tenantguard::redact::MAX_TEXT_LEN;
    let s = Arc::new(session());
    let mut st = s.stream_owned();
    let big = "a".repeat(MAX_TEXT_LEN + 1);
    assert!(matches!(st.push(&big), Err(RedactError::TooLarge { .. })));
    s.expire();
    assert_eq!(st.push("x").unwrap_err(), RedactError::SessionExpired);
    assert_eq!(st.finish().unwrap_err(), RedactError::SessionExpired);
}
