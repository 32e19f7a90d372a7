//! Restore and the streaming restorer on arbitrary answers, chunked at arbitrary points:
//! never panic, and streaming gives exactly what whole-text restore gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantguard::redact::{Operation, PseudonymSession, Redactor};
use tenantguard::TenantId;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let answer = String::from_utf8_lossy(rest);
    let s = PseudonymSession::new(
        &TenantId::new("fuzz").expect("id"),
        std::time::Duration::from_secs(60),
    )
    .expect("session");
    let seed =
        "mail jane@example.com or j@example.org, card 4111 1111 1111 1111, call +1 415 555 2671";
    Redactor::new()
        .redact(seed, &Operation::Pseudonymize(&s))
        .expect("pseudonymize");
    Redactor::new()
        .redact(seed, &Operation::Fake(&s))
        .expect("fake");
    let whole = s.restore(&answer).expect("restore");
    let step = usize::from(cut % 16) + 1;
    let mut st = s.stream();
    let mut out = String::new();
    let chars: Vec<char> = answer.chars().collect();
    for chunk in chars.chunks(step) {
        out.push_str(&st.push(&chunk.iter().collect::<String>()).expect("push"));
    }
    out.push_str(&st.finish().expect("finish"));
    assert_eq!(out, whole);
});
