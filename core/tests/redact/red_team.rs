//! Red-team attacks on redaction and restore (round 2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use tenantguard::redact::{
    iban_valid, luhn_valid, Operation, PseudonymSession, RedactError, Redactor,
    DEFAULT_SESSION_TTL, MAX_RESTORED_LEN,
};
use tenantguard::TenantId;

fn session() -> PseudonymSession {
    PseudonymSession::new(&TenantId::new("acme").unwrap(), DEFAULT_SESSION_TTL).unwrap()
}

/// A PEM private key of about `kib` KiB: one `PRIVATE_KEY` value.
fn long_key(kib: usize) -> String {
    let line = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n";
    let mut k = String::from("-----BEGIN RSA PRIVATE KEY-----\n");
    for _ in 0..(kib * 1024 / line.len()) {
        k.push_str(line);
    }
    k.push_str("-----END RSA PRIVATE KEY-----");
    k
}

/// A provider answer repeating the placeholder of one long value must not make restore
/// allocate without bound (here 300 x 64 KiB, over 16 MiB, from a 5 KB answer).
#[test]
fn attack_restore_amplification_is_refused() {
    let s = session();
    let key = long_key(64);
    let red = Redactor::new()
        .redact(
            &format!("deploy with {key} please"),
            &Operation::Pseudonymize(&s),
        )
        .unwrap();
    assert_eq!(red.text, "deploy with <PRIVATE_KEY_1> please");
    // An honest answer naming it twice restores.
    let two = s.restore("use <PRIVATE_KEY_1> or <PRIVATE_KEY_1>").unwrap();
    assert_eq!(two, format!("use {key} or {key}"));
    // A hostile one repeating it is a typed refusal, whole or streamed.
    let hostile = "<PRIVATE_KEY_1>".repeat(300);
    assert!(300 * key.len() > MAX_RESTORED_LEN);
    let e = s.restore(&hostile).unwrap_err();
    assert!(
        matches!(e, RedactError::TooLarge { max, .. } if max == MAX_RESTORED_LEN),
        "{e:?}"
    );
    assert!(!e.to_string().contains("MIIE"));
    let mut st = s.stream();
    let e = st.push(&hostile).unwrap_err();
    assert!(matches!(e, RedactError::TooLarge { .. }), "{e:?}");
}

fn streamed(s: &PseudonymSession, answer: &str, size: usize) -> String {
    let mut st = s.stream();
    let mut out = String::new();
    let chars: Vec<char> = answer.chars().collect();
    for c in chars.chunks(size) {
        out.push_str(&st.push(&c.iter().collect::<String>()).unwrap());
    }
    out.push_str(&st.finish().unwrap());
    out
}

/// Placeholders the provider was never given (guessed numbers, other tags, spellings,
/// look-alikes, overlong ones) are left as they are, whole and streamed.
#[test]
fn attack_forged_placeholders_restore_nothing() {
    let s = session();
    let red = Redactor::new()
        .redact("mail jane@example.com", &Operation::Pseudonymize(&s))
        .unwrap();
    assert_eq!(red.text, "mail <EMAIL_1>");
    let forged = [
        "<EMAIL_0>",
        "<EMAIL_2>",
        "<EMAIL_01>",
        "<EMAIL_1_>",
        "<email_1>",
        "<Email_1>",
        "< EMAIL_1>",
        "<EMAIL_1 >",
        "<EMAIL 1>",
        "<EMAIL-1>",
        "＜EMAIL_1＞",
        "<ＥMAIL_1>",
        "<EMAIL\u{200b}_1>",
        "<EMAIL_\u{661}>",
        "<EMAIL_99999999999999999999999999999999999999>",
        "<EMAIL_-1>",
        "<EMAIL_1",
        "EMAIL_1>",
        "&lt;EMAIL_1&gt;",
        "%3CEMAIL_1%3E",
        "<PHONE_1>",
        "<CARD_1>",
        "[EMAIL]",
    ];
    let answer = forged.join(" | ");
    assert_eq!(s.restore(&answer).unwrap(), answer);
    for size in [1, 2, 3, 7, 64] {
        assert_eq!(streamed(&s, &answer, size), answer, "chunk size {size}");
    }
    // The real one, nested and repeated, restores (and only it).
    assert_eq!(
        s.restore("<<EMAIL_1>><EMAIL_1><EMAIL_2>").unwrap(),
        "<jane@example.com>jane@example.com<EMAIL_2>"
    );
}

/// Another session's (another request's, another tenant's) placeholders never restore this
/// session's values, and this session never restores the other's.
#[test]
fn attack_placeholders_do_not_cross_sessions_or_tenants() {
    let acme = session();
    let globex =
        PseudonymSession::new(&TenantId::new("globex").unwrap(), DEFAULT_SESSION_TTL).unwrap();
    let acme2 = session();
    let r = Redactor::new();
    let a = r
        .redact(
            "jane@example.com AKIAIOSFODNN7EXAMPLE",
            &Operation::Pseudonymize(&acme),
        )
        .unwrap();
    let g = r
        .redact("bob@globex.test", &Operation::Pseudonymize(&globex))
        .unwrap();
    assert_eq!(g.text, "<EMAIL_1>");
    // Globex's session only knows its own value under the same-looking placeholder.
    let answer = format!("{} <API_KEY_1> <SECRET_1>", a.text);
    let out = globex.restore(&answer).unwrap();
    assert!(!out.contains("jane") && !out.contains("AKIA"), "{out}");
    assert_eq!(out, "bob@globex.test <API_KEY_1> <API_KEY_1> <SECRET_1>");
    // A fresh session of the same tenant restores nothing.
    assert_eq!(acme2.restore(&answer).unwrap(), answer);
    assert_eq!(streamed(&acme2, &answer, 3), answer);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Pseudonymize and fake round-trip arbitrary Unicode around real values, whole and
    /// streamed in any chunk size; restore of any text never panics.
    #[test]
    fn arbitrary_unicode_roundtrips(parts in proptest::collection::vec(prop_oneof![
        Just("jane@example.com".to_string()),
        Just("4111 1111 1111 1111".to_string()),
        Just("DE89 3704 0044 0532 0130 00".to_string()),
        Just("+1 415 555 2671".to_string()),
        Just("AKIAIOSFODNN7EXAMPLE".to_string()),
        Just("<EMAIL_1>".to_string()),
        Just("<EMAIL_".to_string()),
        "\\PC{0,16}",
    ], 0..10), chunk in 1usize..12, fake in any::<bool>(), noise in "\\PC{0,40}") {
        let text = parts.join(" ");
        let s = session();
        let op = if fake { Operation::Fake(&s) } else { Operation::Pseudonymize(&s) };
        let red = Redactor::new().redact(&text, &op).unwrap().text;
        prop_assert_eq!(s.restore(&red).unwrap(), text.clone());
        prop_assert_eq!(streamed(&s, &red, chunk), text);
        // Any answer: streamed equals whole, no panic.
        let answer = format!("{noise}{red}{noise}");
        let whole = s.restore(&answer).unwrap();
        prop_assert_eq!(streamed(&s, &answer, chunk), whole);
    }
}

/// Groups of digits joined by the non-breaking, narrow non-breaking, figure or thin space
/// that word processors and French typography put between them are found like `' '`.
#[test]
fn attack_non_breaking_spaces_in_numbers_do_not_hide_them() {
    let r = Redactor::new();
    for sp in ["\u{a0}", "\u{202f}", "\u{2007}", "\u{2009}"] {
        for (value, tag) in [
            ("4111 1111 1111 1111", "[CARD]"),
            ("+1 415 555 2671", "[PHONE]"),
            ("+33 6 12 34 56 78", "[PHONE]"),
            ("06 12 34 56 78", "[PHONE]"),
            ("078 05 1120", "[SSN]"),
            ("DE89 3704 0044 0532 0130 00", "[IBAN]"),
            ("FR14 2004 1010 0505 0001 3M02 606", "[IBAN]"),
        ] {
            let v = value.replace(' ', sp);
            let text = format!("pay {v} today");
            let out = r.redact(&text, &Operation::Tag).unwrap();
            assert_eq!(out.text, format!("pay {tag} today"), "{v:?}");
            let s = session();
            for op in [Operation::Pseudonymize(&s), Operation::Fake(&s)] {
                let red = r.redact(&text, &op).unwrap();
                assert!(!red.text.contains(&v), "{v:?}");
                assert_eq!(s.restore(&red.text).unwrap(), text);
            }
            // Fakes keep the spacing and stay valid.
            let fake = r.redact(&text, &Operation::Fake(&s)).unwrap().text;
            let fake = fake.trim_start_matches("pay ").trim_end_matches(" today");
            let compact = fake.replace(sp, "");
            match tag {
                "[IBAN]" => assert!(iban_valid(&compact) && fake.contains(sp), "{fake:?}"),
                "[CARD]" => assert!(luhn_valid(&compact) && fake.contains(sp), "{fake:?}"),
                _ => {}
            }
        }
    }
    // Other characters between groups still end a number.
    let out = r
        .redact(
            "pay 4111\u{200b}1111\u{200b}1111\u{200b}1111 today",
            &Operation::Tag,
        )
        .unwrap();
    assert_eq!(out.findings.len(), 0);
}

/// A value right before `&` (a form-encoded body, a query string after `=`) is found like
/// one before a space.
#[test]
fn attack_values_before_an_ampersand_are_found() {
    let r = Redactor::new();
    for (text, want) in [
        ("card=4111111111111111&exp=12", "card=[CARD]&exp=12"),
        ("card=4111111111111111&", "card=[CARD]&"),
        ("cc=4111 1111 1111 1111&cvc=1", "cc=[CARD]&cvc=1"),
        ("phone=+14155552671&lang=en", "phone=[PHONE]&lang=en"),
        (
            "GET /pay?phone=+14155552671&x=1 HTTP/1.1",
            "GET /pay?phone=[PHONE]&x=1 HTTP/1.1",
        ),
        ("ssn=078-05-1120&name=x", "ssn=[SSN]&name=x"),
        ("ip=203.0.113.7&", "ip=[IP]&"),
        ("R&D and AT&T stay", "R&D and AT&T stay"),
    ] {
        assert_eq!(
            r.redact(text, &Operation::Tag).unwrap().text,
            want,
            "{text:?}"
        );
    }
}

/// Secret-named keys in JSON escaped inside a JSON string (a request body in a log line)
/// are found like plain JSON.
#[test]
fn attack_escaped_json_does_not_hide_keyed_secrets() {
    let r = Redactor::new();
    for (text, want) in [
        (
            r#"{"body":"{\"password\":\"hunter2hunter2\"}"}"#,
            r#"{"body":"{\"password\":\"[SECRET]\"}"}"#,
        ),
        (
            r#"{\"api_key\": \"abcd1234efgh5678\", \"user\": \"x\"}"#,
            r#"{\"api_key\": \"[SECRET]\", \"user\": \"x\"}"#,
        ),
        (
            r#"msg="login {\"client_secret\":\"s3cr3t-v4lue\"}""#,
            r#"msg="login {\"client_secret\":\"[SECRET]\"}""#,
        ),
        // Not values: empty, placeholders, an unterminated string.
        (r#"{\"password\":\"\"}"#, r#"{\"password\":\"\"}"#),
        (r#"{\"token\":\"null\"}"#, r#"{\"token\":\"null\"}"#),
        (r#"{\"password\":\"abc"#, r#"{\"password\":\"abc"#),
    ] {
        assert_eq!(
            r.redact(text, &Operation::Tag).unwrap().text,
            want,
            "{text}"
        );
    }
}
