//! `SealedValue::parse` on arbitrary text: never panics, and whatever it accepts is
//! canonical (printing it back gives the same text) and agrees with the binary parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantguard::SealedValue;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(value) = SealedValue::parse(&text) {
        assert_eq!(value.to_text(), text, "accepted a non-canonical text form");
        assert!(matches!(value.version(), 1 | 2));
        let again = SealedValue::from_bytes(value.as_bytes())
            .expect("binary form of a parsed value must parse");
        assert_eq!(again, value);
        assert_eq!(
            value.plaintext_len()
                + if value.version() == 1 {
                    tenantguard::crypto::BINARY_OVERHEAD
                } else {
                    tenantguard::crypto::BINARY_OVERHEAD_V2
                },
            value.as_bytes().len()
        );
        let _ = format!("{value:?}");
    }
});
