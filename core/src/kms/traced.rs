//! Key-provider calls in `tracing` spans: the guard wraps each provider it is given in
//! [`TracedProvider`], so every wrap, unwrap, KEK lookup and tenant destruction opens a `kms`
//! span at DEBUG with the provider's name, the tenant and the key version (the binding of
//! the call, none of it secret). Data keys, wrapped bytes and credentials are never fields.
//! Every method is delegated, those with a default body too.

use std::sync::Arc;

use tracing::Instrument;

use super::{KeyProvider, KmsError, TenantDestruction, WrapContext, WrappedKey};
use crate::crypto::DataKey;
use crate::tenant::TenantId;

/// A key provider whose calls run in `kms` spans (see the module docs).
pub(crate) struct TracedProvider {
    inner: Arc<dyn KeyProvider>,
}

impl TracedProvider {
    /// `inner`, its calls in spans.
    pub(crate) fn wrap_arc(inner: Arc<dyn KeyProvider>) -> Arc<dyn KeyProvider> {
        Arc::new(TracedProvider { inner })
    }
}

#[async_trait::async_trait]
impl KeyProvider for TracedProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn current_kek(&self) -> Result<String, KmsError> {
        self.inner
            .current_kek()
            .instrument(tracing::debug_span!(
                "kms",
                op = "current_kek",
                provider = self.inner.name()
            ))
            .await
    }

    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        self.inner
            .wrap(key, ctx)
            .instrument(tracing::debug_span!(
                "kms",
                op = "wrap",
                provider = self.inner.name(),
                tenant = %ctx.tenant,
                key_id = %ctx.key_id
            ))
            .await
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        self.inner
            .unwrap(wrapped, ctx)
            .instrument(tracing::debug_span!(
                "kms",
                op = "unwrap",
                provider = self.inner.name(),
                tenant = %ctx.tenant,
                key_id = %ctx.key_id,
                kek = %wrapped.kek_id
            ))
            .await
    }

    async fn destroy_tenant(&self, tenant: &TenantId) -> Result<TenantDestruction, KmsError> {
        self.inner
            .destroy_tenant(tenant)
            .instrument(tracing::debug_span!(
                "kms",
                op = "destroy_tenant",
                provider = self.inner.name(),
                tenant = %tenant
            ))
            .await
    }

    fn tenant_bound(&self, wrapped: &WrappedKey) -> bool {
        self.inner.tenant_bound(wrapped)
    }

    fn tenant_destroyed(&self, tenant: &TenantId) -> bool {
        self.inner.tenant_destroyed(tenant)
    }

    fn is_current(&self, wrapped: &WrappedKey, current: &str) -> bool {
        self.inner.is_current(wrapped, current)
    }
}
