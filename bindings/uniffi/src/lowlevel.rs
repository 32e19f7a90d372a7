//! Low-level sealing with raw key bytes, for the format vectors and cross-language tests
//! only (thin wrappers of `tenantguard::crypto`). Built only with the `test-primitives`
//! feature: a caller-chosen salt invites salt reuse, a raw key bypasses the key provider.

use std::sync::Arc;

use tenantguard::crypto::SALT_LEN;
use tenantguard::hazmat::TenantKey;

use crate::error::TenantguardError;
use crate::types::{key_id, tenant_id, SealedValue};
use tenantguard::ErrorKind;

fn tenant_key(key: &[u8], id: u32) -> Result<TenantKey, TenantguardError> {
    let bytes: [u8; 32] = key.try_into().map_err(|_| {
        TenantguardError::new(
            ErrorKind::InvalidInput,
            format!("key must be 32 bytes, got {}", key.len()),
        )
    })?;
    Ok(TenantKey::from_bytes(key_id(id)?, bytes))
}

/// Seals with a given key and salt (test vectors only: never reuse a salt).
#[uniffi::export]
pub fn seal_with_salt(
    key: Vec<u8>,
    key_id: u32,
    tenant: String,
    context: Vec<u8>,
    plaintext: Vec<u8>,
    salt: Vec<u8>,
) -> Result<Arc<SealedValue>, TenantguardError> {
    let k = tenant_key(&key, key_id)?;
    let salt: &[u8; SALT_LEN] = salt.as_slice().try_into().map_err(|_| {
        TenantguardError::new(
            ErrorKind::InvalidInput,
            format!("salt must be {SALT_LEN} bytes, got {}", salt.len()),
        )
    })?;
    Ok(Arc::new(SealedValue(tenantguard::hazmat::seal_with_salt(
        &k,
        &tenant_id(tenant)?,
        &context,
        &plaintext,
        salt,
    )?)))
}

/// Opens with a given key.
#[uniffi::export]
pub fn open_with_key(
    key: Vec<u8>,
    key_id: u32,
    tenant: String,
    context: Vec<u8>,
    sealed: Arc<SealedValue>,
) -> Result<Vec<u8>, TenantguardError> {
    let k = tenant_key(&key, key_id)?;
    Ok(
        tenantguard::hazmat::open_with_key(&k, &tenant_id(tenant)?, &context, &sealed.0)?
            .expose()
            .to_vec(),
    )
}
