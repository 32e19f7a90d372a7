//! The tokens area's persistence: the [`TokenStore`] trait every backend implements and its
//! row, [`TokenRecord`] (the SHA-256 of a token, never its plaintext).

use crate::scope::Scope;
use crate::storage::StoreError;
use crate::tenant::{ServiceRole, TenantContext, TenantId};

/// A stored agent token: metadata and the SHA-256 of its plaintext, never the plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public id, unique within its tenant (another tenant's id is "not found").
    pub id: String,
    /// The owning tenant.
    pub tenant: TenantId,
    /// The agent (a user id).
    pub agent: String,
    /// Label.
    pub name: String,
    /// SHA-256 of the token string, unique.
    pub hash: [u8; 32],
    /// Permissions.
    pub scopes: Vec<Scope>,
    /// Creation, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: Option<i64>,
    /// Revocation, Unix seconds.
    pub revoked_at: Option<i64>,
}

/// Persistence of agent tokens.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// Inserts a token of the context's tenant. `Conflict` if its id or hash exists.
    async fn insert_token(&self, ctx: &TenantContext, rec: &TokenRecord) -> Result<(), StoreError>;

    /// The token with this hash, in any tenant (service role: verification learns the
    /// tenant from the token).
    async fn token_by_hash(
        &self,
        service: &ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<TokenRecord>, StoreError>;

    /// The tenant's tokens (of one agent if given), ids ascending, at most `limit`.
    async fn list_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TokenRecord>, StoreError>;

    /// Marks one token revoked at `at`; returns whether it was live before. `RecordNotFound`
    /// if the tenant has no such token.
    async fn revoke_token(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError>;

    /// Revokes every live token of `agent` (or of the whole tenant if `None`); returns how many.
    async fn revoke_tokens(
        &self,
        ctx: &TenantContext,
        agent: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError>;
}
