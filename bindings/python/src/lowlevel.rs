//! Low-level sealing with raw key bytes, for the format test vectors and the
//! cross-language files only (thin wrappers of `tenantguard::crypto`).
//!
//! Not public API: a caller-chosen salt invites salt reuse, and a raw key bypasses the
//! key provider. They live in the private submodule `tenantguard._native._testing`, out
//! of `tenantguard`'s namespace, `__all__` and stubs.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tenantguard::crypto::SALT_LEN;
use tenantguard::hazmat::TenantKey;

use crate::errors::{invalid, py_err};
use crate::types::{key_id, tenant_id, SealedArg, SealedValue};

fn tenant_key(key: &[u8], id: u32) -> PyResult<TenantKey> {
    let bytes: [u8; 32] = key
        .try_into()
        .map_err(|_| invalid(format!("key must be 32 bytes, got {}", key.len())))?;
    Ok(TenantKey::from_bytes(key_id(id)?, bytes))
}

/// Seals with a given key and salt (test vectors only: never reuse a salt).
#[pyfunction]
fn seal_with_salt(
    py: Python<'_>,
    key: &[u8],
    key_id: u32,
    tenant: &str,
    context: &[u8],
    plaintext: &[u8],
    salt: &[u8],
) -> PyResult<SealedValue> {
    let k = tenant_key(key, key_id)?;
    let t = tenant_id(tenant)?;
    let salt: &[u8; SALT_LEN] = salt
        .try_into()
        .map_err(|_| invalid(format!("salt must be {SALT_LEN} bytes, got {}", salt.len())))?;
    crate::runtime::detach(py, || {
        tenantguard::hazmat::seal_with_salt(&k, &t, context, plaintext, salt)
    })
    .map(SealedValue::wrap)
    .map_err(py_err)
}

/// Opens with a given key.
#[pyfunction]
fn open_with_key<'py>(
    py: Python<'py>,
    key: &[u8],
    key_id: u32,
    tenant: &str,
    context: &[u8],
    sealed: SealedArg<'_, '_>,
) -> PyResult<Bound<'py, PyBytes>> {
    let k = tenant_key(key, key_id)?;
    let t = tenant_id(tenant)?;
    let v = sealed.get();
    let plain = crate::runtime::detach(py, || {
        tenantguard::hazmat::open_with_key(&k, &t, context, v)
    })
    .map_err(py_err)?;
    Ok(PyBytes::new(py, plain.expose()))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let sub = PyModule::new(m.py(), "_testing")?;
    sub.add_function(wrap_pyfunction!(seal_with_salt, &sub)?)?;
    sub.add_function(wrap_pyfunction!(open_with_key, &sub)?)?;
    m.add_submodule(&sub)
}
