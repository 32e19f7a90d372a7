//! Integration tests, one binary: each provider against its real peer (AWS KMS on moto,
//! Vault Transit on OpenBao, PKCS#11 on a SoftHSM2 token), Google Cloud KMS against a fake
//! of its REST API in this process, and the S3 checkpoint sink (Object Lock, restores) on
//! moto.
//!
//! A module is built with its feature (`s3_sink` and `s3_sink_restore` with `s3-sink`);
//! every one but `gcp` skips (and passes) without its peer, with a note on stderr (run
//! `scripts/kms.sh test`, or `scripts/kms.sh start` and `source target/kms/kms.env` first).
//! Each module is a file in `tests/kms/` (a crate root's `mod` looks beside it, hence the
//! paths); run one with
//! `cargo test -p tenantguard-kms --all-features --test kms MODULE::`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(any(
    feature = "aws",
    feature = "gcp",
    feature = "pkcs11",
    feature = "s3-sink",
    feature = "vault"
))]
mod common;
#[cfg(any(
    feature = "aws",
    feature = "gcp",
    feature = "pkcs11",
    feature = "s3-sink",
    feature = "vault"
))]
mod tg_cap;

#[cfg(feature = "aws")]
#[path = "kms/aws.rs"]
mod aws;
#[cfg(feature = "gcp")]
#[path = "kms/gcp.rs"]
mod gcp;
#[cfg(feature = "pkcs11")]
#[path = "kms/pkcs11.rs"]
mod pkcs11;
#[cfg(feature = "s3-sink")]
#[path = "kms/s3_sink.rs"]
mod s3_sink;
#[cfg(feature = "s3-sink")]
#[path = "kms/s3_sink_restore.rs"]
mod s3_sink_restore;
#[cfg(feature = "vault")]
#[path = "kms/vault.rs"]
mod vault;
