//! The persistence of login sessions: the [`SessionStore`] trait every backend implements
//! and its rows, [`SessionRecord`] and [`RefreshRecord`].
//!
//! They belong to the `auth` area (passwords and sessions), but `auth` is a Cargo feature
//! and this module is compiled in every build: every backend keeps sessions
//! ([`GovernanceStore`](crate::store::GovernanceStore) includes `SessionStore`, so a store
//! built once works with a host that turns `auth` on or off), removing a member revokes
//! the user's sessions and shredding a tenant revokes all of them, with or without
//! `auth`. So the trait lives here, in a piece of its own that names no other area, which
//! `auth`, `members`, the Guard and the backends import.

use crate::storage::StoreError;
use crate::tenant::{Role, ServiceRole, TenantContext, TenantId};

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
