//! Value types: service role, tenant contexts, sealed values, credentials and records.

use std::sync::Arc;

use tenantguard::{KeyId, TenantId};

use crate::error::TenantguardError;

type Result<T, E = TenantguardError> = std::result::Result<T, E>;

pub(crate) fn tenant_id(s: String) -> Result<TenantId> {
    Ok(TenantId::new(s)?)
}

pub(crate) fn key_id(id: u32) -> Result<KeyId> {
    Ok(KeyId::new(id)?)
}

/// The capability of trusted server-side code to act for any tenant and read plaintext.
/// No constructor: `guardInMemoryWithService`, `guardEmbeddedWithService` and the other
/// `...WithService` functions hand it out once, bound to that guard's store.
#[derive(uniffi::Object)]
pub struct ServiceRole(pub(crate) tenantguard::ServiceRole);

/// An organization role, from least to most privileged.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
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

impl From<Role> for tenantguard::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Viewer => tenantguard::Role::Viewer,
            Role::Member => tenantguard::Role::Member,
            Role::Admin => tenantguard::Role::Admin,
            Role::Owner => tenantguard::Role::Owner,
        }
    }
}

impl From<tenantguard::Role> for Role {
    fn from(r: tenantguard::Role) -> Self {
        match r {
            tenantguard::Role::Viewer => Role::Viewer,
            tenantguard::Role::Member => Role::Member,
            tenantguard::Role::Admin => Role::Admin,
            tenantguard::Role::Owner => Role::Owner,
        }
    }
}

/// A verified scope: one tenant and the principal acting in it.
#[derive(uniffi::Object, Debug)]
#[uniffi::export(Debug)]
pub struct TenantContext(pub(crate) tenantguard::TenantContext);

#[uniffi::export]
impl TenantContext {
    /// A service-role scope for `tenant`.
    #[uniffi::constructor]
    pub fn service(tenant: String, service: Arc<ServiceRole>) -> Result<Arc<Self>> {
        Ok(Arc::new(TenantContext(
            tenantguard::TenantContext::service(tenant_id(tenant)?, &service.0),
        )))
    }

    /// The tenant this scope is for.
    pub fn tenant(&self) -> String {
        self.0.tenant().as_str().to_owned()
    }

    /// True for the service role.
    pub fn is_service(&self) -> bool {
        self.0.is_service()
    }
}

/// A sealed value: binary form or text form `tg2:<keyId>:<base64url>` (or `tg1:` for format v1).
#[derive(uniffi::Object, Debug, PartialEq, Eq)]
#[uniffi::export(Eq, Display)]
pub struct SealedValue(pub(crate) tenantguard::SealedValue);

impl std::fmt::Display for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

#[uniffi::export]
impl SealedValue {
    /// Parses the text form.
    #[uniffi::constructor]
    pub fn parse(text: String) -> Result<Arc<Self>> {
        Ok(Arc::new(SealedValue(tenantguard::SealedValue::parse(
            &text,
        )?)))
    }

    /// Parses the binary form.
    #[uniffi::constructor]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Arc<Self>> {
        Ok(Arc::new(SealedValue(tenantguard::SealedValue::from_vec(
            bytes,
        )?)))
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        self.0.to_text()
    }

    /// The binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }

    /// The format version.
    pub fn version(&self) -> u8 {
        self.0.version()
    }

    /// The tenant-key version it was sealed under.
    pub fn key_id(&self) -> u32 {
        self.0.key_id().get()
    }

    /// The plaintext length it holds.
    pub fn plaintext_len(&self) -> u64 {
        self.0.plaintext_len() as u64
    }
}

/// What a customer credential is.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// A site password.
    Password,
    /// An API token.
    ApiToken,
    /// A TOTP seed.
    TotpSeed,
    /// A session cookie.
    SessionCookie,
    /// Any other secret.
    Generic,
}

impl From<CredentialKind> for tenantguard::CredentialKind {
    fn from(k: CredentialKind) -> Self {
        match k {
            CredentialKind::Password => tenantguard::CredentialKind::Password,
            CredentialKind::ApiToken => tenantguard::CredentialKind::ApiToken,
            CredentialKind::TotpSeed => tenantguard::CredentialKind::TotpSeed,
            CredentialKind::SessionCookie => tenantguard::CredentialKind::SessionCookie,
            CredentialKind::Generic => tenantguard::CredentialKind::Generic,
        }
    }
}

impl From<tenantguard::CredentialKind> for CredentialKind {
    fn from(k: tenantguard::CredentialKind) -> Self {
        match k {
            tenantguard::CredentialKind::Password => CredentialKind::Password,
            tenantguard::CredentialKind::ApiToken => CredentialKind::ApiToken,
            tenantguard::CredentialKind::TotpSeed => CredentialKind::TotpSeed,
            tenantguard::CredentialKind::SessionCookie => CredentialKind::SessionCookie,
            tenantguard::CredentialKind::Generic => CredentialKind::Generic,
        }
    }
}

/// A customer credential; `toString()` never shows the secret.
#[derive(uniffi::Object, Debug)]
#[uniffi::export(Debug)]
pub struct Credential(pub(crate) tenantguard::Credential);

#[uniffi::export]
impl Credential {
    /// A credential of `kind` holding `secret`.
    #[uniffi::constructor]
    pub fn new(kind: CredentialKind, secret: Vec<u8>) -> Arc<Self> {
        Arc::new(Credential(tenantguard::Credential::new(
            kind.into(),
            secret,
        )))
    }

    /// A site password (UTF-8).
    #[uniffi::constructor]
    pub fn password(secret: String) -> Arc<Self> {
        Arc::new(Credential(tenantguard::Credential::password(secret)))
    }

    /// The kind.
    pub fn kind(&self) -> CredentialKind {
        self.0.kind().into()
    }

    /// The secret bytes. Keep them short-lived and never log them.
    pub fn expose(&self) -> Vec<u8> {
        self.0.secret().expose().to_vec()
    }
}

/// The lifecycle state of one key version.
#[derive(uniffi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Seals new values and opens old ones.
    Active,
    /// Opens old values only.
    DecryptOnly,
    /// Destroyed: values under it can never be opened.
    Destroyed,
}

impl From<tenantguard::KeyState> for KeyState {
    fn from(s: tenantguard::KeyState) -> Self {
        match s {
            tenantguard::KeyState::Active => KeyState::Active,
            tenantguard::KeyState::DecryptOnly => KeyState::DecryptOnly,
            tenantguard::KeyState::Destroyed => KeyState::Destroyed,
        }
    }
}

/// Metadata of one key version (no key material).
#[derive(uniffi::Record, Debug, Clone)]
pub struct KeyInfo {
    /// The version.
    pub key_id: u32,
    /// Its state.
    pub state: KeyState,
    /// The KEK that wraps it (empty once destroyed).
    pub kek_id: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

impl From<tenantguard::KeyInfo> for KeyInfo {
    fn from(k: tenantguard::KeyInfo) -> Self {
        KeyInfo {
            key_id: k.key_id.get(),
            state: k.state.into(),
            kek_id: k.kek_id,
            created_at: k.created_at,
        }
    }
}

/// Outcome of a re-encryption run.
#[derive(uniffi::Record, Debug, Clone)]
pub struct ReencryptReport {
    /// Records moved to the active key.
    pub moved: u64,
    /// Records replaced concurrently by a writer.
    pub raced: u64,
    /// Ids of records that failed to open (at most 100).
    pub failed: Vec<String>,
    /// Records still under the old key.
    pub remaining: u64,
    /// The progress callback stopped the run early; run it again to go on.
    pub stopped: bool,
}

impl From<tenantguard::ReencryptReport> for ReencryptReport {
    fn from(r: tenantguard::ReencryptReport) -> Self {
        ReencryptReport {
            moved: r.moved,
            raced: r.raced,
            failed: r.failed,
            remaining: r.remaining,
            stopped: r.stopped,
        }
    }
}

/// What crypto-shredding a tenant destroyed, provider by provider (docs/SECURITY.md).
#[derive(uniffi::Record, Debug, Clone)]
pub struct ShredReport {
    /// True when a database backup taken before the shred can no longer open anything.
    pub backups_unreadable: bool,
    /// One `name:outcome` per provider (as in the `tenant.shred` audit entry).
    pub summary: String,
    /// Key versions wrapped under a shared KEK alone (a backup of them opens while it exists).
    pub shared_kek_keys: Vec<i64>,
}

impl From<tenantguard::kms::ShredReport> for ShredReport {
    fn from(r: tenantguard::kms::ShredReport) -> Self {
        ShredReport {
            backups_unreadable: r.backups_unreadable(),
            summary: r.summary(),
            shared_kek_keys: r
                .shared_kek_keys
                .iter()
                .map(|k| i64::from(k.get()))
                .collect(),
        }
    }
}

/// Outcome of a KEK-rotation (re-wrap) run.
#[derive(uniffi::Record, Debug, Clone)]
pub struct RewrapReport {
    /// Tenants visited.
    pub tenants: u64,
    /// Data keys re-wrapped.
    pub rewrapped: u64,
    /// Data keys already under the current KEK.
    pub current: u64,
    /// The last tenant finished (pass as `start_after` to resume).
    pub last_tenant: Option<String>,
    /// The progress callback stopped the run early; resume from `last_tenant`.
    pub stopped: bool,
}

impl From<tenantguard::RewrapReport> for RewrapReport {
    fn from(r: tenantguard::RewrapReport) -> Self {
        RewrapReport {
            tenants: r.tenants,
            rewrapped: r.rewrapped,
            current: r.current,
            last_tenant: r.last_tenant.map(|t| t.as_str().to_owned()),
            stopped: r.stopped,
        }
    }
}

/// Key-cache counters.
#[derive(uniffi::Record, Debug, Clone)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Keys loaded (key-provider unwraps).
    pub loads: u64,
    /// Tenants evicted.
    pub evictions: u64,
}

impl From<tenantguard::kms::CacheStats> for CacheStats {
    fn from(s: tenantguard::kms::CacheStats) -> Self {
        CacheStats {
            hits: s.hits,
            loads: s.loads,
            evictions: s.evictions,
        }
    }
}

/// What a wrapped data key is bound to; handed to foreign key providers.
#[derive(uniffi::Record, Debug, Clone)]
pub struct WrapContext {
    /// The tenant owning the data key.
    pub tenant: String,
    /// The data key's version.
    pub key_id: u32,
    /// The canonical associated-data bytes to bind the wrap to.
    pub aad: Vec<u8>,
}

impl From<&tenantguard::kms::WrapContext> for WrapContext {
    fn from(c: &tenantguard::kms::WrapContext) -> Self {
        WrapContext {
            tenant: c.tenant.as_str().to_owned(),
            key_id: c.key_id.get(),
            aad: c.aad(),
        }
    }
}

/// A data key wrapped by a key-encryption key.
#[derive(uniffi::Record, Debug, Clone)]
pub struct WrappedKey {
    /// Which KEK wrapped it.
    pub kek_id: String,
    /// The wrapped bytes.
    pub ciphertext: Vec<u8>,
}
