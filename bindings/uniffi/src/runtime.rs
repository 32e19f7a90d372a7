//! The internal runtime blocking calls run on (see the Python binding for the rationale:
//! the future runs on the calling thread inside a shared tokio runtime's context, so
//! I/O-driven backends work and re-entrant calls cannot hit tokio's nested-`block_on` panic).

use std::cell::{Cell, RefCell};
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

// Re-entrancy from foreign key providers. A Kotlin/Swift key provider runs on the thread
// of the call that needs the key, possibly while that call holds the key cache's single
// load of the tenant: the same guard called again from the provider would wait for that
// load forever. Each call of a guard is marked on its thread (by the address of the guard
// object), each foreign provider method too, and a call of a marked guard from inside a
// provider is refused with `Conflict` instead. Another guard can still be used.

thread_local! {
    /// The guards (by address) with a call running on this thread, innermost last.
    static IN_CALL: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// How many foreign key provider methods are running on this thread.
    static IN_PROVIDER: Cell<usize> = const { Cell::new(0) };
}

/// A call of one guard running on this thread (see [`enter`]).
pub(crate) struct CallScope(());

impl Drop for CallScope {
    fn drop(&mut self) {
        IN_CALL.with(|c| c.borrow_mut().pop());
    }
}

/// Marks a call of guard `id` running on this thread until the scope drops; `Conflict` if
/// a foreign key provider that a call of this guard is running calls it again.
pub(crate) fn enter(id: usize) -> Result<CallScope, TenantguardError> {
    if IN_PROVIDER.with(Cell::get) > 0 && IN_CALL.with(|c| c.borrow().contains(&id)) {
        return Err(TenantguardError::new(
            tenantguard::ErrorKind::Conflict,
            "a key provider called back into the Guard that is calling it (this would \
             deadlock); a key provider must not use the same Guard",
        ));
    }
    IN_CALL.with(|c| c.borrow_mut().push(id));
    Ok(CallScope(()))
}

/// A foreign key provider method running on this thread while it lives.
pub(crate) struct ProviderScope(());

impl ProviderScope {
    pub(crate) fn enter() -> Self {
        IN_PROVIDER.with(|d| d.set(d.get() + 1));
        ProviderScope(())
    }
}

impl Drop for ProviderScope {
    fn drop(&mut self) {
        IN_PROVIDER.with(|d| d.set(d.get() - 1));
    }
}

/// The identity of the guard an object calls, for [`enter`]; 0 (the default) for objects
/// whose calls are not checked.
pub(crate) trait CallId {
    fn call_id(&self) -> usize {
        0
    }
}

/// [`block_on`] for a call of guard `id` (see [`enter`]; 0: not checked).
pub(crate) fn block_on_in<T, F>(id: usize, fut: F) -> Result<T, TenantguardError>
where
    F: Future<Output = Result<T, TenantguardError>>,
{
    let _call = if id == 0 { None } else { Some(enter(id)?) };
    block_on(fut)
}

/// Runs `fut`, a suspending call of guard `id`, marked as such during each poll (a foreign
/// provider it reaches runs inside the poll, see [`enter`]).
pub(crate) async fn in_call<T, F>(id: usize, fut: F) -> Result<T, TenantguardError>
where
    F: Future<Output = Result<T, TenantguardError>>,
{
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx| {
        let _call = match (id != 0).then(|| enter(id)).transpose() {
            Ok(c) => c,
            Err(e) => return std::task::Poll::Ready(Err(e)),
        };
        fut.as_mut().poll(cx)
    })
    .await
}
