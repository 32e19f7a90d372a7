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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;

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
    crate::errors::clear_cause();
    let out = pollster::block_on(fut);
    match crate::errors::take_interrupt() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The error of a callback refused because the interpreter is shutting down.
pub(crate) const SHUTTING_DOWN: &str = "the Python interpreter is shutting down";

/// Set by an `atexit` hook once the interpreter begins to shut down.
static EXITING: AtomicBool = AtomicBool::new(false);

/// The thread that ran the `atexit` hook: the one finalizing the interpreter. It is never
/// ended by `pthread_exit`, and later `atexit` hooks (registered before this module was
/// imported) may still call tenantguard on it, so it is never refused or parked.
static FINALIZER: OnceLock<std::thread::ThreadId> = OnceLock::new();

/// Whether the interpreter is shutting down and this thread is not the one finalizing it.
fn exiting_elsewhere() -> bool {
    EXITING.load(Ordering::SeqCst) && FINALIZER.get() != Some(&std::thread::current().id())
}

/// Python callbacks (key provider, clock, directory, observer, progress) running now.
static IN_CALLBACK: AtomicUsize = AtomicUsize::new(0);

/// How long the `atexit` hook waits for running callbacks to return.
const DRAIN: Duration = Duration::from_secs(5);

/// Runs a Python callback for the core, unless the interpreter is shutting down: then
/// `None`, and the caller fails or skips the callback.
///
/// A thread (a daemon thread, say) still in Python code it entered from the core when
/// finalization begins is terminated by CPython with `pthread_exit`, whose forced unwind
/// through the core's frames aborts the whole process. So the `atexit` hook (which runs
/// before that phase) stops new callbacks and waits for the running ones to return.
pub(crate) fn callback<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    // Counted before the flag is read; the hook sets the flag before reading the count
    // (both SeqCst): either the hook waits for this callback or this callback sees the flag.
    IN_CALLBACK.fetch_add(1, Ordering::SeqCst);
    let out = if exiting_elsewhere() {
        None
    } else {
        Some(Python::attach(f))
    };
    IN_CALLBACK.fetch_sub(1, Ordering::SeqCst);
    out
}

/// Threads between the end of a detached call (`detach`) and taking the GIL back.
static REATTACHING: AtomicUsize = AtomicUsize::new(0);

/// `py.detach(f)`, except that a thread whose call ends once the interpreter is shutting
/// down never takes the GIL back: CPython would end it with `pthread_exit`, whose forced
/// unwind through these frames aborts the process. It parks instead, until the process
/// exits (a daemon thread's call has no one left to return to).
pub(crate) fn detach<T, F>(py: Python<'_>, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    let out = py.detach(|| {
        let out = f();
        // Counted before the flag is read, as in `callback`.
        REATTACHING.fetch_add(1, Ordering::SeqCst);
        if exiting_elsewhere() {
            REATTACHING.fetch_sub(1, Ordering::SeqCst);
            loop {
                std::thread::park();
            }
        }
        out
    });
    REATTACHING.fetch_sub(1, Ordering::SeqCst);
    out
}

/// The `atexit` hook: no new callbacks, and no thread takes the GIL back from a call;
/// waits (GIL released) for the callbacks running and the threads already taking it back.
#[pyfunction]
fn _shutting_down(py: Python<'_>) {
    // Set before the flag, so the finalizing thread never sees itself as "elsewhere".
    let _ = FINALIZER.set(std::thread::current().id());
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let start = std::time::Instant::now();
        while (IN_CALLBACK.load(Ordering::SeqCst) > 0 || REATTACHING.load(Ordering::SeqCst) > 0)
            && start.elapsed() < DRAIN
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
}

/// Registers the `atexit` hook.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = wrap_pyfunction!(_shutting_down, m)?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}
