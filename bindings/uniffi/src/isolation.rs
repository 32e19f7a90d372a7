//! Isolation: organizations and memberships (a directory in memory, in PostgreSQL or in
//! Kotlin/Swift), contexts resolved from them, write-only credentials with an audited
//! reveal path, and TOTP codes from a sealed seed. Conversions only.

use std::sync::Arc;

use tenantguard::reveal as core_reveal;
use tenantguard::tenant as core_tenant;
use tenantguard::totp as core_totp;
use tenantguard::{TenantId, UserId};

use crate::dual::dual;
use crate::error::{HostError, TenantguardError};
use crate::guard::Guard;
use crate::provider::Store;
use crate::types::{tenant_id, Credential, Role, ServiceRole, TenantContext};
use tenantguard::ErrorKind;

type Result<T, E = TenantguardError> = std::result::Result<T, E>;

fn user_id(s: String) -> Result<UserId> {
    Ok(UserId::new(s)?)
}

#[uniffi::export]
impl TenantContext {
    /// The acting user, `null` for the service role.
    pub fn user(&self) -> Option<String> {
        self.0.user().map(|u| u.as_str().to_owned())
    }

    /// The user's role in the tenant, `null` for agents and the service role.
    pub fn role(&self) -> Option<Role> {
        match self.0.principal() {
            core_tenant::Principal::User { role, .. } => Some((*role).into()),
            _ => None,
        }
    }

    /// Who acts: a user, an agent (a verified token) or the service.
    pub fn kind(&self) -> PrincipalKind {
        match self.0.kind() {
            core_tenant::PrincipalKind::User => PrincipalKind::User,
            core_tenant::PrincipalKind::Agent => PrincipalKind::Agent,
            _ => PrincipalKind::Service,
        }
    }

    /// The acting agent, `null` for users and the service.
    pub fn agent(&self) -> Option<String> {
        self.0.agent_grant().map(|g| g.agent.as_str().to_owned())
    }
}

/// The three kinds of principal.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A member, acting with its role.
    User,
    /// An agent, acting with its token's scopes only.
    Agent,
    /// Server-side code holding the guard's service capability.
    Service,
}

#[uniffi::export]
impl TenantContext {
    /// A user scope vouched for by the application's resolver (after authentication).
    /// Vouching needs the service capability: code holding only a guard or a user context
    /// cannot make one.
    #[uniffi::constructor]
    pub fn resolved(
        service: Arc<ServiceRole>,
        tenant: String,
        user: String,
        role: Role,
    ) -> Result<Arc<Self>> {
        Ok(Arc::new(TenantContext(
            core_tenant::TenantContext::resolved(core_tenant::Resolved::vouch(
                &service.0,
                tenant_id(tenant)?,
                user_id(user)?,
                role.into(),
            )),
        )))
    }
}

/// One user's role in one tenant (an organization or a personal tenant).
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The tenant.
    pub tenant: String,
    /// The member.
    pub user: String,
    /// Its role there.
    pub role: Role,
}

impl From<core_tenant::Membership> for Membership {
    fn from(m: core_tenant::Membership) -> Self {
        Membership {
            tenant: m.tenant.as_str().to_owned(),
            user: m.user.as_str().to_owned(),
            role: m.role.into(),
        }
    }
}

/// Where memberships live, implemented in Kotlin or Swift (e.g. over your own user
/// tables). Throw `HostException.Failed` if it cannot answer. Must not call back into a `Guard`.
#[uniffi::export(with_foreign)]
pub trait Directory: Send + Sync {
    /// The user's role in `tenant`, `null` if not a member.
    fn role_of(&self, user: String, tenant: String) -> Result<Option<Role>, HostError>;
    /// Every membership of `user` (its personal tenant and each organization).
    fn memberships_of(&self, user: String) -> Result<Vec<Membership>, HostError>;
}

struct ForeignDirectory(Arc<dyn Directory>);

fn host(e: HostError) -> core_tenant::TenantError {
    match e {
        HostError::Failed { reason } => core_tenant::TenantError::Directory(reason),
    }
}

fn membership_in(m: Membership) -> Result<core_tenant::Membership, core_tenant::TenantError> {
    Ok(core_tenant::Membership {
        tenant: TenantId::new(m.tenant)?,
        user: UserId::new(m.user)?,
        role: m.role.into(),
    })
}

#[async_trait::async_trait]
impl core_tenant::Directory for ForeignDirectory {
    async fn role_of(
        &self,
        user: &UserId,
        tenant: &TenantId,
    ) -> Result<Option<tenantguard::Role>, core_tenant::TenantError> {
        let r = self
            .0
            .role_of(user.as_str().to_owned(), tenant.as_str().to_owned())
            .map_err(host)?;
        Ok(r.map(Into::into))
    }

    async fn memberships_of(
        &self,
        user: &UserId,
    ) -> Result<Vec<core_tenant::Membership>, core_tenant::TenantError> {
        let v = self
            .0
            .memberships_of(user.as_str().to_owned())
            .map_err(host)?;
        v.into_iter().map(membership_in).collect()
    }
}

/// Memberships in process memory, with role-checked changes (admins manage viewers,
/// members and admins; only owners grant or change the owner role; the last owner stays).
#[derive(uniffi::Object, Debug)]
pub struct MemoryDirectory(Arc<core_tenant::MemoryDirectory>);

#[uniffi::export]
impl MemoryDirectory {
    /// An empty directory.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(MemoryDirectory(Arc::new(
            core_tenant::MemoryDirectory::new(),
        )))
    }

    /// Registers a tenant with its first owner. Service role; `PermissionDenied` if the
    /// tenant already has members.
    pub fn create(&self, service: Arc<ServiceRole>, tenant: String, owner: String) -> Result<()> {
        Ok(self
            .0
            .create(&service.0, &tenant_id(tenant)?, &user_id(owner)?)?)
    }

    /// Adds or changes a member of the context's tenant.
    pub fn set_member(&self, ctx: Arc<TenantContext>, user: String, role: Role) -> Result<()> {
        Ok(self.0.set_member(&ctx.0, &user_id(user)?, role.into())?)
    }

    /// Removes a member of the context's tenant; returns whether it was one.
    pub fn remove_member(&self, ctx: Arc<TenantContext>, user: String) -> Result<bool> {
        Ok(self.0.remove_member(&ctx.0, &user_id(user)?)?)
    }
}

/// Resolves a user the application has authenticated into a scope, taking the role from
/// a directory (never from the request).
#[derive(uniffi::Object)]
pub struct DirectoryResolver(core_tenant::DirectoryResolver<Arc<dyn core_tenant::Directory>>);

impl std::fmt::Debug for DirectoryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectoryResolver")
    }
}

fn resolver(d: Arc<dyn core_tenant::Directory>, service: &ServiceRole) -> Arc<DirectoryResolver> {
    Arc::new(DirectoryResolver(core_tenant::DirectoryResolver::new(
        d, &service.0,
    )))
}

#[uniffi::export]
impl DirectoryResolver {
    /// Over an in-memory directory. Vouching for users needs the service capability.
    #[uniffi::constructor]
    pub fn memory(directory: Arc<MemoryDirectory>, service: Arc<ServiceRole>) -> Arc<Self> {
        resolver(directory.0.clone(), &service)
    }

    /// Over a directory implemented in Kotlin or Swift.
    #[uniffi::constructor]
    pub fn foreign(directory: Arc<dyn Directory>, service: Arc<ServiceRole>) -> Arc<Self> {
        resolver(Arc::new(ForeignDirectory(directory)), &service)
    }

    /// Over a store's memberships (PostgreSQL's `tg_memberships`, the table its Row Level
    /// Security reads); `Config` for stores without memberships.
    #[uniffi::constructor]
    pub fn from_store(store: Arc<Store>, service: Arc<ServiceRole>) -> Result<Arc<Self>> {
        match &store.2 {
            Some(d) => Ok(resolver(d.clone(), &service)),
            None => Err(TenantguardError::new(
                ErrorKind::Config,
                "this store keeps no memberships: use a MemoryDirectory or your own Directory",
            )),
        }
    }
}

dual! {
impl DirectoryResolver {
    /// The user's scope in `tenant`; `PermissionDenied` if not a member.
    fn resolve / resolve_async(&self, user: String, tenant: String) -> Arc<TenantContext> {
        use core_tenant::TenantResolver;
        let proof = self.0.resolve(&user_id(user)?, &tenant_id(tenant)?).await?;
        Ok(Arc::new(TenantContext(tenantguard::TenantContext::resolved(proof))))
    }

    /// Every scope the user can act in: its personal tenant and each organization.
    fn visible_scopes / visible_scopes_async(&self, user: String) -> Vec<Arc<TenantContext>> {
        let v = self.0.visible_scopes(&user_id(user)?).await?;
        Ok(v.into_iter().map(|c| Arc::new(TenantContext(c))).collect())
    }
}
}

// ---------------------------------------------------------------------------------------
// Reveal and TOTP

/// What was done with a credential.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenKind {
    /// The plaintext was returned to service-role code.
    Reveal,
    /// A TOTP code was derived; the seed was not returned.
    TotpCode,
}

/// One use of a credential: who, what, why, when. Holds no secret.
#[derive(uniffi::Record, Clone, Debug, PartialEq, Eq)]
pub struct OpenEvent {
    /// The tenant whose credential it is.
    pub tenant: String,
    /// Who asked (`null`: the service role).
    pub user: Option<String>,
    /// The user's role (`null`: the service role).
    pub role: Option<Role>,
    /// The record id.
    pub record: String,
    /// Reveal or derived use.
    pub kind: OpenKind,
    /// Why, as the caller stated it.
    pub purpose: String,
    /// When, Unix seconds.
    pub at: i64,
}

/// Records every use of a credential before it happens, implemented in Kotlin or Swift.
/// Throw `HostException.Failed` to refuse the use (e.g. the log is unavailable).
#[uniffi::export(with_foreign)]
pub trait OpenObserver: Send + Sync {
    /// Records `event`.
    fn record(&self, event: OpenEvent) -> Result<(), HostError>;
}

struct ForeignObserver(Arc<dyn OpenObserver>);

impl core_reveal::OpenObserver for ForeignObserver {
    fn record(&self, e: &core_reveal::OpenEvent) -> std::result::Result<(), String> {
        let (user, role) = match &e.principal {
            core_tenant::Principal::User { user, role } => {
                (Some(user.as_str().to_owned()), Some((*role).into()))
            }
            core_tenant::Principal::Agent(g) => (Some(format!("agent:{}", g.agent)), None),
            _ => (None, None),
        };
        let event = OpenEvent {
            tenant: e.tenant.as_str().to_owned(),
            user,
            role,
            record: e.record.clone(),
            kind: match e.kind {
                core_reveal::OpenKind::Reveal => OpenKind::Reveal,
                core_reveal::OpenKind::TotpCode => OpenKind::TotpCode,
            },
            purpose: e.purpose.clone(),
            at: e.at,
        };
        self.0.record(event).map_err(|e| e.to_string())
    }
}

/// The HMAC hash of a TOTP.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1 (the authenticator-app default).
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

/// How the stored seed is encoded.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedEncoding {
    /// Base32 text as in `otpauth://` URIs.
    Base32,
    /// The raw key bytes.
    Raw,
}

/// TOTP parameters; [`totp_params_default`] gives SHA-1, 6 digits, 30 s, base32.
#[derive(uniffi::Record, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TotpParams {
    /// The HMAC hash.
    pub algorithm: TotpAlgorithm,
    /// Code length, 6 to 8.
    pub digits: u32,
    /// Time step in seconds, 1 to 300.
    pub period: u64,
    /// Encoding of the seed.
    pub encoding: SeedEncoding,
}

impl From<TotpParams> for core_totp::TotpParams {
    fn from(p: TotpParams) -> Self {
        core_totp::TotpParams {
            algorithm: match p.algorithm {
                TotpAlgorithm::Sha1 => core_totp::TotpAlgorithm::Sha1,
                TotpAlgorithm::Sha256 => core_totp::TotpAlgorithm::Sha256,
                TotpAlgorithm::Sha512 => core_totp::TotpAlgorithm::Sha512,
            },
            digits: p.digits,
            period: p.period,
            encoding: match p.encoding {
                SeedEncoding::Base32 => core_totp::SeedEncoding::Base32,
                SeedEncoding::Raw => core_totp::SeedEncoding::Raw,
            },
        }
    }
}

/// The authenticator-app defaults: SHA-1, 6 digits, 30 seconds, base32 seed.
#[uniffi::export]
pub fn totp_params_default() -> TotpParams {
    let d = core_totp::TotpParams::default();
    TotpParams {
        algorithm: match d.algorithm {
            core_totp::TotpAlgorithm::Sha1 => TotpAlgorithm::Sha1,
            core_totp::TotpAlgorithm::Sha256 => TotpAlgorithm::Sha256,
            core_totp::TotpAlgorithm::Sha512 => TotpAlgorithm::Sha512,
        },
        digits: d.digits,
        period: d.period,
        encoding: match d.encoding {
            core_totp::SeedEncoding::Base32 => SeedEncoding::Base32,
            core_totp::SeedEncoding::Raw => SeedEncoding::Raw,
        },
    }
}

/// A one-time code, valid for one period. `toString()` never shows it.
#[derive(uniffi::Object, Debug)]
#[uniffi::export(Debug)]
pub struct TotpCode(core_totp::TotpCode);

#[uniffi::export]
impl TotpCode {
    /// The code's digits.
    pub fn code(&self) -> String {
        self.0.as_str().to_owned()
    }
}

/// Opens credentials for service-role code and derives TOTP codes for members, reporting
/// every use to an observer first (an observer that throws stops the use).
#[derive(uniffi::Object, Debug)]
pub struct Revealer(
    core_reveal::Revealer,
    /// The guard, for the re-entrancy check of foreign key providers.
    Arc<Guard>,
);

impl crate::runtime::CallId for Revealer {
    fn call_id(&self) -> usize {
        crate::runtime::CallId::call_id(&*self.1)
    }
}

impl crate::runtime::CallId for DirectoryResolver {}

#[uniffi::export]
impl Revealer {
    /// A revealer over `guard` reporting to `observer`.
    #[uniffi::constructor]
    pub fn new(guard: Arc<Guard>, observer: Arc<dyn OpenObserver>) -> Arc<Self> {
        Arc::new(Revealer(
            core_reveal::Revealer::new(guard.0.clone(), Arc::new(ForeignObserver(observer))),
            guard,
        ))
    }
}

dual! {
impl Revealer {
    /// Opens stored credential `record_id` for `purpose`. Service role only; observed first.
    fn open_credential / open_credential_async(
        &self, ctx: Arc<TenantContext>, record_id: String, purpose: String
    ) -> Arc<Credential> {
        Ok(Arc::new(Credential(self.0.open_credential(&ctx.0, &record_id, &purpose).await?)))
    }

    /// The TOTP code at `unix_time` from stored `TOTP_SEED` credential `record_id`. Member
    /// role or above; the seed never leaves the SDK.
    fn totp_code / totp_code_async(
        &self, ctx: Arc<TenantContext>, record_id: String, params: TotpParams, unix_time: u64, purpose: String
    ) -> Arc<TotpCode> {
        let p: core_totp::TotpParams = params.into();
        Ok(Arc::new(TotpCode(
            self.0.totp_code(&ctx.0, &record_id, &p, unix_time, &purpose).await?,
        )))
    }
}
}
