//! Data keys (per tenant, per version) and the record-key deriver built from them.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::CryptoError;

/// HKDF-Extract salt: domain separation for record keys (see docs/FORMAT.md).
pub(crate) const EXTRACT_SALT: &[u8] = b"tenantguard/v1/record-key";

/// The id of one version of a tenant's data key; carried in the clear by every sealed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(u32);

impl KeyId {
    /// The first key id a tenant gets.
    pub const FIRST: KeyId = KeyId(1);

    /// Wraps a key id; 0 is not a valid id.
    pub fn new(id: u32) -> Result<Self, CryptoError> {
        if id == 0 {
            Err(CryptoError::InvalidKeyId)
        } else {
            Ok(KeyId(id))
        }
    }

    /// The numeric id.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The next version, if any.
    pub fn next(self) -> Option<KeyId> {
        self.0.checked_add(1).map(KeyId)
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A 32-byte data key in plaintext: only ever in memory, zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|_| CryptoError::Rng)?;
        Ok(DataKey(k))
    }

    /// Wraps existing key bytes (e.g. just unwrapped by a key provider).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DataKey(bytes)
    }

    /// Copies key bytes from a slice; fails unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CryptoError::Malformed("a data key is 32 bytes"))?;
        Ok(DataKey(arr))
    }

    /// The key bytes, for key providers to wrap. Never log them.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

/// One unwrapped version of a tenant's data key, ready to derive record keys.
///
/// Holds the v1 HKDF pseudorandom key (the extract step is done once here, so each v1
/// record costs one HKDF-Expand) and the v2 state (XAES key schedule and HMAC key state,
/// derived once here). Zeroized on drop.
pub struct TenantKey {
    id: KeyId,
    hkdf: Hkdf<Sha256>,
    v2: super::v2::V2Key,
}

impl TenantKey {
    /// Builds the deriver for version `id` from its data key.
    pub fn new(id: KeyId, key: &DataKey) -> Self {
        TenantKey {
            id,
            hkdf: Hkdf::<Sha256>::new(Some(EXTRACT_SALT), key.expose()),
            v2: super::v2::V2Key::new(key.expose()),
        }
    }

    /// Builds the deriver from raw key bytes (test vectors, bindings).
    pub fn from_bytes(id: KeyId, key: [u8; 32]) -> Self {
        Self::new(id, &DataKey::from_bytes(key))
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The cached format-v2 state of this version.
    pub(crate) fn v2(&self) -> &super::v2::V2Key {
        &self.v2
    }

    /// Derives the record key and the commitment for one salt.
    pub(crate) fn derive(&self, salt: &[u8]) -> RecordKey {
        let mut okm = RecordKey([0u8; 32 + super::COMMITMENT_LEN]);
        // 56 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
        self.hkdf
            .expand_multi_info(&[super::format::RECORD_INFO, salt], &mut okm.0)
            .unwrap_or_else(|_| unreachable!("56-byte HKDF output is always valid"));
        okm
    }
}

impl TenantKey {
    /// Derives a 32-byte subkey for another purpose (e.g. the redaction hash key), domain
    /// separated from record keys by its `info` label.
    #[cfg(feature = "egress")]
    pub(crate) fn derive_subkey(&self, info: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.hkdf
            .expand_multi_info(&[b"tenantguard/v1/subkey:", info], &mut out)
            .unwrap_or_else(|_| unreachable!("32-byte HKDF output is always valid"));
        out
    }
}

impl std::fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// A derived record key (32 bytes) followed by its commitment; zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct RecordKey([u8; 32 + super::COMMITMENT_LEN]);

impl RecordKey {
    pub(crate) fn aes_key(&self) -> &[u8] {
        &self.0[..32]
    }

    pub(crate) fn commitment(&self) -> &[u8] {
        &self.0[32..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_is_hkdf_sha256_with_the_documented_labels() {
        // Record key || commitment = HKDF-SHA256(salt = EXTRACT_SALT, ikm = data key,
        // info = "tg1 record" || record salt), 56 bytes, computed here the plain way.
        let data_key = [0x42u8; 32];
        let salt = [7u8; 16];
        let key = TenantKey::from_bytes(KeyId::FIRST, data_key);
        let rk = key.derive(&salt);
        let mut info = b"tg1 record".to_vec();
        info.extend_from_slice(&salt);
        let mut okm = [0u8; 56];
        Hkdf::<Sha256>::new(Some(b"tenantguard/v1/record-key"), &data_key)
            .expand(&info, &mut okm)
            .unwrap();
        assert_eq!(rk.aes_key(), &okm[..32]);
        assert_eq!(rk.commitment(), &okm[32..]);
        // Another salt or another key gives another record key.
        assert_ne!(key.derive(&[8u8; 16]).aes_key(), rk.aes_key());
        assert_ne!(
            TenantKey::from_bytes(KeyId::FIRST, [0x43; 32])
                .derive(&salt)
                .aes_key(),
            rk.aes_key()
        );
    }

    #[test]
    fn key_ids_and_debug() {
        assert!(KeyId::new(0).is_err());
        assert_eq!(KeyId::new(u32::MAX).unwrap().next(), None);
        assert_eq!(KeyId::FIRST.next(), Some(KeyId::new(2).unwrap()));
        let k = DataKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{k:?}"), "DataKey([REDACTED])");
        assert!(!format!("{:?}", TenantKey::new(KeyId::FIRST, &k)).contains("ab"));
        assert!(DataKey::from_slice(&[0u8; 31]).is_err());
    }
}
