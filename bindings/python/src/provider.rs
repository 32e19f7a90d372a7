//! Key providers and stores: the built-in ones, and key providers implemented in Python.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use tenantguard::crypto::DataKey;
use tenantguard::kms::{KmsError, WrapContext, WrappedKey};
use tenantguard::Store;

use crate::errors::{from_foreign, py_err};
use crate::runtime::SHUTTING_DOWN;

/// Key-encryption keys in a local key file (mode 0600), or only in memory.
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct LocalKeyProvider(pub(crate) Arc<tenantguard::LocalKeyProvider>);

#[pymethods]
impl LocalKeyProvider {
    /// Opens the key file at `path`, creating it if absent.
    #[classmethod]
    fn open_or_create(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        path: std::path::PathBuf,
    ) -> PyResult<Self> {
        crate::runtime::detach(py, || tenantguard::LocalKeyProvider::open_or_create(&path))
            .map(|p| LocalKeyProvider(Arc::new(p)))
            .map_err(py_err)
    }

    /// Opens an existing key file.
    #[classmethod]
    fn open(_cls: &Bound<'_, PyType>, py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        crate::runtime::detach(py, || tenantguard::LocalKeyProvider::open(&path))
            .map(|p| LocalKeyProvider(Arc::new(p)))
            .map_err(py_err)
    }

    /// A provider with one random KEK held only in memory.
    #[classmethod]
    fn ephemeral(_cls: &Bound<'_, PyType>) -> Self {
        LocalKeyProvider(Arc::new(tenantguard::LocalKeyProvider::ephemeral()))
    }

    /// Like `ephemeral()`, but raises `ConfigError` at once if the OS random generator fails.
    #[classmethod]
    fn try_ephemeral(_cls: &Bound<'_, PyType>) -> PyResult<Self> {
        tenantguard::LocalKeyProvider::try_ephemeral()
            .map(|p| LocalKeyProvider(Arc::new(p)))
            .map_err(py_err)
    }

    /// Adds a fresh KEK and makes it current; returns its id.
    fn rotate_kek(&self, py: Python<'_>) -> PyResult<String> {
        crate::runtime::detach(py, || self.0.rotate_kek()).map_err(py_err)
    }

    /// Deletes a KEK that is no longer current.
    fn remove_kek(&self, py: Python<'_>, kek_id: &str) -> PyResult<()> {
        crate::runtime::detach(py, || self.0.remove_kek(kek_id)).map_err(py_err)
    }

    /// The ids of all KEKs held.
    fn kek_ids(&self) -> Vec<String> {
        self.0.kek_ids()
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// A store kept in process memory (tests, caches).
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct MemoryStore(pub(crate) Arc<tenantguard::MemoryStore>);

#[pymethods]
impl MemoryStore {
    #[new]
    fn new() -> Self {
        MemoryStore(Arc::new(tenantguard::MemoryStore::new()))
    }

    fn __repr__(&self) -> &'static str {
        "MemoryStore()"
    }
}

/// A SQLite store (the embedded default).
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct SqliteStore(pub(crate) Arc<tenantguard::SqliteStore>);

#[pymethods]
impl SqliteStore {
    /// Opens (or creates) the database at `path`.
    #[new]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = crate::errors::arg)] path: std::path::PathBuf,
    ) -> PyResult<Self> {
        crate::runtime::detach(py, || tenantguard::SqliteStore::open(&path))
            .map(|s| SqliteStore(Arc::new(s)))
            .map_err(py_err)
    }

    /// A private in-memory database.
    #[classmethod]
    fn in_memory(_cls: &Bound<'_, PyType>) -> PyResult<Self> {
        tenantguard::SqliteStore::in_memory()
            .map(|s| SqliteStore(Arc::new(s)))
            .map_err(py_err)
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// A store in PostgreSQL, isolated per tenant by Row Level Security. Also the membership
/// directory (`set_member`, `members`, and as a `DirectoryResolver` directory).
#[cfg(feature = "postgres")]
#[pyclass(module = "tenantguard", frozen)]
pub(crate) struct PostgresStore(pub(crate) Arc<tenantguard::PostgresStore>);

#[cfg(feature = "postgres")]
fn pg_config(url: &str, what: &str) -> PyResult<tokio_postgres::Config> {
    // The parser's message is not used: it could echo the string (which holds a password).
    url.parse().map_err(|_| {
        py_err(tenantguard::store::StoreError::InvalidInput(format!(
            "{what}: not a valid PostgreSQL connection string"
        )))
    })
}

#[cfg(feature = "postgres")]
pub(crate) fn unix_now() -> i64 {
    tenantguard::Clock::now_unix(&tenantguard::SystemClock)
}

#[cfg(feature = "postgres")]
#[pymethods]
impl PostgresStore {
    /// Connects: `app_url` logs in as a member of `tenantguard_app`, `service_url`
    /// (optional) as a member of `tenantguard_service`; each role is verified (no
    /// superuser, no BYPASSRLS, RLS forced on every table unless `require_rls=False`).
    ///
    /// With a service connection, a listener hears other instances' news (revocations,
    /// shreds, rotations...): `notifications=False` polls only (behind a transaction
    /// pooler); `poll_interval_ms` is 10 to 1000 (the bound when polling only).
    #[classmethod]
    #[pyo3(signature = (app_url, service_url=None, *, pool_size=16, require_rls=true, notifications=true, poll_interval_ms=1000))]
    #[allow(clippy::too_many_arguments)]
    fn connect(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        app_url: &str,
        service_url: Option<&str>,
        pool_size: usize,
        require_rls: bool,
        notifications: bool,
        poll_interval_ms: u64,
    ) -> PyResult<Self> {
        let app = pg_config(app_url, "application connection")?;
        let service = service_url
            .map(|u| pg_config(u, "service connection"))
            .transpose()?;
        let opts = tenantguard::PgOptions {
            pool_size,
            require_rls,
            notifications,
            poll_interval: std::time::Duration::from_millis(poll_interval_ms),
            ..Default::default()
        };
        crate::runtime::detach(py, || {
            crate::runtime::block_on(tenantguard::PostgresStore::connect_with(app, service, opts))
        })?
        .map(|s| PostgresStore(Arc::new(s)))
        .map_err(py_err)
    }

    /// Creates or upgrades the schema, connected as `admin_url` (an owner or superuser);
    /// returns how many migrations ran.
    #[staticmethod]
    fn migrate(py: Python<'_>, admin_url: &str) -> PyResult<usize> {
        crate::runtime::detach(py, || {
            crate::runtime::block_on(tenantguard::PostgresStore::migrate(admin_url))
        })?
        .map_err(py_err)
    }

    /// Adds a member to the context's tenant or changes its role (admins manage
    /// non-owners; owner changes need the owner role; the last owner stays).
    fn set_member(
        &self,
        py: Python<'_>,
        ctx: &crate::types::TenantContext,
        user: &str,
        role: &str,
    ) -> PyResult<()> {
        let (ctx, user, role) = (
            &ctx.0,
            tenantguard::UserId::new(user).map_err(py_err)?,
            crate::types::role(role)?,
        );
        crate::runtime::detach(py, || {
            crate::runtime::block_on(self.0.set_member(ctx, &user, role, unix_now()))
        })?
        .map_err(crate::errors::to_py)
    }

    /// Removes a member of the context's tenant; returns whether it was a member.
    fn remove_member(
        &self,
        py: Python<'_>,
        ctx: &crate::types::TenantContext,
        user: &str,
    ) -> PyResult<bool> {
        let (ctx, user) = (&ctx.0, tenantguard::UserId::new(user).map_err(py_err)?);
        crate::runtime::detach(py, || {
            crate::runtime::block_on(self.0.remove_member(ctx, &user))
        })?
        .map_err(crate::errors::to_py)
    }

    /// The members of the context's tenant, by user id.
    fn members(
        &self,
        py: Python<'_>,
        ctx: &crate::types::TenantContext,
    ) -> PyResult<Vec<crate::isolation::Membership>> {
        let ctx = &ctx.0;
        let list = crate::runtime::detach(py, || crate::runtime::block_on(self.0.members(ctx)))?
            .map_err(py_err)?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// A store passed to `Guard(...)` or `Egress(...)`: the same object serves as record store
/// and as policy store.
pub(crate) type Stores = (Arc<dyn Store>, Arc<dyn tenantguard::store::PolicyStore>);

/// The store argument of `Guard(...)` and `Egress(...)`.
pub(crate) fn stores_from(obj: &Bound<'_, PyAny>) -> PyResult<Stores> {
    fn both<S: Store + tenantguard::store::PolicyStore + 'static>(s: &Arc<S>) -> Stores {
        (s.clone(), s.clone())
    }
    if let Ok(s) = obj.cast::<MemoryStore>() {
        return Ok(both(&s.get().0));
    }
    if let Ok(s) = obj.cast::<SqliteStore>() {
        return Ok(both(&s.get().0));
    }
    #[cfg(feature = "postgres")]
    if let Ok(s) = obj.cast::<PostgresStore>() {
        return Ok(both(&s.get().0));
    }
    Err(crate::errors::wrong_type(format!(
        "store must be MemoryStore, SqliteStore or PostgresStore, got {}",
        obj.get_type().name()?
    )))
}

/// The key-provider argument of `Guard(...)`: a `LocalKeyProvider`, or any Python object
/// with `current_kek()`, `wrap(key, ctx)` and `unwrap(kek_id, ciphertext, ctx)`.
pub(crate) fn provider_from(obj: &Bound<'_, PyAny>) -> PyResult<Arc<dyn tenantguard::KeyProvider>> {
    if let Ok(p) = obj.cast::<LocalKeyProvider>() {
        return Ok(p.get().0.clone());
    }
    for method in ["current_kek", "wrap", "unwrap"] {
        if !obj.hasattr(method)? {
            return Err(crate::errors::wrong_type(format!(
                "key_provider must be LocalKeyProvider or implement current_kek, wrap and unwrap; {} has no {method}",
                obj.get_type().name()?
            )));
        }
    }
    let name = match obj.getattr("name") {
        Ok(n) => n.extract::<String>().unwrap_or_else(|_| "python".into()),
        Err(_) => obj.get_type().name()?.to_string(),
    };
    Ok(Arc::new(PyKeyProvider {
        obj: obj.clone().unbind(),
        name,
    }))
}

/// A key provider implemented in Python. Each call attaches to the interpreter (taking the
/// GIL) only for the duration of the Python call.
struct PyKeyProvider {
    obj: Py<PyAny>,
    name: String,
}

fn ctx_obj<'py>(
    py: Python<'py>,
    ctx: &WrapContext,
) -> PyResult<Bound<'py, crate::types::WrapContext>> {
    Bound::new(py, crate::types::WrapContext::from(ctx))
}

#[async_trait::async_trait]
impl tenantguard::KeyProvider for PyKeyProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn current_kek(&self) -> Result<String, KmsError> {
        let _in = crate::handle::ProviderScope::enter();
        crate::runtime::callback(|py| {
            self.obj
                .call_method0(py, "current_kek")
                .and_then(|r| r.extract::<String>(py))
                .map_err(|e| from_foreign(py, e))
        })
        .unwrap_or_else(|| Err(KmsError::Unavailable(SHUTTING_DOWN.into())))
    }

    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        let _in = crate::handle::ProviderScope::enter();
        crate::runtime::callback(|py| {
            let call = || -> PyResult<(String, Vec<u8>)> {
                let key = PyBytes::new(py, key.expose());
                self.obj
                    .call_method1(py, "wrap", (key, ctx_obj(py, ctx)?))?
                    .extract(py)
            };
            let (kek_id, ciphertext) = call().map_err(|e| from_foreign(py, e))?;
            Ok(WrappedKey { kek_id, ciphertext })
        })
        .unwrap_or_else(|| Err(KmsError::Unavailable(SHUTTING_DOWN.into())))
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        let _in = crate::handle::ProviderScope::enter();
        crate::runtime::callback(|py| {
            let call = || -> PyResult<Vec<u8>> {
                let ct = PyBytes::new(py, &wrapped.ciphertext);
                self.obj
                    .call_method1(py, "unwrap", (&wrapped.kek_id, ct, ctx_obj(py, ctx)?))?
                    .extract(py)
            };
            let key = zeroize::Zeroizing::new(call().map_err(|e| from_foreign(py, e))?);
            DataKey::from_slice(&key).map_err(|_| {
                KmsError::Provider(format!(
                    "unwrap returned {} bytes; a data key is 32 bytes",
                    key.len()
                ))
            })
        })
        .unwrap_or_else(|| Err(KmsError::Unavailable(SHUTTING_DOWN.into())))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LocalKeyProvider>()?;
    m.add_class::<MemoryStore>()?;
    m.add_class::<SqliteStore>()?;
    #[cfg(feature = "postgres")]
    m.add_class::<PostgresStore>()?;
    Ok(())
}
