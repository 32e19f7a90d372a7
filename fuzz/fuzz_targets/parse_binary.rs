//! `SealedValue::from_bytes` on arbitrary bytes: never panics, keeps the bytes as given,
//! and agrees with the text form both ways.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenantguard::SealedValue;

fuzz_target!(|data: &[u8]| {
    let parsed = SealedValue::from_bytes(data);
    assert_eq!(
        parsed.clone().ok(),
        SealedValue::from_vec(data.to_vec()).ok(),
        "from_bytes and from_vec disagree"
    );
    if let Ok(value) = parsed {
        assert_eq!(value.as_bytes(), data);
        assert_eq!(
            u32::from_be_bytes([data[1], data[2], data[3], data[4]]),
            value.key_id().get()
        );
        let text = value.to_text();
        assert_eq!(
            SealedValue::parse(&text).expect("text form of a parsed value must parse"),
            value
        );
        let _ = format!("{value:?} {value}");
    }
});
