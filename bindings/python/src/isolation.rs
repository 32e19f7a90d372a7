//! Isolation: memberships and roles (`MemoryDirectory`, `DirectoryResolver`, directories
//! implemented in Python), write-only credentials opened through a `Revealer`, and TOTP
//! codes derived from a sealed seed.

use std::sync::Arc;

use pyo3::prelude::*;
use tenantguard::reveal::{OpenEvent as CoreOpenEvent, OpenKind, OpenObserver};
use tenantguard::tenant::{Directory, TenantError};
use tenantguard::totp::{SeedEncoding, TotpAlgorithm, TotpParams};
use tenantguard::{Principal, Role, TenantId, UserId};

use crate::errors::{foreign_message, invalid, py_err, to_py};
use crate::guard::Guard;
use crate::handle::Dependent;
use crate::runtime::SHUTTING_DOWN;
use crate::types::{role, tenant_id, Credential, ServiceRole, TenantContext};

fn user_id(s: &str) -> PyResult<UserId> {
    UserId::new(s).map_err(py_err)
}

/// One user's role in one tenant.
#[pyclass(module = "tenantguard", frozen, get_all, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct Membership {
    tenant: String,
    user: String,
    role: &'static str,
}

impl From<tenantguard::tenant::Membership> for Membership {
    fn from(m: tenantguard::tenant::Membership) -> Self {
        Membership {
            tenant: m.tenant.as_str().to_owned(),
            user: m.user.as_str().to_owned(),
            role: m.role.as_str(),
        }
    }
}

#[pymethods]
impl Membership {
    fn __repr__(&self) -> String {
        format!(
            "Membership(tenant={:?}, user={:?}, role={:?})",
            self.tenant, self.user, self.role
        )
    }
}

/// An in-memory membership directory: personal tenants and organizations, with
/// role-checked changes (admins manage viewers, members and admins; owners manage owners).
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct MemoryDirectory(Arc<tenantguard::tenant::MemoryDirectory>);

#[pymethods]
impl MemoryDirectory {
    #[new]
    fn new() -> Self {
        MemoryDirectory(Arc::new(tenantguard::tenant::MemoryDirectory::new()))
    }

    /// Registers `tenant` with its first owner (service role); raises
    /// `PermissionDeniedError` if it already has members.
    fn create(&self, service: &ServiceRole, tenant: &str, owner: &str) -> PyResult<()> {
        self.0
            .create(&service.0, &tenant_id(tenant)?, &user_id(owner)?)
            .map_err(py_err)
    }

    /// Adds or changes a member of the context's tenant.
    fn set_member(&self, ctx: &TenantContext, user: &str, role: &str) -> PyResult<()> {
        self.0
            .set_member(&ctx.0, &user_id(user)?, self::role(role)?)
            .map_err(py_err)
    }

    /// Removes a member of the context's tenant; returns whether it was one.
    fn remove_member(&self, ctx: &TenantContext, user: &str) -> PyResult<bool> {
        self.0
            .remove_member(&ctx.0, &user_id(user)?)
            .map_err(py_err)
    }

    /// The user's role in `tenant`, or `None`.
    fn role_of(&self, py: Python<'_>, user: &str, tenant: &str) -> PyResult<Option<&'static str>> {
        let (u, t) = (user_id(user)?, tenant_id(tenant)?);
        let r = crate::runtime::detach(py, || crate::runtime::block_on(self.0.role_of(&u, &t)))?
            .map_err(py_err)?;
        Ok(r.map(Role::as_str))
    }

    /// Every membership of `user`, by tenant id.
    fn memberships_of(&self, py: Python<'_>, user: &str) -> PyResult<Vec<Membership>> {
        let u = user_id(user)?;
        let list =
            crate::runtime::detach(py, || crate::runtime::block_on(self.0.memberships_of(&u)))?
                .map_err(py_err)?;
        Ok(list.into_iter().map(Membership::from).collect())
    }

    fn __repr__(&self) -> &'static str {
        "MemoryDirectory()"
    }
}

/// A directory implemented in Python: `role_of(user, tenant) -> str | None` and
/// `memberships_of(user) -> iterable of (tenant, role)`. An exception it raises becomes a
/// directory failure (`StoreError`), never an access grant.
struct PyDirectory(Py<PyAny>);

fn foreign(py: Python<'_>, e: PyErr) -> TenantError {
    TenantError::Directory(foreign_message(py, &e))
}

fn parse_role(s: &str) -> Result<Role, TenantError> {
    Role::parse(s).ok_or_else(|| {
        TenantError::Directory(format!("the directory returned an unknown role {s:?}"))
    })
}

#[async_trait::async_trait]
impl Directory for PyDirectory {
    async fn role_of(&self, user: &UserId, tenant: &TenantId) -> Result<Option<Role>, TenantError> {
        let r: Option<String> = crate::runtime::callback(|py| {
            self.0
                .call_method1(py, "role_of", (user.as_str(), tenant.as_str()))
                .and_then(|r| r.extract(py))
                .map_err(|e| foreign(py, e))
        })
        .unwrap_or_else(|| Err(TenantError::Directory(SHUTTING_DOWN.into())))?;
        r.as_deref().map(parse_role).transpose()
    }

    async fn memberships_of(
        &self,
        user: &UserId,
    ) -> Result<Vec<tenantguard::tenant::Membership>, TenantError> {
        let list: Vec<(String, String)> = crate::runtime::callback(|py| {
            self.0
                .call_method1(py, "memberships_of", (user.as_str(),))
                .and_then(|r| r.extract(py))
                .map_err(|e| foreign(py, e))
        })
        .unwrap_or_else(|| Err(TenantError::Directory(SHUTTING_DOWN.into())))?;
        list.into_iter()
            .map(|(t, r)| {
                Ok(tenantguard::tenant::Membership {
                    tenant: TenantId::new(t)?,
                    user: user.clone(),
                    role: parse_role(&r)?,
                })
            })
            .collect()
    }
}

/// Resolves an authenticated user id to a `TenantContext`, taking the role from a
/// directory (never from the request): a `MemoryDirectory`, a `PostgresStore`, or a Python
/// object with `role_of(user, tenant)` and `memberships_of(user)`.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct DirectoryResolver(tenantguard::tenant::DirectoryResolver<Arc<dyn Directory>>);

#[pymethods]
impl DirectoryResolver {
    /// Vouching for users needs the service capability (`service`).
    #[new]
    fn new(
        directory: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = crate::errors::arg)] service: PyRef<'_, crate::types::ServiceRole>,
    ) -> PyResult<Self> {
        #[cfg(feature = "postgres")]
        if let Ok(p) = directory.cast::<crate::provider::PostgresStore>() {
            let d: Arc<dyn Directory> = p.get().0.clone();
            return Ok(DirectoryResolver(
                tenantguard::tenant::DirectoryResolver::new(d, &service.0),
            ));
        }
        let d: Arc<dyn Directory> = if let Ok(d) = directory.cast::<MemoryDirectory>() {
            d.get().0.clone()
        } else {
            for m in ["role_of", "memberships_of"] {
                if !directory.hasattr(m)? {
                    return Err(crate::errors::wrong_type(format!(
                        "directory must be MemoryDirectory, PostgresStore or implement role_of and memberships_of; {} has no {m}",
                        directory.get_type().name()?
                    )));
                }
            }
            Arc::new(PyDirectory(directory.clone().unbind()))
        };
        Ok(DirectoryResolver(
            tenantguard::tenant::DirectoryResolver::new(d, &service.0),
        ))
    }

    /// The user's scope in `tenant`; raises `PermissionDeniedError` if not a member.
    fn resolve(&self, py: Python<'_>, user: &str, tenant: &str) -> PyResult<TenantContext> {
        use tenantguard::TenantResolver;
        let (u, t) = (user_id(user)?, tenant_id(tenant)?);
        crate::runtime::detach(py, || crate::runtime::block_on(self.0.resolve(&u, &t)))?
            .map(|r| TenantContext(tenantguard::TenantContext::resolved(r)))
            .map_err(py_err)
    }

    /// Every scope the user can act in (personal tenant and organizations), one per tenant.
    fn visible_scopes(&self, py: Python<'_>, user: &str) -> PyResult<Vec<TenantContext>> {
        let u = user_id(user)?;
        let list =
            crate::runtime::detach(py, || crate::runtime::block_on(self.0.visible_scopes(&u)))?
                .map_err(py_err)?;
        Ok(list.into_iter().map(TenantContext).collect())
    }

    fn __repr__(&self) -> &'static str {
        "DirectoryResolver()"
    }
}

/// One open of a credential, given to a `Revealer`'s observer: who, what, why, when.
/// Holds no secret.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct OpenEvent {
    tenant: String,
    principal: String,
    record: String,
    kind: &'static str,
    purpose: String,
    at: i64,
}

impl From<&CoreOpenEvent> for OpenEvent {
    fn from(e: &CoreOpenEvent) -> Self {
        OpenEvent {
            tenant: e.tenant.as_str().to_owned(),
            principal: match &e.principal {
                Principal::Service => "service".to_owned(),
                Principal::User { user, .. } => format!("user:{user}"),
                Principal::Agent(g) => format!("agent:{}", g.agent),
            },
            record: e.record.clone(),
            kind: match e.kind {
                OpenKind::Reveal => "reveal",
                OpenKind::TotpCode => "totp_code",
            },
            purpose: e.purpose.clone(),
            at: e.at,
        }
    }
}

#[pymethods]
impl OpenEvent {
    fn __repr__(&self) -> String {
        format!(
            "OpenEvent(tenant={:?}, principal={:?}, record={:?}, kind={:?}, purpose={:?}, at={})",
            self.tenant, self.principal, self.record, self.kind, self.purpose, self.at
        )
    }
}

/// A Python callable observing opens; an exception it raises refuses the open.
struct PyObserver(Py<PyAny>);

impl OpenObserver for PyObserver {
    fn record(&self, event: &CoreOpenEvent) -> Result<(), String> {
        crate::runtime::callback(|py| {
            self.0
                .call1(py, (OpenEvent::from(event),))
                .map(|_| ())
                .map_err(|e| foreign_message(py, &e))
        })
        .unwrap_or_else(|| Err(SHUTTING_DOWN.into()))
    }
}

/// A one-time code. `repr` never shows it; `expose()` does.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct TotpCode(tenantguard::totp::TotpCode);

#[pymethods]
impl TotpCode {
    /// The code's digits.
    fn expose(&self) -> &str {
        self.0.as_str()
    }

    fn __len__(&self) -> usize {
        self.0.as_str().len()
    }

    fn __repr__(&self) -> &'static str {
        "TotpCode([REDACTED])"
    }

    fn __str__(&self) -> &'static str {
        "TotpCode([REDACTED])"
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(crate::errors::wrong_type(
            "a TotpCode is a secret and cannot be pickled",
        ))
    }
}

fn totp_params(algorithm: &str, digits: u32, period: u64, encoding: &str) -> PyResult<TotpParams> {
    Ok(TotpParams {
        algorithm: match algorithm {
            "sha1" => TotpAlgorithm::Sha1,
            "sha256" => TotpAlgorithm::Sha256,
            "sha512" => TotpAlgorithm::Sha512,
            _ => {
                return Err(invalid(format!(
                    "unknown algorithm {algorithm:?}: use sha1, sha256 or sha512"
                )))
            }
        },
        digits,
        period,
        encoding: match encoding {
            "base32" => SeedEncoding::Base32,
            "raw" => SeedEncoding::Raw,
            _ => {
                return Err(invalid(format!(
                    "unknown seed encoding {encoding:?}: use base32 or raw"
                )))
            }
        },
    })
}

/// Opens write-only credentials for server-side code and derives TOTP codes from sealed
/// seeds, calling `observer(OpenEvent)` before each use; if it raises, nothing is opened.
/// Closed with its guard (or by `close()`, or when a `with` block ends); later calls
/// raise `ClosedError` (a `ValueError`).
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct Revealer(Dependent<tenantguard::reveal::Revealer>);

#[pymethods]
impl Revealer {
    #[new]
    fn new(
        #[pyo3(from_py_with = crate::errors::arg)] guard: PyRef<'_, Guard>,
        observer: Py<PyAny>,
    ) -> PyResult<Self> {
        crate::errors::callable(guard.py(), &observer, "observer")?;
        guard
            .handle()
            .dependent("Revealer", |g| {
                Ok(tenantguard::reveal::Revealer::new(
                    g,
                    Arc::new(PyObserver(observer)),
                ))
            })
            .map(Revealer)
    }

    /// Releases this object's share of the guard's store and key provider; later calls
    /// raise `ClosedError` (a `ValueError`). The guard itself stays open.
    fn close(&self) {
        self.0.close()
    }

    /// Whether this object (or its guard) was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Entering a closed `Revealer` raises `ClosedError`.
    fn __enter__(slf: Py<Self>) -> PyResult<Py<Self>> {
        slf.get().0.get()?;
        Ok(slf)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.0.close();
        false
    }

    /// Opens stored credential `record_id` for `purpose`. Service role only; recorded first.
    fn open_credential(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        record_id: &str,
        purpose: &str,
    ) -> PyResult<Credential> {
        let (r, ctx) = (&self.0.get()?, &ctx.0);
        let _scope = self.0.enter()?;
        crate::runtime::detach(py, || {
            crate::runtime::block_on(r.open_credential(ctx, record_id, purpose))
        })?
        .map(Credential)
        .map_err(to_py)
    }

    /// The RFC 6238 code at `unix_time` (default: the guard's clock now) from stored `totp_seed` credential
    /// `record_id`. Member role or service role; the seed is never returned.
    #[pyo3(signature = (ctx, record_id, purpose, *, unix_time=None, digits=6, period=30, algorithm="sha1", encoding="base32"))]
    #[allow(clippy::too_many_arguments)]
    fn totp_code(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        record_id: &str,
        purpose: &str,
        unix_time: Option<u64>,
        digits: u32,
        period: u64,
        algorithm: &str,
        encoding: &str,
    ) -> PyResult<TotpCode> {
        let params = totp_params(algorithm, digits, period, encoding)?;
        let (r, ctx) = (&self.0.get()?, &ctx.0);
        let _scope = self.0.enter()?;
        // Without a time, the guard's own clock (a custom `clock=` included), never the
        // system's: the core accepts only that clock's step plus or minus one.
        crate::runtime::detach(py, || {
            crate::runtime::block_on(async {
                match unix_time {
                    Some(t) => r.totp_code(ctx, record_id, &params, t, purpose).await,
                    None => r.totp_code_now(ctx, record_id, &params, purpose).await,
                }
            })
        })?
        .map(TotpCode)
        .map_err(to_py)
    }

    fn __repr__(&self) -> String {
        self.0.repr()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Membership>()?;
    m.add_class::<MemoryDirectory>()?;
    m.add_class::<DirectoryResolver>()?;
    m.add_class::<OpenEvent>()?;
    m.add_class::<TotpCode>()?;
    m.add_class::<Revealer>()?;
    Ok(())
}
