//! Integration tests, one binary: agent tokens, passwords and sessions, retention, the
//! attacks on the principal model, rate limits (in process, and shared through Redis or
//! PostgreSQL by real processes) and egress control.
//!
//! Each module is a file in `tests/governance/` (a crate root's `mod` looks beside it, hence
//! the paths); run one with
//! `cargo test -p tenantguard --test governance MODULE::`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod gov_support;
#[cfg(feature = "postgres")]
mod postgres_support;
mod ratelimit_support;
mod rerun;
mod tg_cap;

#[path = "governance/attacks_auth_rt3.rs"]
mod attacks_auth_rt3;
#[path = "governance/attacks_authz.rs"]
mod attacks_authz;
#[path = "governance/attacks_principals.rs"]
mod attacks_principals;
#[path = "governance/attacks_second_instance.rs"]
mod attacks_second_instance;
#[path = "governance/auth.rs"]
mod auth;
#[path = "governance/egress.rs"]
mod egress;
#[path = "governance/egress_audit.rs"]
mod egress_audit;
#[path = "governance/egress_red_team.rs"]
mod egress_red_team;
#[path = "governance/ratelimit.rs"]
mod ratelimit;
#[cfg(any(feature = "redis", feature = "postgres"))]
#[path = "governance/ratelimit_shared.rs"]
mod ratelimit_shared;
#[path = "governance/retention.rs"]
mod retention;
#[path = "governance/tokens.rs"]
mod tokens;
