//! Shared helpers for the governance tests: a controllable clock and every store backend.
#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[allow(unused_imports)] // some tests glob-import it too
use tenantguard::store::MembershipStore;
use tenantguard::tenant::{Resolved, Role, UserId};
use tenantguard::{
    Clock, GovernanceConfig, Guard, LocalKeyProvider, MemoryStore, SqliteStore, Store,
    TenantContext, TenantId,
};

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

// Declared once by each test binary (its root), shared with the tests that use it directly.
#[cfg(feature = "postgres")]
pub(crate) use crate::postgres_support;

/// Every backend under test, with its name. The SQLite one is a real file in a temp dir.
/// With the `postgres` feature and TENANTGUARD_PG_URL set, a PostgresStore on a fresh
/// database comes last (so `stores().remove(0)` / `remove(1)` stay memory / SQLite).
/// Call it inside a multi-threaded runtime (as `rt().block_on` gives).
pub fn stores() -> Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path().join("t.db")).unwrap();
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> = vec![
        ("memory", Arc::new(MemoryStore::new()), None),
        ("sqlite", Arc::new(sqlite), Some(dir)),
    ];
    #[cfg(feature = "postgres")]
    if std::env::var("TENANTGUARD_PG_URL").is_ok_and(|u| !u.is_empty()) {
        let pg = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let pg = postgres_support::fresh("gov")
                    .await
                    .expect("PostgreSQL settings");
                pg.store().await
            })
        });
        let pg = Arc::new(pg);
        PG_STORES.lock().unwrap().push(pg.clone());
        v.push(("postgres", pg, None));
    }
    v
}

/// The error kind a backend gives for another tenant's token or session id: every store
/// looks ids up within the caller's tenant only, so it is simply `NotFound`.
pub fn cross_tenant_kind(store_name: &str) -> tenantguard::ErrorKind {
    let _ = store_name;
    tenantguard::ErrorKind::NotFound
}

/// The PostgresStores `stores()` made, to enroll members in them.
#[cfg(feature = "postgres")]
static PG_STORES: std::sync::Mutex<Vec<Arc<tenantguard::PostgresStore>>> =
    std::sync::Mutex::new(Vec::new());

/// A user's context in `t` (which must exist), after making the user a member with that
/// role in the store (every store keeps memberships; sensitive operations and session
/// refreshes read the role from there, never from the context).
pub async fn member(store: &Arc<dyn Store>, t: &str, u: &str, role: Role) -> TenantContext {
    store
        .apply_member_change(&service(t), &UserId::new(u).unwrap(), Some(role), T0)
        .await
        .unwrap();
    user(t, u, role)
}

/// A backend's name, the store, the same object as policy store, and its temp dir.
pub type WithPolicies = (
    &'static str,
    Arc<dyn Store>,
    Arc<dyn tenantguard::store::PolicyStore>,
    Option<tempfile::TempDir>,
);

/// Every backend with its policy store (the same object): guards built with
/// `guard_with_policies` keep egress policies and portal marks there.
pub fn stores_with_policies() -> Vec<WithPolicies> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(SqliteStore::open(dir.path().join("t.db")).unwrap());
    let memory = Arc::new(MemoryStore::new());
    #[allow(unused_mut)]
    let mut v: Vec<WithPolicies> = vec![
        ("memory", memory.clone(), memory, None),
        ("sqlite", sqlite.clone(), sqlite, Some(dir)),
    ];
    #[cfg(feature = "postgres")]
    if std::env::var("TENANTGUARD_PG_URL").is_ok_and(|u| !u.is_empty()) {
        let pg = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let pg = postgres_support::fresh("gov")
                    .await
                    .expect("PostgreSQL settings");
                pg.store().await
            })
        });
        let pg = Arc::new(pg);
        PG_STORES.lock().unwrap().push(pg.clone());
        v.push(("postgres", pg.clone(), pg, None));
    }
    v
}

pub const T0: i64 = 1_800_000_000;

pub fn guard(store: Arc<dyn Store>, clock: &TestClock) -> Guard {
    guard_with(store, clock, GovernanceConfig::default())
}

/// A guard whose policy store is `policies` (egress policies, portal marks).
pub fn guard_with_policies(
    store: Arc<dyn Store>,
    policies: Arc<dyn tenantguard::store::PolicyStore>,
    clock: &TestClock,
) -> Guard {
    Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store)
        .policy_store(policies)
        .clock(clock.clone())
        .build_with_service()
        .map(crate::tg_cap::keep)
        .unwrap()
}

pub fn guard_with(store: Arc<dyn Store>, clock: &TestClock, cfg: GovernanceConfig) -> Guard {
    Guard::builder()
        .key_provider(LocalKeyProvider::ephemeral())
        .store_arc(store)
        .clock(clock.clone())
        .governance(cfg)
        .build_with_service()
        .map(crate::tg_cap::keep)
        .unwrap()
}

pub fn service(t: &str) -> TenantContext {
    TenantContext::service(TenantId::new(t).unwrap(), &crate::tg_cap::cap())
}

pub fn user(t: &str, u: &str, role: Role) -> TenantContext {
    TenantContext::resolved(Resolved::vouch(
        &crate::tg_cap::cap(),
        TenantId::new(t).unwrap(),
        UserId::new(u).unwrap(),
        role,
    ))
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}
