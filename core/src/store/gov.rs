//! Governance persistence: agent tokens, the audit chain, retention rules and queries,
//! sessions. Every backend implements these traits; [`GovernanceStore`] bundles them.

use super::StoreError;
use crate::audit::{AuditDraft, AuditEntry};
use crate::scope::Scope;
use crate::tenant::{Role, ServiceRole, TenantContext, TenantId};

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

    /// [`AuditStore::append_audit`] for a caller that hands over its draft and keeps only
    /// the new entry's sequence number (the SDK's audited opens): a store may move the
    /// draft into the entry and skip building the copy it would return. The default calls
    /// `append_audit`.
    async fn append_audit_seq(
        &self,
        ctx: &TenantContext,
        draft: AuditDraft,
    ) -> Result<u64, StoreError> {
        Ok(self.append_audit(ctx, &draft).await?.seq)
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
    /// [`MAX_PAGE`](super::MAX_PAGE)); returns how many had any. Entries without erasable
    /// fields, and entries already erased, are left as they are. Idempotent.
    async fn erase_audit_personal(
        &self,
        ctx: &TenantContext,
        seqs: &[u64],
    ) -> Result<u64, StoreError>;
}

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

/// A stored login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Public id, unique within its tenant (another tenant's id is "not found").
    pub id: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: String,
    /// The user's role when the session began.
    pub role: Role,
    /// Creation, Unix seconds.
    pub created_at: i64,
    /// Absolute end of the session, Unix seconds (no refresh goes beyond).
    pub expires_at: i64,
    /// Last refresh, Unix seconds.
    pub refreshed_at: i64,
    /// Revocation, Unix seconds.
    pub revoked_at: Option<i64>,
    /// Free-form label from the client (e.g. a user agent), at most 256 bytes.
    pub label: String,
}

/// One refresh token of a session, stored as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// SHA-256 of the refresh token string, unique.
    pub hash: [u8; 32],
    /// The session.
    pub session_id: String,
    /// The tenant.
    pub tenant: TenantId,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Whether it was already exchanged (a second use is a replay).
    pub used: bool,
}

/// Persistence of sessions and their refresh tokens.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    /// Inserts a session and its first refresh token.
    async fn insert_session(
        &self,
        ctx: &TenantContext,
        session: &SessionRecord,
        refresh: &RefreshRecord,
    ) -> Result<(), StoreError>;

    /// The refresh token with this hash, in any tenant (service role).
    async fn refresh_by_hash(
        &self,
        service: &ServiceRole,
        hash: &[u8; 32],
    ) -> Result<Option<RefreshRecord>, StoreError>;

    /// The session of the context's tenant with this id, `None` if absent (another tenant's
    /// session with the same id is not found: ids are per tenant).
    async fn get_session(
        &self,
        ctx: &TenantContext,
        id: &str,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Atomically marks refresh token `old` used and inserts `new`, if `old` was unused and
    /// the session is live; returns false (nothing written) if `old` was already used.
    async fn rotate_refresh(
        &self,
        ctx: &TenantContext,
        old: &[u8; 32],
        new: &RefreshRecord,
        at: i64,
    ) -> Result<bool, StoreError>;

    /// The tenant's sessions (of one user if given), newest first, at most `limit`.
    async fn list_sessions(
        &self,
        ctx: &TenantContext,
        user: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// One page of every session of the tenant (all users): newest first (`created_at`
    /// descending, then `id` ascending), after `after` (the `(created_at, id)` of the
    /// previous page's last session), at most `limit` (1 to 10,000).
    async fn list_tenant_sessions(
        &self,
        ctx: &TenantContext,
        after: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// Revokes one session; returns whether it was live.
    async fn revoke_session(
        &self,
        ctx: &TenantContext,
        id: &str,
        at: i64,
    ) -> Result<bool, StoreError>;

    /// Revokes every live session of the tenant (of one user if given); returns how many.
    async fn revoke_sessions(
        &self,
        ctx: &TenantContext,
        user: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError>;
}

/// Every governance store trait.
pub trait GovernanceStore: TokenStore + AuditStore + RetentionStore + SessionStore {}

impl<T: TokenStore + AuditStore + RetentionStore + SessionStore> GovernanceStore for T {}
