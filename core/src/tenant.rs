//! Tenants, principals and the verified scope every data-layer call takes.
//!
//! A [`TenantContext`] is the only way to reach tenant data. It can be made in two ways:
//! by a [`TenantResolver`] the host application implements (turning an authenticated
//! identity into a scope), or by server-side code holding the [`ServiceRole`] capability.

use thiserror::Error;

use crate::error::ErrorKind;
use crate::scope::{Action as ScopeAction, Scope};

/// Longest tenant id, in bytes.
pub const MAX_TENANT_ID_LEN: usize = 64;
/// Tenant ids starting with this are reserved (the service keyring's wrap contexts).
pub const RESERVED_TENANT_PREFIX: &str = "_tg-service.";
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
    /// The operation is for server-side code holding the [`ServiceRole`]; no user role,
    /// owner included, may do it.
    #[error("permission denied: {action} needs the service role (server-side code holding ServiceRole); no user role, owner included, may do it")]
    ServiceRoleRequired {
        /// What was attempted.
        action: &'static str,
    },
    /// The user is not a member of the tenant (or the tenant does not exist).
    #[error("not a member of this tenant")]
    NotAMember,
    /// The membership directory failed (database error). The message holds no secret.
    #[error("membership directory error: {0}")]
    Directory(String),
    /// An agent's token scopes do not allow this action on this resource. Agents never
    /// get a role: each operation checks its scopes against what it touches.
    #[error("agent token does not allow {action} on {resource:?}")]
    OutOfScope {
        /// What was attempted.
        action: &'static str,
        /// The resource the operation touches (SDK-built, e.g. `records/password/db`),
        /// at most 128 bytes.
        resource: String,
    },
    /// This principal kind may never perform the operation (e.g. an agent starting a
    /// login session or managing members, a user or agent doing a service-only action).
    #[error("{action} is not allowed for {kind} principals")]
    WrongPrincipal {
        /// What was attempted.
        action: &'static str,
        /// The kind that asked.
        kind: PrincipalKind,
    },
    /// The agent's token was revoked, its agent killed, or its tenant shredded since the
    /// context was made.
    #[error("the agent's token was revoked or has expired")]
    AgentRevoked,
}

impl TenantError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TenantError::InvalidId { .. } => ErrorKind::InvalidInput,
            TenantError::CrossTenant => ErrorKind::CrossTenant,
            TenantError::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            TenantError::ServiceRoleRequired { .. } => ErrorKind::PermissionDenied,
            TenantError::NotAMember => ErrorKind::PermissionDenied,
            TenantError::Directory(_) => ErrorKind::Store,
            TenantError::OutOfScope { .. } | TenantError::WrongPrincipal { .. } => {
                ErrorKind::PermissionDenied
            }
            TenantError::AgentRevoked => ErrorKind::AuthenticationFailed,
        }
    }

    /// Why, for a revoked agent (see [`crate::Error::reason`]).
    pub fn reason(&self) -> Option<crate::Reason> {
        match self {
            TenantError::AgentRevoked => Some(crate::Reason::AgentRevoked),
            TenantError::OutOfScope { .. } => Some(crate::Reason::OutOfScope),
            _ => None,
        }
    }
}

fn valid_id(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The id of a tenant (an organization or a personal account).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Validates and wraps a tenant id (1 to 64 characters from `[A-Za-z0-9._-]`, not
    /// starting with the reserved `_tg-service.`).
    pub fn new(id: impl Into<String>) -> Result<Self, TenantError> {
        let id = id.into();
        // Ids starting with `_tg-service.` are reserved for the service keyring's wrap
        // contexts (key providers see them as tenants): no real tenant may share one.
        if valid_id(&id, MAX_TENANT_ID_LEN) && !id.starts_with(RESERVED_TENANT_PREFIX) {
            Ok(TenantId(id))
        } else {
            Err(TenantError::InvalidId {
                what: "tenant",
                max: MAX_TENANT_ID_LEN,
            })
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A reserved pseudo-tenant that no tenant id can equal (`_tg-service.<purpose>`, the
    /// wrap context of service keys: valid in every key provider's key names, refused by
    /// [`TenantId::new`]). Never reaches a store as a tenant.
    pub(crate) fn reserved(id: String) -> Self {
        debug_assert!(id.starts_with(RESERVED_TENANT_PREFIX) && valid_id(&id, MAX_TENANT_ID_LEN));
        TenantId(id)
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
            Err(TenantError::InvalidId {
                what: "user",
                max: MAX_USER_ID_LEN,
            })
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl UserId {
    /// The empty id, below every valid one (range starts only).
    pub(crate) fn min() -> Self {
        UserId(String::new())
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
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = crate::UnknownName;

    /// Parses a stable name ([`Role::as_str`]); the one parser every store and binding uses.
    fn from_str(s: &str) -> Result<Self, crate::UnknownName> {
        Role::parse(s).ok_or(crate::UnknownName("role"))
    }
}

impl Role {
    /// Every role, least privileged first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];

    /// The stable name ("viewer", "member", "admin", "owner"), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may perform `action`.
    pub fn allows(self, action: Action) -> bool {
        self >= action.needed_role()
    }
}

/// What a principal may do in a tenant; each action needs a least [`Role`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read metadata: record ids, classes, key versions, members (viewer).
    ReadMetadata,
    /// Create and replace sealed records and credentials, delete records (member).
    WriteRecords,
    /// Use a credential without revealing it, e.g. get a TOTP code (member).
    UseCredential,
    /// Add, change and remove members below owner (admin).
    ManageMembers,
    /// Change the organization's policies, e.g. egress (admin).
    ManagePolicies,
    /// Grant or revoke the owner role (owner).
    ManageOwners,
    /// Rotate, re-wrap and retire keys (owner).
    ManageKeys,
    /// Crypto-shred the tenant (owner).
    DeleteTenant,
}

impl Action {
    /// The least role allowed to perform this action.
    pub fn needed_role(self) -> Role {
        match self {
            Action::ReadMetadata => Role::Viewer,
            Action::WriteRecords | Action::UseCredential => Role::Member,
            Action::ManageMembers | Action::ManagePolicies => Role::Admin,
            Action::ManageOwners | Action::ManageKeys | Action::DeleteTenant => Role::Owner,
        }
    }

    /// A short description used in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ReadMetadata => "read metadata",
            Action::WriteRecords => "write records",
            Action::UseCredential => "use a credential",
            Action::ManageMembers => "manage members",
            Action::ManagePolicies => "manage policies",
            Action::ManageOwners => "manage owners",
            Action::ManageKeys => "manage keys",
            Action::DeleteTenant => "delete the tenant",
        }
    }
}

/// The three kinds of principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrincipalKind {
    /// A member of the tenant, acting with the role of its membership.
    User,
    /// An agent acting with an API token: only the token's scopes, never a role.
    Agent,
    /// Server-side code holding the guard's [`ServiceRole`] capability.
    Service,
}

impl PrincipalKind {
    /// The stable name (`user`, `agent`, `service`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Agent => "agent",
            PrincipalKind::Service => "service",
        }
    }
}

impl std::fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An agent acting with one verified API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentGrant {
    /// The agent (same id rules as users; a separate namespace: `agent:<id>` in the audit log).
    pub agent: UserId,
    /// The token it presented.
    pub token_id: String,
    /// What the token allows, checked by every operation against what it touches.
    pub scopes: std::sync::Arc<[Scope]>,
    /// When the token was created (a kill switch ends tokens created before it).
    pub created_at: i64,
    /// When the token expires, Unix seconds.
    pub expires_at: Option<i64>,
    /// The guard's revocation epoch when the token was verified (see governance.rs).
    pub(crate) epoch: u64,
}

impl AgentGrant {
    /// Whether one of the scopes allows `action` on `resource`.
    pub fn allows(&self, resource: &str, action: ScopeAction) -> bool {
        self.scopes.iter().any(|s| s.allows(resource, action))
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
    /// An agent acting with an API token (see [`AgentGrant`]).
    Agent(AgentGrant),
}

impl Principal {
    /// Which kind of principal this is.
    pub fn kind(&self) -> PrincipalKind {
        match self {
            Principal::Service => PrincipalKind::Service,
            Principal::User { .. } => PrincipalKind::User,
            Principal::Agent(_) => PrincipalKind::Agent,
        }
    }
}

/// The capability of server-side code to act for any tenant, bypassing role checks
/// (like a database service role), and the only way to read plaintext.
///
/// It cannot be made by calling code: [`GuardBuilder::build_with_service`](crate::GuardBuilder::build_with_service)
/// hands it out once, bound to the guard it builds; contexts made from it are refused by
/// any other guard. Give it only to the code that needs it (e.g. the run launcher).
pub struct ServiceRole {
    pub(crate) guard_id: u64,
}

impl std::fmt::Debug for ServiceRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceRole(..)")
    }
}

impl ServiceRole {
    pub(crate) fn for_guard(guard_id: u64) -> Self {
        ServiceRole { guard_id }
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
    /// The guard whose service capability made this context (0 for users and agents).
    service_of: u64,
}

impl TenantContext {
    /// A service-role scope for `tenant`, usable only with the guard that handed out
    /// `capability`.
    pub fn service(tenant: TenantId, capability: &ServiceRole) -> Self {
        TenantContext {
            tenant,
            principal: Principal::Service,
            service_of: capability.guard_id,
        }
    }

    /// An agent scope: made only by token verification.
    pub(crate) fn agent(tenant: TenantId, grant: AgentGrant) -> Self {
        TenantContext {
            tenant,
            principal: Principal::Agent(grant),
            service_of: 0,
        }
    }

    pub(crate) fn service_guard(&self) -> u64 {
        self.service_of
    }

    /// Which kind of principal acts.
    pub fn kind(&self) -> PrincipalKind {
        self.principal.kind()
    }

    /// The acting agent, `None` for users and the service role.
    pub fn agent_grant(&self) -> Option<&AgentGrant> {
        match &self.principal {
            Principal::Agent(g) => Some(g),
            _ => None,
        }
    }

    /// The check of every operation: the service role passes, a user needs `needed`, an
    /// agent needs a scope allowing `action` on `resource` (never a role).
    pub fn authorize(
        &self,
        needed: Role,
        resource: &str,
        action: ScopeAction,
        what: &'static str,
    ) -> Result<(), TenantError> {
        match &self.principal {
            Principal::Service => Ok(()),
            Principal::User { role, .. } if *role >= needed => Ok(()),
            Principal::User { .. } => Err(TenantError::PermissionDenied {
                action: what,
                needed,
            }),
            Principal::Agent(g) if g.allows(resource, action) => Ok(()),
            Principal::Agent(_) => Err(TenantError::OutOfScope {
                action: what,
                resource: crate::scope::echo(resource),
            }),
        }
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

    /// Fails with `PermissionDenied` unless the principal has at least `needed`. Agents
    /// have no role, so they are always refused here (`WrongPrincipal`): operations open
    /// to agents use [`TenantContext::authorize`].
    pub fn require(&self, needed: Role, action: &'static str) -> Result<(), TenantError> {
        match &self.principal {
            Principal::Service => Ok(()),
            Principal::User { role, .. } if *role >= needed => Ok(()),
            Principal::User { .. } => Err(TenantError::PermissionDenied { action, needed }),
            Principal::Agent(_) => Err(TenantError::WrongPrincipal {
                action,
                kind: PrincipalKind::Agent,
            }),
        }
    }

    /// Fails with `PermissionDenied` unless the principal may perform `action`.
    pub fn require_action(&self, action: Action) -> Result<(), TenantError> {
        self.require(action.needed_role(), action.as_str())
    }

    /// The acting user (a member), `None` for agents and the service role.
    pub fn user(&self) -> Option<&UserId> {
        match &self.principal {
            Principal::User { user, .. } => Some(user),
            _ => None,
        }
    }

    /// Fails with `ServiceRoleRequired` unless the principal is the service role (e.g. to
    /// read plaintext), whether a user (any role) or an agent asked. The guard also checks the capability was its own.
    pub fn require_service(&self, action: &'static str) -> Result<(), TenantError> {
        if self.is_service() {
            Ok(())
        } else {
            Err(TenantError::ServiceRoleRequired { action })
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
    /// Made by resolvers: vouches that `user` holds `role` in `tenant`. Needs the service
    /// capability, which the host gives only to its resolver: code holding a guard or a
    /// user context cannot make one.
    ///
    /// Only implement [`TenantResolver`] on top of an identity your application has
    /// authenticated; the proof is what the SDK trusts.
    ///
    /// The context it makes is bound to the capability's guard like a service context:
    /// any other guard refuses it (`WrongPrincipal`), so a capability taken from a
    /// throwaway guard vouches for nobody in yours.
    pub fn vouch(service: &ServiceRole, tenant: TenantId, user: UserId, role: Role) -> Self {
        Self::make_for(service.guard_id, tenant, user, role)
    }

    /// A proof bound to no guard (every guard refuses its context): for checks inside
    /// the SDK that never reach a guard.
    pub(crate) fn make(tenant: TenantId, user: UserId, role: Role) -> Self {
        Self::make_for(0, tenant, user, role)
    }

    /// A proof bound to the guard with capability id `guard`.
    pub(crate) fn make_for(guard: u64, tenant: TenantId, user: UserId, role: Role) -> Self {
        Resolved(TenantContext {
            tenant,
            principal: Principal::User { user, role },
            service_of: guard,
        })
    }
}

/// Turns an authenticated identity (whatever the host application uses) into a scope.
///
/// A resolver over the host's own membership table (here a map; in an application its
/// users database), holding the service capability that [`Resolved::vouch`] needs:
///
/// ```
/// use std::collections::HashMap;
/// use tenantguard::tenant::{Resolved, Role, ServiceRole, TenantError, TenantResolver, UserId};
/// use tenantguard::{Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};
///
/// /// An identity the application has already authenticated (e.g. a verified JWT).
/// struct LoggedIn { user: String }
///
/// struct Memberships {
///     service: ServiceRole,
///     roles: HashMap<(String, String), Role>, // (tenant, user) -> role
/// }
///
/// #[async_trait::async_trait]
/// impl TenantResolver for Memberships {
///     type Identity = LoggedIn;
///     async fn resolve(&self, who: &LoggedIn, tenant: &TenantId) -> Result<Resolved, TenantError> {
///         let role = self
///             .roles
///             .get(&(tenant.as_str().to_string(), who.user.clone()))
///             .copied()
///             .ok_or(TenantError::NotAMember)?;
///         let user = UserId::new(&who.user)?;
///         Ok(Resolved::vouch(&self.service, tenant.clone(), user, role))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (guard, service) = Guard::builder()
///     .key_provider(LocalKeyProvider::ephemeral())
///     .store(MemoryStore::new())
///     .build_with_service()?;
/// let acme = TenantId::new("acme")?;
/// let mut roles = HashMap::new();
/// roles.insert(("acme".to_string(), "alice".to_string()), Role::Member);
/// let resolver = Memberships { service, roles };
///
/// let alice = resolver.resolve(&LoggedIn { user: "alice".into() }, &acme).await?;
/// let ctx = TenantContext::resolved(alice);
/// assert_eq!(ctx.tenant(), &acme);
/// // Someone who is not a member of the tenant gets no scope at all.
/// assert!(resolver.resolve(&LoggedIn { user: "mallory".into() }, &acme).await.is_err());
/// # let _ = guard; Ok(()) }
/// ```
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

/// One user's role in one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Membership {
    /// The tenant (an organization, or a user's personal tenant).
    pub tenant: TenantId,
    /// The member.
    pub user: UserId,
    /// Its role there.
    pub role: Role,
}

/// Where memberships live: answers "which role does this user hold in this tenant" and
/// "which tenants does this user belong to". `PostgresStore` implements it over
/// `tg_memberships` (the same table its Row Level Security policies read);
/// [`MemoryDirectory`] keeps it in memory.
#[async_trait::async_trait]
pub trait Directory: Send + Sync {
    /// The user's role in `tenant`, `None` if not a member.
    async fn role_of(&self, user: &UserId, tenant: &TenantId) -> Result<Option<Role>, TenantError>;

    /// Every membership of `user`, ordered by tenant id: its personal tenant and each
    /// organization it belongs to (access is additive across them).
    async fn memberships_of(&self, user: &UserId) -> Result<Vec<Membership>, TenantError>;
}

/// A [`TenantResolver`] that trusts the host's authentication of a [`UserId`] and takes
/// the user's role from a [`Directory`] (never from the request).
#[derive(Debug, Clone)]
pub struct DirectoryResolver<D> {
    directory: D,
    /// The guard of the capability it was made with: its contexts are bound to it.
    guard: u64,
}

impl<D: Directory> DirectoryResolver<D> {
    /// Resolves roles through `directory`. Vouching for users needs the service
    /// capability, so only code holding it can make a resolver.
    pub fn new(directory: D, service: &ServiceRole) -> Self {
        DirectoryResolver {
            directory,
            guard: service.guard_id,
        }
    }

    /// Every scope the user can act in: its personal tenant plus each organization
    /// (additive access), one context per tenant.
    pub async fn visible_scopes(&self, user: &UserId) -> Result<Vec<TenantContext>, TenantError> {
        Ok(self
            .directory
            .memberships_of(user)
            .await?
            .into_iter()
            .map(|m| {
                TenantContext::resolved(Resolved::make_for(self.guard, m.tenant, m.user, m.role))
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl<D: Directory> TenantResolver for DirectoryResolver<D> {
    /// A user id the host application has already authenticated.
    type Identity = UserId;

    async fn resolve(&self, identity: &UserId, tenant: &TenantId) -> Result<Resolved, TenantError> {
        match self.directory.role_of(identity, tenant).await? {
            Some(role) => Ok(Resolved::make_for(
                self.guard,
                tenant.clone(),
                identity.clone(),
                role,
            )),
            None => Err(TenantError::NotAMember),
        }
    }
}

/// Largest number of memberships a [`MemoryDirectory`] holds.
pub const MAX_MEMORY_MEMBERSHIPS: usize = 1_000_000;

/// An in-memory [`Directory`] (tests, embedded use): personal tenants and organizations
/// with role-checked membership changes.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    inner: std::sync::Mutex<std::collections::BTreeMap<(UserId, TenantId), Role>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<(UserId, TenantId), Role>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a tenant with its first owner (a personal tenant, or a new organization).
    /// Needs the service role; fails with `PermissionDenied` if the tenant already has members.
    pub fn create(
        &self,
        _service: &ServiceRole,
        tenant: &TenantId,
        owner: &UserId,
    ) -> Result<(), TenantError> {
        let mut m = self.lock();
        if m.keys().any(|(_, t)| t == tenant) {
            return Err(TenantError::PermissionDenied {
                action: "create a tenant that exists",
                needed: Role::Owner,
            });
        }
        if m.len() >= MAX_MEMORY_MEMBERSHIPS {
            return Err(TenantError::Directory(format!(
                "at most {MAX_MEMORY_MEMBERSHIPS} memberships"
            )));
        }
        m.insert((owner.clone(), tenant.clone()), Role::Owner);
        Ok(())
    }

    /// Adds or changes a member of the context's tenant. Admins manage viewers, members and
    /// admins; only owners grant or change the owner role.
    pub fn set_member(
        &self,
        ctx: &TenantContext,
        user: &UserId,
        role: Role,
    ) -> Result<(), TenantError> {
        let mut m = self.lock();
        let key = (user.clone(), ctx.tenant().clone());
        let current = m.get(&key).copied();
        check_member_change(ctx, current, Some(role))?;
        if current.is_none() && m.len() >= MAX_MEMORY_MEMBERSHIPS {
            return Err(TenantError::Directory(format!(
                "at most {MAX_MEMORY_MEMBERSHIPS} memberships"
            )));
        }
        if current == Some(Role::Owner) && role != Role::Owner && owners(&m, ctx.tenant()) == 1 {
            return Err(TenantError::PermissionDenied {
                action: "demote the last owner",
                needed: Role::Owner,
            });
        }
        m.insert(key, role);
        Ok(())
    }

    /// Removes a member of the context's tenant (same rules as [`MemoryDirectory::set_member`];
    /// the last owner cannot be removed). Returns whether it was a member.
    pub fn remove_member(&self, ctx: &TenantContext, user: &UserId) -> Result<bool, TenantError> {
        let mut m = self.lock();
        let key = (user.clone(), ctx.tenant().clone());
        let current = m.get(&key).copied();
        check_member_change(ctx, current, None)?;
        if current == Some(Role::Owner) && owners(&m, ctx.tenant()) == 1 {
            return Err(TenantError::PermissionDenied {
                action: "remove the last owner",
                needed: Role::Owner,
            });
        }
        Ok(m.remove(&key).is_some())
    }
}

fn owners(m: &std::collections::BTreeMap<(UserId, TenantId), Role>, tenant: &TenantId) -> usize {
    m.iter()
        .filter(|((_, t), r)| t == tenant && **r == Role::Owner)
        .count()
}

/// The rule for membership changes: admins manage non-owners; owner grants and changes
/// of an owner's membership need the owner role.
pub fn check_member_change(
    ctx: &TenantContext,
    current: Option<Role>,
    new: Option<Role>,
) -> Result<(), TenantError> {
    ctx.require_action(Action::ManageMembers)?;
    if current == Some(Role::Owner) || new == Some(Role::Owner) {
        ctx.require_action(Action::ManageOwners)?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Directory for MemoryDirectory {
    async fn role_of(&self, user: &UserId, tenant: &TenantId) -> Result<Option<Role>, TenantError> {
        Ok(self.lock().get(&(user.clone(), tenant.clone())).copied())
    }

    async fn memberships_of(&self, user: &UserId) -> Result<Vec<Membership>, TenantError> {
        Ok(self
            .lock()
            .range((user.clone(), TenantId(String::new()))..)
            .take_while(|((u, _), _)| u == user)
            .map(|((u, t), r)| Membership {
                tenant: t.clone(),
                user: u.clone(),
                role: *r,
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl<D: Directory + ?Sized> Directory for std::sync::Arc<D> {
    async fn role_of(&self, user: &UserId, tenant: &TenantId) -> Result<Option<Role>, TenantError> {
        (**self).role_of(user, tenant).await
    }

    async fn memberships_of(&self, user: &UserId) -> Result<Vec<Membership>, TenantError> {
        (**self).memberships_of(user).await
    }
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
        let ctx = TenantContext::resolved(Resolved::make(
            TenantId::new("t").unwrap(),
            UserId::new("u").unwrap(),
            Role::Member,
        ));
        assert!(ctx.require(Role::Viewer, "read").is_ok());
        assert!(ctx.require(Role::Member, "write").is_ok());
        assert_eq!(
            ctx.require(Role::Owner, "rotate").unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        assert!(ctx.require_service("open").is_err());
        let svc = TenantContext::service(TenantId::new("t").unwrap(), &ServiceRole::for_guard(1));
        assert!(svc.require(Role::Owner, "rotate").is_ok());
        assert!(svc.check_tenant(&TenantId::new("u").unwrap()).is_err());
    }

    fn t(s: &str) -> TenantId {
        TenantId::new(s).unwrap()
    }
    fn u(s: &str) -> UserId {
        UserId::new(s).unwrap()
    }
    fn as_user(tenant: &str, user: &str, role: Role) -> TenantContext {
        TenantContext::resolved(Resolved::make(t(tenant), u(user), role))
    }

    #[test]
    fn action_matrix() {
        use Action::*;
        let all = [
            ReadMetadata,
            WriteRecords,
            UseCredential,
            ManageMembers,
            ManagePolicies,
            ManageOwners,
            ManageKeys,
            DeleteTenant,
        ];
        let allowed = |r: Role| all.iter().filter(|a| r.allows(**a)).count();
        assert_eq!(allowed(Role::Viewer), 1);
        assert_eq!(allowed(Role::Member), 3);
        assert_eq!(allowed(Role::Admin), 5);
        assert_eq!(allowed(Role::Owner), 8);
        assert!(!Role::Admin.allows(ManageKeys));
        assert!(!Role::Member.allows(ManageMembers));
        assert!(!Role::Viewer.allows(WriteRecords));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(r.to_string(), r.as_str());
        }
        assert_eq!(
            as_user("a", "x", Role::Member)
                .require_action(ManageMembers)
                .unwrap_err()
                .kind(),
            ErrorKind::PermissionDenied
        );
    }

    #[tokio::test]
    async fn directory_resolves_personal_and_org_access_additively() {
        let svc = ServiceRole::for_guard(1);
        let dir = std::sync::Arc::new(MemoryDirectory::new());
        dir.create(&svc, &t("alice"), &u("alice")).unwrap(); // personal tenant
        dir.create(&svc, &t("acme"), &u("bob")).unwrap();
        assert!(
            dir.create(&svc, &t("acme"), &u("alice")).is_err(),
            "an existing tenant cannot be claimed"
        );
        let bob = as_user("acme", "bob", Role::Owner);
        dir.set_member(&bob, &u("alice"), Role::Viewer).unwrap();
        let resolver = DirectoryResolver::new(dir.clone(), &svc);
        let scopes = resolver.visible_scopes(&u("alice")).await.unwrap();
        let names: Vec<_> = scopes
            .iter()
            .map(|c| (c.tenant().as_str().to_owned(), c.principal().clone()))
            .collect();
        assert_eq!(names.len(), 2);
        assert_eq!(
            names[0],
            (
                "acme".into(),
                Principal::User {
                    user: u("alice"),
                    role: Role::Viewer
                }
            )
        );
        assert_eq!(
            names[1],
            (
                "alice".into(),
                Principal::User {
                    user: u("alice"),
                    role: Role::Owner
                }
            )
        );
        // The role comes from the directory, not from the caller.
        let ctx = TenantContext::resolved(resolver.resolve(&u("alice"), &t("acme")).await.unwrap());
        assert_eq!(
            ctx.principal(),
            &Principal::User {
                user: u("alice"),
                role: Role::Viewer
            }
        );
        assert_eq!(
            resolver
                .resolve(&u("mallory"), &t("acme"))
                .await
                .unwrap_err(),
            TenantError::NotAMember
        );
        assert_eq!(
            resolver
                .resolve(&u("alice"), &t("bob"))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::PermissionDenied
        );
    }

    #[tokio::test]
    async fn membership_changes_follow_roles() {
        let svc = ServiceRole::for_guard(1);
        let dir = MemoryDirectory::new();
        dir.create(&svc, &t("acme"), &u("olga")).unwrap();
        let owner = as_user("acme", "olga", Role::Owner);
        dir.set_member(&owner, &u("adam"), Role::Admin).unwrap();
        let admin = as_user("acme", "adam", Role::Admin);
        dir.set_member(&admin, &u("mia"), Role::Member).unwrap();
        assert!(
            dir.set_member(&admin, &u("mia"), Role::Owner).is_err(),
            "admins cannot grant owner"
        );
        assert!(
            dir.remove_member(&admin, &u("olga")).is_err(),
            "admins cannot remove owners"
        );
        assert!(dir
            .set_member(
                &as_user("acme", "mia", Role::Member),
                &u("eve"),
                Role::Viewer
            )
            .is_err());
        assert!(
            dir.remove_member(&owner, &u("olga")).is_err(),
            "the last owner stays"
        );
        assert!(
            dir.set_member(&owner, &u("olga"), Role::Admin).is_err(),
            "the last owner cannot be demoted"
        );
        assert!(dir.remove_member(&admin, &u("mia")).unwrap());
        assert_eq!(dir.role_of(&u("mia"), &t("acme")).await.unwrap(), None);
        assert_eq!(
            dir.role_of(&u("adam"), &t("acme")).await.unwrap(),
            Some(Role::Admin)
        );
    }
}
