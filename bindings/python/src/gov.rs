//! Governance: agent tokens, the audit log, retention and erasure, passwords and sessions.
//!
//! Type conversion only: every method calls the core `Guard` method of the same name.

use std::collections::BTreeMap;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tenantguard::audit::{AuditAction, AuditEvent, VerifyOptions, VerifyReport};
use tenantguard::auth::{PasswordParams, SessionConfig};
use tenantguard::store::RetentionWindow;
use tenantguard::tokens::{Action, TokenConfig, TokenSecret, TokenSpec};
use tenantguard::UserId;

use crate::errors::{invalid, py_err, to_py};
use crate::guard::{progress_fn, Guard};
use crate::types::{secret_from, tenant_id, ServiceRole, TenantContext};

/// An optional value as Python prints it (`None`, or the value).
/// A bool as Python writes it (`True`/`False`), for a `repr`.
pub(crate) fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

pub(crate) fn opt<T: std::fmt::Debug>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "None".to_owned(), |v| format!("{v:?}"))
}

fn user_id(s: &str) -> PyResult<UserId> {
    UserId::new(s).map_err(py_err)
}

fn limit_class(s: &str) -> PyResult<tenantguard::ratelimit::ActionClass> {
    tenantguard::ratelimit::ActionClass::parse(s)
        .ok_or_else(|| invalid(format!("unknown rate-limit class {s:?}")))
}

fn action(s: &str) -> PyResult<Action> {
    match s {
        "read" => Ok(Action::Read),
        "write" => Ok(Action::Write),
        "delete" => Ok(Action::Delete),
        "admin" => Ok(Action::Admin),
        _ => Err(invalid(format!(
            "unknown action {s:?}: use read, write, delete or admin"
        ))),
    }
}

fn audit_action(s: &str) -> PyResult<AuditAction> {
    AuditAction::parse(s).ok_or_else(|| {
        let names: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        invalid(format!(
            "unknown audit action {s:?}: use one of {}",
            names.join(", ")
        ))
    })
}

fn secs(name: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| invalid(format!("{name} must be a finite, non-negative number")))
}

/// Unix seconds from a clock's `int`, or from a finite `float` such as `time.time()`
/// returns (rounded down).
fn unix_seconds(v: &Bound<'_, PyAny>) -> PyResult<i64> {
    if let Ok(f) = v.cast::<pyo3::types::PyFloat>() {
        let secs = f.value().floor();
        // Well inside i64 (and inside any date the core accepts), so the cast is exact.
        return if (-1e15..1e15).contains(&secs) {
            Ok(secs as i64)
        } else {
            Err(pyo3::exceptions::PyValueError::new_err(format!(
                "the clock returned {}: not Unix seconds",
                f.value()
            )))
        };
    }
    v.extract::<i64>()
}

/// A clock implemented in Python: a callable returning Unix seconds (`int` or `float`).
///
/// If the callable raises, the exception is reported as unraisable and the system clock
/// is used for that reading (a clock cannot fail in the core); a `KeyboardInterrupt` or
/// `SystemExit` is raised when the call returns instead.
pub(crate) struct PyClock(pub(crate) Py<PyAny>);

impl tenantguard::Clock for PyClock {
    fn now_unix(&self) -> i64 {
        // The system clock stands in once the interpreter is shutting down, as for a
        // clock that raises (`runtime::callback`).
        crate::runtime::callback(|py| {
            match self.0.call0(py).and_then(|r| unix_seconds(r.bind(py))) {
                Ok(t) => Some(t),
                Err(e) => {
                    if !crate::errors::keep_interrupt(py, &e) {
                        e.write_unraisable(py, Some(self.0.bind(py)));
                    }
                    None
                }
            }
        })
        .flatten()
        .unwrap_or_else(|| tenantguard::Clock::now_unix(&tenantguard::SystemClock))
    }
}

/// Token and session settings of a `Guard`. `repr` never shows the session signing key.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct GovernanceConfig(pub(crate) tenantguard::GovernanceConfig);

#[pymethods]
impl GovernanceConfig {
    /// `session_signing_key` (32 to 1024 bytes) makes access tokens survive restarts and
    /// work across processes; without it each `Guard` draws a random key.
    #[new]
    #[pyo3(signature = (*, token_prefix="tg", token_cache_ttl_seconds=10.0, token_cache_capacity=10_000, session_signing_key=None, access_ttl_seconds=900, refresh_ttl_seconds=1_209_600, max_session_lifetime_seconds=2_592_000, refresh_prefix="tgr"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        #[pyo3(from_py_with = crate::errors::arg)] token_prefix: &str,
        #[pyo3(from_py_with = crate::errors::arg)] token_cache_ttl_seconds: f64,
        #[pyo3(from_py_with = crate::errors::arg)] token_cache_capacity: usize,
        session_signing_key: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = crate::errors::arg)] access_ttl_seconds: i64,
        #[pyo3(from_py_with = crate::errors::arg)] refresh_ttl_seconds: i64,
        #[pyo3(from_py_with = crate::errors::arg)] max_session_lifetime_seconds: i64,
        #[pyo3(from_py_with = crate::errors::arg)] refresh_prefix: &str,
    ) -> PyResult<Self> {
        Ok(GovernanceConfig(tenantguard::GovernanceConfig {
            tokens: TokenConfig {
                prefix: token_prefix.to_owned(),
                cache_ttl: secs("token_cache_ttl_seconds", token_cache_ttl_seconds)?,
                cache_capacity: token_cache_capacity,
            },
            sessions: SessionConfig {
                signing_key: session_signing_key.map(secret_from).transpose()?,
                access_ttl_secs: access_ttl_seconds,
                refresh_ttl_secs: refresh_ttl_seconds,
                max_lifetime_secs: max_session_lifetime_seconds,
                refresh_prefix: refresh_prefix.to_owned(),
            },
        }))
    }

    fn __repr__(&self) -> String {
        let (t, s) = (&self.0.tokens, &self.0.sessions);
        format!(
            "GovernanceConfig(token_prefix={:?}, session_signing_key={}, access_ttl_seconds={}, refresh_ttl_seconds={})",
            t.prefix,
            if s.signing_key.is_some() { "[REDACTED]" } else { "None" },
            s.access_ttl_secs,
            s.refresh_ttl_secs
        )
    }
}

/// One permission of an agent token: `action` (read, write, delete, admin) on a resource
/// pattern (`"runs/42"`, `"runs/*"` or `"*"`).
#[pyclass(module = "tenantguard", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scope(pub(crate) tenantguard::tokens::Scope);

#[pymethods]
impl Scope {
    #[new]
    #[pyo3(signature = (resource, action="read"))]
    fn new(
        #[pyo3(from_py_with = crate::errors::arg)] resource: &str,
        #[pyo3(from_py_with = crate::errors::arg)] action: &str,
    ) -> PyResult<Self> {
        Ok(Scope(tenantguard::tokens::Scope::new(
            resource,
            self::action(action)?,
        )))
    }

    #[getter]
    fn resource(&self) -> &str {
        &self.0.resource
    }

    #[getter]
    fn action(&self) -> &'static str {
        self.0.action.as_str()
    }

    /// Whether this scope allows `action` on `resource`.
    fn allows(&self, resource: &str, action: &str) -> PyResult<bool> {
        Ok(self.0.allows(resource, self::action(action)?))
    }

    fn __repr__(&self) -> String {
        format!("Scope({:?}, {:?})", self.0.resource, self.0.action.as_str())
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String, String))> {
        let s = &slf.get().0;
        Ok((
            slf.get_type().into_any(),
            (s.resource.clone(), s.action.as_str().to_owned()),
        ))
    }
}

fn scopes(v: Vec<tenantguard::tokens::Scope>) -> Vec<Scope> {
    v.into_iter().map(Scope).collect()
}

/// A new agent token: its public id and its plaintext, shown once (`expose()`).
/// `repr` never shows the token.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct IssuedToken {
    #[pyo3(get)]
    id: String,
    #[pyo3(get)]
    expires_at: Option<i64>,
    secret: TokenSecret,
}

#[pymethods]
impl IssuedToken {
    /// The token string, to hand to the agent once. Never log it.
    fn expose(&self) -> &str {
        self.secret.expose()
    }

    fn __repr__(&self) -> String {
        format!(
            "IssuedToken(id={:?}, expires_at={}, token=[REDACTED])",
            self.id,
            opt(&self.expires_at)
        )
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(crate::errors::wrong_type(
            "an IssuedToken holds a secret and cannot be pickled",
        ))
    }
}

/// A token's stored metadata (never the token).
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct TokenInfo {
    id: String,
    agent: String,
    name: String,
    scopes: Vec<Scope>,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

#[pymethods]
impl TokenInfo {
    fn __repr__(&self) -> String {
        format!(
            "TokenInfo(id={:?}, agent={:?}, name={:?}, expires_at={}, revoked_at={})",
            self.id,
            self.agent,
            self.name,
            opt(&self.expires_at),
            opt(&self.revoked_at)
        )
    }
}

/// A verified agent token: the agent, its scopes and the `TenantContext` to act in.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct VerifiedToken(tenantguard::tokens::VerifiedToken);

#[pymethods]
impl VerifiedToken {
    #[getter]
    fn token_id(&self) -> &str {
        &self.0.token_id
    }

    #[getter]
    fn agent(&self) -> &str {
        self.0.agent.as_str()
    }

    #[getter]
    fn scopes(&self) -> Vec<Scope> {
        scopes(self.0.scopes.clone())
    }

    #[getter]
    fn expires_at(&self) -> Option<i64> {
        self.0.expires_at
    }

    #[getter]
    fn context(&self) -> TenantContext {
        TenantContext(self.0.context.clone())
    }

    /// Whether one of the token's scopes allows `action` on `resource`.
    fn allows(&self, resource: &str, action: &str) -> PyResult<bool> {
        Ok(self.0.allows(resource, self::action(action)?))
    }

    fn __repr__(&self) -> String {
        format!(
            "VerifiedToken(token_id={:?}, agent={:?}, tenant={:?})",
            self.0.token_id,
            self.0.agent.as_str(),
            self.0.context.tenant().as_str()
        )
    }
}

/// One entry of a tenant's hash-chained audit log.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct AuditEntry(pub(crate) tenantguard::audit::AuditEntry);

#[pymethods]
impl AuditEntry {
    #[getter]
    fn tenant(&self) -> &str {
        &self.0.tenant
    }
    #[getter]
    fn seq(&self) -> u64 {
        self.0.seq
    }
    #[getter]
    fn time(&self) -> i64 {
        self.0.time
    }
    #[getter]
    fn actor(&self) -> &str {
        &self.0.actor
    }
    #[getter]
    fn action(&self) -> &str {
        &self.0.action
    }
    #[getter]
    fn target(&self) -> &str {
        &self.0.target
    }
    #[getter]
    fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    #[getter]
    fn details(&self) -> BTreeMap<String, String> {
        self.0.details.clone()
    }
    #[getter]
    fn prev(&self) -> &str {
        &self.0.prev
    }
    #[getter]
    fn hash(&self) -> &str {
        &self.0.hash
    }

    /// The entry as one JSON Lines line (no newline), as `export_audit` writes it.
    fn to_json_line(&self) -> String {
        self.0.to_json_line()
    }

    fn __repr__(&self) -> String {
        format!(
            "AuditEntry(tenant={:?}, seq={}, action={:?}, actor={:?}, target={:?})",
            self.0.tenant, self.0.seq, self.0.action, self.0.actor, self.0.target
        )
    }
}

/// What a successful audit-chain verification saw.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct AuditReport {
    entries: u64,
    tenant: Option<String>,
    last_seq: u64,
    head: String,
    erased_entries: u64,
}

impl From<VerifyReport> for AuditReport {
    fn from(r: VerifyReport) -> Self {
        AuditReport {
            entries: r.entries,
            tenant: r.tenant,
            last_seq: r.last_seq,
            head: r.head,
            erased_entries: r.erased_entries,
        }
    }
}

#[pymethods]
impl AuditReport {
    fn __repr__(&self) -> String {
        format!(
            "AuditReport(entries={}, tenant={}, last_seq={}, head={:?})",
            self.entries,
            opt(&self.tenant),
            self.last_seq,
            self.head
        )
    }
}

/// Verifies an exported audit log (JSON Lines) offline: `source` is the export's bytes or
/// a path. `start_after` and `expected_head` are `(seq, hash)` pairs (an export that
/// starts mid-chain; detecting truncation). Raises `IntegrityError` (with
/// `line` and `seq`) at the first broken or missing entry.
#[pyfunction]
#[pyo3(signature = (source, *, start_after=None, expected_head=None))]
fn verify_audit_export(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    start_after: Option<(u64, String)>,
    expected_head: Option<(u64, String)>,
) -> PyResult<AuditReport> {
    let options = VerifyOptions {
        start_after,
        expected_head,
    };
    let run = |r: &mut dyn std::io::BufRead| {
        // Python keeps raising `IntegrityError` for a broken chain: a caller that ignores
        // the return value must not take a tampered log for a verified one.
        tenantguard::audit::verify_jsonl(r, &options)
            .and_then(tenantguard::audit::AuditVerification::into_result)
            .map_err(py_err)
    };
    if let Ok(b) = source.cast::<PyBytes>() {
        let data = b.as_bytes();
        return crate::runtime::detach(py, || run(&mut &data[..])).map(AuditReport::from);
    }
    let path: std::path::PathBuf = source
        .extract()
        .map_err(|_| crate::errors::wrong_type("source must be bytes or a path"))?;
    crate::runtime::detach(py, || {
        let f = std::fs::File::open(&path).map_err(|e| {
            py_err(tenantguard::audit::AuditError::Io(format!(
                "cannot open {}: {}",
                path.display(),
                e.kind()
            )))
        })?;
        run(&mut std::io::BufReader::new(f))
    })
    .map(AuditReport::from)
}

/// Outcome of a retention sweep of one tenant.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct SweepReport {
    tenant: Option<String>,
    now: i64,
    deleted: BTreeMap<String, u64>,
    batches: u64,
    audit_seq: Option<u64>,
    total: u64,
    stopped: bool,
}

impl From<&tenantguard::retention::SweepReport> for SweepReport {
    fn from(r: &tenantguard::retention::SweepReport) -> Self {
        SweepReport {
            tenant: r.tenant.as_ref().map(|t| t.as_str().to_owned()),
            now: r.now,
            total: r.total(),
            deleted: r.deleted.clone(),
            batches: r.batches,
            audit_seq: r.audit_seq,
            stopped: r.stopped,
        }
    }
}

#[pymethods]
impl SweepReport {
    fn __repr__(&self) -> String {
        format!(
            "SweepReport(tenant={}, now={}, deleted={:?}, batches={}, audit_seq={})",
            opt(&self.tenant),
            self.now,
            self.deleted,
            self.batches,
            opt(&self.audit_seq)
        )
    }
}

/// Outcome of a sweep of every tenant.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct SweepAllReport {
    tenants: u64,
    deleted: u64,
    last_tenant: Option<String>,
    stopped: bool,
}

impl From<&tenantguard::retention::SweepAllReport> for SweepAllReport {
    fn from(r: &tenantguard::retention::SweepAllReport) -> Self {
        SweepAllReport {
            tenants: r.tenants,
            deleted: r.deleted,
            last_tenant: r.last_tenant.as_ref().map(|t| t.as_str().to_owned()),
            stopped: r.stopped,
        }
    }
}

#[pymethods]
impl SweepAllReport {
    fn __repr__(&self) -> String {
        format!(
            "SweepAllReport(tenants={}, deleted={}, last_tenant={})",
            self.tenants,
            self.deleted,
            opt(&self.last_tenant)
        )
    }
}

/// Outcome of a data-subject erasure; `receipt` is its audit entry (a keyed digest of the
/// subject only); `receipt_secret` (64 hex) is returned once, for the requester.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct ErasureReport {
    subject_digest: String,
    receipt_secret: String,
    deleted: u64,
    audit_erased: u64,
    batches: u64,
    receipt: Py<AuditEntry>,
}

#[pymethods]
impl ErasureReport {
    fn __repr__(&self) -> String {
        format!(
            "ErasureReport(subject_digest={:?}, deleted={}, audit_erased={}, batches={})",
            self.subject_digest, self.deleted, self.audit_erased, self.batches
        )
    }
}

/// Outcome of erasing a whole tenant; `receipt` is its audit entry.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct TenantErasureReport {
    tokens_revoked: u64,
    sessions_revoked: u64,
    records_deleted: u64,
    receipt: Py<AuditEntry>,
}

#[pymethods]
impl TenantErasureReport {
    fn __repr__(&self) -> String {
        format!(
            "TenantErasureReport(tokens_revoked={}, sessions_revoked={}, records_deleted={})",
            self.tokens_revoked, self.sessions_revoked, self.records_deleted
        )
    }
}

/// A new or refreshed login session: the access token (short-lived, signed) and the
/// refresh token (single use), each shown through `expose_*()`. `repr` shows neither.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct SessionTokens(tenantguard::auth::SessionTokens);

#[pymethods]
impl SessionTokens {
    #[getter]
    fn session_id(&self) -> &str {
        &self.0.session_id
    }
    #[getter]
    fn access_expires_at(&self) -> i64 {
        self.0.access_expires_at
    }
    #[getter]
    fn refresh_expires_at(&self) -> i64 {
        self.0.refresh_expires_at
    }

    /// The access token. Never log it.
    fn expose_access_token(&self) -> &str {
        self.0.access_token.expose()
    }

    /// The refresh token. Never log it.
    fn expose_refresh_token(&self) -> &str {
        self.0.refresh_token.expose()
    }

    fn __repr__(&self) -> String {
        format!(
            "SessionTokens(session_id={:?}, access_expires_at={}, refresh_expires_at={}, access_token=[REDACTED], refresh_token=[REDACTED])",
            self.0.session_id, self.0.access_expires_at, self.0.refresh_expires_at
        )
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(crate::errors::wrong_type(
            "SessionTokens hold secrets and cannot be pickled",
        ))
    }
}

/// A verified access token: its session and the `TenantContext` to act in.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct VerifiedAccess(tenantguard::auth::VerifiedAccess);

#[pymethods]
impl VerifiedAccess {
    #[getter]
    fn session_id(&self) -> &str {
        &self.0.session_id
    }
    #[getter]
    fn expires_at(&self) -> i64 {
        self.0.expires_at
    }
    #[getter]
    fn context(&self) -> TenantContext {
        TenantContext(self.0.context.clone())
    }

    fn __repr__(&self) -> String {
        format!(
            "VerifiedAccess(session_id={:?}, tenant={:?}, expires_at={})",
            self.0.session_id,
            self.0.context.tenant().as_str(),
            self.0.expires_at
        )
    }
}

/// A session's metadata (never a token): the core's `SessionInfo`, read through.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct SessionInfo(tenantguard::auth::SessionInfo);

#[pymethods]
impl SessionInfo {
    #[getter]
    fn id(&self) -> &str {
        &self.0.id
    }
    #[getter]
    fn user(&self) -> &str {
        &self.0.user
    }
    #[getter]
    fn label(&self) -> &str {
        &self.0.label
    }
    #[getter]
    fn created_at(&self) -> i64 {
        self.0.created_at
    }
    #[getter]
    fn refreshed_at(&self) -> i64 {
        self.0.refreshed_at
    }
    #[getter]
    fn expires_at(&self) -> i64 {
        self.0.expires_at
    }
    #[getter]
    fn revoked_at(&self) -> Option<i64> {
        self.0.revoked_at
    }

    fn __repr__(&self) -> String {
        let s = &self.0;
        format!(
            "SessionInfo(id={:?}, user={:?}, label={:?}, expires_at={}, revoked_at={})",
            s.id,
            s.user,
            s.label,
            s.expires_at,
            opt(&s.revoked_at)
        )
    }
}

/// The outcome of a successful password check.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct PasswordCheck {
    needs_rehash: bool,
}

#[pymethods]
impl PasswordCheck {
    fn __repr__(&self) -> String {
        format!("PasswordCheck(needs_rehash={})", py_bool(self.needs_rehash))
    }

    fn __bool__(&self) -> bool {
        true
    }
}

/// argon2id password hashing (PHC strings). Parameters below OWASP's recommendation are
/// refused. Hashing releases the GIL. Passwords are never stored, logged or put in errors.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct PasswordHasher(tenantguard::auth::PasswordHasher);

fn password(obj: &Bound<'_, PyAny>) -> PyResult<zeroize::Zeroizing<String>> {
    let s: &str = obj
        .cast::<pyo3::types::PyString>()
        .map_err(|_| crate::errors::wrong_type("password must be str"))?
        .to_str()?;
    Ok(zeroize::Zeroizing::new(s.to_owned()))
}

#[pymethods]
impl PasswordHasher {
    #[new]
    #[pyo3(signature = (*, m_cost_kib=19_456, t_cost=2, p_cost=1))]
    fn new(
        #[pyo3(from_py_with = crate::errors::arg)] m_cost_kib: u32,
        #[pyo3(from_py_with = crate::errors::arg)] t_cost: u32,
        #[pyo3(from_py_with = crate::errors::arg)] p_cost: u32,
    ) -> PyResult<Self> {
        tenantguard::auth::PasswordHasher::new(PasswordParams {
            m_cost_kib,
            t_cost,
            p_cost,
        })
        .map(PasswordHasher)
        .map_err(py_err)
    }

    /// The argon2id PHC string of `password` (fresh random salt).
    fn hash(&self, py: Python<'_>, password: &Bound<'_, PyAny>) -> PyResult<String> {
        let pw = self::password(password)?;
        crate::runtime::detach(py, || self.0.hash(&pw)).map_err(py_err)
    }

    /// Checks `password` against stored hash `phc`; raises `AuthenticationFailedError`
    /// (reason `wrong_password`) if it does not match.
    fn verify(
        &self,
        py: Python<'_>,
        password: &Bound<'_, PyAny>,
        phc: &str,
    ) -> PyResult<PasswordCheck> {
        let pw = self::password(password)?;
        crate::runtime::detach(py, || self.0.verify(&pw, phc))
            .map(|c| PasswordCheck {
                needs_rehash: c.needs_rehash,
            })
            .map_err(py_err)
    }

    /// Whether `phc` uses weaker parameters than this hasher's.
    fn needs_rehash(&self, phc: &str) -> bool {
        self.0.needs_rehash(phc)
    }

    fn __repr__(&self) -> String {
        let p = self.0.params();
        format!(
            "PasswordHasher(m_cost_kib={}, t_cost={}, p_cost={})",
            p.m_cost_kib, p.t_cost, p.p_cost
        )
    }
}

fn entry(py: Python<'_>, e: tenantguard::audit::AuditEntry) -> PyResult<Py<AuditEntry>> {
    Py::new(py, AuditEntry(e))
}

/// Where `export_audit` writes: a file path, or an object with `write(bytes)`.
enum Dest {
    Path(std::path::PathBuf),
    Writer(Py<PyAny>),
}

#[pymethods]
impl Guard {
    // ---- agent tokens ----

    /// Creates an agent token (admin role); its plaintext is in the result, once.
    /// `scopes` default to read on everything; `expires_in` is a lifetime in seconds.
    #[pyo3(signature = (ctx, agent, name, *, scopes=None, expires_in=None))]
    fn create_token(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        agent: &str,
        name: &str,
        scopes: Option<Vec<PyRef<'_, Scope>>>,
        expires_in: Option<i64>,
    ) -> PyResult<IssuedToken> {
        let mut spec = TokenSpec::read_only(user_id(agent)?, name);
        if let Some(s) = scopes {
            spec = spec.scopes(s.iter().map(|s| s.0.clone()).collect());
        }
        if let Some(t) = expires_in {
            spec = spec.expires_in(t);
        }
        let ctx = &ctx.0;
        let t = self.run(py, |g| async move { g.tokens().create(ctx, spec).await })?;
        Ok(IssuedToken {
            id: t.id,
            expires_at: t.expires_at,
            secret: t.secret,
        })
    }

    /// The tenant's tokens (of one agent if given), ids after `after`, at most `limit`
    /// (1 to 10,000). Metadata only. Admin role.
    #[pyo3(signature = (ctx, *, agent=None, after=None, limit=1000))]
    fn list_tokens(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        agent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> PyResult<Vec<TokenInfo>> {
        let agent = agent.map(user_id).transpose()?;
        let ctx = &ctx.0;
        let list = self.run(py, |g| async move {
            g.tokens().list(ctx, agent.as_ref(), after, limit).await
        })?;
        Ok(list
            .into_iter()
            .map(|t| TokenInfo {
                id: t.id,
                agent: t.agent.as_str().to_owned(),
                name: t.name,
                scopes: scopes(t.scopes),
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked_at: t.revoked_at,
            })
            .collect())
    }

    /// Revokes one token; returns whether it was live. Admin role.
    fn revoke_token(&self, py: Python<'_>, ctx: &TenantContext, token_id: &str) -> PyResult<bool> {
        let ctx = &ctx.0;
        self.run(
            py,
            |g| async move { g.tokens().revoke(ctx, token_id).await },
        )
    }

    /// Kill switch: revokes every live token of `agent`; returns how many. Admin role.
    fn kill_agent(&self, py: Python<'_>, ctx: &TenantContext, agent: &str) -> PyResult<u64> {
        let (ctx, agent) = (&ctx.0, user_id(agent)?);
        self.run(
            py,
            |g| async move { g.tokens().kill_agent(ctx, &agent).await },
        )
    }

    /// Authenticates a token string; raises `MalformedError` or `AuthenticationFailedError`
    /// with `reason` (`malformed`, `bad_checksum`, `unknown`, `expired`, `revoked`).
    /// `host_key` (the caller's IP address or client id) keys the count of unknown tokens;
    /// past the limit raises `RateLimitedError` (`retry_after` in seconds).
    #[pyo3(signature = (token, *, host_key=None))]
    fn authenticate_token(
        &self,
        py: Python<'_>,
        token: &str,
        host_key: Option<&str>,
    ) -> PyResult<VerifiedToken> {
        self.run(py, |g| async move {
            g.tokens().authenticate_from(token, host_key).await
        })
        .map(VerifiedToken)
    }

    /// Verifies `password` of `user` in `tenant` against stored hash `phc` under the
    /// login rate limit: `AuthenticationFailedError` (reason `wrong_password`) on a
    /// mismatch, `RateLimitedError` past the limit or while `(user, host_key)` is locked
    /// out after repeated failures.
    // The Python keyword signature, one argument each.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (hasher, tenant, user, password, phc, *, host_key=None))]
    fn verify_password(
        &self,
        py: Python<'_>,
        hasher: &PasswordHasher,
        tenant: &str,
        user: &str,
        password: &Bound<'_, PyAny>,
        phc: &str,
        host_key: Option<&str>,
    ) -> PyResult<PasswordCheck> {
        let pw = self::password(password)?;
        let (tenant, user) = (tenant_id(tenant)?, user_id(user)?);
        let h = &hasher.0;
        let pw = &pw;
        self.run(py, |g| async move {
            g.sessions()
                .verify_password(h, &tenant, &user, pw, phc, host_key)
                .await
        })
        .map(|c| PasswordCheck {
            needs_rehash: c.needs_rehash,
        })
    }

    /// Asks the guard's rate limiter to admit one `action_class` action (`login`,
    /// `token_failure`, `session_refresh`, `totp`, `reveal`, `write`, `egress_prepare`,
    /// `token_create`, `service`) for the cells named: raises `RateLimitedError` (with
    /// `retry_after`) when over the limit, for the host's own routes.
    #[pyo3(signature = (action_class, *, tenant=None, subject=None, object=None, host_key=None))]
    fn rate_limit_check(
        &self,
        py: Python<'_>,
        action_class: &str,
        tenant: Option<&str>,
        subject: Option<&str>,
        object: Option<&str>,
        host_key: Option<&str>,
    ) -> PyResult<()> {
        let class = limit_class(action_class)?;
        let key = tenantguard::ratelimit::LimitKey {
            tenant,
            subject,
            object,
            host: host_key,
        };
        let key = &key;
        self.run(py, |g| async move {
            g.rate_limiter()
                .check(class, key)
                .await
                .map_err(tenantguard::Error::from)
        })
    }

    /// The tenant's rate-limit overrides, as a dict in the JSON form of docs/SECURITY.md
    /// "Per-tenant overrides" (`{"classes": {...}}`; empty classes if none). Any role.
    fn rate_limit_overrides<'py>(
        &self,
        py: Python<'py>,
        ctx: &TenantContext,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ctx = &ctx.0;
        let o = self.run(py, |g| async move { g.limits().overrides(ctx).await })?;
        let text = o
            .to_json()
            .map_err(|e| py_err(tenantguard::Error::from(e)))?;
        py.import("json")?.call_method1("loads", (text,))
    }

    /// Sets the tenant's rate-limit overrides (a dict or JSON text in the form
    /// `rate_limit_overrides` returns), replacing earlier ones; returns the new policy
    /// version. Owners and admins may tighten any class but `service` and loosen only up to
    /// the host's ceiling: anything else raises `InvalidInputError` and stores nothing.
    fn set_rate_limit_overrides(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        overrides: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let text: String = match overrides.cast::<pyo3::types::PyString>() {
            Ok(s) => s.to_str()?.to_owned(),
            // What `json.dumps` refuses (not a dict, a bytes value, a cycle) is a wrong
            // argument, as a tenantguard error like any other.
            Err(_) => py
                .import("json")?
                .call_method1("dumps", (overrides,))
                .map_err(|e| crate::errors::conversion(py, e))?
                .extract()?,
        };
        let o = tenantguard::ratelimit::RateLimitOverrides::from_json(&text)
            .map_err(|e| py_err(tenantguard::Error::from(e)))?;
        let (ctx, o) = (&ctx.0, &o);
        self.run(
            py,
            |g| async move { g.limits().set_overrides(ctx, o).await },
        )
    }

    /// Records a failed `action_class` action for the cells named (it costs more than a
    /// success and counts towards the back-off); returns the lock-out it started, in
    /// seconds, or None.
    #[pyo3(signature = (action_class, *, tenant=None, subject=None, object=None, host_key=None))]
    fn rate_limit_failure(
        &self,
        py: Python<'_>,
        action_class: &str,
        tenant: Option<&str>,
        subject: Option<&str>,
        object: Option<&str>,
        host_key: Option<&str>,
    ) -> PyResult<Option<f64>> {
        let class = limit_class(action_class)?;
        let key = tenantguard::ratelimit::LimitKey {
            tenant,
            subject,
            object,
            host: host_key,
        };
        let key = &key;
        self.run(py, |g| async move {
            Ok(g.rate_limiter().failure(class, key).await.locked_for)
        })
        .map(|d| d.map(|d| d.as_secs_f64()))
    }

    /// `authenticate_token`, then checks that a scope allows `action` on `resource`
    /// (`PermissionDeniedError`, reason `out_of_scope`, otherwise).
    fn verify_token(
        &self,
        py: Python<'_>,
        token: &str,
        resource: &str,
        action: &str,
    ) -> PyResult<VerifiedToken> {
        let action = self::action(action)?;
        self.run(py, |g| async move {
            g.tokens().verify(token, resource, action).await
        })
        .map(VerifiedToken)
    }

    // ---- audit log ----

    /// Records an event of the application (`action` is a stable name such as
    /// `membership.change`) in the tenant's audit log. Any role.
    #[pyo3(signature = (ctx, action, target, *, reason=None, details=None))]
    fn record_audit(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        action: &str,
        target: &str,
        reason: Option<String>,
        details: Option<BTreeMap<String, String>>,
    ) -> PyResult<Py<AuditEntry>> {
        let mut ev = AuditEvent::new(audit_action(action)?, target);
        ev.reason = reason;
        ev.details = details.unwrap_or_default();
        let ctx = &ctx.0;
        let e = self.run(py, |g| async move { g.audit().record(ctx, ev).await })?;
        entry(py, e)
    }

    /// Entries with `seq > after`, ascending, at most `limit` (1 to 10,000). Admin role.
    #[pyo3(signature = (ctx, *, after=0, limit=1000))]
    fn audit_entries(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        after: u64,
        limit: usize,
    ) -> PyResult<Vec<Py<AuditEntry>>> {
        let ctx = &ctx.0;
        let list = self.run(
            py,
            |g| async move { g.audit().entries(ctx, after, limit).await },
        )?;
        list.into_iter().map(|e| entry(py, e)).collect()
    }

    /// Writes the tenant's whole audit log as JSON Lines to `dest` (a path, or an object
    /// with `write(bytes)` such as a binary file), verifying the chain as it goes. Returns
    /// the report whose `head` an offline `verify_audit_export` should end at. Admin role.
    fn export_audit(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        dest: &Bound<'_, PyAny>,
    ) -> PyResult<AuditReport> {
        let dest = if dest.hasattr("write")? {
            Dest::Writer(dest.clone().unbind())
        } else {
            Dest::Path(dest.extract().map_err(|_| {
                crate::errors::wrong_type("dest must be a path or an object with write(bytes)")
            })?)
        };
        let ctx = &ctx.0;
        match dest {
            Dest::Path(path) => {
                let g = self.get()?;
                let _scope = self.handle().enter()?;
                crate::runtime::detach(py, || {
                    block_on_export(&g, ctx, || {
                        // Not truncated yet: see `ExportFile`.
                        std::fs::OpenOptions::new()
                            .write(true)
                            .create(true)
                            .truncate(false)
                            .open(&path)
                            .map_err(|e| {
                                tenantguard::audit::AuditError::Io(format!(
                                    "cannot create {}: {}",
                                    path.display(),
                                    e.kind()
                                ))
                                .into()
                            })
                    })
                })
            }
            Dest::Writer(w) => {
                let mut buf = Vec::new();
                let out = &mut buf;
                let report = self.run(py, |g| async move { g.audit().export(ctx, out).await })?;
                w.call_method1(py, "write", (PyBytes::new(py, &buf),))?;
                Ok(AuditReport::from(report))
            }
        }
    }

    /// Verifies the tenant's stored chain; raises `IntegrityError` (with `line`
    /// and `seq`) at the first broken or missing entry. Admin role.
    fn verify_audit(&self, py: Python<'_>, ctx: &TenantContext) -> PyResult<AuditReport> {
        let ctx = &ctx.0;
        self.run(py, |g| async move {
            Ok(g.audit().verify(ctx).await?.into_result()?)
        })
        .map(AuditReport::from)
    }

    // ---- retention ----

    /// The tenant's effective windows per data class, in seconds (`None`: kept forever).
    fn retention_policy(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
    ) -> PyResult<BTreeMap<String, Option<i64>>> {
        let ctx = &ctx.0;
        let p = self.run(py, |g| async move { g.retention().policy(ctx).await })?;
        Ok(p.windows
            .into_iter()
            .map(|(c, w)| {
                (
                    c,
                    match w {
                        RetentionWindow::Secs(s) => Some(s),
                        RetentionWindow::Forever => None,
                    },
                )
            })
            .collect())
    }

    /// Sets the tenant's window for `data_class` in seconds (1 s to 100 years), or `None`
    /// to keep it forever. Audited. Admin role.
    fn set_retention(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        data_class: &str,
        seconds: Option<i64>,
    ) -> PyResult<()> {
        let w = seconds.map_or(RetentionWindow::Forever, RetentionWindow::Secs);
        let ctx = &ctx.0;
        self.run(py, |g| async move {
            g.retention().set(ctx, data_class, w).await
        })
    }

    /// Removes the tenant's override for `data_class`; returns whether one existed. Admin role.
    fn clear_retention(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        data_class: &str,
    ) -> PyResult<bool> {
        let ctx = &ctx.0;
        self.run(
            py,
            |g| async move { g.retention().clear(ctx, data_class).await },
        )
    }

    /// Hard-deletes the tenant's records past their window, `batch_size` at a time.
    /// Idempotent; audited when anything was deleted. Admin role.
    ///
    /// `progress`, if given, is called with the running `SweepReport` after each batch; an
    /// exception it raises is re-raised once the sweep ends (it is not called again).
    /// Returning `False` from it stops the job after that step (`stopped` is then set).
    #[pyo3(signature = (ctx, *, batch_size=500, progress=None))]
    fn sweep(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        batch_size: usize,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<SweepReport> {
        let ctx = &ctx.0;
        let mut callback_err: Option<PyErr> = None;
        let report = progress_fn(py, progress.as_ref(), &mut callback_err, |r| {
            SweepReport::from(r)
        })?;
        let r = self.run(py, |g| async move {
            g.retention().sweep(ctx, batch_size, report).await
        })?;
        match callback_err {
            Some(e) => Err(e),
            None => Ok(SweepReport::from(&r)),
        }
    }

    /// Sweeps every tenant (service role); resumable with the last report's `last_tenant`.
    ///
    /// `progress`, if given, is called with the running `SweepAllReport` after each
    /// tenant; an exception it raises is re-raised once the run ends (it is not called
    /// again).
    /// Returning `False` from it stops the job after that step (`stopped` is then set).
    #[pyo3(signature = (service, *, start_after=None, batch_size=500, progress=None))]
    fn sweep_all(
        &self,
        py: Python<'_>,
        service: &ServiceRole,
        start_after: Option<&str>,
        batch_size: usize,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<SweepAllReport> {
        let start = start_after.map(tenant_id).transpose()?;
        let svc = &service.0;
        let mut callback_err: Option<PyErr> = None;
        let report = progress_fn(py, progress.as_ref(), &mut callback_err, |r| {
            SweepAllReport::from(r)
        })?;
        let r = self.run(py, |g| async move {
            g.retention()
                .sweep_all_with_progress(svc, start, batch_size, report)
                .await
        })?;
        match callback_err {
            Some(e) => Err(e),
            None => Ok(SweepAllReport::from(&r)),
        }
    }

    /// Erases every record tagged with data subject `subject`. The audit receipt holds
    /// the subject's SHA-256 only. Admin role.
    #[pyo3(signature = (ctx, subject, *, batch_size=500))]
    fn erase_subject(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        subject: &str,
        batch_size: usize,
    ) -> PyResult<ErasureReport> {
        let ctx = &ctx.0;
        let r = self.run(py, |g| async move {
            g.retention().erase_subject(ctx, subject, batch_size).await
        })?;
        Ok(ErasureReport {
            subject_digest: r.subject_digest,
            receipt_secret: r.receipt_secret.to_hex(),
            deleted: r.deleted,
            audit_erased: r.audit_erased,
            batches: r.batches,
            receipt: entry(py, r.receipt)?,
        })
    }

    /// Erases the whole tenant: crypto-shred, revoke tokens and sessions, delete records,
    /// audit receipt. Irreversible. Owner role.
    #[pyo3(signature = (ctx, *, batch_size=500))]
    fn erase_tenant(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        batch_size: usize,
    ) -> PyResult<TenantErasureReport> {
        let ctx = &ctx.0;
        let r = self.run(py, |g| async move {
            g.retention().erase_tenant(ctx, batch_size).await
        })?;
        Ok(TenantErasureReport {
            tokens_revoked: r.tokens_revoked,
            sessions_revoked: r.sessions_revoked,
            records_deleted: r.records_deleted,
            receipt: entry(py, r.receipt)?,
        })
    }

    // ---- sessions ----

    /// Starts a session for the context's user (after your own login check).
    #[pyo3(signature = (ctx, label=""))]
    fn create_session(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        label: &str,
    ) -> PyResult<SessionTokens> {
        let ctx = &ctx.0;
        self.run(py, |g| async move { g.sessions().create(ctx, label).await })
            .map(SessionTokens)
    }

    /// Verifies an access token (signature, issuer, expiry) and returns its scope.
    fn verify_access_token(&self, py: Python<'_>, token: &str) -> PyResult<VerifiedAccess> {
        self.run(py, |g| async move {
            g.sessions().verify_access_token(token).await
        })
        .map(VerifiedAccess)
    }

    /// Exchanges a refresh token (single use) for new tokens. Reusing one revokes the session.
    /// `host_key` keys the count of unknown refresh tokens (`RateLimitedError` past it).
    #[pyo3(signature = (refresh_token, *, host_key=None))]
    fn refresh_session(
        &self,
        py: Python<'_>,
        refresh_token: &str,
        host_key: Option<&str>,
    ) -> PyResult<SessionTokens> {
        self.run(py, |g| async move {
            g.sessions().refresh_from(refresh_token, host_key).await
        })
        .map(SessionTokens)
    }

    /// Sessions of `user` (the context's own user if `None`), newest first. Listing
    /// another user's sessions needs the admin role.
    #[pyo3(signature = (ctx, *, user=None, limit=100))]
    fn list_sessions(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        user: Option<&str>,
        limit: usize,
    ) -> PyResult<Vec<SessionInfo>> {
        let user = user.map(user_id).transpose()?;
        let ctx = &ctx.0;
        let list = self.run(py, |g| async move {
            g.sessions().list(ctx, user.as_ref(), limit).await
        })?;
        Ok(list.into_iter().map(SessionInfo).collect())
    }

    /// Revokes one session; returns whether it was live.
    fn revoke_session(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        session_id: &str,
    ) -> PyResult<bool> {
        let ctx = &ctx.0;
        self.run(
            py,
            |g| async move { g.sessions().revoke(ctx, session_id).await },
        )
    }

    /// Revokes every live session of `user`; returns how many.
    fn revoke_user_sessions(
        &self,
        py: Python<'_>,
        ctx: &TenantContext,
        user: &str,
    ) -> PyResult<u64> {
        let (ctx, user) = (&ctx.0, user_id(user)?);
        self.run(
            py,
            |g| async move { g.sessions().revoke_user(ctx, &user).await },
        )
    }
}

/// The export's file, opened without truncating it and emptied before the first byte the
/// export writes (or once it succeeds): an export refused before it writes anything (a
/// role without the right) leaves an earlier export at that path as it was.
struct ExportFile {
    out: std::io::BufWriter<std::fs::File>,
    emptied: bool,
}

impl ExportFile {
    fn empty(&mut self) -> std::io::Result<()> {
        if !self.emptied {
            self.out.get_ref().set_len(0)?;
            self.emptied = true;
        }
        Ok(())
    }
}

impl std::io::Write for ExportFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.empty()?;
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Exports to a file opened by `open` (inside the runtime, GIL released by the caller).
fn block_on_export(
    g: &tenantguard::Guard,
    ctx: &tenantguard::TenantContext,
    open: impl FnOnce() -> tenantguard::Result<std::fs::File>,
) -> PyResult<AuditReport> {
    use std::io::Write as _;
    let f = open().map_err(to_py)?;
    let mut out = ExportFile {
        out: std::io::BufWriter::new(f),
        emptied: false,
    };
    let report = crate::runtime::block_on(g.audit().export(ctx, &mut out))?.map_err(to_py)?;
    out.empty().and_then(|()| out.flush()).map_err(|e| {
        to_py(tenantguard::audit::AuditError::Io(format!("cannot write: {}", e.kind())).into())
    })?;
    Ok(AuditReport::from(report))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<GovernanceConfig>()?;
    m.add_class::<Scope>()?;
    m.add_class::<IssuedToken>()?;
    m.add_class::<TokenInfo>()?;
    m.add_class::<VerifiedToken>()?;
    m.add_class::<AuditEntry>()?;
    m.add_class::<AuditReport>()?;
    m.add_class::<SweepReport>()?;
    m.add_class::<SweepAllReport>()?;
    m.add_class::<ErasureReport>()?;
    m.add_class::<TenantErasureReport>()?;
    m.add_class::<SessionTokens>()?;
    m.add_class::<VerifiedAccess>()?;
    m.add_class::<SessionInfo>()?;
    m.add_class::<PasswordCheck>()?;
    m.add_class::<PasswordHasher>()?;
    m.add_function(wrap_pyfunction!(verify_audit_export, m)?)?;
    // The core's tables, so Python never keeps a copy that can drift.
    let names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
    m.add("AUDIT_ACTIONS", names)?;
    let roles: Vec<&str> = tenantguard::Role::ALL.iter().map(|r| r.as_str()).collect();
    m.add("ROLES", roles)?;
    let kinds: Vec<&str> = tenantguard::ErrorKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    m.add("ERROR_KINDS", kinds)?;
    let reasons: Vec<&str> = tenantguard::Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    m.add("ERROR_REASONS", reasons)?;
    Ok(())
}
