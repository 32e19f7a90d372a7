//! Key-encryption keys: the [`KeyProvider`] trait, the local key-file provider (the embedded
//! default) and the bounded cache of unwrapped tenant keys.

mod byok;
mod cache;
mod local;
pub mod reentry;
mod retry;
mod service_keys;
mod shred;
mod store;
mod traced;
pub(crate) use traced::TracedProvider;

pub(crate) use byok::{current_tagged, is_missing_tenant, Rewrap};
pub use byok::{
    split_kek_id, tagged_kek_id, validate_provider_name, MAX_PROVIDER_NAME_LEN,
    MAX_TENANT_PROVIDERS,
};
pub(crate) use cache::KeyCache;
pub use cache::{CacheLimits, CacheStats};
pub use local::{LocalKeyProvider, MAX_KEKS, MAX_TENANT_SECRETS, SHRED_RECHECK};
pub use retry::{RetryPolicy, Retrying, MAX_ATTEMPTS, MAX_DELAY};
pub use service_keys::{
    KeyringError, ServiceKey, ServiceKeyRecord, ServiceKeyState, ServiceKeyStore, ServiceKeyring,
    ServicePurpose,
};
pub use shred::{ProviderShred, ShredReport};
pub use store::{KeyState, KeyStore, TenantKeyRecord};

use thiserror::Error;

use crate::crypto::{DataKey, KeyId};
use crate::error::ErrorKind;
use crate::tenant::TenantId;

/// What a wrapped data key is bound to: the provider must refuse to unwrap it under any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapContext {
    /// The tenant that owns the data key.
    pub tenant: TenantId,
    /// The data key's version.
    pub key_id: KeyId,
}

impl WrapContext {
    /// The canonical associated-data bytes (see docs/FORMAT.md).
    pub fn aad(&self) -> Vec<u8> {
        let t = self.tenant.as_str().as_bytes();
        let mut a = Vec::with_capacity(24 + t.len());
        a.extend_from_slice(b"tenantguard/v1/wrap");
        a.push(t.len() as u8);
        a.extend_from_slice(t);
        a.extend_from_slice(&self.key_id.get().to_be_bytes());
        a
    }

    /// The same binding as key-value pairs, for KMSs that take an encryption context.
    pub fn pairs(&self) -> [(&'static str, String); 2] {
        [
            ("tenantguard_tenant", self.tenant.to_string()),
            ("tenantguard_key_id", self.key_id.to_string()),
        ]
    }
}

/// A data key wrapped by a key-encryption key, and the id of that KEK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Which KEK wrapped it (provider-specific: a key-file id, an ARN, a key label...).
    pub kek_id: String,
    /// The wrapped bytes. Opaque; never contains the plaintext key.
    pub ciphertext: Vec<u8>,
}

/// A key-encryption-key holder (key file, KMS, HSM). It only ever sees data keys to wrap
/// and wrapped data keys to unwrap, each bound to a [`WrapContext`].
///
/// Implementing one: the four required methods, plus [`KeyProvider::destroy_tenant`] and
/// [`KeyProvider::tenant_bound`] if the provider keeps per-tenant material (without them
/// a shred reports that backups can still restore the tenant), and
/// [`KeyProvider::tenant_destroyed`] if it can tell cheaply, without a remote call, that
/// another process shredded a tenant. A provider that wraps another forwards all three.
/// Here a provider that meters the unwraps of another (a KMS client would call its
/// service instead):
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use tenantguard::crypto::DataKey;
/// use tenantguard::kms::{KeyProvider, KmsError, WrapContext, WrappedKey};
/// use tenantguard::{Guard, LocalKeyProvider, MemoryStore, TenantContext, TenantId};
///
/// struct Metered { inner: LocalKeyProvider, unwraps: AtomicU64 }
///
/// #[async_trait::async_trait]
/// impl KeyProvider for Metered {
///     fn name(&self) -> &str { "metered-local" }
///     async fn current_kek(&self) -> Result<String, KmsError> { self.inner.current_kek().await }
///     async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
///         self.inner.wrap(key, ctx).await
///     }
///     async fn unwrap(&self, w: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
///         self.unwraps.fetch_add(1, Ordering::Relaxed);
///         // Must refuse a wrapped key presented under another tenant's context.
///         self.inner.unwrap(w, ctx).await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let provider = std::sync::Arc::new(Metered {
///     inner: LocalKeyProvider::ephemeral(),
///     unwraps: AtomicU64::new(0),
/// });
/// let (guard, service) = Guard::builder()
///     .key_provider_arc(provider.clone())
///     .store(MemoryStore::new())
///     .build_with_service()?;
/// let ctx = TenantContext::service(TenantId::new("acme")?, &service);
/// guard.keys().create_tenant(&ctx).await?;
/// guard.records().seal(&ctx, "c", b"v").await?;
/// let after_first = provider.unwraps.load(Ordering::Relaxed);
/// for _ in 0..3 {
///     guard.records().seal(&ctx, "c", b"v").await?;
/// }
/// // The key cache keeps the unwrapped key: no unwrap per seal.
/// assert_eq!(provider.unwraps.load(Ordering::Relaxed), after_first);
/// # Ok(()) }
/// ```
#[async_trait::async_trait]
pub trait KeyProvider: Send + Sync {
    /// A short name for logs and errors (e.g. "local", "aws-kms").
    fn name(&self) -> &str;

    /// The KEK that new wraps use. Keys wrapped under another KEK are re-wrapped by
    /// the KEK-rotation job.
    async fn current_kek(&self) -> Result<String, KmsError>;

    /// Wraps `key` under the current KEK, bound to `ctx`.
    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError>;

    /// Unwraps `wrapped`; must fail with [`KmsError::WrongContext`] if `ctx` differs from
    /// the one it was wrapped with.
    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError>;

    /// Destroys the key material this provider holds for `tenant` alone (a per-tenant key,
    /// secret or HSM object), so that no wrap of the tenant's data keys made with it can be
    /// unwrapped again, wherever a copy of the wrapped bytes survives (database backups).
    /// Called by [`crate::Keys::shred`] before the store's key rows are destroyed.
    /// Must be idempotent (destroying twice, or a tenant it never saw, succeeds).
    ///
    /// The default refuses with [`KmsError::Unsupported`]: a provider that wraps every
    /// tenant under one shared key cannot destroy one tenant, and shredding then reports
    /// that backups taken before the shred can still restore the tenant.
    async fn destroy_tenant(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        let _ = tenant;
        Err(KmsError::Unsupported(format!(
            "key provider {:?} holds no per-tenant key material it could destroy: a database \
             backup taken before the shred can still restore the tenant's keys",
            self.name()
        )))
    }

    /// True if `wrapped` depends on per-tenant material that
    /// [`KeyProvider::destroy_tenant`] destroys (default: false).
    fn tenant_bound(&self, wrapped: &WrappedKey) -> bool {
        let _ = wrapped;
        false
    }

    /// True if this provider knows that `tenant`'s material was destroyed (the tenant was
    /// crypto-shredded), by this process or by another one sharing the provider. The guard
    /// asks on every use of a cached key of the tenant, so a process that did not hear of a
    /// shred made elsewhere stops using the keys it holds: it must be cheap and must not
    /// call a remote service. Default: false (the event feed and the cache's `max_age`
    /// bound how long another process's keys live then).
    fn tenant_destroyed(&self, tenant: &TenantId) -> bool {
        let _ = tenant;
        false
    }

    /// True if `wrapped` needs no re-wrap by the KEK-rotation job, given the provider's
    /// `current` KEK (from [`KeyProvider::current_kek`]). Default: `kek_id == current`.
    /// Providers with per-tenant material also ask for it, so that rotation moves keys
    /// wrapped the older way onto it.
    fn is_current(&self, wrapped: &WrappedKey, current: &str) -> bool {
        wrapped.kek_id == current
    }
}

/// When a provider's destruction of a tenant's key material takes effect.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destruction {
    /// Gone now: nothing the provider holds can unwrap the tenant's keys any more.
    Immediate,
    /// Unusable now and deleted for good after `days` (e.g. AWS KMS pending deletion);
    /// until then a key administrator of the provider can still cancel it.
    Scheduled {
        /// Days until the provider deletes the material for good.
        days: u32,
    },
    /// The provider held no material of this tenant (nothing of it to destroy).
    NothingHeld,
}

impl Destruction {
    /// A short, stable name: `immediate`, `scheduled`, `nothing_held`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Destruction::Immediate => "immediate",
            Destruction::Scheduled { .. } => "scheduled",
            Destruction::NothingHeld => "nothing_held",
        }
    }
}

/// What [`KeyProvider::destroy_tenant`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDestruction {
    /// When it takes effect.
    pub destruction: Destruction,
    /// What was destroyed and what it means, for the operator (no key material).
    pub detail: String,
}

/// Errors from key providers and from the tenant-key hierarchy.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KmsError {
    /// The provider does not know the KEK.
    #[error("key-encryption key {0:?} not found in the key provider")]
    KekNotFound(String),
    /// The provider refused access to the KEK.
    #[error("access to the key-encryption key was denied: {0}")]
    AccessDenied(String),
    /// The wrapped key does not match its context, or was altered.
    #[error("the wrapped data key does not match its tenant/key context or was altered")]
    WrongContext,
    /// The provider is unreachable or overloaded; retry later.
    #[error("key provider unavailable: {0}")]
    Unavailable(String),
    /// A provider call timed out.
    #[error("key provider call timed out after {0} ms")]
    Timeout(u64),
    /// The provider's configuration (e.g. the key file) is missing, unreadable or unsafe.
    #[error("key provider configuration: {0}")]
    Config(String),
    /// The tenant has no key with this id.
    #[error("tenant has no key {0}: the value was sealed for another tenant or the id is wrong")]
    UnknownKey(KeyId),
    /// The key was destroyed (retired or crypto-shredded); data under it is gone.
    #[error("key {0} was destroyed: values sealed under it can never be opened again")]
    KeyDestroyed(KeyId),
    /// The tenant has no active key (it was shredded).
    #[error("tenant has no active key: it was crypto-shredded")]
    TenantShredded,
    /// The provider cannot do this (e.g. destroy one tenant's key material).
    #[error("not supported by the key provider: {0}")]
    Unsupported(String),
    /// A host-implemented provider (e.g. Python or Kotlin code across FFI) failed with
    /// an error of its own; the message is the provider's, which must hold no key material.
    #[error("key provider failed: {0}")]
    Provider(String),
    /// The named key provider is not allowed for this tenant (a provider is bound to the
    /// tenants it was registered for).
    #[error("this tenant may not use that key provider")]
    ProviderNotAllowed,
}

impl KmsError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            KmsError::KekNotFound(_) | KmsError::AccessDenied(_) => ErrorKind::KeyProvider,
            KmsError::WrongContext => ErrorKind::Integrity,
            KmsError::Unavailable(_) | KmsError::Timeout(_) => ErrorKind::Unavailable,
            KmsError::Config(_) => ErrorKind::Config,
            KmsError::ProviderNotAllowed => ErrorKind::PermissionDenied,
            KmsError::UnknownKey(_) => ErrorKind::UnknownKey,
            KmsError::KeyDestroyed(_) | KmsError::TenantShredded => ErrorKind::KeyDestroyed,
            KmsError::Provider(_) | KmsError::Unsupported(_) => ErrorKind::KeyProvider,
        }
    }

    /// Why, for a wrapped key rejected for its context (see [`crate::Error::reason`]).
    pub fn reason(&self) -> Option<crate::Reason> {
        match self {
            KmsError::WrongContext => Some(crate::Reason::WrappedKeyRejected),
            _ => None,
        }
    }

    /// True when retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, KmsError::Unavailable(_) | KmsError::Timeout(_))
    }
}

/// Progress and outcome of a KEK-rotation (re-wrap) run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrapReport {
    /// Tenants visited.
    pub tenants: u64,
    /// Data keys re-wrapped under the current KEK.
    pub rewrapped: u64,
    /// Data keys already under the current KEK.
    pub current: u64,
    /// Service keyring keys (row-MAC, session-signing, audit-MAC, checkpoint-signing)
    /// re-wrapped under the current KEK by this run.
    pub service_keys_rewrapped: u64,
    /// Service keyring keys already under the current KEK.
    pub service_keys_current: u64,
    /// The last tenant finished: pass it as `start_after` to resume.
    pub last_tenant: Option<TenantId>,
    /// The progress callback stopped the run early; resume from `last_tenant`.
    pub stopped: bool,
}
