//! Integration tests, one binary: sealed-value formats and their vectors, the primitives'
//! known answers, tampering, the format rollout, key providers and the key file (with real
//! processes), bring-your-own-key, the service keyring and crypto-shredding.
//!
//! Each module is a file in `tests/crypto/` (a crate root's `mod` looks beside it, hence
//! the paths); run one with
//! `cargo test -p tenantguard --test crypto MODULE::`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod rerun;
mod tg_cap;

#[path = "crypto/format_rollout.rs"]
mod format_rollout;
#[path = "crypto/key_jobs_processes.rs"]
mod key_jobs_processes;
#[path = "crypto/kms_byok.rs"]
mod kms_byok;
#[path = "crypto/local_kms.rs"]
mod local_kms;
#[path = "crypto/local_kms_processes.rs"]
mod local_kms_processes;
#[path = "crypto/service_keys.rs"]
mod service_keys;
#[path = "crypto/shred_backup.rs"]
mod shred_backup;
#[path = "crypto/stale_key_processes.rs"]
mod stale_key_processes;
#[path = "crypto/tamper.rs"]
mod tamper;
#[path = "crypto/vectors.rs"]
mod vectors;
#[path = "crypto/vectors_v2.rs"]
mod vectors_v2;
#[path = "crypto/wipe.rs"]
mod wipe;
#[path = "crypto/wycheproof.rs"]
mod wycheproof;
