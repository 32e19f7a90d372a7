//! `Guard`: the facade. Every operation exists twice: blocking (runs on the internal
//! runtime) and `*_async` (Kotlin `suspend`, Swift `async`). Generated-looking on purpose:
//! each body is a single core call plus conversions.

use std::sync::Arc;

use crate::error::TenantguardError;
use crate::governance::GuardOptions;
use crate::provider::{Foreign, KeyProvider, LocalKeyProvider, Store};
use crate::runtime::{block_on_in, in_call, CallId};
use crate::types::{
    key_id, tenant_id, CacheStats, Credential, KeyInfo, ReencryptReport, RewrapReport, SealedValue,
    ServiceRole, ShredReport, TenantContext,
};

type Result<T, E = TenantguardError> = std::result::Result<T, E>;

/// An opened record: its data class and plaintext. `toString()` never shows the plaintext.
#[derive(uniffi::Record, Clone)]
#[uniffi::export(Debug)]
pub struct OpenedRecord {
    /// The data class it was stored with.
    pub data_class: String,
    /// The plaintext. Keep it short-lived.
    pub plaintext: Vec<u8>,
}

impl std::fmt::Debug for OpenedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedRecord")
            .field("data_class", &self.data_class)
            .field(
                "plaintext",
                &format_args!("<{} bytes redacted>", self.plaintext.len()),
            )
            .finish()
    }
}

/// Seal and open values and credentials per tenant; rotate and shred keys.
/// `close()` (Kotlin `use {}`) releases the store and key provider.
#[derive(uniffi::Object, Debug)]
pub struct Guard(pub(crate) tenantguard::Guard);

/// A guard and its service capability, handed out once by the `...WithService` functions.
#[derive(uniffi::Record, Debug)]
pub struct GuardWithService {
    /// The guard.
    pub guard: Arc<Guard>,
    /// Its service capability: give it only to the code that must read plaintext or act
    /// for any tenant.
    pub service: Arc<ServiceRole>,
}

impl std::fmt::Debug for ServiceRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceRole(..)")
    }
}

fn pair(
    r: tenantguard::Result<(tenantguard::Guard, tenantguard::ServiceRole)>,
) -> Result<GuardWithService> {
    let (g, s) = r?;
    Ok(GuardWithService {
        guard: Arc::new(Guard(g)),
        service: Arc::new(ServiceRole(s)),
    })
}

/// `Guard.embedded` and its service capability.
#[uniffi::export]
pub fn guard_embedded_with_service(directory: String) -> Result<GuardWithService> {
    pair(tenantguard::Guard::embedded_with_service(directory))
}

/// `Guard.inMemory` and its service capability.
#[uniffi::export]
pub fn guard_in_memory_with_service() -> Result<GuardWithService> {
    pair(
        builder(
            Arc::new(tenantguard::LocalKeyProvider::ephemeral()),
            &Store::memory(),
            None,
        )
        .build_with_service(),
    )
}

/// `Guard.withLocalKeyProvider` and its service capability.
#[uniffi::export(default(options = None))]
pub fn guard_with_local_key_provider_and_service(
    provider: Arc<LocalKeyProvider>,
    store: Arc<Store>,
    options: Option<Arc<GuardOptions>>,
) -> Result<GuardWithService> {
    pair(builder(provider.0.clone(), &store, options).build_with_service())
}

/// `Guard.withKeyProvider` and its service capability.
#[uniffi::export(default(options = None))]
pub fn guard_with_key_provider_and_service(
    provider: Arc<dyn KeyProvider>,
    store: Arc<Store>,
    options: Option<Arc<GuardOptions>>,
) -> Result<GuardWithService> {
    pair(builder(Arc::new(Foreign(provider)), &store, options).build_with_service())
}

fn build(
    provider: Arc<dyn tenantguard::KeyProvider>,
    store: &Store,
    options: Option<Arc<GuardOptions>>,
) -> Result<Arc<Guard>> {
    Ok(Arc::new(Guard(builder(provider, store, options).build()?)))
}

fn builder(
    provider: Arc<dyn tenantguard::KeyProvider>,
    store: &Store,
    options: Option<Arc<GuardOptions>>,
) -> tenantguard::GuardBuilder {
    let b = tenantguard::Guard::builder()
        .key_provider_arc(provider)
        .store_arc(store.0.clone())
        .policy_store(store.1.clone());
    match options {
        Some(o) => o.apply(b),
        None => b,
    }
}

#[uniffi::export]
impl Guard {
    /// The embedded default: key file `keys.json` and SQLite `tenantguard.db` in `directory`.
    #[uniffi::constructor]
    pub fn embedded(directory: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Guard(tenantguard::Guard::embedded(directory)?)))
    }

    /// An in-memory guard with an ephemeral key (tests and throwaway data).
    #[uniffi::constructor]
    pub fn in_memory() -> Result<Arc<Self>> {
        build(
            Arc::new(tenantguard::LocalKeyProvider::ephemeral()),
            &Store::memory(),
            None,
        )
    }

    /// A guard over a local key provider and a store (`options`: tokens, sessions, clock).
    #[uniffi::constructor(default(options = None))]
    pub fn with_local_key_provider(
        provider: Arc<LocalKeyProvider>,
        store: Arc<Store>,
        options: Option<Arc<GuardOptions>>,
    ) -> Result<Arc<Self>> {
        build(provider.0.clone(), &store, options)
    }

    /// A guard over a key provider implemented in Kotlin or Swift, and a store.
    #[uniffi::constructor(default(options = None))]
    pub fn with_key_provider(
        provider: Arc<dyn KeyProvider>,
        store: Arc<Store>,
        options: Option<Arc<GuardOptions>>,
    ) -> Result<Arc<Self>> {
        build(Arc::new(Foreign(provider)), &store, options)
    }

    /// Key-cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.0.cache_stats().into()
    }

    /// Creates a tenant with a fresh data key; returns its key id (1). Owner role.
    pub fn create_tenant(&self, ctx: Arc<TenantContext>) -> Result<u32> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.keys().create_tenant(&ctx.0).await.map(|k| k.get())?)
        })
    }

    /// Seals `plaintext` for the context's tenant, bound to `context`. Member role.
    pub fn seal(
        &self,
        ctx: Arc<TenantContext>,
        context: String,
        plaintext: Vec<u8>,
    ) -> Result<Arc<SealedValue>> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.records()
                .seal(&ctx.0, &context, &plaintext)
                .await
                .map(|v| Arc::new(SealedValue(v)))?)
        })
    }

    /// Opens a value sealed for the context's tenant with the same `context`. Service role only.
    pub fn open(
        &self,
        ctx: Arc<TenantContext>,
        context: String,
        sealed: Arc<SealedValue>,
    ) -> Result<Vec<u8>> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.records()
                .open(&ctx.0, &context, &sealed.0)
                .await
                .map(|p| p.expose().to_vec())?)
        })
    }

    /// Re-seals a value under the tenant's active key. Service role only.
    pub fn reseal(
        &self,
        ctx: Arc<TenantContext>,
        context: String,
        sealed: Arc<SealedValue>,
    ) -> Result<Arc<SealedValue>> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.records()
                .reseal(&ctx.0, &context, &sealed.0)
                .await
                .map(|v| Arc::new(SealedValue(v)))?)
        })
    }

    /// Seals and stores a credential as record `record_id`. Member role.
    pub fn put_credential(
        &self,
        ctx: Arc<TenantContext>,
        record_id: String,
        credential: Arc<Credential>,
    ) -> Result<()> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.records()
                .put_credential(&ctx.0, &record_id, &credential.0)
                .await?)
        })
    }

    /// Opens stored credential `record_id`. Service role only.
    pub fn open_credential(
        &self,
        ctx: Arc<TenantContext>,
        record_id: String,
    ) -> Result<Arc<Credential>> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.records()
                .open_credential(&ctx.0, &record_id)
                .await
                .map(|c| Arc::new(Credential(c)))?)
        })
    }

    /// Seals and stores `plaintext` as record `record_id` of class `data_class`. Member role.
    pub fn put_record(
        &self,
        ctx: Arc<TenantContext>,
        record_id: String,
        data_class: String,
        subject: Option<String>,
        plaintext: Vec<u8>,
    ) -> Result<()> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.records()
                .put(
                    &ctx.0,
                    &record_id,
                    &data_class,
                    subject.as_deref(),
                    &plaintext,
                )
                .await?)
        })
    }

    /// Opens stored record `record_id`. Service role only.
    pub fn open_record(&self, ctx: Arc<TenantContext>, record_id: String) -> Result<OpenedRecord> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.records()
                .open_record(&ctx.0, &record_id)
                .await
                .map(|(data_class, p)| OpenedRecord {
                    data_class,
                    plaintext: p.expose().to_vec(),
                })?)
        })
    }

    /// Deletes stored record `record_id`; returns whether it existed. Member role.
    pub fn delete_record(&self, ctx: Arc<TenantContext>, record_id: String) -> Result<bool> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.records().delete(&ctx.0, &record_id).await?)
        })
    }

    /// The tenant's key versions (metadata only).
    pub fn key_versions(&self, ctx: Arc<TenantContext>) -> Result<Vec<KeyInfo>> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.keys()
                .versions(&ctx.0)
                .await
                .map(|v| v.into_iter().map(KeyInfo::from).collect())?)
        })
    }

    /// Rotates the tenant's data key; returns the new key id. Owner role.
    pub fn rotate_tenant_key(&self, ctx: Arc<TenantContext>) -> Result<u32> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.keys().rotate(&ctx.0).await.map(|k| k.get())?)
        })
    }

    /// Moves stored records under key `from_key_id` to the active key. Owner role.
    pub fn reencrypt(
        &self,
        ctx: Arc<TenantContext>,
        from_key_id: u32,
        batch_size: u32,
    ) -> Result<ReencryptReport> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.keys()
                .reencrypt(&ctx.0, key_id(from_key_id)?, batch_size as usize, |_| {})
                .await
                .map(ReencryptReport::from)?)
        })
    }

    /// Destroys decrypt-only key `key_id` once no stored record uses it. Owner role.
    pub fn retire_key(&self, ctx: Arc<TenantContext>, key_id: u32) -> Result<()> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.keys()
                .retire(&ctx.0, crate::types::key_id(key_id)?)
                .await?)
        })
    }

    /// KEK rotation: re-wraps every tenant's data keys under the current KEK.
    pub fn rewrap_tenant_keys(
        &self,
        service: Arc<ServiceRole>,
        start_after: Option<String>,
        batch_size: u32,
    ) -> Result<RewrapReport> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            Ok(g.keys()
                .rewrap(
                    &service.0,
                    start_after.map(tenant_id).transpose()?,
                    batch_size as usize,
                    |_| {},
                )
                .await
                .map(RewrapReport::from)?)
        })
    }

    /// Crypto-shreds the tenant: every value ever sealed for it becomes unreadable. Owner
    /// role. Returns what the key providers destroyed, or could not.
    pub fn shred_tenant(&self, ctx: Arc<TenantContext>) -> Result<ShredReport> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            g.keys()
                .shred(&ctx.0)
                .await
                .map(ShredReport::from)
                .map_err(Into::into)
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Guard {
    /// Suspending form of `Keys::create_tenant`.
    pub async fn create_tenant_async(&self, ctx: Arc<TenantContext>) -> Result<u32> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.keys().create_tenant(&ctx.0).await.map(|k| k.get())?)
        })
        .await
    }

    /// Suspending form of `Records::seal`.
    pub async fn seal_async(
        &self,
        ctx: Arc<TenantContext>,
        context: String,
        plaintext: Vec<u8>,
    ) -> Result<Arc<SealedValue>> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.records()
                .seal(&ctx.0, &context, &plaintext)
                .await
                .map(|v| Arc::new(SealedValue(v)))?)
        })
        .await
    }

    /// Suspending form of `Records::open`.
    pub async fn open_async(
        &self,
        ctx: Arc<TenantContext>,
        context: String,
        sealed: Arc<SealedValue>,
    ) -> Result<Vec<u8>> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.records()
                .open(&ctx.0, &context, &sealed.0)
                .await
                .map(|p| p.expose().to_vec())?)
        })
        .await
    }

    /// Suspending form of `Records::reseal`.
    pub async fn reseal_async(
        &self,
        ctx: Arc<TenantContext>,
        context: String,
        sealed: Arc<SealedValue>,
    ) -> Result<Arc<SealedValue>> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.records()
                .reseal(&ctx.0, &context, &sealed.0)
                .await
                .map(|v| Arc::new(SealedValue(v)))?)
        })
        .await
    }

    /// Suspending form of `Records::put_credential`.
    pub async fn put_credential_async(
        &self,
        ctx: Arc<TenantContext>,
        record_id: String,
        credential: Arc<Credential>,
    ) -> Result<()> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.records()
                .put_credential(&ctx.0, &record_id, &credential.0)
                .await?)
        })
        .await
    }

    /// Suspending form of `Records::open_credential`.
    pub async fn open_credential_async(
        &self,
        ctx: Arc<TenantContext>,
        record_id: String,
    ) -> Result<Arc<Credential>> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.records()
                .open_credential(&ctx.0, &record_id)
                .await
                .map(|c| Arc::new(Credential(c)))?)
        })
        .await
    }

    /// Suspending form of `Records::put`.
    pub async fn put_record_async(
        &self,
        ctx: Arc<TenantContext>,
        record_id: String,
        data_class: String,
        subject: Option<String>,
        plaintext: Vec<u8>,
    ) -> Result<()> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.records()
                .put(
                    &ctx.0,
                    &record_id,
                    &data_class,
                    subject.as_deref(),
                    &plaintext,
                )
                .await?)
        })
        .await
    }

    /// Suspending form of `Records::open_record`.
    pub async fn open_record_async(
        &self,
        ctx: Arc<TenantContext>,
        record_id: String,
    ) -> Result<OpenedRecord> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.records()
                .open_record(&ctx.0, &record_id)
                .await
                .map(|(data_class, p)| OpenedRecord {
                    data_class,
                    plaintext: p.expose().to_vec(),
                })?)
        })
        .await
    }

    /// Suspending form of `Records::delete`.
    pub async fn delete_record_async(
        &self,
        ctx: Arc<TenantContext>,
        record_id: String,
    ) -> Result<bool> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.records().delete(&ctx.0, &record_id).await?)
        })
        .await
    }

    /// Suspending form of `Keys::versions`.
    pub async fn key_versions_async(&self, ctx: Arc<TenantContext>) -> Result<Vec<KeyInfo>> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.keys()
                .versions(&ctx.0)
                .await
                .map(|v| v.into_iter().map(KeyInfo::from).collect())?)
        })
        .await
    }

    /// Suspending form of `Keys::rotate`.
    pub async fn rotate_tenant_key_async(&self, ctx: Arc<TenantContext>) -> Result<u32> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.keys().rotate(&ctx.0).await.map(|k| k.get())?)
        })
        .await
    }

    /// Suspending form of `Keys::reencrypt`.
    pub async fn reencrypt_async(
        &self,
        ctx: Arc<TenantContext>,
        from_key_id: u32,
        batch_size: u32,
    ) -> Result<ReencryptReport> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.keys()
                .reencrypt(&ctx.0, key_id(from_key_id)?, batch_size as usize, |_| {})
                .await
                .map(ReencryptReport::from)?)
        })
        .await
    }

    /// Suspending form of `Keys::retire`.
    pub async fn retire_key_async(&self, ctx: Arc<TenantContext>, key_id: u32) -> Result<()> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.keys()
                .retire(&ctx.0, crate::types::key_id(key_id)?)
                .await?)
        })
        .await
    }

    /// Suspending form of `Keys::rewrap`.
    pub async fn rewrap_tenant_keys_async(
        &self,
        service: Arc<ServiceRole>,
        start_after: Option<String>,
        batch_size: u32,
    ) -> Result<RewrapReport> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            Ok(g.keys()
                .rewrap(
                    &service.0,
                    start_after.map(tenant_id).transpose()?,
                    batch_size as usize,
                    |_| {},
                )
                .await
                .map(RewrapReport::from)?)
        })
        .await
    }

    /// Suspending form of `Keys::shred`.
    pub async fn shred_tenant_async(&self, ctx: Arc<TenantContext>) -> Result<ShredReport> {
        in_call(self.call_id(), async move {
            let g = &self.0;
            g.keys()
                .shred(&ctx.0)
                .await
                .map(ShredReport::from)
                .map_err(Into::into)
        })
        .await
    }
}

impl CallId for Guard {
    /// The object's address, stable while it lives.
    fn call_id(&self) -> usize {
        self as *const Self as usize
    }
}
