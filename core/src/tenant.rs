//! Tenants, principals and the verified scope every data-layer call takes.
//!
//! A [`TenantContext`] is the only way to reach tenant data. It can be made in two ways:
//! by a [`TenantResolver`] the host application implements (turning an authenticated
//! identity into a scope), or by server-side code holding the [`ServiceRole`] capability.

use thiserror::Error;

use crate::error::ErrorKind;

/// Longest tenant id, in bytes.
pub const MAX_TENANT_ID_LEN: usize = 64;
/// Longest user id, in bytes.
pub const MAX_USER_ID_LEN: usize = 128;

/// Errors about tenant ids, scopes and permissions.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TenantError {
    /// The id is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("invalid {what} id: use 1 to {max} characters from A-Z a-z 0-9 . _ -")]
    InvalidId {
        /// Which kind of id ("tenant" or "user").
        what: &'static str,
        /// The longest allowed length.
        max: usize,
    },
    /// A context for one tenant was used on data of another.
    #[error("cross-tenant access refused: the context is for another tenant")]
    CrossTenant,
    /// The principal's role does not allow the operation.
    #[error("permission denied: {action} needs role {needed} or higher")]
    PermissionDenied {
        /// What was attempted.
        action: &'static str,
        /// The least role that may do it.
        needed: Role,
    },
}

impl TenantError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TenantError::InvalidId { .. } => ErrorKind::InvalidInput,
            TenantError::CrossTenant => ErrorKind::CrossTenant,
            TenantError::PermissionDenied { .. } => ErrorKind::PermissionDenied,
        }
    }
}

fn valid_id(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The id of a tenant (an organization or a personal account).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Validates and wraps a tenant id (1 to 64 characters from `[A-Za-z0-9._-]`).
    pub fn new(id: impl Into<String>) -> Result<Self, TenantError> {
        let id = id.into();
        if valid_id(&id, MAX_TENANT_ID_LEN) {
            Ok(TenantId(id))
        } else {
            Err(TenantError::InvalidId { what: "tenant", max: MAX_TENANT_ID_LEN })
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of a user, as the host application's identity provider knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    /// Validates and wraps a user id (1 to 128 characters from `[A-Za-z0-9._-]`).
    pub fn new(id: impl Into<String>) -> Result<Self, TenantError> {
        let id = id.into();
        if valid_id(&id, MAX_USER_ID_LEN) {
            Ok(UserId(id))
        } else {
            Err(TenantError::InvalidId { what: "user", max: MAX_USER_ID_LEN })
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organization role, from least to most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Reads metadata.
    Viewer,
    /// Also creates and replaces credentials.
    Member,
    /// Also manages members and policies.
    Admin,
    /// Also manages keys, rotation and deletion.
    Owner,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        })
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Server-side code holding the [`ServiceRole`] capability.
    Service,
    /// An authenticated user acting with a role in the tenant.
    User {
        /// The user.
        user: UserId,
        /// The user's role in this tenant.
        role: Role,
    },
}

/// The capability of server-side code to act for any tenant, bypassing role checks
/// (like a database service role). Hold it only where it is needed, e.g. when a run
/// launches and must open a credential.
#[derive(Debug)]
pub struct ServiceRole {
    _private: (),
}

impl ServiceRole {
    /// Claims the service role. Call this only in trusted server-side code.
    pub fn new() -> Self {
        ServiceRole { _private: () }
    }
}

impl Default for ServiceRole {
    fn default() -> Self {
        Self::new()
    }
}

/// A verified scope: one tenant and the principal acting in it.
///
/// There is no public constructor but [`TenantContext::service`] (which needs the
/// [`ServiceRole`]) and [`TenantContext::resolved`] (which needs a [`TenantResolver`]'s
/// proof), so every data-layer call is scoped by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantContext {
    tenant: TenantId,
    principal: Principal,
}

impl TenantContext {
    /// A service-role scope for `tenant`.
    pub fn service(tenant: TenantId, _capability: &ServiceRole) -> Self {
        TenantContext { tenant, principal: Principal::Service }
    }

    /// A user scope, made from a [`Resolved`] proof that only a [`TenantResolver`] can give.
    pub fn resolved(proof: Resolved) -> Self {
        proof.0
    }

    /// The tenant this scope is for.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Who is acting.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// True for the service role.
    pub fn is_service(&self) -> bool {
        matches!(self.principal, Principal::Service)
    }

    /// Fails with `PermissionDenied` unless the principal has at least `needed`.
    pub fn require(&self, needed: Role, action: &'static str) -> Result<(), TenantError> {
        match &self.principal {
            Principal::Service => Ok(()),
            Principal::User { role, .. } if *role >= needed => Ok(()),
            Principal::User { .. } => Err(TenantError::PermissionDenied { action, needed }),
        }
    }

    /// Fails unless the principal is the service role (e.g. to read plaintext).
    pub fn require_service(&self, action: &'static str) -> Result<(), TenantError> {
        if self.is_service() {
            Ok(())
        } else {
            Err(TenantError::PermissionDenied { action, needed: Role::Owner })
        }
    }

    /// Fails with `CrossTenant` unless `tenant` is this scope's tenant.
    pub fn check_tenant(&self, tenant: &TenantId) -> Result<(), TenantError> {
        if &self.tenant == tenant {
            Ok(())
        } else {
            Err(TenantError::CrossTenant)
        }
    }
}

/// Proof that a [`TenantResolver`] verified a user's membership in a tenant.
#[derive(Debug)]
pub struct Resolved(TenantContext);

impl Resolved {
    /// Made by resolvers: vouches that `user` holds `role` in `tenant`.
    ///
    /// Only implement [`TenantResolver`] on top of an identity your application has
    /// authenticated; the proof is what the SDK trusts.
    pub fn vouch(tenant: TenantId, user: UserId, role: Role) -> Self {
        Resolved(TenantContext { tenant, principal: Principal::User { user, role } })
    }
}

/// Turns an authenticated identity (whatever the host application uses) into a scope.
#[async_trait::async_trait]
pub trait TenantResolver: Send + Sync {
    /// The host application's authenticated identity (a session, a verified JWT...).
    type Identity: Send + Sync;

    /// Resolves the identity's scope in `tenant`, or refuses.
    async fn resolve(
        &self,
        identity: &Self::Identity,
        tenant: &TenantId,
    ) -> Result<Resolved, TenantError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(TenantId::new("acme-1.eu_west").is_ok());
        assert!(TenantId::new("").is_err());
        assert!(TenantId::new("a".repeat(65)).is_err());
        assert!(TenantId::new("a:b").is_err());
        assert!(TenantId::new("ä").is_err());
        assert!(UserId::new("u".repeat(128)).is_ok());
    }

    #[test]
    fn roles_order_and_checks() {
        let ctx = TenantContext::resolved(Resolved::vouch(
            TenantId::new("t").unwrap(),
            UserId::new("u").unwrap(),
            Role::Member,
        ));
        assert!(ctx.require(Role::Viewer, "read").is_ok());
        assert!(ctx.require(Role::Member, "write").is_ok());
        assert_eq!(ctx.require(Role::Owner, "rotate").unwrap_err().kind(), ErrorKind::PermissionDenied);
        assert!(ctx.require_service("open").is_err());
        let svc = TenantContext::service(TenantId::new("t").unwrap(), &ServiceRole::new());
        assert!(svc.require(Role::Owner, "rotate").is_ok());
        assert!(svc.check_tenant(&TenantId::new("u").unwrap()).is_err());
    }
}
