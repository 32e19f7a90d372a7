//! Sealing and opening with an unwrapped tenant key, in either format.

use subtle::ConstantTimeEq;

use super::aead;
use super::format::{HEADER_LEN, SALT_LEN, TAG_LEN, VERSION_1};
use super::keys::RecordKey;
use super::v2::{self, Context};
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

fn aes_key(rk: &RecordKey) -> Result<&[u8; 32], CryptoError> {
    rk.aes_key()
        .try_into()
        .map_err(|_| CryptoError::AuthenticationFailed)
}

fn check_context(context: &[u8]) -> Result<(), CryptoError> {
    if context.len() > MAX_CONTEXT_LEN {
        return Err(CryptoError::TooLarge {
            what: "context",
            len: context.len(),
            max: MAX_CONTEXT_LEN,
        });
    }
    Ok(())
}

/// The sealed-value format new values are written in. Every build opens both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum SealFormat {
    /// `tg1`: HKDF-SHA256 record keys, 128-bit salt, 192-bit commitment. Only for a rollout
    /// in which processes that cannot open v2 still read the values.
    V1,
    /// `tg2` (the default): XAES-256-GCM, 192-bit nonce, 256-bit commitment over header and
    /// associated data, typed contexts.
    #[default]
    V2,
}

impl SealFormat {
    /// The format's version byte (1 or 2).
    pub fn version(self) -> u8 {
        match self {
            SealFormat::V1 => 1,
            SealFormat::V2 => 2,
        }
    }
}

/// Seals `plaintext` for `tenant` under `key`, bound to `ctx`, in `format`, with a fresh
/// random salt (v1) or nonce (v2).
pub fn seal(
    key: &TenantKey,
    tenant: &TenantId,
    ctx: Context<'_>,
    plaintext: &[u8],
    format: SealFormat,
) -> Result<SealedValue, CryptoError> {
    match format {
        SealFormat::V2 => {
            let nonce = super::rng::nonce24()?;
            v2::seal(key.v2(), key.id().get(), tenant, &ctx, plaintext, &nonce)
        }
        SealFormat::V1 => {
            let mut salt = [0u8; SALT_LEN];
            super::rng::fill(&mut salt)?;
            seal_with_salt(key, tenant, &ctx.v1_bytes(), plaintext, &salt)
        }
    }
}

/// Opens `value` (either format) for `tenant` with `key` and the context it was sealed with.
pub fn open(
    key: &TenantKey,
    tenant: &TenantId,
    ctx: Context<'_>,
    value: &SealedValue,
) -> Result<SecretBytes, CryptoError> {
    if value.key_id() != key.id() {
        return Err(CryptoError::WrongKey(key.id()));
    }
    match value.version() {
        v2::VERSION_2 => v2::open(key.v2(), tenant, &ctx, value),
        _ => open_v1(key, tenant, &ctx.v1_bytes(), value),
    }
}

/// [`open`] for a value the caller no longer needs: a v2 value is decrypted in its own
/// buffer (no copy of the ciphertext) and the plaintext returned over that buffer; a v1
/// value is opened as by [`open`]. The value is consumed even on failure. A wrong key,
/// tenant or context fails before anything is decrypted; a value altered after sealing
/// fails with `AuthenticationFailed` and its buffer is wiped.
pub fn open_owned(
    key: &TenantKey,
    tenant: &TenantId,
    ctx: Context<'_>,
    value: SealedValue,
) -> Result<SecretBytes, CryptoError> {
    if value.key_id() != key.id() {
        return Err(CryptoError::WrongKey(key.id()));
    }
    match value.version() {
        v2::VERSION_2 => v2::open_owned(key.v2(), tenant, &ctx, value),
        _ => open_v1(key, tenant, &ctx.v1_bytes(), &value),
    }
}

/// Seals `plaintext` for `tenant` under `key`, bound to the caller's `context`, in the
/// default format (v2).
pub fn seal_with_key(
    key: &TenantKey,
    tenant: &TenantId,
    context: &[u8],
    plaintext: &[u8],
) -> Result<SealedValue, CryptoError> {
    seal(
        key,
        tenant,
        Context::Caller(context),
        plaintext,
        SealFormat::V2,
    )
}

/// Deterministic v2 sealing with a given nonce: for test vectors only. Reusing a nonce with
/// the same key breaks confidentiality and authenticity.
#[doc(hidden)]
pub fn seal_v2_with_nonce(
    key: &TenantKey,
    tenant: &TenantId,
    ctx: Context<'_>,
    plaintext: &[u8],
    nonce: &[u8; v2::NONCE_LEN],
) -> Result<SealedValue, CryptoError> {
    v2::seal(key.v2(), key.id().get(), tenant, &ctx, plaintext, nonce)
}

/// Deterministic v1 sealing with a given salt: for test vectors only. Reusing a salt with the
/// same key and a different plaintext breaks confidentiality.
pub fn seal_with_salt(
    key: &TenantKey,
    tenant: &TenantId,
    context: &[u8],
    plaintext: &[u8],
    salt: &[u8; SALT_LEN],
) -> Result<SealedValue, CryptoError> {
    check_context(context)?;
    v2::check_plaintext(plaintext.len())?;
    let rk = key.derive(salt);
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION_1);
    out.extend_from_slice(&key.id().get().to_be_bytes());
    out.extend_from_slice(salt);
    out.extend_from_slice(rk.commitment());
    out.extend_from_slice(plaintext);
    let tag = aead::seal_in_place(
        aes_key(&rk)?,
        &NONCE,
        &aad(tenant, key.id().get(), context),
        &mut out[HEADER_LEN..],
    )
    .map_err(|_| CryptoError::TooLarge {
        what: "plaintext",
        len: plaintext.len(),
        max: MAX_PLAINTEXT_LEN,
    })?;
    out.extend_from_slice(&tag);
    Ok(SealedValue::from_vec_unchecked(out))
}

/// Opens `value` (either format) for `tenant` with `key`, bound to the caller's `context`.
pub fn open_with_key(
    key: &TenantKey,
    tenant: &TenantId,
    context: &[u8],
    value: &SealedValue,
) -> Result<SecretBytes, CryptoError> {
    open(key, tenant, Context::Caller(context), value)
}

fn open_v1(
    key: &TenantKey,
    tenant: &TenantId,
    context: &[u8],
    value: &SealedValue,
) -> Result<SecretBytes, CryptoError> {
    check_context(context)?;
    let rk = key.derive(value.salt());
    if !bool::from(rk.commitment().ct_eq(value.commitment())) {
        return Err(CryptoError::WrongKey(key.id()));
    }
    let body = value.ciphertext_and_tag();
    let (ct, tag) = body.split_at(body.len() - TAG_LEN);
    let tag: &[u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| CryptoError::Malformed("bad tag length"))?;
    let plain = aead::open(
        aes_key(&rk)?,
        &NONCE,
        &aad(tenant, key.id().get(), context),
        ct,
        tag,
    )
    .map_err(|_| CryptoError::AuthenticationFailed)?;
    Ok(SecretBytes::new(plain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyId;

    #[test]
    fn both_formats_round_trip_and_stay_apart() {
        let key = TenantKey::from_bytes(KeyId::new(7).unwrap(), [0x5a; 32]);
        let tenant = TenantId::new("acme").unwrap();
        let rec = Context::Record {
            class: "a",
            id: "b:c",
        };
        for f in [SealFormat::V1, SealFormat::V2] {
            let v = seal(&key, &tenant, rec, b"pt", f).unwrap();
            assert_eq!(v.version(), f.version());
            assert_eq!(open(&key, &tenant, rec, &v).unwrap().expose(), b"pt");
            let moved = Context::Record {
                class: "a:b",
                id: "c",
            };
            // v1's record context is ambiguous (the reason for v2's typed contexts).
            assert_eq!(open(&key, &tenant, moved, &v).is_ok(), f == SealFormat::V1);
            assert!(
                open(&key, &tenant, Context::Caller(b"record:a:b:c"), &v).is_ok()
                    == (f == SealFormat::V1)
            );
        }
    }
}
