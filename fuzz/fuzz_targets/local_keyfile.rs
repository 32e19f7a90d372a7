//! `LocalKeyProvider::open` on arbitrary key-file contents (written with mode 0600): never
//! panics; a file it accepts must give a working provider (wrap then unwrap round-trips).
#![no_main]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tenantguard::crypto::DataKey;
use tenantguard::kms::{KeyProvider, WrapContext};
use tenantguard::{KeyId, LocalKeyProvider, TenantId};

fn path() -> &'static PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    // Under $TMPDIR: scripts/fuzz.sh points it at a tmpfs folder it removes afterwards
    // (rewriting a file on ext4 costs milliseconds of I/O per input).
    PATH.get_or_init(|| {
        DIR.get_or_init(|| tempfile::tempdir().unwrap())
            .path()
            .join("keys.json")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(data).unwrap();
    drop(f);
    let Ok(provider) = LocalKeyProvider::open(path) else {
        return;
    };
    assert!(!provider.kek_ids().is_empty());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = WrapContext {
            tenant: TenantId::new("acme").unwrap(),
            key_id: KeyId::FIRST,
        };
        let key = DataKey::from_bytes([7; 32]);
        let wrapped = provider
            .wrap(&key, &ctx)
            .await
            .expect("wrap with an accepted key file");
        let back = provider
            .unwrap(&wrapped, &ctx)
            .await
            .expect("unwrap what was just wrapped");
        assert_eq!(back.expose(), key.expose());
        let other = WrapContext {
            tenant: TenantId::new("globex").unwrap(),
            key_id: KeyId::FIRST,
        };
        assert!(
            provider.unwrap(&wrapped, &other).await.is_err(),
            "unwrapped under another tenant"
        );
    });
});
