//! The internal runtime the core's futures run on.
//!
//! Each call runs its future to completion on the calling thread (with the GIL released)
//! inside the context of a shared multi-thread tokio runtime, so I/O-driven stores and key
//! providers work, and a re-entrant call (a Python key provider calling back into
//! tenantguard) cannot trigger tokio's nested-`block_on` panic.
//!
//! A `KeyboardInterrupt` or `SystemExit` raised by Python code the core called (a key
//! provider, directory, clock, observer) is kept aside while the core unwinds its own
//! error, and raised by `block_on` when the call returns (`errors::keep_interrupt`).

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

/// Runs `fut` to completion on the calling thread, inside the runtime's context; a
/// `KeyboardInterrupt` or `SystemExit` raised by a Python callback meanwhile wins over
/// the core's result.
pub(crate) fn block_on<F: Future>(fut: F) -> pyo3::PyResult<F::Output> {
    let rt = runtime().map_err(crate::errors::runtime_err)?;
    let _ctx = rt.enter();
    crate::errors::take_interrupt(); // none is pending between calls; never raise a stale one
    let out = pollster::block_on(fut);
    match crate::errors::take_interrupt() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
