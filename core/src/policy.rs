//! Persistence of per-tenant policy documents (e.g. the egress policy), changed without code.
//!
//! Part of the small core, not of one area: several areas keep their documents here, each
//! under its own kind (the egress policy, rate-limit overrides, the portal's SSO and MFA
//! marks, the records' seal format), so the trait names no area and no area imports
//! another to reach it.

use crate::storage::StoreError;
use crate::tenant::TenantContext;

/// Largest policy document, in bytes: 256 KiB.
pub const MAX_POLICY_LEN: usize = 256 * 1024;
/// Longest policy kind name, in bytes.
pub const MAX_POLICY_KIND_LEN: usize = 64;

/// One stored policy document: a JSON body with a version the store increments on every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// The JSON body.
    pub body: String,
    /// 1 for the first write, then incremented by each replacement.
    pub version: u64,
    /// Last write time, Unix seconds.
    pub updated_at: i64,
}

/// Checks a policy kind and body before any backend sees them.
pub fn validate_policy(kind: &str, body: &str) -> Result<(), StoreError> {
    if kind.is_empty()
        || kind.len() > MAX_POLICY_KIND_LEN
        || !kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::InvalidInput(format!(
            "policy kind must be 1 to {MAX_POLICY_KIND_LEN} characters from a-z 0-9 _"
        )));
    }
    if body.len() > MAX_POLICY_LEN {
        return Err(StoreError::InvalidInput(format!(
            "policy document is over {MAX_POLICY_LEN} bytes"
        )));
    }
    Ok(())
}

/// Persistence of per-tenant policy documents, one per kind (e.g. `"egress"`).
#[async_trait::async_trait]
pub trait PolicyStore: Send + Sync {
    /// The tenant's document of `kind`, `None` if never set. `TenantNotFound` if no tenant.
    async fn get_policy(
        &self,
        ctx: &TenantContext,
        kind: &str,
    ) -> Result<Option<PolicyDocument>, StoreError>;

    /// Inserts or replaces the tenant's document of `kind`; returns its new version.
    async fn put_policy(
        &self,
        ctx: &TenantContext,
        kind: &str,
        body: &str,
        updated_at: i64,
    ) -> Result<u64, StoreError>;
}
