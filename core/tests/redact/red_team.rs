//! Red-team attacks on redaction and restore (round 2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tenantguard::redact::{
    Operation, PseudonymSession, RedactError, Redactor, DEFAULT_SESSION_TTL, MAX_RESTORED_LEN,
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
