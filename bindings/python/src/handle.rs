//! The closable handle a `Guard` shares with the objects built from it (`Egress`,
//! `Revealer`): closing the guard closes them too, so the store and key provider they
//! hold are released at once, and using them afterwards raises the same `ClosedError`
//! (a `ValueError`) as using the closed guard.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use pyo3::prelude::*;

fn closed_err(what: &str) -> PyErr {
    crate::errors::closed(format!(
        "operation on a closed {what}: it cannot be reopened; build a new one"
    ))
}

/// Something a guard closes when it closes.
trait Close: Send + Sync {
    fn close(&self);
}

impl<T: Send + Sync> Close for RwLock<Option<T>> {
    fn close(&self) {
        let taken = self.write().unwrap_or_else(|p| p.into_inner()).take();
        drop(taken);
    }
}

/// A guard, or nothing once closed, and the objects built from it.
pub(crate) struct GuardHandle {
    guard: RwLock<Option<tenantguard::Guard>>,
    dependents: Mutex<Vec<Weak<dyn Close>>>,
    id: usize,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The guards (by `GuardHandle::id`) with a core call running on this thread, innermost last.
    static IN_CALL: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// How many Python key provider methods are running on this thread.
    static IN_PROVIDER: Cell<usize> = const { Cell::new(0) };
}

/// A core call of one guard running on this thread (see `GuardHandle::enter`).
pub(crate) struct CallScope(());

impl Drop for CallScope {
    fn drop(&mut self) {
        IN_CALL.with(|c| c.borrow_mut().pop());
    }
}

fn enter(id: usize) -> PyResult<CallScope> {
    // A Python key provider runs on the thread of the call that needs the key, possibly
    // while that call holds the key cache's load of the tenant: the same guard called
    // again from the provider would wait for that load forever. Refused instead.
    if IN_PROVIDER.with(Cell::get) > 0 && IN_CALL.with(|c| c.borrow().contains(&id)) {
        return Err(crate::errors::conflict(
            "a key provider called back into the Guard that is calling it (this would \
             deadlock); a key provider must not use the same Guard",
        ));
    }
    IN_CALL.with(|c| c.borrow_mut().push(id));
    Ok(CallScope(()))
}

/// Marks a Python key provider method running on this thread while it lives.
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

impl GuardHandle {
    pub(crate) fn new(g: tenantguard::Guard) -> Self {
        GuardHandle {
            guard: RwLock::new(Some(g)),
            dependents: Mutex::new(Vec::new()),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Marks a core call of this guard running on this thread until the scope drops;
    /// `ConflictError` if a Python key provider this guard's call is running calls it again.
    pub(crate) fn enter(&self) -> PyResult<CallScope> {
        enter(self.id)
    }

    /// The guard, or `ValueError` once closed.
    pub(crate) fn get(&self) -> PyResult<tenantguard::Guard> {
        self.guard
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| closed_err("Guard"))
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.guard
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Releases the guard, then closes every object built from it.
    pub(crate) fn close(&self) {
        let taken = self.guard.write().unwrap_or_else(|p| p.into_inner()).take();
        drop(taken);
        let deps = std::mem::take(&mut *self.dependents.lock().unwrap_or_else(|p| p.into_inner()));
        for d in deps.iter().filter_map(Weak::upgrade) {
            d.close();
        }
    }

    /// `make(guard)`, as an object this guard closes when it closes. `what` names it in
    /// the closed error.
    pub(crate) fn dependent<T: Clone + Send + Sync + 'static>(
        &self,
        what: &'static str,
        make: impl FnOnce(tenantguard::Guard) -> PyResult<T>,
    ) -> PyResult<Dependent<T>> {
        let slot = Arc::new(RwLock::new(Some(make(self.get()?)?)));
        let mut deps = self.dependents.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock `close` takes after releasing the guard: a guard closed
        // meanwhile refuses here instead of leaving an open dependent behind.
        if self.is_closed() {
            return Err(closed_err("Guard"));
        }
        deps.retain(|d| d.strong_count() > 0);
        let weak: Weak<dyn Close> = Arc::downgrade(&slot) as Weak<dyn Close>;
        deps.push(weak);
        Ok(Dependent {
            slot,
            what,
            guard_id: self.id,
        })
    }
}

/// An object built from a guard: open until closed itself or with its guard.
pub(crate) struct Dependent<T> {
    slot: Arc<RwLock<Option<T>>>,
    what: &'static str,
    guard_id: usize,
}

impl<T: Clone + Send + Sync> Dependent<T> {
    /// `GuardHandle::enter` of the guard this object was built from.
    pub(crate) fn enter(&self) -> PyResult<CallScope> {
        enter(self.guard_id)
    }

    /// The object, or `ValueError` once it or its guard is closed.
    pub(crate) fn get(&self) -> PyResult<T> {
        self.slot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| closed_err(&format!("{} (closed, or its Guard was closed)", self.what)))
    }

    pub(crate) fn close(&self) {
        self.slot.close();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.slot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// `Debug` of the object, or `<what>(closed)`.
    pub(crate) fn repr(&self) -> String
    where
        T: std::fmt::Debug,
    {
        match self.slot.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(v) => format!("{v:?}"),
            None => format!("{}(closed)", self.what),
        }
    }
}
