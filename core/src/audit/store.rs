//! The audit area's persistence: the [`AuditStore`] trait every backend implements (atomic,
//! chained appends and the erasure of personal fields).

use super::{AppendedEntry, AuditDraft, AuditEntry};
use crate::storage::StoreError;
use crate::tenant::TenantContext;

/// Persistence of the per-tenant, hash-chained audit log. There is no update or delete,
/// except erasing the personal fields of format-v2 entries, which a store keeps apart
/// from the append-only row ([`AuditEntry::split_personal`]).
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry atomically: reads the tenant's head, chains the draft to it with
    /// [`AuditEntry::chain`] and inserts it, all under one lock or transaction, so
    /// concurrent appenders never fork the chain (sequence numbers are unique per tenant).
    async fn append_audit(
        &self,
        ctx: &TenantContext,
        draft: &AuditDraft,
    ) -> Result<AuditEntry, StoreError>;

    /// [`AuditStore::append_audit`] for a caller that hands over its draft and needs only
    /// the new entry's place in the chain and its Merkle leaf (the SDK's own appends): a
    /// store may move the draft into the entry instead of building a copy to return. The
    /// default calls `append_audit`; an override must report exactly what it stored
    /// ([`AppendedEntry::of`] the stored entry; the testkit checks this).
    async fn append_audit_owned(
        &self,
        ctx: &TenantContext,
        draft: AuditDraft,
    ) -> Result<AppendedEntry, StoreError> {
        Ok(AppendedEntry::of(&self.append_audit(ctx, &draft).await?))
    }

    /// Entries with `seq > after`, ascending, at most `limit`, with the personal fields
    /// not erased yet ([`AuditEntry::with_personal`]).
    async fn audit_entries(
        &self,
        ctx: &TenantContext,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Deletes the personal fields and salt of the tenant's entries `seqs` (at most
    /// [`MAX_PAGE`](crate::storage::MAX_PAGE)); returns how many had any. Entries without
    /// erasable fields, and entries already erased, are left as they are. Idempotent.
    async fn erase_audit_personal(
        &self,
        ctx: &TenantContext,
        seqs: &[u64],
    ) -> Result<u64, StoreError>;
}
