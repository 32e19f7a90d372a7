//! Format v2 (`tg2`): XAES-256-GCM record keys from a cached per-key-version state, a
//! 192-bit random nonce, and a 256-bit HMAC-SHA256 commitment over the header, the tenant
//! and the typed context (docs/FORMAT.md section 1.2 says why each part was chosen).
//!
//! Binary: `0x02 | key id (u32 BE) | nonce (24) | commitment (32) | ciphertext | tag (16)`.

use aes_gcm::aes::cipher::BlockCipherEncrypt;
use aes_gcm::aes::Aes256Enc;
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::aead::{self, TAG_LEN};
use super::{CryptoError, SealedValue};
use crate::secret::SecretBytes;
use crate::tenant::TenantId;

/// The binary format version byte of v2.
pub const VERSION_2: u8 = 0x02;
/// Length of the v2 nonce (XAES-256-GCM).
pub const NONCE_LEN: usize = 24;
/// Length of the v2 key commitment (HMAC-SHA256).
pub const COMMITMENT_V2_LEN: usize = 32;
/// Bytes before the ciphertext in v2: version, key id, nonce, commitment (61).
pub(crate) const HEADER_V2_LEN: usize = 1 + 4 + NONCE_LEN + COMMITMENT_V2_LEN;
/// Bytes a v2 value adds to its plaintext in binary form (77).
pub const BINARY_OVERHEAD_V2: usize = HEADER_V2_LEN + TAG_LEN;
/// HKDF-Extract salt of the per-key-version v2 keys.
const V2_EXTRACT_SALT: &[u8] = b"tenantguard/v2/key-version";

/// What a value is bound to, besides its tenant and key version. The two kinds are typed
/// and length-prefixed in v2, so no caller context can equal a record context, and no two
/// (class, id) pairs encode alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context<'a> {
    /// A caller's context, e.g. `"credentials/password/row-42"` (at most 1 KiB).
    Caller(&'a [u8]),
    /// A record kept by the store: its data class and id.
    Record {
        /// The data class.
        class: &'a str,
        /// The record id.
        id: &'a str,
    },
}

impl Context<'_> {
    /// The v1 context bytes (`record:<class>:<id>` for records: ambiguous, which is why v2
    /// types and length-prefixes them instead).
    pub(crate) fn v1_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Context::Caller(b) => std::borrow::Cow::Borrowed(b),
            Context::Record { class, id } => {
                let mut c = Vec::with_capacity(8 + class.len() + id.len());
                c.extend_from_slice(b"record:");
                c.extend_from_slice(class.as_bytes());
                c.push(b':');
                c.extend_from_slice(id.as_bytes());
                std::borrow::Cow::Owned(c)
            }
        }
    }

    fn check(&self) -> Result<(), CryptoError> {
        let len = match self {
            Context::Caller(b) => b.len(),
            Context::Record { class, id } => class.len() + id.len(),
        };
        if len > super::MAX_CONTEXT_LEN {
            return Err(CryptoError::TooLarge {
                what: "context",
                len,
                max: super::MAX_CONTEXT_LEN,
            });
        }
        Ok(())
    }
}

/// The v2 state of one key version, derived once when the key is unwrapped: the AES-256
/// key schedule of the XAES key and its CMAC subkey K1, and the HMAC key state
/// (inner and outer pads already hashed). Each record then costs two AES blocks and one
/// short HMAC, instead of an HKDF-Expand. Wiped on drop.
pub(crate) struct V2Key {
    xaes: Aes256Enc,
    k1: Zeroizing<[u8; 16]>,
    mac: Hmac<Sha256>,
}

impl V2Key {
    pub(crate) fn new(data_key: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(V2_EXTRACT_SALT), data_key);
        let mut okm = Zeroizing::new([0u8; 64]);
        hk.expand(b"tg2 xaes key || tg2 commitment key", &mut okm[..])
            .unwrap_or_else(|_| unreachable!("64-byte HKDF output is always valid"));
        let xk: &[u8; 32] = okm[..32]
            .try_into()
            .unwrap_or_else(|_| unreachable!("32 bytes"));
        let xaes = Aes256Enc::new(xk.into());
        // C2SP XAES-256-GCM: L = AES_K(0^128); K1 = L << 1, xor 0x87 if the top bit was set.
        let mut l = [0u8; 16];
        xaes.encrypt_block((&mut l).into());
        let mut k1 = Zeroizing::new([0u8; 16]);
        let msb = l[0] >> 7;
        for i in 0..15 {
            k1[i] = (l[i] << 1) | (l[i + 1] >> 7);
        }
        k1[15] = (l[15] << 1) ^ (0x87 & 0u8.wrapping_sub(msb));
        l.zeroize();
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&okm[32..])
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        V2Key { xaes, k1, mac }
    }

    /// XAES-256-GCM key derivation (C2SP): `K_x = AES_K(M1 ^ K1) || AES_K(M2 ^ K1)` with
    /// `M1 = 00 01 'X' 00 || N[..12]`, `M2 = 00 02 'X' 00 || N[..12]`.
    fn derive(&self, nonce: &[u8; NONCE_LEN]) -> Zeroizing<[u8; 32]> {
        let mut kx = Zeroizing::new([0u8; 32]);
        kx[..4].copy_from_slice(&[0, 1, b'X', 0]);
        kx[4..16].copy_from_slice(&nonce[..12]);
        kx[16..20].copy_from_slice(&[0, 2, b'X', 0]);
        kx[20..32].copy_from_slice(&nonce[..12]);
        for i in 0..16 {
            kx[i] ^= self.k1[i];
            kx[16 + i] ^= self.k1[i];
        }
        // One call for both blocks: the AES backend loads (broadcasts) the round keys once
        // per call, which costs more than a block with the VAES-512 backend.
        let mut blocks = [
            aes_gcm::aes::Block::try_from(&kx[..16]).unwrap_or_default(),
            aes_gcm::aes::Block::try_from(&kx[16..]).unwrap_or_default(),
        ];
        self.xaes.encrypt_blocks(&mut blocks);
        kx[..16].copy_from_slice(&blocks[0]);
        kx[16..].copy_from_slice(&blocks[1]);
        blocks[0].zeroize();
        blocks[1].zeroize();
        kx
    }

    /// The commitment: HMAC-SHA256 under the version's commitment key over the header
    /// (version, key id, nonce), the tenant and the typed context, all length-prefixed.
    fn commit(&self, header: &[u8], tenant: &TenantId, ctx: &Context<'_>) -> [u8; 32] {
        let mut m = self.mac.clone();
        let t = tenant.as_str().as_bytes();
        m.update(header);
        // Tenant ids are at most 64 bytes: one length byte.
        m.update(&[t.len() as u8]);
        m.update(t);
        match ctx {
            Context::Caller(c) => {
                m.update(&[1]);
                m.update(&(c.len() as u32).to_be_bytes());
                m.update(c);
            }
            Context::Record { class, id } => {
                m.update(&[2]);
                m.update(&(class.len() as u32).to_be_bytes());
                m.update(class.as_bytes());
                m.update(&(id.len() as u32).to_be_bytes());
                m.update(id.as_bytes());
            }
        }
        m.finalize().into_bytes().into()
    }
}

/// XAES-256-GCM for the C2SP known-answer tests: `key` is the XAES key itself.
#[doc(hidden)]
pub fn xaes_256_gcm_seal(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], pt: &[u8]) -> Vec<u8> {
    let xaes = Aes256Enc::new(key.into());
    let mut l = [0u8; 16];
    xaes.encrypt_block((&mut l).into());
    let mut k1 = [0u8; 16];
    for i in 0..15 {
        k1[i] = (l[i] << 1) | (l[i + 1] >> 7);
    }
    k1[15] = (l[15] << 1) ^ if l[0] & 0x80 != 0 { 0x87 } else { 0 };
    let st = V2Key {
        xaes,
        k1: Zeroizing::new(k1),
        mac: <Hmac<Sha256> as KeyInit>::new_from_slice(&[0u8; 32])
            .unwrap_or_else(|_| unreachable!()),
    };
    let kx = st.derive(nonce);
    let mut out = pt.to_vec();
    let n: [u8; 12] = nonce[12..].try_into().unwrap_or([0; 12]);
    let tag = aead::seal_in_place(&kx, &n, aad, &mut out).unwrap_or([0; 16]);
    out.extend_from_slice(&tag);
    out
}

pub(crate) fn check_plaintext(len: usize) -> Result<(), CryptoError> {
    if len > super::MAX_PLAINTEXT_LEN {
        return Err(CryptoError::TooLarge {
            what: "plaintext",
            len,
            max: super::MAX_PLAINTEXT_LEN,
        });
    }
    Ok(())
}

/// Seals in format v2 with the given nonce (a fresh random one from [`super::seal`]).
pub(crate) fn seal(
    key: &V2Key,
    key_id: u32,
    tenant: &TenantId,
    ctx: &Context<'_>,
    plaintext: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Result<SealedValue, CryptoError> {
    ctx.check()?;
    check_plaintext(plaintext.len())?;
    let mut out = Vec::with_capacity(HEADER_V2_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION_2);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(nonce);
    let c = key.commit(&out, tenant, ctx);
    out.extend_from_slice(&c);
    out.extend_from_slice(plaintext);
    let kx = key.derive(nonce);
    let (header, body) = out.split_at_mut(HEADER_V2_LEN);
    let gcm_nonce: &[u8; 12] = nonce[12..]
        .try_into()
        .unwrap_or_else(|_| unreachable!("12 bytes"));
    let tag =
        aead::seal_in_place(&kx, gcm_nonce, header, body).map_err(|_| CryptoError::TooLarge {
            what: "plaintext",
            len: plaintext.len(),
            max: super::MAX_PLAINTEXT_LEN,
        })?;
    out.extend_from_slice(&tag);
    Ok(SealedValue::from_vec_unchecked(out))
}

/// Checks a v2 value's version, length and commitment (constant time) for this tenant and
/// context, and derives its record key: `(record key, GCM nonce)`. Nothing is decrypted
/// before this passes.
fn record_key(
    key: &V2Key,
    tenant: &TenantId,
    ctx: &Context<'_>,
    b: &[u8],
) -> Result<(Zeroizing<[u8; 32]>, [u8; 12]), CryptoError> {
    ctx.check()?;
    if b.len() < BINARY_OVERHEAD_V2 || b[0] != VERSION_2 {
        return Err(CryptoError::Malformed("not a v2 value"));
    }
    let header = &b[..HEADER_V2_LEN];
    let nonce: &[u8; NONCE_LEN] = header[5..5 + NONCE_LEN]
        .try_into()
        .map_err(|_| CryptoError::Malformed("nonce"))?;
    let expect = key.commit(&header[..5 + NONCE_LEN], tenant, ctx);
    if !bool::from(expect.ct_eq(&header[5 + NONCE_LEN..])) {
        return Err(CryptoError::AuthenticationFailed);
    }
    let gcm_nonce: [u8; 12] = nonce[12..]
        .try_into()
        .map_err(|_| CryptoError::Malformed("nonce"))?;
    Ok((key.derive(nonce), gcm_nonce))
}

/// Opens a v2 value: the commitment is checked (constant time) before any decryption.
pub(crate) fn open(
    key: &V2Key,
    tenant: &TenantId,
    ctx: &Context<'_>,
    value: &SealedValue,
) -> Result<SecretBytes, CryptoError> {
    let b = value.as_bytes();
    let (kx, gcm_nonce) = record_key(key, tenant, ctx, b)?;
    let (header, rest) = b.split_at(HEADER_V2_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let tag: &[u8; TAG_LEN] = tag
        .try_into()
        .map_err(|_| CryptoError::Malformed("bad tag length"))?;
    let plain = aead::open(&kx, &gcm_nonce, header, ct, tag)
        .map_err(|_| CryptoError::AuthenticationFailed)?;
    Ok(SecretBytes::new(plain))
}

/// [`open`] that decrypts in the value's own buffer instead of a copy: one pass over the
/// bytes less, and the plaintext is `SecretBytes` over that buffer (header in front, wiped
/// with it). The commitment is checked first, so a wrong tenant, context or key fails
/// before anything is decrypted; a value whose ciphertext or tag was altered after sealing
/// fails after decryption in place, and its buffer is wiped.
pub(crate) fn open_owned(
    key: &V2Key,
    tenant: &TenantId,
    ctx: &Context<'_>,
    value: SealedValue,
) -> Result<SecretBytes, CryptoError> {
    let mut b = value.into_bytes();
    let (kx, gcm_nonce) = record_key(key, tenant, ctx, &b)?;
    let (header, body) = b.split_at_mut(HEADER_V2_LEN);
    match aead::open_in_place(&kx, &gcm_nonce, header, body) {
        Ok(n) => {
            b.truncate(HEADER_V2_LEN + n);
            Ok(SecretBytes::from_vec_at(b, HEADER_V2_LEN))
        }
        Err(()) => {
            crate::secret::wipe(b);
            Err(CryptoError::AuthenticationFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C2SP XAES-256-GCM vectors through our own derivation and AEAD backend.
    #[test]
    fn c2sp_vectors() {
        let n = *b"ABCDEFGHIJKLMNOPQRSTUVWX";
        let ct = xaes_256_gcm_seal(&[1; 32], &n, b"", b"XAES-256-GCM");
        assert_eq!(
            hex::encode(ct),
            "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271"
        );
        let ct = xaes_256_gcm_seal(&[3; 32], &n, b"c2sp.org/XAES-256-GCM", b"XAES-256-GCM");
        assert_eq!(
            hex::encode(ct),
            "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d"
        );
    }

    #[test]
    fn record_contexts_are_unambiguous() {
        let key = V2Key::new(&[9; 32]);
        let t = TenantId::new("acme").unwrap();
        let h = [2u8; 29];
        let a = key.commit(
            &h,
            &t,
            &Context::Record {
                class: "a",
                id: "b:c",
            },
        );
        let b = key.commit(
            &h,
            &t,
            &Context::Record {
                class: "a:b",
                id: "c",
            },
        );
        let c = key.commit(&h, &t, &Context::Caller(b"record:a:b:c"));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
    }
}
