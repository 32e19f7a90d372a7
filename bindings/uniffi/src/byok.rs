//! Per-tenant key providers (bring your own key): register named providers in
//! `GuardOptions`, then move a tenant's data keys to one with `Guard.setTenantKeyProvider`.
//! Conversions only.

use std::sync::Arc;

use crate::dual::dual;
use crate::governance::GuardOptions;
use crate::guard::Guard;
use crate::provider::{Foreign, KeyProvider, LocalKeyProvider};
use crate::types::{RewrapReport, TenantContext};

impl GuardOptions {
    fn with_provider(&self, name: String, p: Arc<dyn tenantguard::KeyProvider>) -> Arc<Self> {
        let mut tenant_providers = self.tenant_providers.clone();
        tenant_providers.retain(|(n, _)| *n != name);
        tenant_providers.push((name, p));
        Arc::new(GuardOptions {
            governance: self.governance.clone(),
            clock: self.clock.clone(),
            tenant_providers,
            provider_tenants: self.provider_tenants.clone(),
            rate_limiter: self.rate_limiter.clone(),
        })
    }
}

#[uniffi::export]
impl GuardOptions {
    /// A copy of these options with `provider` (implemented in Kotlin or Swift) registered
    /// as tenant key provider `name` (1 to 64 characters of a-z, 0-9, '-', '_', '.';
    /// checked when the guard is built; at most 10,000). Keep the name stable and register
    /// it in every process: stored key records name it. A second call with the same name
    /// replaces the provider.
    pub fn with_tenant_key_provider(
        &self,
        name: String,
        provider: Arc<dyn KeyProvider>,
    ) -> Arc<GuardOptions> {
        self.with_provider(name, Arc::new(Foreign(provider)))
    }

    /// Like `with_tenant_key_provider` for a local key-file provider.
    pub fn with_tenant_local_key_provider(
        &self,
        name: String,
        provider: Arc<LocalKeyProvider>,
    ) -> Arc<GuardOptions> {
        self.with_provider(name, provider.0.clone())
    }

    /// A copy of these options letting `tenant` use named provider `name` (a customer's
    /// own key is for that customer alone; a provider no tenant is allowed is used by none).
    pub fn with_tenant_key_provider_allowed(
        &self,
        name: String,
        tenant: String,
    ) -> Arc<GuardOptions> {
        let mut provider_tenants = self.provider_tenants.clone();
        provider_tenants.push((name, tenant));
        Arc::new(GuardOptions {
            governance: self.governance.clone(),
            clock: self.clock.clone(),
            tenant_providers: self.tenant_providers.clone(),
            provider_tenants,
            rate_limiter: self.rate_limiter.clone(),
        })
    }

    /// The names of the tenant key providers registered so far.
    pub fn tenant_key_provider_names(&self) -> Vec<String> {
        self.tenant_providers.iter().map(|p| p.0.clone()).collect()
    }
}

#[uniffi::export]
impl Guard {
    /// Names of the tenant key providers this guard holds, sorted.
    pub fn tenant_key_provider_names(&self) -> Vec<String> {
        self.0.keys().provider_names()
    }
}

dual! {
impl Guard {
    /// Moves the tenant's data keys to provider `name` (bring your own key), or back to the
    /// deployment provider with `null`. Re-wraps this tenant's data keys only, no record is
    /// re-encrypted; new key versions then go there. Idempotent and resumable. Owner role.
    fn set_tenant_key_provider / set_tenant_key_provider_async(
        &self, ctx: Arc<TenantContext>, name: Option<String>
    ) -> RewrapReport {
        Ok(self.0.keys().set_provider(&ctx.0, name.as_deref()).await?.into())
    }

    /// The named provider wrapping the tenant's active key (`null`: the deployment
    /// provider). Any role.
    fn tenant_key_provider / tenant_key_provider_async(&self, ctx: Arc<TenantContext>) -> Option<String> {
        Ok(self.0.keys().provider(&ctx.0).await?)
    }
}
}
