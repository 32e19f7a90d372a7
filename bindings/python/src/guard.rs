//! `Guard`: the facade, with the GIL released around every core call.

use std::collections::BTreeMap;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use tenantguard::{CacheLimits, Result as CoreResult};

use crate::errors::to_py;
use crate::handle::GuardHandle;
use crate::provider::{provider_from, stores_from};
use crate::runtime::block_on;
use crate::types::{
    key_id, tenant_id, CacheStats, Credential, KeyInfo, ReencryptReport, RewrapReport, SealedArg,
    SealedValue, ServiceRole, TenantContext,
};

/// Seal and open values and credentials per tenant; rotate and shred keys.
///
/// Use as a context manager (or call `close()`) to release the store and key provider;
/// closing it also closes the `Egress` and `Revealer` objects built from it.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct Guard {
    handle: GuardHandle,
}

impl Guard {
    fn new_inner(g: tenantguard::Guard) -> Self {
        Guard {
            handle: GuardHandle::new(g),
        }
    }

    pub(crate) fn get(&self) -> PyResult<tenantguard::Guard> {
        self.handle.get()
    }

    /// The handle objects built from this guard register with (closed with it).
    pub(crate) fn handle(&self) -> &GuardHandle {
        &self.handle
    }

    /// Runs a core future with the GIL released and converts its error.
    pub(crate) fn run<T: Send, F>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(tenantguard::Guard) -> F + Send,
    ) -> PyResult<T>
    where
        F: std::future::Future<Output = CoreResult<T>>,
    {
        let g = self.get()?;
        let _scope = self.handle.enter()?;
        crate::runtime::detach(py, || block_on(f(g)))?.map_err(to_py)
    }
}

#[pymethods]
impl Guard {
    /// A guard over `key_provider` (a `LocalKeyProvider` or a Python key provider) and
    /// `store` (`MemoryStore` or `SqliteStore`).
    #[new]
    ///
    /// `governance` sets token and session options; `clock`, a callable returning Unix
    /// seconds, replaces the system clock (tests of expiry and retention windows).
    /// `tenant_key_providers` maps a name to a key provider tenants can move their data
    /// keys to with `set_tenant_key_provider` (bring your own key). `rate_limit_url`, the
    /// service role's PostgreSQL connection string, makes every instance share one rate
    /// limit (the default keeps limits in this process).
    #[pyo3(signature = (key_provider, store, *, cache_max_tenants=None, cache_max_age_seconds=None, governance=None, clock=None, tenant_key_providers=None, tenant_key_provider_tenants=None, rate_limit_url=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        key_provider: &Bound<'_, PyAny>,
        store: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = crate::errors::arg)] cache_max_tenants: Option<usize>,
        #[pyo3(from_py_with = crate::errors::arg)] cache_max_age_seconds: Option<f64>,
        #[pyo3(from_py_with = crate::errors::arg)] governance: Option<
            PyRef<'_, crate::gov::GovernanceConfig>,
        >,
        clock: Option<Py<PyAny>>,
        #[pyo3(from_py_with = crate::errors::arg)] tenant_key_providers: Option<
            BTreeMap<String, Bound<'_, PyAny>>,
        >,
        #[pyo3(from_py_with = crate::errors::arg)] tenant_key_provider_tenants: Option<
            BTreeMap<String, Vec<String>>,
        >,
        rate_limit_url: Option<String>,
    ) -> PyResult<Self> {
        builder_from(
            key_provider,
            store,
            cache_max_tenants,
            cache_max_age_seconds,
            governance,
            clock,
            tenant_key_providers,
            tenant_key_provider_tenants,
            rate_limit_url.as_deref(),
        )?
        .build()
        .map(Self::new_inner)
        .map_err(to_py)
    }

    /// Like `Guard(...)`, and hands out the guard's service capability, once: the only
    /// `ServiceRole` this guard accepts. Returns `(guard, service)`.
    #[classmethod]
    #[pyo3(signature = (key_provider, store, *, cache_max_tenants=None, cache_max_age_seconds=None, governance=None, clock=None, tenant_key_providers=None, tenant_key_provider_tenants=None, rate_limit_url=None))]
    #[allow(clippy::too_many_arguments)]
    fn with_service(
        _cls: &Bound<'_, PyType>,
        key_provider: &Bound<'_, PyAny>,
        store: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = crate::errors::arg)] cache_max_tenants: Option<usize>,
        #[pyo3(from_py_with = crate::errors::arg)] cache_max_age_seconds: Option<f64>,
        #[pyo3(from_py_with = crate::errors::arg)] governance: Option<
            PyRef<'_, crate::gov::GovernanceConfig>,
        >,
        clock: Option<Py<PyAny>>,
        #[pyo3(from_py_with = crate::errors::arg)] tenant_key_providers: Option<
            BTreeMap<String, Bound<'_, PyAny>>,
        >,
        #[pyo3(from_py_with = crate::errors::arg)] tenant_key_provider_tenants: Option<
            BTreeMap<String, Vec<String>>,
        >,
        rate_limit_url: Option<String>,
    ) -> PyResult<(Self, ServiceRole)> {
        let (g, s) = builder_from(
            key_provider,
            store,
            cache_max_tenants,
            cache_max_age_seconds,
            governance,
            clock,
            tenant_key_providers,
            tenant_key_provider_tenants,
            rate_limit_url.as_deref(),
        )?
        .build_with_service()
        .map_err(to_py)?;
        Ok((Self::new_inner(g), ServiceRole(s)))
    }

    /// The embedded default: key file `keys.json` and SQLite `tenantguard.db` in `directory`.
    #[classmethod]
    fn embedded(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        directory: std::path::PathBuf,
    ) -> PyResult<Self> {
        crate::runtime::detach(py, || tenantguard::Guard::embedded(&directory))
            .map(Self::new_inner)
            .map_err(to_py)
    }

    /// `Guard.embedded` and its service capability: `(guard, service)`.
    #[classmethod]
    fn embedded_with_service(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        directory: std::path::PathBuf,
    ) -> PyResult<(Self, ServiceRole)> {
        let (g, s) =
            crate::runtime::detach(py, || tenantguard::Guard::embedded_with_service(&directory))
                .map_err(to_py)?;
        Ok((Self::new_inner(g), ServiceRole(s)))
    }

    /// An in-memory guard with an ephemeral key (tests and throwaway data).
    #[classmethod]
    fn in_memory(_cls: &Bound<'_, PyType>) -> PyResult<Self> {
        in_memory_builder()
            .build()
            .map(Self::new_inner)
            .map_err(to_py)
    }

    /// `Guard.in_memory` and its service capability: `(guard, service)`.
    #[classmethod]
    fn in_memory_with_service(_cls: &Bound<'_, PyType>) -> PyResult<(Self, ServiceRole)> {
        let (g, s) = in_memory_builder().build_with_service().map_err(to_py)?;
        Ok((Self::new_inner(g), ServiceRole(s)))
    }

    /// Releases the store and key provider, and closes the `Egress` and `Revealer`
    /// objects built from this guard; later calls on any of them raise `ValueError`.
    fn close(&self) {
        self.handle.close();
    }

    /// Whether this guard was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Entering a closed guard raises `ClosedError` (a `with` block on it would fail later).
    fn __enter__(slf: Py<Self>) -> PyResult<Py<Self>> {
        slf.get().handle.get()?;
        Ok(slf)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        // Not the core's Debug: a Python repr names the Python type and its state only.
        if self.handle.is_closed() {
            "<tenantguard.Guard closed>".into()
        } else {
            "<tenantguard.Guard open>".into()
        }
    }

    /// Creates a tenant with a fresh data key; returns its key id (1).
    fn create_tenant(&self, py: Python<'_>, ctx: &TenantContext) -> PyResult<u32> {
        let ctx = &ctx.0;
        self.run(py, |g| async move {
            g.keys().create_tenant(ctx).await.map(|k| k.get())
        })
    }

    /// Seals `plaintext` for the context's tenant, bound to `context`.
    fn seal(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        context: &str,
        plaintext: &[u8],
    ) -> PyResult<SealedValue> {
        let ctx = &ctx.0;
        self.run(py, |g| async move {
            g.records().seal(ctx, context, plaintext).await
        })
        .map(SealedValue::wrap)
    }

    /// Opens a sealed value (a `SealedValue`, its text or its bytes). Service role only.
    fn open<'py>(
        &self,
        py: Python<'py>,
        ctx: &TenantContext,
        context: &str,
        sealed: SealedArg<'_, '_>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let ctx = &ctx.0;
        let plain = match sealed {
            // Parsed from `bytes` or `str` here: ours to decrypt in place.
            SealedArg::Parsed(value) => self.run(py, |g| async move {
                g.records().open_owned(ctx, context, value).await
            })?,
            SealedArg::Value(_) => {
                let value = sealed.get();
                self.run(py, |g| async move {
                    g.records().open(ctx, context, value).await
                })?
            }
        };
        Ok(PyBytes::new(py, plain.expose()))
    }

    /// Re-seals a value under the tenant's active key. Service role only.
    fn reseal(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        context: &str,
        sealed: SealedArg<'_, '_>,
    ) -> PyResult<SealedValue> {
        let ctx = &ctx.0;
        let value = sealed.get();
        self.run(py, |g| async move {
            g.records().reseal(ctx, context, value).await
        })
        .map(SealedValue::wrap)
    }

    /// Seals and stores a credential as record `record_id` (insert or replace).
    fn put_credential(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        record_id: &str,
        credential: &Credential,
    ) -> PyResult<()> {
        let (ctx, cred) = (&ctx.0, &credential.0);
        self.run(py, |g| async move {
            g.records().put_credential(ctx, record_id, cred).await
        })
    }

    /// Opens stored credential `record_id`. Service role only. Audited (`credential.open`),
    /// with `reason` (1 to 1024 bytes) when given.
    #[pyo3(signature = (ctx, record_id, *, reason=None))]
    fn open_credential(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        record_id: &str,
        reason: Option<&str>,
    ) -> PyResult<Credential> {
        let ctx = &ctx.0;
        self.run(py, |g| async move {
            match reason {
                Some(r) => {
                    g.records()
                        .open_credential_with_reason(ctx, record_id, r)
                        .await
                }
                None => g.records().open_credential(ctx, record_id).await,
            }
        })
        .map(Credential)
    }

    /// Seals and stores `plaintext` as record `record_id` of data class `data_class`.
    #[pyo3(signature = (ctx, record_id, data_class, plaintext, *, subject=None))]
    fn put_record(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        record_id: &str,
        data_class: &str,
        plaintext: &[u8],
        subject: Option<&str>,
    ) -> PyResult<()> {
        let ctx = &ctx.0;
        self.run(py, |g| async move {
            g.records()
                .put(ctx, record_id, data_class, subject, plaintext)
                .await
        })
    }

    /// Opens stored record `record_id`: returns `(data_class, plaintext)`. Service role only.
    /// Audited (`credential.open`), with `reason` (1 to 1024 bytes) when given.
    #[pyo3(signature = (ctx, record_id, *, reason=None))]
    fn open_record<'py>(
        &self,
        py: Python<'py>,
        ctx: &TenantContext,
        record_id: &str,
        reason: Option<&str>,
    ) -> PyResult<(String, Bound<'py, PyBytes>)> {
        let ctx = &ctx.0;
        let (class, plain) = self.run(py, |g| async move {
            match reason {
                Some(r) => g.records().open_record_with_reason(ctx, record_id, r).await,
                None => g.records().open_record(ctx, record_id).await,
            }
        })?;
        Ok((class, PyBytes::new(py, plain.expose())))
    }

    /// Deletes stored record `record_id`; returns whether it existed.
    fn delete_record(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        record_id: &str,
    ) -> PyResult<bool> {
        let ctx = &ctx.0;
        self.run(
            py,
            |g| async move { g.records().delete(ctx, record_id).await },
        )
    }

    /// The tenant's key versions (metadata only).
    fn key_versions(&self, py: Python<'_>, ctx: &TenantContext) -> PyResult<Vec<KeyInfo>> {
        let ctx = &ctx.0;
        let keys = self.run(py, |g| async move { g.keys().versions(ctx).await })?;
        Ok(keys.into_iter().map(KeyInfo::from).collect())
    }

    /// Adds `user` to the context's tenant with `role` or changes its role; returns the
    /// role it had (`None`: not a member). Admins manage non-owners, owners also owners;
    /// the last owner stays; the acting user's stored role counts. Audited.
    fn set_member(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        user: &str,
        role: &str,
    ) -> PyResult<Option<&'static str>> {
        let (ctx, user, role) = (
            &ctx.0,
            crate::types::user_id(user)?,
            crate::types::role(role)?,
        );
        self.run(py, |g| async move {
            g.members()
                .set(ctx, &user, role)
                .await
                .map(|r| r.map(tenantguard::tenant::Role::as_str))
        })
    }

    /// Removes `user` from the context's tenant and revokes its sessions there; returns
    /// whether it was a member. Audited.
    fn remove_member(&self, py: Python<'_>, ctx: &TenantContext, user: &str) -> PyResult<bool> {
        let (ctx, user) = (&ctx.0, crate::types::user_id(user)?);
        self.run(py, |g| async move { g.members().remove(ctx, &user).await })
    }

    /// `user`'s role in the context's tenant as stored now, `None` if not a member.
    fn member_role(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        user: &str,
    ) -> PyResult<Option<&'static str>> {
        let (ctx, user) = (&ctx.0, crate::types::user_id(user)?);
        self.run(py, |g| async move {
            g.members()
                .role(ctx, &user)
                .await
                .map(|r| r.map(tenantguard::tenant::Role::as_str))
        })
    }

    /// The tenant's members, user ids after `after` ascending, at most `limit`.
    #[pyo3(signature = (ctx, *, after=None, limit=1000))]
    fn members(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        after: Option<&str>,
        limit: usize,
    ) -> PyResult<Vec<crate::isolation::Membership>> {
        let ctx = &ctx.0;
        let after = after.map(crate::types::user_id).transpose()?;
        let list = self.run(py, |g| async move {
            g.members().list(ctx, after.as_ref(), limit).await
        })?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Marks `portal` (a host name; covers its subdomains) as SSO/MFA, or unmarks it:
    /// a password credential for a marked portal is then refused. Admin. Audited.
    fn mark_portal(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        portal: &str,
        sso_mfa: bool,
    ) -> PyResult<()> {
        let ctx = &ctx.0;
        self.run(py, |g| async move {
            g.portal().mark(ctx, portal, sso_mfa).await
        })
    }

    /// The marked name covering `portal` (itself or a parent domain), `None` if none.
    fn portal_mark(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        portal: &str,
    ) -> PyResult<Option<String>> {
        let ctx = &ctx.0;
        self.run(py, |g| async move { g.portal().mark_of(ctx, portal).await })
    }

    /// Stores a credential for `portal`; a password for a portal marked SSO/MFA is refused
    /// (`PermissionDeniedError`).
    fn put_portal_credential(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        record_id: &str,
        portal: &str,
        credential: &Credential,
    ) -> PyResult<()> {
        let (ctx, cred) = (&ctx.0, &credential.0);
        self.run(py, |g| async move {
            g.portal()
                .put_credential(ctx, record_id, portal, cred)
                .await
        })
    }

    /// Rotates the tenant's data key; returns the new key id.
    fn rotate_tenant_key(&self, py: Python<'_>, ctx: &TenantContext) -> PyResult<u32> {
        let ctx = &ctx.0;
        self.run(py, |g| async move {
            g.keys().rotate(ctx).await.map(|k| k.get())
        })
    }

    /// Moves stored records sealed under key `from_key_id` to the active key.
    ///
    /// `progress`, if given, is called with a `ReencryptReport` after each batch; an
    /// exception it raises is re-raised once the run ends. Returning `False` from it stops
    /// the job after that batch (`stopped` is then set).
    #[pyo3(signature = (ctx, from_key_id, *, batch_size=500, progress=None))]
    fn reencrypt(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        from_key_id: u32,
        batch_size: usize,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<ReencryptReport> {
        let (ctx, from) = (&ctx.0, key_id(from_key_id)?);
        let mut callback_err: Option<PyErr> = None;
        let each = progress_fn(py, progress.as_ref(), &mut callback_err, |r| {
            ReencryptReport::from(r)
        })?;
        let report = self.run(py, |g| async move {
            g.keys().reencrypt(ctx, from, batch_size, each).await
        })?;
        match callback_err {
            Some(e) => Err(e),
            None => Ok(ReencryptReport::from(&report)),
        }
    }

    /// Destroys decrypt-only key `key_id` once no stored record uses it.
    fn retire_key(&self, py: Python<'_>, ctx: &TenantContext, key_id: u32) -> PyResult<()> {
        let (ctx, id) = (&ctx.0, crate::types::key_id(key_id)?);
        self.run(py, |g| async move { g.keys().retire(ctx, id).await })
    }

    /// KEK rotation: re-wraps every tenant's data keys under the provider's current KEK.
    ///
    /// `progress`, if given, is called with the running `RewrapReport` after each batch of
    /// tenants; an exception it raises is re-raised once the run ends (it is not called
    /// again). Returning `False` from it stops the job after that batch.
    #[pyo3(signature = (service, *, start_after=None, batch_size=500, progress=None))]
    fn rewrap_tenant_keys(
        &self,
        py: Python<'_>,
        service: &ServiceRole,
        start_after: Option<&str>,
        batch_size: usize,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<RewrapReport> {
        let start = start_after.map(tenant_id).transpose()?;
        let svc = &service.0;
        let mut callback_err: Option<PyErr> = None;
        let report = progress_fn(py, progress.as_ref(), &mut callback_err, |r| {
            RewrapReport::from(r)
        })?;
        let r = self.run(py, |g| async move {
            g.keys().rewrap(svc, start, batch_size, report).await
        })?;
        match callback_err {
            Some(e) => Err(e),
            None => Ok(RewrapReport::from(&r)),
        }
    }

    /// Crypto-shreds the tenant: every value ever sealed for it becomes unreadable. Returns
    /// what the key providers destroyed, or could not (also in the audit entry).
    fn shred_tenant(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
    ) -> PyResult<crate::types::ShredReport> {
        let ctx = &ctx.0;
        self.run(py, |g| async move {
            g.keys()
                .shred(ctx)
                .await
                .map(|r| crate::types::ShredReport::from(&r))
        })
    }

    /// Key-cache counters.
    fn cache_stats(&self) -> PyResult<CacheStats> {
        Ok(CacheStats::from(self.get()?.cache_stats()))
    }
}

/// A core progress callback that calls Python `callback` with `convert(report)`. The
/// first exception it raises is kept in `err` (to raise once the core job ends) and the
/// callback is not called again.
fn in_memory_builder() -> tenantguard::GuardBuilder {
    // The same store keeps policies (portal marks, the v1 switch), as in `Guard(...)`.
    let store = std::sync::Arc::new(tenantguard::MemoryStore::new());
    tenantguard::Guard::builder()
        .key_provider(tenantguard::LocalKeyProvider::ephemeral())
        .store_arc(store.clone())
        .policy_store(store)
}

#[allow(clippy::too_many_arguments)]
fn builder_from(
    key_provider: &Bound<'_, PyAny>,
    store: &Bound<'_, PyAny>,
    cache_max_tenants: Option<usize>,
    cache_max_age_seconds: Option<f64>,
    governance: Option<PyRef<'_, crate::gov::GovernanceConfig>>,
    clock: Option<Py<PyAny>>,
    tenant_key_providers: Option<BTreeMap<String, Bound<'_, PyAny>>>,
    tenant_key_provider_tenants: Option<BTreeMap<String, Vec<String>>>,
    rate_limit_url: Option<&str>,
) -> PyResult<tenantguard::GuardBuilder> {
    let mut limits = CacheLimits::default();
    if let Some(n) = cache_max_tenants {
        limits.max_tenants = n;
    }
    if let Some(s) = cache_max_age_seconds {
        limits.max_age = Duration::try_from_secs_f64(s).map_err(|_| {
            crate::errors::invalid("cache_max_age_seconds must be a finite, non-negative number")
        })?;
    }
    let (records, policies) = stores_from(store)?;
    let mut b = tenantguard::Guard::builder()
        .key_provider_arc(provider_from(key_provider)?)
        .store_arc(records)
        .policy_store(policies)
        .cache_limits(limits);
    if let Some(g) = governance {
        b = b.governance(g.0.clone());
    }
    if let Some(c) = clock {
        // Checked now: a clock that cannot be called would only be reported as
        // unraisable, at every reading, while the system clock silently stands in.
        crate::errors::callable(store.py(), &c, "clock")?;
        b = b.clock(crate::gov::PyClock(c));
    }
    for (name, p) in tenant_key_providers.unwrap_or_default() {
        b = b.tenant_key_provider_arc(&name, provider_from(&p)?);
    }
    for (name, tenants) in tenant_key_provider_tenants.unwrap_or_default() {
        for t in tenants {
            b = b.allow_tenant_key_provider(&name, crate::types::tenant_id(&t)?);
        }
    }
    if let Some(url) = rate_limit_url {
        b = b.rate_limiter(shared_rate_limiter(url)?);
    }
    Ok(b)
}

/// The rate limiter every instance shares through PostgreSQL (the service role's
/// connection string of a migrated database), with the default policies.
#[cfg(feature = "postgres")]
fn shared_rate_limiter(url: &str) -> PyResult<tenantguard::ratelimit::RateLimiter> {
    use tenantguard::ratelimit::{Policies, PostgresLimiter, RateLimiter};
    let backend = PostgresLimiter::connect(url, 4)
        .map_err(|e| crate::errors::py_err(tenantguard::Error::from(e)))?;
    Ok(RateLimiter::with_backend(
        std::sync::Arc::new(backend),
        Policies::default(),
    ))
}

#[cfg(not(feature = "postgres"))]
fn shared_rate_limiter(_url: &str) -> PyResult<tenantguard::ratelimit::RateLimiter> {
    Err(crate::errors::invalid(
        "rate_limit_url needs a build with PostgreSQL support (the wheel has it)",
    ))
}

pub(crate) fn progress_fn<'a, R, T>(
    py: Python<'_>,
    callback: Option<&'a Py<PyAny>>,
    err: &'a mut Option<PyErr>,
    convert: impl Fn(&R) -> T + Send + 'a,
) -> PyResult<impl FnMut(&R) -> bool + Send + 'a>
where
    T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>>,
{
    // Refused before the job starts, not after it ran to the end.
    if let Some(cb) = callback {
        crate::errors::callable(py, cb, "progress")?;
    }
    // `False` (exactly, not any falsy value: a callback that returns nothing goes on)
    // stops the job; an exception is kept to re-raise and the job goes on, as before. A
    // `KeyboardInterrupt` or `SystemExit` (not an `Exception`) also stops the job: Ctrl-C
    // must not wait for the rest of a long run.
    Ok(move |r: &R| {
        let (Some(cb), None) = (callback, &*err) else {
            return true;
        };
        // Once the interpreter is shutting down the job stops (`runtime::callback`).
        crate::runtime::callback(|py| {
            match Py::new(py, convert(r)).and_then(|obj| cb.call1(py, (obj,))) {
                Ok(ret) => !ret
                    .bind(py)
                    .is(pyo3::types::PyBool::new(py, false).as_any()),
                Err(e) => {
                    let go_on = e.is_instance_of::<pyo3::exceptions::PyException>(py);
                    *err = Some(e);
                    go_on
                }
            }
        })
        .unwrap_or(false)
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Guard>()
}
