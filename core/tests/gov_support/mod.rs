//! Shared helpers for the governance tests: a controllable clock and every store backend.
#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tenantguard::{Clock, Guard, GovernanceConfig, LocalKeyProvider, MemoryStore, ServiceRole, SqliteStore, Store, TenantContext, TenantId};
use tenantguard::tenant::{Resolved, Role, UserId};

/// A clock tests move by hand.
#[derive(Clone, Default)]
pub struct TestClock(pub Arc<AtomicI64>);

impl TestClock {
    pub fn at(t: i64) -> Self {
        TestClock(Arc::new(AtomicI64::new(t)))
    }
    pub fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }
    pub fn advance(&self, d: i64) {
        self.0.fetch_add(d, Ordering::SeqCst);
    }
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Clock for TestClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Every backend under test, with its name. The SQLite one is a real file in a temp dir.
pub fn stores() -> Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path().join("t.db")).unwrap();
    vec![("memory", Arc::new(MemoryStore::new()), None), ("sqlite", Arc::new(sqlite), Some(dir))]
}

pub const T0: i64 = 1_800_000_000;

pub fn guard(store: Arc<dyn Store>, clock: &TestClock) -> Guard {
    guard_with(store, clock, GovernanceConfig::default())
}

pub fn guard_with(store: Arc<dyn Store>, clock: &TestClock, cfg: GovernanceConfig) -> Guard {
    Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store)
        .clock(clock.clone())
        .governance(cfg)
        .build()
        .unwrap()
}

pub fn service(t: &str) -> TenantContext {
    TenantContext::service(TenantId::new(t).unwrap(), &ServiceRole::new())
}

pub fn user(t: &str, u: &str, role: Role) -> TenantContext {
    TenantContext::resolved(Resolved::vouch(TenantId::new(t).unwrap(), UserId::new(u).unwrap(), role))
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap()
}
