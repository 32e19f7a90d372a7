//! Integration tests, one binary: PostgresStore against a real server (the store, its
//! governance tables, Row Level Security under raw SQL attacks, cross-tenant attacks, news
//! between real processes, backups, audit transparency and restore).
//!
//! Every module but `skipped` needs `--features postgres`; each skips (and passes) without
//! a server unless TENANTGUARD_PG_REQUIRED=1 (see `postgres_support`). `skipped` says so
//! when they do not run. Each module is a file in `tests/postgres/` (a crate root's `mod`
//! looks beside it, hence the paths); run one with
//! `cargo test -p tenantguard --features postgres --test postgres MODULE::`.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "postgres")]
mod postgres_support;
#[cfg(feature = "postgres")]
mod rerun;
mod tg_cap;

#[cfg(feature = "postgres")]
#[path = "postgres/audit_restore.rs"]
mod audit_restore;
#[cfg(feature = "postgres")]
#[path = "postgres/audit_transparency.rs"]
mod audit_transparency;
#[cfg(feature = "postgres")]
#[path = "postgres/events.rs"]
mod events;
#[cfg(feature = "postgres")]
#[path = "postgres/governance.rs"]
mod governance;
#[cfg(feature = "postgres")]
#[path = "postgres/isolation_attacks.rs"]
mod isolation_attacks;
#[cfg(feature = "postgres")]
#[path = "postgres/raw_sql_attacks.rs"]
mod raw_sql_attacks;
#[cfg(feature = "postgres")]
#[path = "postgres/shred.rs"]
mod shred;
#[path = "postgres/skipped.rs"]
mod skipped;
#[cfg(feature = "postgres")]
#[path = "postgres/stale_key.rs"]
mod stale_key;
#[cfg(feature = "postgres")]
#[path = "postgres/store.rs"]
mod store;
