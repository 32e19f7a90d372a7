//! Sealing and opening with an unwrapped tenant key.

use subtle::ConstantTimeEq;

use super::format::{HEADER_LEN, SALT_LEN, TAG_LEN, VERSION_1};
use super::keys::RecordKey;
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
        return Err(CryptoError::TooLarge {
            what: "plaintext",
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }
    let rk = key.derive(salt);
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION_1);
    out.extend_from_slice(&key.id().get().to_be_bytes());
    out.extend_from_slice(salt);
    out.extend_from_slice(rk.commitment());
    out.extend_from_slice(plaintext);
    let tag = gcm::seal_in_place(
        aes_key(&rk)?,
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
    let body = value.ciphertext_and_tag();
    let (ct, tag) = body.split_at(body.len() - TAG_LEN);
    let tag: &[u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| CryptoError::Malformed("bad tag length"))?;
    let plain = gcm::open(
        aes_key(&rk)?,
        &aad(tenant, key.id().get(), context),
        ct,
        tag,
    )
    .map_err(|_| CryptoError::AuthenticationFailed)?;
    Ok(SecretBytes::new(plain))
}

#[cfg(feature = "aws-lc")]
use awslc as gcm;
/// The AES-256-GCM implementation: RustCrypto `aes-gcm` by default, aws-lc-rs with the
/// `aws-lc` feature. Both produce the same bytes (same key, fixed zero nonce, same AAD).
#[cfg(not(feature = "aws-lc"))]
use rustcrypto as gcm;

/// Pure-Rust AES-256-GCM (RustCrypto), the default. The key schedule is zeroized on drop.
#[cfg_attr(feature = "aws-lc", allow(dead_code))]
mod rustcrypto {
    use aes_gcm::aead::consts::U12;
    use aes_gcm::aead::{AeadInOut, KeyInit};
    use aes_gcm::aes::Aes256Enc;
    use aes_gcm::{AesGcm, Nonce};

    use super::{NONCE, TAG_LEN};

    /// AES-256-GCM on the encryption-only key schedule: GCM never runs the block cipher
    /// backwards, so the decryption round keys of `Aes256Gcm` are wasted work, and 240 more
    /// bytes to zeroize, for every record key.
    type Aes256Gcm = AesGcm<Aes256Enc, U12>;

    /// Encrypts `buf` in place; returns the tag.
    pub(super) fn seal_in_place(
        key: &[u8; 32],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], ()> {
        let cipher = Aes256Gcm::new(key.into());
        let tag = cipher
            .encrypt_inout_detached(&Nonce::from(NONCE), aad, buf.into())
            .map_err(|_| ())?;
        Ok(tag.into())
    }

    /// Decrypts `ct` if `tag` authenticates it; nothing of a failed attempt is left in memory.
    pub(super) fn open(
        key: &[u8; 32],
        aad: &[u8],
        ct: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<Vec<u8>, ()> {
        let cipher = Aes256Gcm::new(key.into());
        let mut buf = ct.to_vec();
        match cipher.decrypt_inout_detached(
            &Nonce::from(NONCE),
            aad,
            buf.as_mut_slice().into(),
            tag.into(),
        ) {
            Ok(()) => Ok(buf),
            Err(_) => {
                crate::secret::wipe(buf);
                Err(())
            }
        }
    }
}

/// AES-256-GCM from aws-lc-rs (AWS-LC, assembly AES-NI/VAES + CLMUL). Its context lives
/// in memory that AWS-LC cleanses when it is freed.
#[cfg(feature = "aws-lc")]
mod awslc {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

    use super::{NONCE, TAG_LEN};

    fn key(key: &[u8; 32]) -> Result<LessSafeKey, ()> {
        Ok(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, key).map_err(|_| ())?,
        ))
    }

    /// Encrypts `buf` in place; returns the tag.
    pub(super) fn seal_in_place(
        k: &[u8; 32],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], ()> {
        let tag = key(k)?
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(NONCE), Aad::from(aad), buf)
            .map_err(|_| ())?;
        tag.as_ref().try_into().map_err(|_| ())
    }

    /// Decrypts `ct` if `tag` authenticates it; nothing of a failed attempt is left in memory.
    pub(super) fn open(
        k: &[u8; 32],
        aad: &[u8],
        ct: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<Vec<u8>, ()> {
        let mut buf = vec![0u8; ct.len()];
        // Decrypts straight from `ct` into `buf` (no copy first); AWS-LC clears `buf` on failure.
        match key(k)?.open_separate_gather(
            Nonce::assume_unique_for_key(NONCE),
            Aad::from(aad),
            ct,
            tag,
            &mut buf,
        ) {
            Ok(()) => Ok(buf),
            Err(_) => {
                crate::secret::wipe(buf);
                Err(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both the default and the selected backend on the same inputs: same bytes, each opens
    /// the other's output, and a flipped bit fails in both.
    fn check_backends_agree(seal_b: SealFn, open_b: OpenFn) {
        let mut n = 0u8;
        for len in [0usize, 1, 15, 16, 17, 63, 64, 255, 256, 4096, 65_537] {
            for aad_len in [0usize, 1, 16, 45, 300] {
                n = n.wrapping_add(1);
                let key = [n; 32];
                let aad: Vec<u8> = (0..aad_len).map(|i| i as u8 ^ n).collect();
                let pt: Vec<u8> = (0..len).map(|i| (i * 31) as u8 ^ n).collect();
                let (mut a, mut b) = (pt.clone(), pt.clone());
                let tag_a = rustcrypto::seal_in_place(&key, &aad, &mut a).unwrap();
                let tag_b = seal_b(&key, &aad, &mut b).unwrap();
                assert_eq!((&a, tag_a), (&b, tag_b), "len {len} aad {aad_len}");
                assert_eq!(open_b(&key, &aad, &a, &tag_a).unwrap(), pt);
                assert_eq!(rustcrypto::open(&key, &aad, &b, &tag_b).unwrap(), pt);
                let mut bad = tag_a;
                bad[len % TAG_LEN] ^= 0x80;
                assert!(open_b(&key, &aad, &a, &bad).is_err());
                assert!(rustcrypto::open(&key, &aad, &a, &bad).is_err());
            }
        }
    }

    type SealFn = fn(&[u8; 32], &[u8], &mut [u8]) -> Result<[u8; TAG_LEN], ()>;
    type OpenFn = fn(&[u8; 32], &[u8], &[u8], &[u8; TAG_LEN]) -> Result<Vec<u8>, ()>;

    #[test]
    fn selected_backend_matches_rustcrypto() {
        check_backends_agree(gcm::seal_in_place, gcm::open);
    }

    /// With the `aws-lc` feature: whole sealed values are byte-identical to the ones the
    /// default RustCrypto backend builds, and open with it.
    #[cfg(feature = "aws-lc")]
    #[test]
    fn aws_lc_backend_is_byte_identical() {
        use crate::crypto::KeyId;
        check_backends_agree(awslc::seal_in_place, awslc::open);
        let key = TenantKey::from_bytes(KeyId::new(7).unwrap(), [0x5a; 32]);
        let tenant = TenantId::new("acme").unwrap();
        for len in [0usize, 7, 256, 100_000] {
            let pt = vec![0xc3u8; len];
            let salt = [len as u8; SALT_LEN];
            let sealed = seal_with_salt(&key, &tenant, b"ctx", &pt, &salt).unwrap();
            // The same value built by hand with RustCrypto.
            let rk = key.derive(&salt);
            let mut expect = vec![VERSION_1];
            expect.extend_from_slice(&7u32.to_be_bytes());
            expect.extend_from_slice(&salt);
            expect.extend_from_slice(rk.commitment());
            let mut body = pt.clone();
            let tag = rustcrypto::seal_in_place(
                aes_key(&rk).unwrap(),
                &aad(&tenant, 7, b"ctx"),
                &mut body,
            )
            .unwrap();
            expect.extend_from_slice(&body);
            expect.extend_from_slice(&tag);
            assert_eq!(sealed.as_bytes(), expect.as_slice());
            assert_eq!(
                open_with_key(&key, &tenant, b"ctx", &sealed)
                    .unwrap()
                    .expose(),
                pt.as_slice()
            );
        }
    }
}
