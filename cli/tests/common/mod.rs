//! Helpers shared by the command-line tests.
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use tenantguard::{ServiceRole, TenantContext, TenantId};

/// The `tenantguard` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_tenantguard");

/// Runs `cmd` with `--json` and `args`, asserts the exit code, returns the one JSON document
/// it printed.
pub fn json_of(mut cmd: Command, args: &[&str], code: i32) -> Value {
    let out = cmd.arg("--json").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: stdout {stdout} stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {stdout}"))
}

/// A service context for tenant `t`.
pub fn ctx(s: &ServiceRole, t: &str) -> TenantContext {
    TenantContext::service(TenantId::new(t).unwrap(), s)
}
