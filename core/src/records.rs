//! The records area's persistence: the [`RecordStore`] trait every backend implements and
//! its row, [`SealedRecord`]. The operations (seal, open, put, delete) are on the
//! [`Records`](crate::Records) handle of the Guard.

use crate::crypto::KeyId;
use crate::storage::{StoreError, MAX_LABEL_LEN};
use crate::tenant::TenantContext;

/// Longest record id, in bytes.
pub const MAX_RECORD_ID_LEN: usize = 255;

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

/// Persistence of sealed records.
#[async_trait::async_trait]
pub trait RecordStore: Send + Sync {
    /// Inserts or replaces the record with this id in the context's tenant (another
    /// tenant's record with the same id is a different record, never touched). A record
    /// whose `key_id` names a destroyed key of the tenant is refused with
    /// [`StoreError::KeyDestroyed`], checked atomically with the write (another instance
    /// may have destroyed the key while this one still held it).
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
    /// A new key id naming a destroyed key is refused with [`StoreError::KeyDestroyed`].
    async fn replace_sealed(
        &self,
        ctx: &TenantContext,
        id: &str,
        expected: &[u8],
        new_key_id: KeyId,
        new_sealed: &[u8],
    ) -> Result<bool, StoreError>;
}
