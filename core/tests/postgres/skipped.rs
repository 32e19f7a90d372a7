//! Says clearly when the PostgreSQL tests do not run, so a plain `cargo test` (no
//! `postgres` feature, or no server) passes without hiding that they were skipped.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

#[test]
fn postgres_tests_run_or_say_they_were_skipped() {
    let required = std::env::var("TENANTGUARD_PG_REQUIRED").as_deref() == Ok("1");
    if !cfg!(feature = "postgres") {
        assert!(
            !required,
            "TENANTGUARD_PG_REQUIRED=1 but tenantguard was built without --features postgres"
        );
        // Straight to stderr, past the test harness's capture.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED PostgreSQL tests: built without `--features postgres` (see scripts/pg.sh)"
        );
    } else if std::env::var("TENANTGUARD_PG_URL").map_or(true, |v| v.is_empty()) {
        assert!(
            !required,
            "TENANTGUARD_PG_REQUIRED=1 but TENANTGUARD_PG_URL is not set"
        );
        let _ = writeln!(std::io::stderr(), "SKIPPED PostgreSQL tests: TENANTGUARD_PG_URL not set (run `eval \"$(scripts/pg.sh start)\"`)");
    }
}
