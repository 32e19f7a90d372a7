//! Key providers and stores: the built-in ones, and key providers implemented in Python.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use tenantguard::crypto::DataKey;
use tenantguard::kms::{KmsError, WrapContext, WrappedKey};
use tenantguard::Store;

use crate::errors::{from_foreign, py_err};

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
        py.detach(|| tenantguard::LocalKeyProvider::open_or_create(&path))
            .map(|p| LocalKeyProvider(Arc::new(p)))
            .map_err(py_err)
    }

    /// Opens an existing key file.
    #[classmethod]
    fn open(_cls: &Bound<'_, PyType>, py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        py.detach(|| tenantguard::LocalKeyProvider::open(&path))
            .map(|p| LocalKeyProvider(Arc::new(p)))
            .map_err(py_err)
    }

    /// A provider with one random KEK held only in memory.
    #[classmethod]
    fn ephemeral(_cls: &Bound<'_, PyType>) -> Self {
        LocalKeyProvider(Arc::new(tenantguard::LocalKeyProvider::ephemeral()))
    }

    /// Adds a fresh KEK and makes it current; returns its id.
    fn rotate_kek(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.0.rotate_kek()).map_err(py_err)
    }

    /// Deletes a KEK that is no longer current.
    fn remove_kek(&self, py: Python<'_>, kek_id: &str) -> PyResult<()> {
        py.detach(|| self.0.remove_kek(kek_id)).map_err(py_err)
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
    fn new(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        py.detach(|| tenantguard::SqliteStore::open(&path))
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

/// The store argument of `Guard(...)`.
pub(crate) fn store_from(obj: &Bound<'_, PyAny>) -> PyResult<Arc<dyn Store>> {
    if let Ok(s) = obj.cast::<MemoryStore>() {
        return Ok(s.get().0.clone());
    }
    if let Ok(s) = obj.cast::<SqliteStore>() {
        return Ok(s.get().0.clone());
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "store must be MemoryStore or SqliteStore, got {}",
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
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
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
        Python::attach(|py| {
            self.obj
                .call_method0(py, "current_kek")
                .and_then(|r| r.extract::<String>(py))
                .map_err(|e| from_foreign(py, e))
        })
    }

    async fn wrap(&self, key: &DataKey, ctx: &WrapContext) -> Result<WrappedKey, KmsError> {
        Python::attach(|py| {
            let call = || -> PyResult<(String, Vec<u8>)> {
                let key = PyBytes::new(py, key.expose());
                self.obj
                    .call_method1(py, "wrap", (key, ctx_obj(py, ctx)?))?
                    .extract(py)
            };
            let (kek_id, ciphertext) = call().map_err(|e| from_foreign(py, e))?;
            Ok(WrappedKey { kek_id, ciphertext })
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext) -> Result<DataKey, KmsError> {
        Python::attach(|py| {
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
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LocalKeyProvider>()?;
    m.add_class::<MemoryStore>()?;
    m.add_class::<SqliteStore>()?;
    Ok(())
}
