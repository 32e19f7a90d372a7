//! Integration tests, one binary: the audit log on every store, Merkle proofs, audit
//! transparency (checkpoints, exports, offline verification), witnesses, and the restore
//! reconcile.
//!
//! Each module is a file in `tests/audit/` (a crate root's `mod` looks beside it, hence
//! the paths); run one with
//! `cargo test -p tenantguard --test audit MODULE::`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod gov_support;
#[cfg(feature = "postgres")]
mod postgres_support;
mod rerun;
mod tg_cap;

#[path = "audit/log.rs"]
mod log;
#[path = "audit/merkle.rs"]
mod merkle;
#[path = "audit/red_team.rs"]
mod red_team;
#[path = "audit/restore.rs"]
mod restore;
#[path = "audit/transparency.rs"]
mod transparency;
#[path = "audit/witness.rs"]
mod witness;
