//! The kms area's persistence: tenants and the versions of their wrapped data keys (the
//! [`KeyStore`] trait every backend implements, and its rows).

use crate::crypto::KeyId;
use crate::storage::StoreError;
use crate::tenant::{ServiceRole, TenantContext, TenantId};

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

    /// Destroys one decrypt-only key: state `Destroyed`, wrapped bytes erased. Refused
    /// (`Conflict`) for the active key, and while a record of the tenant still names the
    /// key, checked in one transaction with the destruction; a destroyed key stays a no-op.
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
