//! Persistence: the store traits every backend implements, and the built-in backends.
//!
//! Every call takes a [`TenantContext`]; there is no unscoped query. Record, token and
//! session ids are unique per tenant on every store: two tenants may both hold a `row-42`,
//! and tenant B's id asked for with tenant A's context is simply "not found" (it reveals
//! nothing). `CrossTenant` remains for an object that carries another tenant's identity
//! (e.g. a record handed to a write under another tenant's context).

mod gov;
mod integrity;
mod members;
mod memory;
mod parts;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod traced;
pub(crate) use parts::{StoreParts, Stores};
pub(crate) use traced::TracedStore;

pub use gov::{
    AuditStore, GovernanceStore, RefreshRecord, RetentionStore, RetentionWindow, SessionRecord,
    SessionStore, TokenRecord, TokenStore,
};
pub use integrity::{TokenRow, ROW_MAC_LEN};
pub use members::{plan_member_change, MemberChange, MembershipStore, MAX_MEMBERS_PER_TENANT};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PgOptions, PostgresStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

// What every store trait shares, and the policy documents, from the small core (under
// their paths of earlier releases).
pub use crate::policy::{
    validate_policy, PolicyDocument, PolicyStore, MAX_POLICY_KIND_LEN, MAX_POLICY_LEN,
};
pub use crate::storage::{validate_label, StoreError, MAX_LABEL_LEN, MAX_PAGE};

use crate::crypto::KeyId;
use crate::tenant::{ServiceRole, TenantContext, TenantId};

/// Longest record id, in bytes.
pub const MAX_RECORD_ID_LEN: usize = 255;
/// The lifecycle state of one version of a tenant's data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Seals new values (exactly one per live tenant) and opens old ones.
    Active,
    /// Opens old values only; the re-encryption job moves them forward.
    DecryptOnly,
    /// Wrapped bytes erased: values under it can never be opened.
    Destroyed,
}

impl KeyState {
    /// Stable name used in stores.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::DecryptOnly => "decrypt_only",
            KeyState::Destroyed => "destroyed",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(KeyState::Active),
            "decrypt_only" => Some(KeyState::DecryptOnly),
            "destroyed" => Some(KeyState::Destroyed),
            _ => None,
        }
    }
}

/// One version of a tenant's data key as stored: wrapped, never plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantKeyRecord {
    /// The version.
    pub key_id: KeyId,
    /// Its state.
    pub state: KeyState,
    /// Which KEK wrapped it (empty once destroyed).
    pub kek_id: String,
    /// The wrapped key (empty once destroyed).
    pub wrapped: Vec<u8>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// A sealed record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// Unique within its tenant (two tenants may use the same id); 1 to 255 bytes.
    pub id: String,
    /// Data class (e.g. a credential kind, "chat_transcript"), bound into the seal context.
    pub class: String,
    /// The data subject the record is about, if any (for erasure requests).
    pub subject: Option<String>,
    /// The key version it is sealed under (always equal to the sealed value's key id).
    pub key_id: KeyId,
    /// The sealed value, binary form.
    pub sealed: Vec<u8>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last replacement time, Unix seconds.
    pub updated_at: i64,
}

/// Checks the bounds of a record before any backend sees it.
pub fn validate_record(rec: &SealedRecord) -> Result<(), StoreError> {
    validate_record_id(&rec.id)?;
    if rec.class.is_empty() || rec.class.len() > MAX_LABEL_LEN {
        return Err(StoreError::InvalidInput(format!(
            "data class must be 1 to {MAX_LABEL_LEN} bytes"
        )));
    }
    if rec
        .subject
        .as_ref()
        .is_some_and(|s| s.is_empty() || s.len() > MAX_LABEL_LEN)
    {
        return Err(StoreError::InvalidInput(format!(
            "subject must be 1 to {MAX_LABEL_LEN} bytes"
        )));
    }
    Ok(())
}

/// Checks a record id's bounds (1 to 255 bytes, no control characters).
pub fn validate_record_id(id: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.len() > MAX_RECORD_ID_LEN || id.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput(format!(
            "record id must be 1 to {MAX_RECORD_ID_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

/// Persistence of tenants and their wrapped data keys.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// Creates the tenant with its first (active) key. `Conflict` if the tenant exists
    /// or ever existed (a shredded tenant id is never reused).
    async fn create_tenant(
        &self,
        ctx: &TenantContext,
        first: &TenantKeyRecord,
    ) -> Result<(), StoreError>;

    /// Every key version of the tenant, oldest first. `TenantNotFound` if none.
    async fn tenant_keys(&self, ctx: &TenantContext) -> Result<Vec<TenantKeyRecord>, StoreError>;

    /// Atomically demotes the active key to decrypt-only and inserts `new` as active.
    /// `Conflict` if `new.key_id` exists or the tenant was shredded.
    async fn rotate_key(
        &self,
        ctx: &TenantContext,
        new: &TenantKeyRecord,
    ) -> Result<(), StoreError>;

    /// Replaces a key's wrapping if it is still wrapped under `expected_kek`; returns
    /// whether it did (false: already re-wrapped or destroyed). Used by KEK rotation.
    async fn rewrap_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        expected_kek: &str,
        new_kek: &str,
        new_wrapped: &[u8],
    ) -> Result<bool, StoreError>;

    /// Destroys one decrypt-only key: state `Destroyed`, wrapped bytes erased.
    async fn destroy_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<(), StoreError>;

    /// Destroys every key of the tenant (crypto-shredding). Idempotent.
    async fn destroy_all_keys(&self, ctx: &TenantContext) -> Result<(), StoreError>;

    /// The cross-instance news of a store shared by several processes (PostgreSQL: an
    /// events table written in the same transaction as each change, read by a listener).
    /// `None` (the default) for a store only this process uses.
    fn event_feed(&self) -> Option<std::sync::Arc<dyn crate::events::EventFeed>> {
        None
    }

    /// Tenant ids after `after` in ascending order, at most `limit` (service role only).
    async fn list_tenants(
        &self,
        service: &ServiceRole,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>, StoreError>;
}

/// Persistence of sealed records.
#[async_trait::async_trait]
pub trait RecordStore: Send + Sync {
    /// Inserts or replaces the record with this id in the context's tenant (another
    /// tenant's record with the same id is a different record, never touched).
    async fn put_record(&self, ctx: &TenantContext, rec: &SealedRecord) -> Result<(), StoreError>;

    /// The record of the context's tenant with this id, `None` if absent.
    async fn get_record(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SealedRecord>, StoreError>;

    /// Deletes the record of the context's tenant; returns whether it existed.
    async fn delete_record(&self, ctx: &TenantContext, id: &str) -> Result<bool, StoreError>;

    /// Records sealed under `key_id`, ids after `after` ascending, at most `limit`.
    async fn records_by_key(
        &self,
        ctx: &TenantContext,
        key_id: KeyId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError>;

    /// How many records are sealed under `key_id`.
    async fn count_by_key(&self, ctx: &TenantContext, key_id: KeyId) -> Result<u64, StoreError>;

    /// Every record of the tenant, ids after `after` ascending, at most `limit`, whatever
    /// its `key_id` column says: re-encryption and key retirement read the key id and the
    /// format from the sealed bytes themselves. The default refuses (`Backend`), so a
    /// store that does not implement it cannot retire keys (it fails closed).
    async fn records_page(
        &self,
        ctx: &TenantContext,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SealedRecord>, StoreError> {
        let _ = (ctx, after, limit);
        Err(StoreError::Backend(
            "this store does not implement records_page".into(),
        ))
    }

    /// Replaces a record's sealed value only if it still equals `expected` (compare and
    /// swap); returns whether it did. Used by re-encryption so it never clobbers a write.
    async fn replace_sealed(
        &self,
        ctx: &TenantContext,
        id: &str,
        expected: &[u8],
        new_key_id: KeyId,
        new_sealed: &[u8],
    ) -> Result<bool, StoreError>;
}

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
