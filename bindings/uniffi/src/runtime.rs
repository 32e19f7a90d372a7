//! The internal runtime blocking calls run on (see the Python binding for the rationale:
//! the future runs on the calling thread inside a shared tokio runtime's context, so
//! I/O-driven backends work and re-entrant calls cannot hit tokio's nested-`block_on` panic).

use std::future::Future;
use std::sync::OnceLock;

use crate::error::TenantguardError;

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// Runs `fut` to completion on the calling thread, inside the runtime's context.
pub(crate) fn block_on<T, F>(fut: F) -> Result<T, TenantguardError>
where
    F: Future<Output = Result<T, TenantguardError>>,
{
    let rt = RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("tenantguard-rt")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the tenantguard runtime: {e}"))
        })
        .as_ref()
        .map_err(|e| TenantguardError::Other {
            message: e.clone(),
            reason: None,
        })?;
    let _ctx = rt.enter();
    pollster::block_on(fut)
}
