//! Key providers (the local key file, and ones implemented in Kotlin/Swift) and stores.

use std::sync::Arc;

use tenantguard::crypto::DataKey;
use tenantguard::kms::KmsError;

use crate::error::{ProviderError, TenantguardError};
use crate::runtime::{block_on, ProviderScope};
use crate::types::{WrapContext, WrappedKey};

type Result<T, E = TenantguardError> = std::result::Result<T, E>;

/// A key-encryption-key holder implemented in Kotlin or Swift (e.g. calling a KMS client).
///
/// Throw `ProviderException.Unavailable` for retryable outages, `WrongContext` when the
/// context does not match; anything else comes back as `TenantguardException.KeyProvider`.
/// Never put key material in a message. Must not call back into the same `Guard`.
#[uniffi::export(with_foreign)]
pub trait KeyProvider: Send + Sync {
    /// The id of the key-encryption key new wraps use.
    fn current_kek(&self) -> Result<String, ProviderError>;
    /// Wraps the 32-byte data key `key`, bound to `ctx`.
    fn wrap(&self, key: Vec<u8>, ctx: WrapContext) -> Result<WrappedKey, ProviderError>;
    /// Unwraps; must fail with `WrongContext` if `ctx` differs from the wrap's.
    fn unwrap(&self, wrapped: WrappedKey, ctx: WrapContext) -> Result<Vec<u8>, ProviderError>;
}

/// Adapts a foreign [`KeyProvider`] to the core's trait.
pub(crate) struct Foreign(pub(crate) Arc<dyn KeyProvider>);

#[async_trait::async_trait]
impl tenantguard::KeyProvider for Foreign {
    fn name(&self) -> &str {
        "foreign"
    }

    async fn current_kek(&self) -> Result<String, KmsError> {
        let _in = ProviderScope::enter();
        Ok(self.0.current_kek()?)
    }

    async fn wrap(
        &self,
        key: &DataKey,
        ctx: &tenantguard::kms::WrapContext,
    ) -> Result<tenantguard::kms::WrappedKey, KmsError> {
        let w = {
            let _in = ProviderScope::enter();
            self.0.wrap(key.expose().to_vec(), ctx.into())?
        };
        Ok(tenantguard::kms::WrappedKey {
            kek_id: w.kek_id,
            ciphertext: w.ciphertext,
        })
    }

    async fn unwrap(
        &self,
        wrapped: &tenantguard::kms::WrappedKey,
        ctx: &tenantguard::kms::WrapContext,
    ) -> Result<DataKey, KmsError> {
        let w = WrappedKey {
            kek_id: wrapped.kek_id.clone(),
            ciphertext: wrapped.ciphertext.clone(),
        };
        let key = {
            let _in = ProviderScope::enter();
            zeroize::Zeroizing::new(self.0.unwrap(w, ctx.into())?)
        };
        DataKey::from_slice(&key).map_err(|_| {
            KmsError::Provider(format!(
                "unwrap returned {} bytes; a data key is 32 bytes",
                key.len()
            ))
        })
    }
}

/// Key-encryption keys in a local key file (mode 0600), or only in memory.
#[derive(uniffi::Object, Debug)]
pub struct LocalKeyProvider(pub(crate) Arc<tenantguard::LocalKeyProvider>);

#[uniffi::export]
impl LocalKeyProvider {
    /// Opens the key file at `path`, creating it if absent.
    #[uniffi::constructor]
    pub fn open_or_create(path: String) -> Result<Arc<Self>> {
        Ok(Arc::new(LocalKeyProvider(Arc::new(
            tenantguard::LocalKeyProvider::open_or_create(path)?,
        ))))
    }

    /// Opens an existing key file.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>> {
        Ok(Arc::new(LocalKeyProvider(Arc::new(
            tenantguard::LocalKeyProvider::open(path)?,
        ))))
    }

    /// A provider with one random KEK held only in memory.
    #[uniffi::constructor]
    pub fn ephemeral() -> Arc<Self> {
        Arc::new(LocalKeyProvider(Arc::new(
            tenantguard::LocalKeyProvider::ephemeral(),
        )))
    }

    /// Like `ephemeral()`, but fails with `Config` at once if the OS random generator fails.
    #[uniffi::constructor]
    pub fn try_ephemeral() -> Result<Arc<Self>> {
        Ok(Arc::new(LocalKeyProvider(Arc::new(
            tenantguard::LocalKeyProvider::try_ephemeral()?,
        ))))
    }

    /// Adds a fresh KEK and makes it current; returns its id.
    pub fn rotate_kek(&self) -> Result<String> {
        Ok(self.0.rotate_kek()?)
    }

    /// Deletes a KEK that is no longer current.
    pub fn remove_kek(&self, kek_id: String) -> Result<()> {
        Ok(self.0.remove_kek(&kek_id)?)
    }

    /// The ids of all KEKs held.
    pub fn kek_ids(&self) -> Vec<String> {
        self.0.kek_ids()
    }
}

/// A store: in memory, SQLite (the embedded default) or PostgreSQL.
#[derive(uniffi::Object)]
pub struct Store(
    pub(crate) Arc<dyn tenantguard::Store>,
    pub(crate) Arc<dyn tenantguard::store::PolicyStore>,
    pub(crate) Option<Arc<dyn tenantguard::tenant::Directory>>,
    /// The PostgreSQL store, for membership editing (see `members.rs`).
    pub(crate) Option<Arc<tenantguard::PostgresStore>>,
);

impl Store {
    pub(crate) fn of<T>(s: Arc<T>) -> Arc<Self>
    where
        T: tenantguard::Store + tenantguard::store::PolicyStore + 'static,
    {
        Arc::new(Store(s.clone(), s, None, None))
    }
}

#[uniffi::export]
impl Store {
    /// A store kept in process memory.
    #[uniffi::constructor]
    pub fn memory() -> Arc<Self> {
        Store::of(Arc::new(tenantguard::MemoryStore::new()))
    }

    /// Opens (or creates) the SQLite database at `path`.
    #[uniffi::constructor]
    pub fn sqlite(path: String) -> Result<Arc<Self>> {
        Ok(Store::of(Arc::new(tenantguard::SqliteStore::open(path)?)))
    }

    /// A private in-memory SQLite database.
    #[uniffi::constructor]
    pub fn sqlite_in_memory() -> Result<Arc<Self>> {
        Ok(Store::of(Arc::new(tenantguard::SqliteStore::in_memory()?)))
    }

    /// Connects to PostgreSQL (Row Level Security): `app_url` logs in as the application
    /// role, `service_url` (optional) as the service role. Run [`postgres_migrate`] first.
    #[uniffi::constructor]
    pub fn postgres(app_url: String, service_url: Option<String>) -> Result<Arc<Self>> {
        let s = block_on(async move {
            Ok(tenantguard::PostgresStore::connect(&app_url, service_url.as_deref()).await?)
        })?;
        let s = Arc::new(s);
        Ok(Arc::new(Store(
            s.clone(),
            s.clone(),
            Some(s.clone()),
            Some(s),
        )))
    }
}

/// Creates or upgrades tenantguard's PostgreSQL schema as `admin_url` (a table owner);
/// returns how many migrations ran.
#[uniffi::export]
pub fn postgres_migrate(admin_url: String) -> Result<u32> {
    block_on(async move { Ok(tenantguard::PostgresStore::migrate(&admin_url).await? as u32) })
}
