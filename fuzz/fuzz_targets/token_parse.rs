//! Token and session-token parsing: the agent-token checksum parser, access-token (JWT)
//! verification and refresh-token parsing must never panic, and must never accept a
//! string the generator did not make.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tenantguard::tokens::format;
use tenantguard::{Guard, LocalKeyProvider, MemoryStore};

fn guard() -> &'static Guard {
    static G: OnceLock<Guard> = OnceLock::new();
    G.get_or_init(|| {
        Guard::builder()
            .key_provider(LocalKeyProvider::ephemeral())
            .store(MemoryStore::new())
            .build()
            .unwrap()
    })
}

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if format::parse(s, "tg").is_ok() {
        // Anything accepted has the documented shape.
        assert!(s.starts_with("tg_") && s.len() == 3 + format::RANDOM_LEN + format::CHECKSUM_LEN);
        assert!(s[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    let _ = format::parse(s, "acme");
    let _ = format::validate_prefix(s);
    // No fuzzer can forge an HMAC-SHA256 signature under the keyring's random key.
    assert!(rt().block_on(guard().sessions().verify_access_token(s)).is_err());
});
