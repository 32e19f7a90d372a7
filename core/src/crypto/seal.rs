//! Sealing and opening with an unwrapped tenant key.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use subtle::ConstantTimeEq;

use super::format::{HEADER_LEN, SALT_LEN, TAG_LEN, VERSION_1};
use super::{CryptoError, SealedValue, TenantKey};
use crate::secret::SecretBytes;
use crate::tenant::TenantId;

/// Largest plaintext a value may hold: 16 MiB.
pub const MAX_PLAINTEXT_LEN: usize = 16 * 1024 * 1024;
/// Longest caller context, in bytes: 1 KiB.
pub const MAX_CONTEXT_LEN: usize = 1024;

/// Each record key encrypts exactly one message, so a fixed nonce is safe (docs/FORMAT.md).
const NONCE: [u8; 12] = [0u8; 12];
const AAD_LABEL: &[u8] = b"tenantguard/v1/aad";

fn aad(tenant: &TenantId, key_id: u32, context: &[u8]) -> Vec<u8> {
    let t = tenant.as_str().as_bytes();
    let mut a = Vec::with_capacity(AAD_LABEL.len() + 1 + t.len() + 4 + 4 + context.len());
    a.extend_from_slice(AAD_LABEL);
    // Tenant ids are at most 64 bytes, so one length byte suffices.
    a.push(t.len() as u8);
    a.extend_from_slice(t);
    a.extend_from_slice(&key_id.to_be_bytes());
    a.extend_from_slice(&(context.len() as u32).to_be_bytes());
    a.extend_from_slice(context);
    a
}

fn check_context(context: &[u8]) -> Result<(), CryptoError> {
    if context.len() > MAX_CONTEXT_LEN {
        return Err(CryptoError::TooLarge { what: "context", len: context.len(), max: MAX_CONTEXT_LEN });
    }
    Ok(())
}

/// Seals `plaintext` for `tenant` under `key`, bound to `context`, with a fresh random salt.
pub fn seal_with_key(
    key: &TenantKey,
    tenant: &TenantId,
    context: &[u8],
    plaintext: &[u8],
) -> Result<SealedValue, CryptoError> {
    let mut salt = [0u8; SALT_LEN];
    super::rng::fill(&mut salt)?;
    seal_with_salt(key, tenant, context, plaintext, &salt)
}

/// Deterministic sealing with a given salt: for test vectors only. Reusing a salt with the
/// same key and a different plaintext breaks confidentiality.
pub fn seal_with_salt(
    key: &TenantKey,
    tenant: &TenantId,
    context: &[u8],
    plaintext: &[u8],
    salt: &[u8; SALT_LEN],
) -> Result<SealedValue, CryptoError> {
    check_context(context)?;
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(CryptoError::TooLarge { what: "plaintext", len: plaintext.len(), max: MAX_PLAINTEXT_LEN });
    }
    let rk = key.derive(salt);
    let cipher = Aes256Gcm::new_from_slice(rk.aes_key()).map_err(|_| CryptoError::AuthenticationFailed)?;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION_1);
    out.extend_from_slice(&key.id().get().to_be_bytes());
    out.extend_from_slice(salt);
    out.extend_from_slice(rk.commitment());
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_inout_detached(
            &Nonce::from(NONCE),
            &aad(tenant, key.id().get(), context),
            (&mut out[HEADER_LEN..]).into(),
        )
        .map_err(|_| CryptoError::TooLarge { what: "plaintext", len: plaintext.len(), max: MAX_PLAINTEXT_LEN })?;
    out.extend_from_slice(&tag);
    Ok(SealedValue::from_vec_unchecked(out))
}

/// Opens `value` for `tenant` with `key`, checking the commitment, the tag and the context.
pub fn open_with_key(
    key: &TenantKey,
    tenant: &TenantId,
    context: &[u8],
    value: &SealedValue,
) -> Result<SecretBytes, CryptoError> {
    check_context(context)?;
    if value.key_id() != key.id() {
        return Err(CryptoError::WrongKey(key.id()));
    }
    let rk = key.derive(value.salt());
    if !bool::from(rk.commitment().ct_eq(value.commitment())) {
        return Err(CryptoError::WrongKey(key.id()));
    }
    let cipher = Aes256Gcm::new_from_slice(rk.aes_key()).map_err(|_| CryptoError::AuthenticationFailed)?;
    let body = value.ciphertext_and_tag();
    let (ct, tag) = body.split_at(body.len() - TAG_LEN);
    let mut buf = ct.to_vec();
    let tag = Tag::try_from(tag).map_err(|_| CryptoError::Malformed("bad tag length"))?;
    match cipher.decrypt_inout_detached(
        &Nonce::from(NONCE),
        &aad(tenant, key.id().get(), context),
        buf.as_mut_slice().into(),
        &tag,
    ) {
        Ok(()) => Ok(SecretBytes::new(buf)),
        Err(_) => {
            crate::secret::wipe(buf);
            Err(CryptoError::AuthenticationFailed)
        }
    }
}
