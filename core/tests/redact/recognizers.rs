//! True and false positives for every built-in recognizer, UTF-8 offsets, overlaps.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::Range;
use std::sync::Arc;

use tenantguard::redact::{Category, EntityKind, OrgPattern, Recognizer, Redactor};

fn found(r: &Redactor, text: &str) -> Vec<(String, String)> {
    r.find(text)
        .unwrap()
        .into_iter()
        .map(|f| (f.kind.tag().to_owned(), text[f.start..f.end].to_owned()))
        .collect()
}

/// Asserts `value` embedded in a sentence is found exactly, as `tag`.
fn hit(tag: &str, value: &str) {
    let r = Redactor::new();
    for text in [
        format!("x {value} y"),
        format!("({value})"),
        format!("value: {value}."),
        value.to_owned(),
    ] {
        let f = found(&r, &text);
        assert_eq!(f, vec![(tag.to_owned(), value.to_owned())], "in {text:?}");
    }
}

/// Asserts nothing of kind `tag` is found in `text`.
fn miss(tag: &str, text: &str) {
    let f = found(&Redactor::new(), text);
    assert!(
        f.iter().all(|(t, _)| t != tag),
        "{tag} wrongly found in {text:?}: {f:?}"
    );
}

#[test]
fn email() {
    for v in [
        "jane.doe@example.com",
        "j+tag@mail.co.uk",
        "first_last-1@sub.example.org",
    ] {
        hit("EMAIL", v);
    }
    for t in [
        "user@localhost",
        "@handle",
        "a@b.c",
        "foo@bar",
        "name at example dot com",
        "x@1.2.3.4",
    ] {
        miss("EMAIL", t);
    }
}

#[test]
fn phone() {
    for v in [
        "+1 415 555 2671",
        "+14155552671",
        "+44 20 7946 0958",
        "+33 1 23 45 67 89",
        "+49 30 12345678",
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "1-800-555-0199",
        "020 7946 0958",
        "07700 900123",
        "01 23 45 67 89",
    ] {
        hit("PHONE", v);
    }
    for t in [
        "2024-01-15",
        "order 12345678",
        "version 1.2.3.4.5",
        "5551234",
        "1,234,567",
        "call 555-1234",
        "id 0123456789",
    ] {
        miss("PHONE", t);
    }
}

#[test]
fn card() {
    for v in [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555 5555 5555 4444",
        "3782 822463 10005",
        "6011 1111 1111 1117",
    ] {
        hit("CARD", v);
    }
    for t in [
        "4111 1111 1111 1112",
        "1234 5678 9012 3456",
        "4111 11 1111 1111 1",
        "9999999999999995",
    ] {
        miss("CARD", t);
    }
}

#[test]
fn iban() {
    for v in [
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "GB82 WEST 1234 5698 7654 32",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91ABNA0417164300",
    ] {
        hit("IBAN", v);
    }
    for t in [
        "DE89 3704 0044 0532 0130 01",
        "GB82WEST12345698765433",
        "XX89370400440532013000",
        "DE89",
    ] {
        miss("IBAN", t);
    }
    // A grouped IBAN followed by more text keeps only the IBAN.
    let f = found(
        &Redactor::new(),
        "pay DE89 3704 0044 0532 0130 00 AB12 today",
    );
    assert_eq!(
        f,
        vec![("IBAN".into(), "DE89 3704 0044 0532 0130 00".into())]
    );
}

#[test]
fn ssn() {
    for v in ["123-45-6789", "078-05-1121"] {
        hit("SSN", v);
    }
    for t in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123456789",
        "12-345-6789",
    ] {
        miss("SSN", t);
    }
}

#[test]
fn ip() {
    for v in [
        "192.168.1.20",
        "8.8.8.8",
        "2001:db8::8a2e:370:7334",
        "fe80::1",
        "::ffff:10.0.0.1",
    ] {
        hit("IP", v);
    }
    for t in [
        "1.2.3",
        "256.1.1.1",
        "01.02.03.04",
        "std::net::Ipv6Addr",
        "12:30:45",
        "a::b",
        "version 1.2.3.4.5",
    ] {
        miss("IP", t);
    }
}

#[test]
fn url_credentials() {
    let r = Redactor::new();
    let f = found(&r, "db at postgres://admin:s3cr3t@db.internal:5432/app now");
    assert_eq!(f, vec![("URL_CREDENTIALS".into(), "admin:s3cr3t".into())]);
    for t in [
        "https://example.com/a@b",
        "ssh://git@github.com/x",
        "https://user@example.com",
        "mailto:x",
    ] {
        miss("URL_CREDENTIALS", t);
    }
}

#[test]
fn jwt() {
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    hit("JWT", jwt);
    miss("JWT", "eyJust.a.word");
    miss("JWT", "eyJhbGciOiJIUzI1NiJ9.notapayload.sig");
}

#[test]
fn api_keys_by_prefix() {
    for v in [
        "AKIAIOSFODNN7EXAMPLE",
        "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",
        "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEFGHIJKLMN",
        "xoxb-2048-4096-AbCdEfGhIjKlMnOp",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "rk_live_51H8xYzAbCdEfGhIjKlMnOp",
        "sk-proj-Ab3dEf6hIj9kLmN0pQr2StU5vWx8Yz",
        "AIzaSyD-1234567890abcdefghijklmnopqrstu",
    ] {
        hit("API_KEY", v);
    }
    for t in [
        "AKIA is a prefix",
        "AKIAIOSFODNN7EXAMPL",
        "ghp_short",
        "sk-learn",
        "xoxb-1",
        "task-force",
        "sk_live_",
    ] {
        miss("API_KEY", t);
    }
}

#[test]
fn agent_token_prefix_is_configurable() {
    let tok = "tg_AbCdEfGh1234567890XyZ";
    hit("AGENT_TOKEN", tok);
    miss("AGENT_TOKEN", "tg_short");
    let r = Redactor::builder().agent_prefix("acme_").build().unwrap();
    assert_eq!(
        found(&r, "k acme_AbCdEfGh1234567890XyZ"),
        vec![("AGENT_TOKEN".into(), "acme_AbCdEfGh1234567890XyZ".into())]
    );
    assert!(Redactor::builder().agent_prefix("a b").build().is_err());
}

#[test]
fn private_key_block() {
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu\nabc+def/ghi==\n-----END RSA PRIVATE KEY-----";
    let text = format!("key:\n{pem}\nthanks");
    assert_eq!(
        found(&Redactor::new(), &text),
        vec![("PRIVATE_KEY".into(), pem.into())]
    );
    // A truncated block is redacted to the end of the text.
    let cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ";
    assert_eq!(
        found(&Redactor::new(), cut),
        vec![("PRIVATE_KEY".into(), cut.into())]
    );
    miss(
        "PRIVATE_KEY",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    );
}

#[test]
fn high_entropy_secret() {
    for v in [
        "q8Zr3Kp9Xv2Lm7Nw4Bt6Yc1Hs5Dj0Fg",
        "a3f9c2e17b8d4e6f90a1b2c3d4e5f60718293a4b",
        "Zk9+Qm3/Rt7vXw2Yp5Lq8Ns1Bd4Gh6Jk",
    ] {
        hit("SECRET", v);
    }
    for t in [
        "getUserAccountSettingsHandler2",
        "550e8400-e29b-41d4-a716-446655440000",
        "/usr/local/lib/python3/site-packages",
        "internationalization",
        "ThisIsJustAVeryLongCamelCaseName",
        "build-2024-01-15-release-candidate",
    ] {
        miss("SECRET", t);
    }
}

#[test]
fn org_terms_and_patterns() {
    let r = Redactor::builder()
        .terms(["Project Falcon", "falcon", "Globex"])
        .pattern(OrgPattern {
            tag: "TICKET".into(),
            regex: r"(?-u:\b)ACME-[0-9]{4}(?-u:\b)".into(),
        })
        .build()
        .unwrap();
    let f = found(
        &r,
        "About project falcon and Falcon-like GLOBEX plans, see ACME-1234; falconry no.",
    );
    assert_eq!(
        f,
        vec![
            ("TERM".into(), "project falcon".into()),
            ("TERM".into(), "Falcon".into()),
            ("TERM".into(), "GLOBEX".into()),
            ("TICKET".into(), "ACME-1234".into()),
        ]
    );
    assert!(Redactor::builder().terms([" lead"]).build().is_err());
    assert!(Redactor::builder()
        .pattern(OrgPattern {
            tag: "x".into(),
            regex: "a".into()
        })
        .build()
        .is_err());
    assert!(Redactor::builder()
        .pattern(OrgPattern {
            tag: "X".into(),
            regex: "(".into()
        })
        .build()
        .is_err());
}

struct EmployeeId;

impl Recognizer for EmployeeId {
    fn tag(&self) -> &str {
        "EMPLOYEE_ID"
    }
    fn category(&self) -> Category {
        Category::Organization
    }
    fn recognize(&self, text: &str, word: Range<usize>, out: &mut Vec<Range<usize>>) {
        let w = &text[word.clone()];
        if w.len() == 8 && w.starts_with("EMP") && w[3..].bytes().all(|b| b.is_ascii_digit()) {
            out.push(word);
        }
        // Out-of-range output must be ignored, not panic.
        out.push(usize::MAX - 1..usize::MAX);
    }
}

#[test]
fn host_recognizer() {
    let r = Redactor::builder()
        .recognizer(Arc::new(EmployeeId))
        .build()
        .unwrap();
    let f = r.find("owner EMP12345, mail a@example.com").unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(
        f[0].kind,
        EntityKind::Custom("EMPLOYEE_ID".into(), Category::Organization)
    );
    assert_eq!(f[0].kind.category(), Category::Organization);
    assert_eq!(f[1].kind, EntityKind::Email);
}

#[test]
fn utf8_offsets_are_exact() {
    let text = "Grüße an jürgen.müller@example.com? Nein: an jane@exämple.de — ruf +49 30 12345678 an, “4111 1111 1111 1111”…";
    let r = Redactor::new();
    let f = found(&r, text);
    assert_eq!(
        f,
        vec![
            ("EMAIL".into(), "jürgen.müller@example.com".into()),
            ("PHONE".into(), "+49 30 12345678".into()),
            ("CARD".into(), "4111 1111 1111 1111".into()),
        ]
    );
    for x in r.find(text).unwrap() {
        assert!(text.is_char_boundary(x.start) && text.is_char_boundary(x.end));
    }
}

#[test]
fn overlaps_are_resolved_deterministically() {
    let r = Redactor::builder().terms(["jane"]).build().unwrap();
    // The term and the e-mail start together: the longer e-mail wins.
    assert_eq!(
        found(&r, "jane@example.com"),
        vec![("EMAIL".into(), "jane@example.com".into())]
    );
    let text = "a@example.com 4111 1111 1111 1111 +1 415 555 2671 10.0.0.1";
    let first = r.find(text).unwrap();
    for _ in 0..5 {
        assert_eq!(r.find(text).unwrap(), first);
    }
    for w in first.windows(2) {
        assert!(w[0].end <= w[1].start);
    }
}

#[test]
fn kinds_can_be_limited() {
    let r = Redactor::builder()
        .categories(&[Category::Pii])
        .build()
        .unwrap();
    let f = found(&r, "a@example.com AKIAIOSFODNN7EXAMPLE");
    assert_eq!(f, vec![("EMAIL".into(), "a@example.com".into())]);
    let r = Redactor::builder()
        .disable(&EntityKind::Email)
        .build()
        .unwrap();
    assert!(found(&r, "a@example.com").is_empty());
}

#[test]
fn input_limit() {
    let big = "a".repeat(tenantguard::redact::MAX_TEXT_LEN + 1);
    let e = Redactor::new().find(&big).unwrap_err();
    assert_eq!(e.kind(), tenantguard::ErrorKind::TooLarge);
}
