//! Integration tests of the `tenantguard` command line, one binary: the real binary against
//! SQLite (`sqlite`), with each `tenantguard-kms` provider (`kms`, built with
//! `--features kms` or one provider's feature; a provider whose peer is not configured is
//! skipped with a note on stderr) and against PostgreSQL (`postgres`, built with
//! `--features postgres`; skipped without a server unless TENANTGUARD_PG_REQUIRED=1).
//!
//! Each module is a file in `tests/cli/` (a crate root's `mod` looks beside it, hence the
//! paths); run one with `cargo test -p tenantguard-cli --test cli MODULE::`, e.g.
//! `cargo test -p tenantguard-cli --features kms --test cli kms::`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "cli/hostile.rs"]
mod hostile;
#[cfg(any(
    feature = "aws",
    feature = "vault",
    feature = "pkcs11",
    feature = "gcp"
))]
#[path = "cli/kms.rs"]
mod kms;
#[cfg(feature = "postgres")]
#[path = "cli/postgres.rs"]
mod postgres;
#[path = "cli/sqlite.rs"]
mod sqlite;
