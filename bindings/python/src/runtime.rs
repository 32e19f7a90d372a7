//! The internal runtime the core's futures run on.
//!
//! Each call runs its future to completion on the calling thread (with the GIL released)
//! inside the context of a shared multi-thread tokio runtime, so I/O-driven stores and key
//! providers work, and a re-entrant call (a Python key provider calling back into
//! tenantguard) cannot trigger tokio's nested-`block_on` panic.

use std::future::Future;
use std::sync::OnceLock;

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("tenantguard-rt")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the tenantguard runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs `fut` to completion on the calling thread, inside the runtime's context.
pub(crate) fn block_on<F: Future>(fut: F) -> Result<F::Output, String> {
    let rt = runtime()?;
    let _ctx = rt.enter();
    Ok(pollster::block_on(fut))
}
