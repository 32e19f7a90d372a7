//! Audit import and offline verification: arbitrary JSON Lines never panic, and whatever
//! verifies is a consistent chain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantguard::audit::{parse_line, verify_jsonl, AuditVerification, VerifyOptions, GENESIS};

fuzz_target!(|data: &[u8]| {
    if let Ok(AuditVerification::Valid(report)) = verify_jsonl(data, &VerifyOptions::default()) {
        // A verified log starts at the genesis and every line chained onto the previous one.
        let mut prev = GENESIS.to_owned();
        let mut n = 0;
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let e = parse_line(line).expect("verified lines parse");
            assert_eq!(e.prev, prev);
            assert_eq!(e.compute_hash(), e.hash);
            prev = e.hash;
            n += 1;
        }
        assert_eq!(report.entries, n);
        assert_eq!(report.head, prev);
    }
    let _ = verify_jsonl(
        data,
        &VerifyOptions {
            start_after: Some((3, GENESIS.to_owned())),
            expected_head: Some((4, GENESIS.to_owned())),
        },
    );
});
