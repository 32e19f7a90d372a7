//! Per-tenant bring-your-own-key: named key providers of a `Guard` (given to its
//! constructor as `tenant_key_providers`), moving a tenant's data keys between them, and
//! the stored KEK-id helpers of `tenantguard::kms`.

use pyo3::prelude::*;

use crate::errors::py_err;
use crate::guard::Guard;
use crate::types::{RewrapReport, TenantContext};

#[pymethods]
impl Guard {
    /// Names of the tenant key providers this guard was built with, sorted.
    fn tenant_key_provider_names(&self) -> PyResult<Vec<String>> {
        Ok(self.get()?.keys().provider_names())
    }

    /// Moves the tenant's data keys to provider `name` (its own KMS key), or back to the
    /// deployment provider with `None`. Re-wraps only this tenant's data keys; no record
    /// is re-encrypted; new key versions then go to that provider. Idempotent and
    /// resumable. Audited. Owner role.
    fn set_tenant_key_provider(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        name: Option<&str>,
    ) -> PyResult<RewrapReport> {
        let ctx = &ctx.0;
        self.run(
            py,
            |g| async move { g.keys().set_provider(ctx, name).await },
        )
        .map(|r| RewrapReport::from(&r))
    }

    /// The named provider wrapping the tenant's active key (`None`: the deployment
    /// provider). Any role.
    fn tenant_key_provider(&self, py: Python<'_>, ctx: &TenantContext) -> PyResult<Option<String>> {
        let ctx = &ctx.0;
        self.run(py, |g| async move { g.keys().provider(ctx).await })
    }
}

/// Checks a tenant key provider name (1 to 64 characters of `a-z 0-9 - _ .`); raises
/// `ConfigError` otherwise.
#[pyfunction]
fn validate_provider_name(name: &str) -> PyResult<()> {
    tenantguard::kms::validate_provider_name(name).map_err(py_err)
}

/// The stored KEK id of a key wrapped by named provider `provider` under its KEK `kek`.
#[pyfunction]
fn tagged_kek_id(provider: &str, kek: &str) -> String {
    tenantguard::kms::tagged_kek_id(provider, kek)
}

/// Splits a stored KEK id into `(provider name or None for the deployment provider,
/// that provider's own KEK id)`.
#[pyfunction]
fn split_kek_id(kek_id: &str) -> (Option<&str>, &str) {
    tenantguard::kms::split_kek_id(kek_id)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(validate_provider_name, m)?)?;
    m.add_function(wrap_pyfunction!(tagged_kek_id, m)?)?;
    m.add_function(wrap_pyfunction!(split_kek_id, m)?)?;
    m.add(
        "MAX_PROVIDER_NAME_LEN",
        tenantguard::kms::MAX_PROVIDER_NAME_LEN,
    )?;
    m.add(
        "MAX_TENANT_PROVIDERS",
        tenantguard::kms::MAX_TENANT_PROVIDERS,
    )?;
    Ok(())
}
