//! The redactor on arbitrary text: never panics, findings are sorted, non-overlapping and on
//! character boundaries, and pseudonymize + restore gives the input back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantguard::redact::{Operation, PseudonymSession, Redactor};
use tenantguard::TenantId;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let redactor = Redactor::builder()
        .terms(["acme", "Project Falcon"])
        // The personal-data recognizers (names with the gazetteer, addresses, dates of
        // birth, CVCs, national ids) run by default; the organization's lists too.
        .names(["Zorblax", "Quintana Roo"])
        .exempt(["Hope"])
        .build()
        .expect("valid config");
    let findings = redactor.find(&text).expect("within the size limit");
    let mut last = 0;
    for f in &findings {
        assert!(f.start >= last && f.start < f.end && f.end <= text.len());
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        last = f.end;
    }
    let _ = redactor.redact(&text, &Operation::Mask).expect("mask");
    let s = PseudonymSession::new(
        &TenantId::new("fuzz").expect("id"),
        std::time::Duration::from_secs(60),
    )
    .expect("session");
    let red = redactor
        .redact(&text, &Operation::Pseudonymize(&s))
        .expect("pseudonymize");
    assert_eq!(s.restore(&red.text).expect("restore"), text);
});
