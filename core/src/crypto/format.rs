//! The sealed-value wire format, binary and text (see docs/FORMAT.md).
//!
//! Binary, version 1:
//! `0x01 | key id (u32 BE) | salt (16) | commitment (24) | ciphertext | GCM tag (16)`.
//! Binary, version 2:
//! `0x02 | key id (u32 BE) | nonce (24) | commitment (32) | ciphertext | GCM tag (16)`.
//! Text: `tg<version>:<key id in decimal>:<base64url without padding of everything after
//! the key id>`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{CryptoError, KeyId};

/// The binary format version byte.
pub const VERSION_1: u8 = 0x01;
/// Length of the random per-record salt.
pub const SALT_LEN: usize = 16;
/// Length of the key commitment.
pub const COMMITMENT_LEN: usize = 24;
/// Length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Bytes before the ciphertext: version, key id, salt, commitment.
pub(crate) const HEADER_LEN: usize = 1 + 4 + SALT_LEN + COMMITMENT_LEN;
/// Total bytes a sealed value adds to its plaintext in binary form (61).
pub const BINARY_OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// What every text-form v1 value starts with.
pub const TEXT_PREFIX: &str = "tg1:";
/// What every text-form v2 value starts with.
pub const TEXT_PREFIX_V2: &str = "tg2:";
/// HKDF-Expand info label that precedes the salt.
pub(crate) const RECORD_INFO: &[u8] = b"tg1 record";

/// Longest sealed value accepted, binary form (the plaintext limit plus overhead).
pub(crate) const MAX_SEALED_LEN: usize = super::MAX_PLAINTEXT_LEN + super::BINARY_OVERHEAD_V2;

/// The binary overhead of a format version this build reads.
fn overhead(version: u8) -> Option<usize> {
    match version {
        VERSION_1 => Some(BINARY_OVERHEAD),
        super::v2::VERSION_2 => Some(super::BINARY_OVERHEAD_V2),
        _ => None,
    }
}

/// A parsed sealed value. Its version and key id are readable without any key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedValue {
    bytes: Vec<u8>,
}

impl SealedValue {
    /// Builds directly into `bytes`, which already holds the header and the ciphertext.
    pub(crate) fn from_vec_unchecked(bytes: Vec<u8>) -> Self {
        SealedValue { bytes }
    }

    /// Parses the binary form, checking its structure (not its authenticity).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        Self::check(bytes)?;
        Ok(SealedValue {
            bytes: bytes.to_vec(),
        })
    }

    /// Like [`SealedValue::from_bytes`] but takes ownership without copying.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, CryptoError> {
        Self::check(&bytes)?;
        Ok(SealedValue { bytes })
    }

    fn check(bytes: &[u8]) -> Result<(), CryptoError> {
        let Some(&version) = bytes.first() else {
            return Err(CryptoError::Malformed("empty input"));
        };
        let Some(min) = overhead(version) else {
            // "tg1:..." read from a text column often arrives as bytes (database drivers):
            // say so instead of calling its first letter ('t' = 116) a format version.
            if bytes.starts_with(b"tg")
                && bytes
                    .iter()
                    .skip(2)
                    .take_while(|b| b.is_ascii_digit())
                    .count()
                    > 0
            {
                return Err(CryptoError::Malformed(
                    "this is the text form (tg1:... or tg2:...) given as binary: decode the bytes as UTF-8 and parse them as text",
                ));
            }
            return Err(CryptoError::UnsupportedVersion(version));
        };
        if bytes.len() < min {
            return Err(CryptoError::Malformed(if version == VERSION_1 {
                "truncated: shorter than the 61-byte minimum of v1"
            } else {
                "truncated: shorter than the 77-byte minimum of v2"
            }));
        }
        if bytes.len() - min > super::MAX_PLAINTEXT_LEN {
            return Err(CryptoError::TooLarge {
                what: "sealed value",
                len: bytes.len(),
                max: super::MAX_PLAINTEXT_LEN + min,
            });
        }
        let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        KeyId::new(id).map_err(|_| CryptoError::Malformed("key id 0 is invalid"))?;
        Ok(())
    }

    /// Parses the text form `tg1:<keyId>:<base64url>` or `tg2:<keyId>:<base64url>`.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let max_text = TEXT_PREFIX.len() + 11 + MAX_SEALED_LEN.div_ceil(3) * 4;
        if text.len() > max_text {
            return Err(CryptoError::TooLarge {
                what: "sealed text",
                len: text.len(),
                max: max_text,
            });
        }
        let (version, rest) = match (
            text.strip_prefix(TEXT_PREFIX),
            text.strip_prefix(TEXT_PREFIX_V2),
        ) {
            (Some(rest), _) => (VERSION_1, rest),
            (_, Some(rest)) => (super::v2::VERSION_2, rest),
            _ => {
                // Only a canonical decimal other than 1 names another version ("tg01", "tg+1" do not).
                let version = text.split_once(':').and_then(|(v, _)| {
                    let d = v.strip_prefix("tg")?;
                    let canonical = !d.is_empty()
                        && d.bytes().all(|b| b.is_ascii_digit())
                        && (d == "0" || !d.starts_with('0'));
                    d.parse::<u8>()
                        .ok()
                        .filter(|&v| canonical && overhead(v).is_none())
                });
                return Err(match version {
                    Some(v) => CryptoError::UnsupportedVersion(v),
                    None => {
                        CryptoError::Malformed("text form must start with \"tg1:\" or \"tg2:\"")
                    }
                });
            }
        };
        let (id, body) = rest.split_once(':').ok_or(CryptoError::Malformed(
            "text form is tg<version>:<keyId>:<base64url>",
        ))?;
        if id.is_empty()
            || id.len() > 10
            || !id.bytes().all(|b| b.is_ascii_digit())
            || id.starts_with('0')
        {
            return Err(CryptoError::Malformed(
                "key id must be a decimal number without leading zeros",
            ));
        }
        let id: u32 = id
            .parse()
            .map_err(|_| CryptoError::Malformed("key id out of range"))?;
        let key_id = KeyId::new(id).map_err(|_| CryptoError::Malformed("key id 0 is invalid"))?;
        let mut bytes = Vec::with_capacity(5 + body.len() / 4 * 3 + 3);
        bytes.push(version);
        bytes.extend_from_slice(&key_id.get().to_be_bytes());
        URL_SAFE_NO_PAD
            .decode_vec(body.as_bytes(), &mut bytes)
            .map_err(|_| CryptoError::Malformed("body is not canonical unpadded base64url"))?;
        Self::from_vec(bytes)
    }

    /// The binary form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the value, returning the binary form.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The text form `tg<version>:<keyId>:<base64url>`.
    pub fn to_text(&self) -> String {
        let id = self.key_id().get().to_string();
        let body = &self.bytes[5..];
        let mut s =
            String::with_capacity(TEXT_PREFIX.len() + id.len() + 1 + body.len().div_ceil(3) * 4);
        s.push_str(if self.version() == VERSION_1 {
            TEXT_PREFIX
        } else {
            TEXT_PREFIX_V2
        });
        s.push_str(&id);
        s.push(':');
        URL_SAFE_NO_PAD.encode_string(body, &mut s);
        s
    }

    /// The format version (1 or 2).
    pub fn version(&self) -> u8 {
        self.bytes[0]
    }

    /// The id of the tenant-key version this value was sealed under.
    pub fn key_id(&self) -> KeyId {
        let id = u32::from_be_bytes([self.bytes[1], self.bytes[2], self.bytes[3], self.bytes[4]]);
        KeyId::new(id).unwrap_or(KeyId::FIRST)
    }

    pub(crate) fn salt(&self) -> &[u8] {
        &self.bytes[5..5 + SALT_LEN]
    }

    pub(crate) fn commitment(&self) -> &[u8] {
        &self.bytes[5 + SALT_LEN..HEADER_LEN]
    }

    pub(crate) fn ciphertext_and_tag(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// The plaintext length this value holds.
    pub fn plaintext_len(&self) -> usize {
        self.bytes.len() - overhead(self.version()).unwrap_or(BINARY_OVERHEAD)
    }
}

impl std::fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedValue")
            .field("version", &self.version())
            .field("key_id", &self.key_id())
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl std::fmt::Display for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl std::str::FromStr for SealedValue {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn text_version_prefix_is_classified_exactly() {
        let body = "A".repeat(76);
        let kind = |prefix: &str| {
            SealedValue::parse(&format!("{prefix}:1:{body}"))
                .unwrap_err()
                .kind()
        };
        assert_eq!(kind("tg3"), ErrorKind::UnsupportedVersion);
        assert_eq!(kind("tg0"), ErrorKind::UnsupportedVersion);
        assert_eq!(kind("tg255"), ErrorKind::UnsupportedVersion);
        // Not a version at all, or a non-canonical spelling of version 1: malformed, never
        // "unsupported version 1".
        for bad in [
            "tg01", "tg+1", "tg001", "tg", "tg256", "TG1", "tg1 ", "xx1", "tg02", "tg+2",
        ] {
            assert_eq!(kind(bad), ErrorKind::Malformed, "{bad}");
        }
    }

    #[test]
    fn binary_header_checks() {
        assert_eq!(
            SealedValue::from_bytes(&[]).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        assert_eq!(
            SealedValue::from_bytes(&[3]).unwrap_err().kind(),
            ErrorKind::UnsupportedVersion
        );
        assert_eq!(
            SealedValue::from_bytes(&[2; 76]).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        assert!(SealedValue::from_bytes(&[2; 77]).is_ok());
        assert_eq!(
            SealedValue::from_bytes(&[1; 60]).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        let mut b = vec![1u8; BINARY_OVERHEAD];
        assert!(SealedValue::from_bytes(&b).is_ok());
        b[1..5].copy_from_slice(&[0; 4]);
        assert_eq!(
            SealedValue::from_bytes(&b).unwrap_err().kind(),
            ErrorKind::Malformed
        );
    }
}
