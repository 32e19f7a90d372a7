//! Exit codes (documented in docs/OPERATIONS.md) and the one failure type.

use tenantguard::ErrorKind;

/// Success.
pub const OK: i32 = 0;
/// Any other failure (store, key provider, I/O).
pub const FAILURE: i32 = 1;
/// Bad command line or configuration.
pub const USAGE: i32 = 2;
/// Integrity failure: a broken audit chain, an unexpected head, a value that fails
/// authentication, a tampered row.
pub const INTEGRITY: i32 = 3;
/// Refused: permission, conflict (e.g. a key still in use), a confirmation not given.
pub const REFUSED: i32 = 4;
/// Not found: unknown tenant, key, token or session.
pub const NOT_FOUND: i32 = 5;
/// A check found problems (`doctor`, `pg check`, `key retire --dry-run` of a key in use,
/// `policy diff` with changes, `audit verify` of a checkpoint lost in a recorded restore).
pub const CHECK_FAILED: i32 = 6;
/// Stopped by Ctrl-C (SIGINT/SIGTERM) after the last finished batch: run again to resume.
pub const INTERRUPTED: i32 = 130;

/// A failure with its exit code and a stable kind for `--json`.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: i32,
    /// A stable word: `usage`, `integrity`, `refused`, `not_found`, ... or the library's kind.
    pub kind: String,
    /// For the operator (never holds secret material: library errors never do).
    pub message: String,
    /// The typed reason of an integrity failure or refusal (`truncated`, `fork`,
    /// `broken_chain`, ...), when there is one.
    pub reason: Option<String>,
}

impl Failure {
    pub fn new(code: i32, kind: &str, message: impl Into<String>) -> Self {
        Failure {
            code,
            kind: kind.to_owned(),
            message: message.into(),
            reason: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, "usage", message)
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(REFUSED, "refused", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(NOT_FOUND, "not_found", message)
    }
    pub fn integrity(message: impl Into<String>) -> Self {
        Self::new(INTEGRITY, "integrity", message)
    }
    pub fn io(what: &str, e: std::io::Error) -> Self {
        Self::new(FAILURE, "io", format!("{what}: {e}"))
    }
}

/// The exit code of a library error kind.
pub fn code_of(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::InvalidInput | ErrorKind::Config | ErrorKind::TooLarge => USAGE,
        ErrorKind::AuthenticationFailed | ErrorKind::Integrity | ErrorKind::Malformed => INTEGRITY,
        ErrorKind::PermissionDenied | ErrorKind::CrossTenant | ErrorKind::Conflict => REFUSED,
        ErrorKind::NotFound | ErrorKind::UnknownKey | ErrorKind::KeyDestroyed => NOT_FOUND,
        _ => FAILURE,
    }
}

impl From<tenantguard::Error> for Failure {
    fn from(e: tenantguard::Error) -> Self {
        let kind = e.kind();
        // The audit chain's own problem names are finer than the library's reason.
        let reason = match &e {
            tenantguard::Error::Audit(tenantguard::audit::AuditError::Broken {
                problem, ..
            }) => Some(problem.name().to_owned()),
            _ => e.reason().map(|r| r.as_str().to_owned()),
        };
        let mut f = Failure::new(code_of(kind), kind.as_str(), e.to_string());
        f.reason = reason;
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_and_refusal_have_distinct_codes() {
        assert_eq!(code_of(ErrorKind::AuthenticationFailed), INTEGRITY);
        assert_eq!(code_of(ErrorKind::Integrity), INTEGRITY);
        assert_eq!(code_of(ErrorKind::PermissionDenied), REFUSED);
        assert_eq!(code_of(ErrorKind::NotFound), NOT_FOUND);
        assert_eq!(code_of(ErrorKind::Store), FAILURE);
        let all = [
            OK,
            FAILURE,
            USAGE,
            INTEGRITY,
            REFUSED,
            NOT_FOUND,
            CHECK_FAILED,
            INTERRUPTED,
        ];
        let mut s = all.to_vec();
        s.dedup();
        assert_eq!(s.len(), all.len());
    }
}
