//! Detects a blocking key provider calling back into the guard whose call is running it.
//!
//! A key provider written for a blocking host (a Python, Kotlin or Swift callback, or Rust
//! code that blocks on a future) runs on the thread of the call that needs the key, possibly
//! while that call holds the key cache's single load of the tenant: the same guard called
//! again from inside the provider would wait for that load forever. A host marks each call
//! of a guard ([`enter_call`]) and each provider method ([`ProviderScope::enter`]) on their
//! thread; a call of a marked guard from inside a provider is then refused instead of
//! hanging. Another guard can still be used from a provider.
//!
//! ```
//! use tenantguard::kms::reentry::{enter_call, ProviderScope};
//!
//! let _call = enter_call(1).unwrap(); // guard 1's call is running on this thread...
//! let _provider = ProviderScope::enter(); // ...and has reached a key provider method
//! assert!(enter_call(1).is_err()); // guard 1 again: refused
//! assert!(enter_call(2).is_ok()); // another guard: fine
//! ```

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

thread_local! {
    /// The guards (by the caller's id) with a call running on this thread, innermost last.
    static IN_CALL: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// How many key provider methods are running on this thread.
    static IN_PROVIDER: Cell<usize> = const { Cell::new(0) };
}

/// A guard's own key provider called it again: refused, since it would deadlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a key provider called back into the Guard that is calling it (this would deadlock); \
     a key provider must not use the same Guard"
)]
pub struct Reentered;

/// A call of one guard running on this thread; unmarked when dropped (on the same thread:
/// the scope is neither `Send` nor `Sync`).
#[must_use = "the call is marked only while the scope lives"]
pub struct CallScope(PhantomData<*const ()>);

impl Drop for CallScope {
    fn drop(&mut self) {
        IN_CALL.with(|c| c.borrow_mut().pop());
    }
}

impl std::fmt::Debug for CallScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallScope")
    }
}

/// Marks a call of guard `guard_id` (any number the host uses to tell its guards apart)
/// running on this thread until the scope drops; [`Reentered`] if a key provider method
/// that a call of this guard is running calls it again.
pub fn enter_call(guard_id: usize) -> Result<CallScope, Reentered> {
    if IN_PROVIDER.with(Cell::get) > 0 && IN_CALL.with(|c| c.borrow().contains(&guard_id)) {
        return Err(Reentered);
    }
    IN_CALL.with(|c| c.borrow_mut().push(guard_id));
    Ok(CallScope(PhantomData))
}

/// A key provider method running on this thread while it lives.
#[must_use = "the provider method is marked only while the scope lives"]
pub struct ProviderScope(PhantomData<*const ()>);

impl ProviderScope {
    /// Marks a key provider method running on this thread until the scope drops.
    pub fn enter() -> Self {
        IN_PROVIDER.with(|d| d.set(d.get() + 1));
        ProviderScope(PhantomData)
    }
}

impl Drop for ProviderScope {
    fn drop(&mut self) {
        IN_PROVIDER.with(|d| d.set(d.get() - 1));
    }
}

impl std::fmt::Debug for ProviderScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderScope")
    }
}
