//! AES-256-GCM, one of three implementations chosen at build time. All three produce the
//! same bytes; `tests::backends_agree` checks it on every build.
//!
//! - `ring` (default feature `ring`): the fastest here (benches/BENCHMARKS.md); its key
//!   state is not wiped when dropped (ring has no zeroize), see docs/SECURITY.md.
//! - `aws-lc` (feature `aws-lc`, takes precedence over `ring`): AWS-LC cleanses its context.
//! - RustCrypto `aes-gcm` (no backend feature): pure Rust, key state zeroized on drop.

pub(crate) const TAG_LEN: usize = 16;

#[cfg(feature = "aws-lc")]
use awslc as backend;
#[cfg(all(feature = "ring", not(feature = "aws-lc")))]
use ring_gcm as backend;
#[cfg(not(any(feature = "ring", feature = "aws-lc")))]
use rustcrypto as backend;

/// The name of the AES-256-GCM implementation this build uses.
pub const BACKEND: &str = backend::NAME;

/// Encrypts `buf` in place; returns the tag.
#[inline]
pub(crate) fn seal_in_place(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], ()> {
    backend::seal_in_place(key, nonce, aad, buf)
}

/// Decrypts `ct` if `tag` authenticates it; nothing of a failed attempt is left in memory.
#[inline]
pub(crate) fn open(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8; TAG_LEN],
) -> Result<Vec<u8>, ()> {
    backend::open(key, nonce, aad, ct, tag)
}

/// Decrypts `in_out` (the ciphertext followed by its tag) in place if the tag authenticates
/// it, and returns the plaintext's length; on failure the caller wipes `in_out`.
#[inline]
pub(crate) fn open_in_place(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    in_out: &mut [u8],
) -> Result<usize, ()> {
    backend::open_in_place(key, nonce, aad, in_out)
}

/// Pure-Rust AES-256-GCM (RustCrypto). The key schedule is zeroized on drop.
#[allow(dead_code)]
pub(crate) mod rustcrypto {
    use aes_gcm::aead::consts::U12;
    use aes_gcm::aead::{AeadInOut, KeyInit};
    use aes_gcm::aes::Aes256Enc;
    use aes_gcm::{AesGcm, Nonce};

    use super::TAG_LEN;

    pub(crate) const NAME: &str = "rustcrypto";

    /// GCM never runs the block cipher backwards: the encryption-only key schedule saves
    /// the decryption round keys (and zeroizing them) per record key.
    type Aes256Gcm = AesGcm<Aes256Enc, U12>;

    pub(crate) fn seal_in_place(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], ()> {
        let cipher = Aes256Gcm::new(key.into());
        let tag = cipher
            .encrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into())
            .map_err(|_| ())?;
        Ok(tag.into())
    }

    pub(crate) fn open(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ct: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<Vec<u8>, ()> {
        let mut buf = ct.to_vec();
        let cipher = Aes256Gcm::new(key.into());
        match cipher.decrypt_inout_detached(
            &Nonce::from(*nonce),
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
    pub(crate) fn open_in_place(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<usize, ()> {
        let n = in_out.len().checked_sub(TAG_LEN).ok_or(())?;
        let (ct, tag) = in_out.split_at_mut(n);
        let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| ())?;
        Aes256Gcm::new(key.into())
            .decrypt_inout_detached(&Nonce::from(*nonce), aad, ct.into(), (&tag).into())
            .map_err(|_| ())?;
        Ok(n)
    }
}

/// AES-256-GCM from ring (assembly AES-NI + CLMUL/AVX).
#[cfg(feature = "ring")]
#[allow(dead_code)]
pub(crate) mod ring_gcm {
    use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};

    use super::TAG_LEN;

    pub(crate) const NAME: &str = "ring";

    fn key(k: &[u8; 32]) -> Result<LessSafeKey, ()> {
        Ok(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, k).map_err(|_| ())?,
        ))
    }

    pub(crate) fn seal_in_place(
        k: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], ()> {
        let tag = key(k)?
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buf)
            .map_err(|_| ())?;
        tag.as_ref().try_into().map_err(|_| ())
    }

    pub(crate) fn open(
        k: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ct: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<Vec<u8>, ()> {
        let mut buf = ct.to_vec();
        let r = key(k)?
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                Tag::from(*tag),
                &mut buf,
                0..,
            )
            .map(|_| ());
        match r {
            Ok(()) => Ok(buf),
            Err(_) => {
                crate::secret::wipe(buf);
                Err(())
            }
        }
    }
    pub(crate) fn open_in_place(
        k: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<usize, ()> {
        key(k)?
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), in_out)
            .map(|plain| plain.len())
            .map_err(|_| ())
    }
}

/// AES-256-GCM from aws-lc-rs. Its context lives in memory that AWS-LC cleanses when freed.
#[cfg(feature = "aws-lc")]
#[allow(dead_code)]
pub(crate) mod awslc {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

    use super::TAG_LEN;

    pub(crate) const NAME: &str = "aws-lc";

    fn key(key: &[u8; 32]) -> Result<LessSafeKey, ()> {
        Ok(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, key).map_err(|_| ())?,
        ))
    }

    pub(crate) fn seal_in_place(
        k: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], ()> {
        let tag = key(k)?
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buf)
            .map_err(|_| ())?;
        tag.as_ref().try_into().map_err(|_| ())
    }

    pub(crate) fn open(
        k: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ct: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<Vec<u8>, ()> {
        let mut buf = vec![0u8; ct.len()];
        // Decrypts straight from `ct` into `buf` (no copy first); AWS-LC clears `buf` on failure.
        match key(k)?.open_separate_gather(
            Nonce::assume_unique_for_key(*nonce),
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
    pub(crate) fn open_in_place(
        k: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<usize, ()> {
        key(k)?
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), in_out)
            .map(|plain| plain.len())
            .map_err(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type SealFn = fn(&[u8; 32], &[u8; 12], &[u8], &mut [u8]) -> Result<[u8; TAG_LEN], ()>;
    type OpenFn = fn(&[u8; 32], &[u8; 12], &[u8], &[u8], &[u8; TAG_LEN]) -> Result<Vec<u8>, ()>;
    type OpenInPlaceFn = fn(&[u8; 32], &[u8; 12], &[u8], &mut [u8]) -> Result<usize, ()>;

    /// A backend against RustCrypto on the same inputs: same bytes, each opens the other's
    /// output, and a flipped tag bit fails in both.
    fn check(seal_b: SealFn, open_b: OpenFn, in_place_b: OpenInPlaceFn) {
        let mut n = 0u8;
        for len in [0usize, 1, 15, 16, 17, 63, 64, 255, 256, 4096, 65_537] {
            for aad_len in [0usize, 1, 16, 45, 300] {
                n = n.wrapping_add(1);
                let key = [n; 32];
                let nonce = [n ^ 0x5a; 12];
                let aad: Vec<u8> = (0..aad_len).map(|i| i as u8 ^ n).collect();
                let pt: Vec<u8> = (0..len).map(|i| (i * 31) as u8 ^ n).collect();
                let (mut a, mut b) = (pt.clone(), pt.clone());
                let tag_a = rustcrypto::seal_in_place(&key, &nonce, &aad, &mut a).unwrap();
                let tag_b = seal_b(&key, &nonce, &aad, &mut b).unwrap();
                assert_eq!((&a, tag_a), (&b, tag_b), "len {len} aad {aad_len}");
                assert_eq!(open_b(&key, &nonce, &aad, &a, &tag_a).unwrap(), pt);
                assert_eq!(
                    rustcrypto::open(&key, &nonce, &aad, &b, &tag_b).unwrap(),
                    pt
                );
                let mut bad = tag_a;
                bad[len % TAG_LEN] ^= 0x80;
                assert!(open_b(&key, &nonce, &aad, &a, &bad).is_err());
                assert!(rustcrypto::open(&key, &nonce, &aad, &a, &bad).is_err());
                // In place: ciphertext and tag in one buffer, as a sealed value holds them.
                let both: [OpenInPlaceFn; 2] = [in_place_b, rustcrypto::open_in_place];
                for open_ip in both {
                    let mut buf = [a.as_slice(), &tag_a].concat();
                    assert_eq!(open_ip(&key, &nonce, &aad, &mut buf), Ok(len));
                    assert_eq!(&buf[..len], pt.as_slice());
                    let mut buf = [a.as_slice(), &bad].concat();
                    assert!(open_ip(&key, &nonce, &aad, &mut buf).is_err());
                }
                assert!(in_place_b(&key, &nonce, &aad, &mut [0u8; TAG_LEN - 1]).is_err());
            }
        }
    }

    #[test]
    fn backends_agree() {
        check(seal_in_place, open, open_in_place);
        #[cfg(feature = "ring")]
        check(
            ring_gcm::seal_in_place,
            ring_gcm::open,
            ring_gcm::open_in_place,
        );
        #[cfg(feature = "aws-lc")]
        check(awslc::seal_in_place, awslc::open, awslc::open_in_place);
    }
}
