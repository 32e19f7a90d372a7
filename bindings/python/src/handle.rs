//! The closable handle a `Guard` shares with the objects built from it (`Egress`,
//! `Revealer`): closing the guard closes them too, so the store and key provider they
//! hold are released at once, and using them afterwards raises the same `ClosedError`
//! (a `ValueError`) as using the closed guard.

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

pub(crate) use tenantguard::kms::reentry::{CallScope, ProviderScope};

// A Python key provider runs on the thread of the call that needs the key, possibly while
// that call holds the key cache's load of the tenant: the same guard called again from the
// provider would wait for that load forever. Refused instead (see `tenantguard::kms::reentry`).
fn enter(id: usize) -> PyResult<CallScope> {
    tenantguard::kms::reentry::enter_call(id).map_err(|e| crate::errors::conflict(e.to_string()))
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
