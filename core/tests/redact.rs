//! Integration tests, one binary: redaction's recognizers (secrets, provider credential
//! formats, personal data) and operators (pseudonymization, restore, streaming).
//!
//! Each module is a file in `tests/redact/` (a crate root's `mod` looks beside it, hence
//! the paths); run one with
//! `cargo test -p tenantguard --test redact MODULE::`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "redact/operators.rs"]
mod operators;
#[path = "redact/personal.rs"]
mod personal;
#[path = "redact/recognizers.rs"]
mod recognizers;
#[path = "redact/red_team.rs"]
mod red_team;
#[path = "redact/secret_formats.rs"]
mod secret_formats;
#[path = "redact/secrets.rs"]
mod secrets;
