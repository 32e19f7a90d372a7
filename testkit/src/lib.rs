//! Store conformance suites for [tenantguard] backends: the rules every store must keep
//! (tenant isolation, compare-and-swap, paging, crypto-shredding...), as async functions a
//! third-party backend calls from its own tests.
//!
//! ```
//! use tenantguard::MemoryStore;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // In a backend's tests: `#[tokio::test] async fn my_store_conforms() { ... }`.
//! let store = MemoryStore::new();
//! // One area: a store that implements only KeyStore and RecordStore runs this one.
//! tenantguard_testkit::keys_and_records::run(&store).await;
//! // Every area, for a store that implements every trait.
//! tenantguard_testkit::run_all(&MemoryStore::new()).await;
//! # });
//! ```
//!
//! A failed check panics with the path of the check, the rule it checks and what broke it:
//!
//! ```text
//! store conformance rule broken: tenantguard_testkit::retention::delete_all_records_stays_in_its_tenant
//!   the rule: deleting all records of one tenant (delete_all_records, what erasing a tenant runs) leaves another tenant's records with the same ids
//!   what failed: assertion `left == right` failed: at most the limit, and only this tenant's
//!   left: 3
//!  right: 2
//! ```
//!
//! (The panic of the failed assertion itself is printed just before, with its line.)
//!
//! # Suites
//!
//! One module per area, each generic over the store traits it needs (not over [`Store`]);
//! each has a `run` that runs its checks in order, and each check is a public function of
//! its own, documented by the rule it checks:
//!
//! | module | traits |
//! |---|---|
//! | [`keys_and_records`] | `KeyStore + RecordStore` |
//! | [`retention`] | `KeyStore + RecordStore + RetentionStore` |
//! | [`tokens`] | `KeyStore + TokenStore` |
//! | [`sessions`] | `KeyStore + SessionStore` |
//! | [`audit`] | `KeyStore + AuditStore` |
//! | [`members`] | `KeyStore + MembershipStore` |
//! | [`policies`] | `KeyStore + PolicyStore` |
//! | [`service_keys`] | `ServiceKeyStore` |
//!
//! [`run_all`] runs them all on a store implementing every trait: [`Store`] and
//! [`PolicyStore`].
//!
//! # The store the suites run on
//!
//! - Every check uses its own tenant ids, record ids, token hashes... (prefixed by the
//!   check), so the suites run on a store that already holds data, and checks do not depend
//!   on each other. They do not clean up: run them on a throwaway store or database.
//! - A store that MACs its authorization rows (tokens, sessions, refresh tokens,
//!   memberships), as `SqliteStore` and `PostgresStore` do, needs a service keyring
//!   attached first, as a `Guard` built on it does: [`fixtures::attach_keyring`] (keep what
//!   it returns alive while the suites run).
//! - The suites act with a service capability of their own ([`fixtures::service`]): a store
//!   never checks which guard handed it out.
//! - [`service_keys`] writes service keys with made-up wrapped bytes, after the ids already
//!   stored, and retires them before it returns; run it where no guard is using the store
//!   at the same time ([`run_all`] runs it last).

#![forbid(unsafe_code)]
// A test kit: a failed `unwrap` is a failed check, reported with its rule (see `check`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Runs a check's body, turning a panic into one that names the rule (see [`check`]).
macro_rules! rule {
    ($name:ident, $rule:literal, $body:block) => {
        $crate::check::check(
            concat!(module_path!(), "::", stringify!($name)),
            $rule,
            async move $body,
        )
        .await
    };
}

mod check;

pub mod audit;
pub mod fixtures;
pub mod keys_and_records;
pub mod members;
pub mod policies;
pub mod retention;
pub mod service_keys;
pub mod sessions;
pub mod tokens;

use tenantguard::store::PolicyStore;
use tenantguard::Store;

/// Runs every suite, in order, on a store implementing every trait: the first violation
/// panics with the rule it broke. [`service_keys`] runs last (see the crate docs).
pub async fn run_all<S: Store + PolicyStore + ?Sized>(store: &S) {
    keys_and_records::run(store).await;
    retention::run(store).await;
    tokens::run(store).await;
    sessions::run(store).await;
    audit::run(store).await;
    members::run(store).await;
    policies::run(store).await;
    service_keys::run(store).await;
}
