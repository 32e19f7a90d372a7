//! Value types: service role, tenant contexts, sealed values, credentials and reports.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use tenantguard::tenant::Resolved;
use tenantguard::{CredentialKind, KeyId, Role, SecretBytes, TenantId, UserId};

use crate::errors::{invalid, py_err};

/// The capability of trusted server-side code to act for any tenant and read plaintext.
/// It has no constructor: `Guard.with_service`, `Guard.embedded_with_service` and
/// `Guard.in_memory_with_service` hand it out once, bound to that guard's store.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct ServiceRole(pub(crate) tenantguard::ServiceRole);

#[pymethods]
impl ServiceRole {
    fn __repr__(&self) -> &'static str {
        "ServiceRole()"
    }
}

pub(crate) fn tenant_id(s: &str) -> PyResult<TenantId> {
    TenantId::new(s).map_err(py_err)
}

pub(crate) fn user_id(s: &str) -> PyResult<tenantguard::UserId> {
    tenantguard::UserId::new(s).map_err(py_err)
}

pub(crate) fn key_id(id: u32) -> PyResult<KeyId> {
    KeyId::new(id).map_err(py_err)
}

pub(crate) fn role(s: &str) -> PyResult<Role> {
    Role::parse(s).ok_or_else(|| {
        invalid(format!(
            "unknown role {s:?}: use viewer, member, admin or owner"
        ))
    })
}

/// A verified scope: one tenant and the principal acting in it.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct TenantContext(pub(crate) tenantguard::TenantContext);

#[pymethods]
impl TenantContext {
    /// A service-role scope for `tenant`.
    #[classmethod]
    fn service(_cls: &Bound<'_, PyType>, tenant: &str, service: &ServiceRole) -> PyResult<Self> {
        Ok(TenantContext(tenantguard::TenantContext::service(
            tenant_id(tenant)?,
            &service.0,
        )))
    }

    /// A user scope vouched for by the application's own resolver (after authentication).
    /// Vouching needs the service capability: code holding only a guard or a user
    /// context cannot make one.
    #[classmethod]
    fn resolved(
        _cls: &Bound<'_, PyType>,
        service: &ServiceRole,
        tenant: &str,
        user: &str,
        role_name: &str,
    ) -> PyResult<Self> {
        let user = UserId::new(user).map_err(py_err)?;
        Ok(TenantContext(tenantguard::TenantContext::resolved(
            Resolved::vouch(&service.0, tenant_id(tenant)?, user, role(role_name)?),
        )))
    }

    /// `"user"`, `"agent"` or `"service"`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind().as_str()
    }

    /// The acting agent (a verified token's), or `None`.
    #[getter]
    fn agent(&self) -> Option<&str> {
        self.0.agent_grant().map(|g| g.agent.as_str())
    }

    #[getter]
    fn tenant(&self) -> &str {
        self.0.tenant().as_str()
    }

    #[getter]
    fn is_service(&self) -> bool {
        self.0.is_service()
    }

    /// The user acting, or `None` for the service role.
    #[getter]
    fn user(&self) -> Option<&str> {
        self.0.user().map(UserId::as_str)
    }

    /// The user's role (`viewer`, `member`, `admin`, `owner`), or `None` for the service role.
    #[getter]
    fn role(&self) -> Option<&'static str> {
        match self.0.principal() {
            tenantguard::Principal::User { role, .. } => Some(role.as_str()),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        match self.0.principal() {
            tenantguard::Principal::Service => format!(
                "TenantContext(tenant={:?}, principal='service')",
                self.0.tenant().as_str()
            ),
            tenantguard::Principal::User { user, role } => {
                format!(
                    "TenantContext(tenant={:?}, user={:?}, role='{role}')",
                    self.0.tenant().as_str(),
                    user.as_str()
                )
            }
            tenantguard::Principal::Agent(g) => format!(
                "TenantContext(tenant={:?}, agent={:?})",
                self.0.tenant().as_str(),
                g.agent.as_str()
            ),
        }
    }
}

/// A sealed value: binary form (`bytes(v)`) or text form `tg2:<keyId>:<base64url>` (or `tg1:` for format v1) (`str(v)`).
#[pyclass(module = "tenantguard", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct SealedValue(pub(crate) HashableSealed);

/// `SealedValue` with `Hash` over its bytes.
#[derive(PartialEq, Eq)]
pub(crate) struct HashableSealed(pub(crate) tenantguard::SealedValue);

impl std::hash::Hash for HashableSealed {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state)
    }
}

impl SealedValue {
    pub(crate) fn wrap(v: tenantguard::SealedValue) -> Self {
        SealedValue(HashableSealed(v))
    }

    pub(crate) fn inner(&self) -> &tenantguard::SealedValue {
        &self.0 .0
    }
}

#[pymethods]
impl SealedValue {
    /// Parses the text form.
    #[classmethod]
    fn parse(_cls: &Bound<'_, PyType>, text: &str) -> PyResult<Self> {
        tenantguard::SealedValue::parse(text)
            .map(Self::wrap)
            .map_err(py_err)
    }

    /// Parses the binary form.
    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, data: &[u8]) -> PyResult<Self> {
        tenantguard::SealedValue::from_bytes(data)
            .map(Self::wrap)
            .map_err(py_err)
    }

    fn to_text(&self) -> String {
        self.inner().to_text()
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner().as_bytes())
    }

    #[getter]
    fn version(&self) -> u8 {
        self.inner().version()
    }

    #[getter]
    fn key_id(&self) -> u32 {
        self.inner().key_id().get()
    }

    #[getter]
    fn plaintext_len(&self) -> usize {
        self.inner().plaintext_len()
    }

    fn __str__(&self) -> String {
        self.inner().to_text()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.to_bytes(py)
    }

    fn __len__(&self) -> usize {
        self.inner().as_bytes().len()
    }

    fn __repr__(&self) -> String {
        format!(
            "SealedValue(version={}, key_id={}, len={})",
            self.version(),
            self.key_id(),
            self.__len__()
        )
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let from_bytes = slf.get_type().getattr("from_bytes")?;
        Ok((from_bytes, (slf.get().to_bytes(slf.py()),)))
    }
}

/// Accepts a `SealedValue`, its text form (`str`) or its binary form (`bytes`).
pub(crate) enum SealedArg<'a, 'py> {
    Value(Borrowed<'a, 'py, SealedValue>),
    Parsed(tenantguard::SealedValue),
}

impl<'a, 'py> FromPyObject<'a, 'py> for SealedArg<'a, 'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(v) = obj.cast::<SealedValue>() {
            return Ok(SealedArg::Value(v));
        }
        if let Ok(s) = obj.cast::<pyo3::types::PyString>() {
            return tenantguard::SealedValue::parse(s.to_str()?)
                .map(SealedArg::Parsed)
                .map_err(py_err);
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return tenantguard::SealedValue::from_bytes(b.as_bytes())
                .map(SealedArg::Parsed)
                .map_err(py_err);
        }
        Err(crate::errors::wrong_type(format!(
            "expected SealedValue, str or bytes, got {}",
            obj.get_type().name()?
        )))
    }
}

impl SealedArg<'_, '_> {
    pub(crate) fn get(&self) -> &tenantguard::SealedValue {
        match self {
            SealedArg::Value(v) => v.get().inner(),
            SealedArg::Parsed(v) => v,
        }
    }
}

/// Secret bytes given as `bytes` or `str` (encoded as UTF-8).
pub(crate) fn secret_from(obj: &Bound<'_, PyAny>) -> PyResult<SecretBytes> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(SecretBytes::from_slice(b.as_bytes()));
    }
    if let Ok(s) = obj.cast::<pyo3::types::PyString>() {
        return Ok(SecretBytes::from_slice(s.to_str()?.as_bytes()));
    }
    Err(crate::errors::wrong_type(format!(
        "expected bytes or str, got {}",
        obj.get_type().name()?
    )))
}

/// A customer credential: its kind and its secret. `repr` never shows the secret.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct Credential(pub(crate) tenantguard::Credential);

fn credential_kind(s: &str) -> PyResult<CredentialKind> {
    CredentialKind::parse(s).ok_or_else(|| {
        let names: Vec<_> = CredentialKind::ALL.iter().map(|k| k.as_str()).collect();
        invalid(format!(
            "unknown credential kind {s:?}: use one of {}",
            names.join(", ")
        ))
    })
}

#[pymethods]
impl Credential {
    #[new]
    fn new(
        #[pyo3(from_py_with = crate::errors::arg)] kind: &str,
        secret: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        Ok(Credential(tenantguard::Credential::new(
            credential_kind(kind)?,
            secret_from(secret)?,
        )))
    }

    #[classmethod]
    fn password(_cls: &Bound<'_, PyType>, secret: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Credential(tenantguard::Credential::password(secret_from(
            secret,
        )?)))
    }

    #[classmethod]
    fn api_token(_cls: &Bound<'_, PyType>, secret: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Credential(tenantguard::Credential::api_token(secret_from(
            secret,
        )?)))
    }

    #[classmethod]
    fn totp_seed(_cls: &Bound<'_, PyType>, secret: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Credential(tenantguard::Credential::totp_seed(secret_from(
            secret,
        )?)))
    }

    #[classmethod]
    fn session_cookie(_cls: &Bound<'_, PyType>, secret: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Credential(tenantguard::Credential::session_cookie(
            secret_from(secret)?,
        )))
    }

    #[classmethod]
    fn generic(_cls: &Bound<'_, PyType>, secret: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Credential(tenantguard::Credential::generic(secret_from(
            secret,
        )?)))
    }

    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind().as_str()
    }

    /// The secret bytes. Keep them short-lived and never log them.
    fn expose<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.secret().expose())
    }

    fn __len__(&self) -> usize {
        self.0.secret().len()
    }

    fn __repr__(&self) -> String {
        format!("Credential(kind='{}', secret=[REDACTED])", self.0.kind())
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(crate::errors::wrong_type(
            "a Credential holds a secret and cannot be pickled",
        ))
    }
}

/// Metadata of one key version (no key material).
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct KeyInfo {
    key_id: u32,
    state: &'static str,
    kek_id: String,
    created_at: i64,
}

impl From<tenantguard::KeyInfo> for KeyInfo {
    fn from(k: tenantguard::KeyInfo) -> Self {
        KeyInfo {
            key_id: k.key_id.get(),
            state: k.state.as_str(),
            kek_id: k.kek_id,
            created_at: k.created_at,
        }
    }
}

#[pymethods]
impl KeyInfo {
    fn __repr__(&self) -> String {
        format!(
            "KeyInfo(key_id={}, state='{}', kek_id={:?}, created_at={})",
            self.key_id, self.state, self.kek_id, self.created_at
        )
    }
}

/// Progress and outcome of a re-encryption run.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct ReencryptReport {
    moved: u64,
    raced: u64,
    failed: Vec<String>,
    remaining: u64,
    stopped: bool,
}

impl From<&tenantguard::ReencryptReport> for ReencryptReport {
    fn from(r: &tenantguard::ReencryptReport) -> Self {
        ReencryptReport {
            moved: r.moved,
            raced: r.raced,
            failed: r.failed.clone(),
            remaining: r.remaining,
            stopped: r.stopped,
        }
    }
}

#[pymethods]
impl ReencryptReport {
    fn __repr__(&self) -> String {
        format!(
            "ReencryptReport(moved={}, raced={}, failed={:?}, remaining={})",
            self.moved, self.raced, self.failed, self.remaining
        )
    }
}

/// What crypto-shredding a tenant destroyed, provider by provider (docs/SECURITY.md).
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct ShredReport {
    /// True when a database backup taken before the shred can no longer open anything.
    backups_unreadable: bool,
    /// One `name:outcome` per provider (as in the `tenant.shred` audit entry).
    summary: String,
    /// Key versions wrapped under a shared KEK alone (a backup of them opens while it exists).
    shared_kek_keys: Vec<u32>,
}

impl From<&tenantguard::kms::ShredReport> for ShredReport {
    fn from(r: &tenantguard::kms::ShredReport) -> Self {
        ShredReport {
            backups_unreadable: r.backups_unreadable(),
            summary: r.summary(),
            shared_kek_keys: r.shared_kek_keys.iter().map(|k| k.get()).collect(),
        }
    }
}

#[pymethods]
impl ShredReport {
    fn __repr__(&self) -> String {
        format!(
            "ShredReport(backups_unreadable={}, summary={:?}, shared_kek_keys={:?})",
            if self.backups_unreadable {
                "True"
            } else {
                "False"
            },
            self.summary,
            self.shared_kek_keys
        )
    }
}

/// Progress and outcome of a KEK-rotation (re-wrap) run.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct RewrapReport {
    tenants: u64,
    rewrapped: u64,
    current: u64,
    last_tenant: Option<String>,
    stopped: bool,
}

impl From<&tenantguard::RewrapReport> for RewrapReport {
    fn from(r: &tenantguard::RewrapReport) -> Self {
        RewrapReport {
            tenants: r.tenants,
            rewrapped: r.rewrapped,
            current: r.current,
            last_tenant: r.last_tenant.as_ref().map(|t| t.as_str().to_owned()),
            stopped: r.stopped,
        }
    }
}

#[pymethods]
impl RewrapReport {
    fn __repr__(&self) -> String {
        format!(
            "RewrapReport(tenants={}, rewrapped={}, current={}, last_tenant={})",
            self.tenants,
            self.rewrapped,
            self.current,
            crate::gov::opt(&self.last_tenant)
        )
    }
}

/// Key-cache counters.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct CacheStats {
    hits: u64,
    loads: u64,
    evictions: u64,
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

#[pymethods]
impl CacheStats {
    fn __repr__(&self) -> String {
        format!(
            "CacheStats(hits={}, loads={}, evictions={})",
            self.hits, self.loads, self.evictions
        )
    }
}

/// What a wrapped data key is bound to; handed to Python key providers.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct WrapContext {
    tenant: String,
    key_id: u32,
    aad: Vec<u8>,
    pairs: Vec<(&'static str, String)>,
}

impl From<&tenantguard::kms::WrapContext> for WrapContext {
    fn from(c: &tenantguard::kms::WrapContext) -> Self {
        WrapContext {
            tenant: c.tenant.as_str().to_owned(),
            key_id: c.key_id.get(),
            aad: c.aad(),
            pairs: c.pairs().into(),
        }
    }
}

#[pymethods]
impl WrapContext {
    fn __repr__(&self) -> String {
        format!(
            "WrapContext(tenant={:?}, key_id={})",
            self.tenant, self.key_id
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ServiceRole>()?;
    m.add_class::<TenantContext>()?;
    m.add_class::<SealedValue>()?;
    m.add_class::<Credential>()?;
    m.add_class::<KeyInfo>()?;
    m.add_class::<ReencryptReport>()?;
    m.add_class::<RewrapReport>()?;
    m.add_class::<ShredReport>()?;
    m.add_class::<CacheStats>()?;
    m.add_class::<WrapContext>()?;
    Ok(())
}
