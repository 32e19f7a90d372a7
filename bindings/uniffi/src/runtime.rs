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

// Re-entrancy from foreign key providers (see `tenantguard::kms::reentry`): each call of a
// guard is marked on its thread (by the address of the guard object), each foreign provider
// method too, and a call of a marked guard from inside a provider is refused with
// `Conflict` instead of waiting forever for the key load that is running the provider.
pub(crate) use tenantguard::kms::reentry::{CallScope, ProviderScope};

/// Marks a call of guard `id` running on this thread until the scope drops; `Conflict` if
/// a foreign key provider that a call of this guard is running calls it again.
pub(crate) fn enter(id: usize) -> Result<CallScope, TenantguardError> {
    tenantguard::kms::reentry::enter_call(id)
        .map_err(|e| TenantguardError::new(tenantguard::ErrorKind::Conflict, e.to_string()))
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
