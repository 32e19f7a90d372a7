//! Test plumbing for the service capability: `GuardBuilder::build_with_service` hands it
//! out once per guard; the tests keep the latest one per thread so their `service(t)`
//! helpers stay short. Production code passes the capability explicitly.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use tenantguard::{Guard, ServiceRole};

thread_local! {
    static CURRENT: RefCell<Option<Rc<ServiceRole>>> = const { RefCell::new(None) };
}

/// Keeps the capability of a freshly built guard and returns the guard.
pub fn keep((guard, service): (Guard, ServiceRole)) -> Guard {
    CURRENT.with(|c| *c.borrow_mut() = Some(Rc::new(service)));
    guard
}

/// Makes `cap` the one `cap()` returns on this thread (a test over several guards
/// switches to the guard it works with: user contexts are bound to the capability that
/// vouched for them).
pub fn enter(cap: &Rc<ServiceRole>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(cap.clone()));
}

/// The capability of the last guard built (or entered) on this thread (for store-only tests, which
/// no guard checks, one of a throwaway guard).
pub fn cap() -> Rc<ServiceRole> {
    if let Some(c) = CURRENT.with(|c| c.borrow().clone()) {
        return c;
    }
    keep(
        Guard::builder()
            .key_provider(tenantguard::LocalKeyProvider::ephemeral())
            .store(tenantguard::MemoryStore::new())
            .build_with_service()
            .expect("a throwaway guard"),
    );
    cap()
}

/// `Guard::embedded`, keeping its capability.
#[cfg(feature = "sqlite")]
pub fn embedded(dir: impl AsRef<std::path::Path>) -> tenantguard::Result<Guard> {
    Guard::embedded_with_service(dir).map(keep)
}
