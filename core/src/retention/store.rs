//! The retention area's persistence: the [`RetentionStore`] trait every backend implements
//! (rules per data class and the record queries of sweeps and erasure) and
//! [`RetentionWindow`].

use crate::storage::StoreError;
use crate::tenant::TenantContext;

/// A retention window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetentionWindow {
    /// Never deleted by sweeps.
    Forever,
    /// Deleted once older than this many seconds.
    Secs(i64),
}

/// Persistence of retention rules and the record queries the sweep needs.
#[async_trait::async_trait]
pub trait RetentionStore: Send + Sync {
    /// Sets the tenant's window for a data class (overriding the default).
    async fn set_retention_rule(
        &self,
        ctx: &TenantContext,
        class: &str,
        window: RetentionWindow,
    ) -> Result<(), StoreError>;

    /// Removes the tenant's override for a class (back to the default); returns whether one existed.
    async fn clear_retention_rule(
        &self,
        ctx: &TenantContext,
        class: &str,
    ) -> Result<bool, StoreError>;

    /// The tenant's overrides, by class ascending.
    async fn retention_rules(
        &self,
        ctx: &TenantContext,
    ) -> Result<Vec<(String, RetentionWindow)>, StoreError>;

    /// Distinct data classes of the tenant's records, ascending.
    async fn record_classes(&self, ctx: &TenantContext) -> Result<Vec<String>, StoreError>;

    /// Deletes at most `limit` records of `class` last written before `cutoff`
    /// (`updated_at < cutoff`), atomically; returns their ids.
    async fn delete_expired(
        &self,
        ctx: &TenantContext,
        class: &str,
        cutoff: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// Deletes at most `limit` records tagged with `subject`; returns their ids.
    async fn delete_by_subject(
        &self,
        ctx: &TenantContext,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// Deletes at most `limit` records of the tenant (any class); returns how many.
    async fn delete_all_records(
        &self,
        ctx: &TenantContext,
        limit: usize,
    ) -> Result<u64, StoreError>;
}
