//! Persistence: the built-in backends, and every store trait under one path.
//!
//! Each store trait and its rows live in the area that owns them (e.g. [`TokenStore`] in
//! [`tokens`](crate::tokens), [`KeyStore`] in [`kms`](crate::kms)), and what they share
//! ([`StoreError`], [`MAX_PAGE`], [`validate_label`]) in the small core. They are
//! re-exported here, so `tenantguard::store::TokenStore` and the other paths of earlier
//! releases keep working. This module adds the unions of those traits ([`KeyRecordStore`],
//! [`GovernanceStore`], [`Store`]) and the backends that implement them: [`MemoryStore`],
//! `SqliteStore` and `PostgresStore`. No area imports it: only the Guard, which is built
//! on a backend.
//!
//! Every call takes a [`TenantContext`](crate::TenantContext); there is no unscoped query.
//! Record, token and session ids are unique per tenant on every store: two tenants may both
//! hold a `row-42`, and tenant B's id asked for with tenant A's context is simply "not
//! found" (it reveals nothing). `CrossTenant` remains for an object that carries another
//! tenant's identity (e.g. a record handed to a write under another tenant's context).

mod integrity;
mod memory;
mod parts;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod traced;
pub(crate) use parts::{StoreParts, Stores};
pub(crate) use traced::TracedStore;

pub use integrity::{TokenRow, ROW_MAC_LEN};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PgOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

// The store traits and rows of the areas, and what they share, under their paths of
// earlier releases.
pub use crate::audit::AuditStore;
pub use crate::kms::{KeyState, KeyStore, TenantKeyRecord};
pub use crate::members::{
    plan_member_change, MemberChange, MembershipStore, MAX_MEMBERS_PER_TENANT,
};
pub use crate::policy::{
    validate_policy, PolicyDocument, PolicyStore, MAX_POLICY_KIND_LEN, MAX_POLICY_LEN,
};
pub use crate::records::{
    validate_record, validate_record_id, RecordStore, SealedRecord, MAX_RECORD_ID_LEN,
};
pub use crate::retention::{RetentionStore, RetentionWindow};
pub use crate::sessions::{RefreshRecord, SessionRecord, SessionStore};
pub use crate::storage::{validate_label, StoreError, MAX_LABEL_LEN, MAX_PAGE};
pub use crate::tokens::{TokenRecord, TokenStore};

/// What every guard needs from a backend: tenants' wrapped keys and their sealed records.
/// A backend that implements only these two traits can hold a guard's data; the audit
/// log and the service keyring may then come from another store (for example a
/// `SqliteStore`) through [`GuardBuilder`](crate::GuardBuilder)'s
/// per-area methods.
///
/// A backend that implements only these two traits (here it keeps everything in another
/// store and counts record writes; yours would talk to its database), run by a guard
/// whose audit log and service keyring live in a SQLite file. The `tenantguard-testkit`
/// crate checks such a backend against the rules every store keeps.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use tenantguard::crypto::KeyId;
/// use tenantguard::store::{KeyStore, RecordStore, SealedRecord, StoreError, TenantKeyRecord};
/// use tenantguard::tenant::{ServiceRole, TenantId};
/// use tenantguard::{Guard, LocalKeyProvider, MemoryStore, SqliteStore, TenantContext};
///
/// struct MyBackend { db: MemoryStore, writes: AtomicU64 }
///
/// #[async_trait::async_trait]
/// impl KeyStore for MyBackend {
///     async fn create_tenant(&self, c: &TenantContext, first: &TenantKeyRecord) -> Result<(), StoreError> {
///         self.db.create_tenant(c, first).await
///     }
///     async fn tenant_keys(&self, c: &TenantContext) -> Result<Vec<TenantKeyRecord>, StoreError> {
///         self.db.tenant_keys(c).await
///     }
///     async fn rotate_key(&self, c: &TenantContext, new: &TenantKeyRecord) -> Result<(), StoreError> {
///         self.db.rotate_key(c, new).await
///     }
///     async fn rewrap_key(&self, c: &TenantContext, k: KeyId, expected_kek: &str, new_kek: &str,
///                         wrapped: &[u8]) -> Result<bool, StoreError> {
///         self.db.rewrap_key(c, k, expected_kek, new_kek, wrapped).await
///     }
///     async fn destroy_key(&self, c: &TenantContext, k: KeyId) -> Result<(), StoreError> {
///         self.db.destroy_key(c, k).await
///     }
///     async fn destroy_all_keys(&self, c: &TenantContext) -> Result<(), StoreError> {
///         self.db.destroy_all_keys(c).await
///     }
///     async fn list_tenants(&self, s: &ServiceRole, after: Option<&TenantId>, limit: usize)
///         -> Result<Vec<TenantId>, StoreError> {
///         self.db.list_tenants(s, after, limit).await
///     }
/// }
///
/// #[async_trait::async_trait]
/// impl RecordStore for MyBackend {
///     async fn put_record(&self, c: &TenantContext, r: &SealedRecord) -> Result<(), StoreError> {
///         self.writes.fetch_add(1, Ordering::Relaxed);
///         self.db.put_record(c, r).await
///     }
///     async fn get_record(&self, c: &TenantContext, id: &str) -> Result<Option<SealedRecord>, StoreError> {
///         self.db.get_record(c, id).await
///     }
///     async fn delete_record(&self, c: &TenantContext, id: &str) -> Result<bool, StoreError> {
///         self.db.delete_record(c, id).await
///     }
///     async fn records_by_key(&self, c: &TenantContext, k: KeyId, after: Option<&str>, limit: usize)
///         -> Result<Vec<SealedRecord>, StoreError> {
///         self.db.records_by_key(c, k, after, limit).await
///     }
///     async fn count_by_key(&self, c: &TenantContext, k: KeyId) -> Result<u64, StoreError> {
///         self.db.count_by_key(c, k).await
///     }
///     // Without it the store still seals and opens, but retiring a key fails closed.
///     async fn records_page(&self, c: &TenantContext, after: Option<&str>, limit: usize)
///         -> Result<Vec<SealedRecord>, StoreError> {
///         self.db.records_page(c, after, limit).await
///     }
///     async fn replace_sealed(&self, c: &TenantContext, id: &str, expected: &[u8], k: KeyId,
///                             new: &[u8]) -> Result<bool, StoreError> {
///         self.db.replace_sealed(c, id, expected, k, new).await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let backend = Arc::new(MyBackend { db: MemoryStore::new(), writes: AtomicU64::new(0) });
/// let journal = Arc::new(SqliteStore::open(dir.path().join("journal.db"))?);
/// let (guard, service) = Guard::builder()
///     .key_provider(LocalKeyProvider::ephemeral())
///     .key_record_store_arc(backend.clone())
///     .audit_store(journal.clone())
///     .service_key_store(journal)
///     .build_with_service()?;
/// let ctx = TenantContext::service(TenantId::new("acme")?, &service);
/// guard.keys().create_tenant(&ctx).await?;
/// guard.records().put(&ctx, "row-1", "api_key", None, b"sk-live-123").await?;
/// let (_, plain) = guard.records().open_record_with_reason(&ctx, "row-1", "support ticket 42").await?;
/// assert_eq!(plain.expose(), b"sk-live-123");
/// assert_eq!(backend.writes.load(Ordering::Relaxed), 1);
/// # Ok(()) }
/// ```
pub trait KeyRecordStore: KeyStore + RecordStore {}
impl<T: KeyStore + RecordStore + ?Sized> KeyRecordStore for T {}

/// A complete backend: every area's store in one (the built-in memory, SQLite and
/// PostgreSQL stores). [`GuardBuilder::store`](crate::GuardBuilder::store) takes one for all areas.
pub trait Store:
    KeyRecordStore + GovernanceStore + MembershipStore + crate::kms::ServiceKeyStore
{
}
impl<
        T: KeyStore + RecordStore + GovernanceStore + MembershipStore + crate::kms::ServiceKeyStore,
    > Store for T
{
}
/// Every governance store trait.
pub trait GovernanceStore: TokenStore + AuditStore + RetentionStore + SessionStore {}

impl<T: TokenStore + AuditStore + RetentionStore + SessionStore> GovernanceStore for T {}
