//! Integration tests, one binary: the `Guard` facade end to end, the store conformance
//! suites of `tenantguard-testkit` on every built-in store, the integrity of authorization
//! rows, write-only credentials, error messages and the operator jobs.
//!
//! Each module is a file in `tests/guard/` (a crate root's `mod` looks beside it, hence
//! the paths); run one with
//! `cargo test -p tenantguard --test guard MODULE::`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod gov_support;
#[cfg(feature = "postgres")]
mod postgres_support;
mod tg_cap;

#[path = "guard/facade.rs"]
mod facade;
#[path = "guard/isolation_write_only.rs"]
mod isolation_write_only;
#[path = "guard/layering.rs"]
mod layering;
#[path = "guard/messages.rs"]
mod messages;
#[path = "guard/operator_jobs.rs"]
mod operator_jobs;
#[path = "guard/row_integrity.rs"]
mod row_integrity;
#[path = "guard/store_conformance.rs"]
mod store_conformance;
#[path = "guard/store_parts.rs"]
mod store_parts;
