//! Time-based one-time passwords (RFC 6238) from a sealed TOTP seed: use without reveal.
//!
//! [`totp`] computes a code from a seed; [`crate::reveal::Revealer::totp_code`] does it for
//! a stored `totp_seed` credential, inside the SDK, and returns the code only: the seed
//! never leaves the process in plaintext and is zeroized after use.
//!
//! Limits: 6 to 8 digits, a period of 1 to 300 seconds, seeds of 1 to 1024 bytes.

use hmac::{Hmac, KeyInit, Mac};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::error::ErrorKind;
use crate::secret::SecretBytes;

/// Fewest digits in a code.
pub const MIN_DIGITS: u32 = 6;
/// Most digits in a code.
pub const MAX_DIGITS: u32 = 8;
/// Longest period, in seconds.
pub const MAX_PERIOD: u64 = 300;
/// Longest seed, in bytes (after base32 decoding).
pub const MAX_SEED_LEN: usize = 1024;

/// Errors computing a TOTP code.
#[non_exhaustive]
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TotpError {
    /// Digits, period or time out of range.
    #[error("invalid TOTP parameters: {0}")]
    InvalidParams(&'static str),
    /// The seed is empty, too long, or not valid base32 (its content is never shown).
    #[error("invalid TOTP seed: {0}")]
    BadSeed(&'static str),
    /// The stored record is not a TOTP seed.
    #[error("record is not a TOTP seed")]
    NotATotpSeed,
    /// A code was asked for a time outside the guard clock's step plus or minus one.
    #[error("TOTP codes are given only for the current time step (plus or minus one)")]
    TimeOutsideWindow,
}

impl TotpError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            TotpError::TimeOutsideWindow => ErrorKind::PermissionDenied,
            _ => ErrorKind::InvalidInput,
        }
    }
}

/// The HMAC hash of a TOTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1 (the authenticator-app default).
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

/// How the stored seed is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SeedEncoding {
    /// Base32 text as in `otpauth://` URIs (case-insensitive; spaces, dashes and `=` ignored).
    #[default]
    Base32,
    /// The raw key bytes.
    Raw,
}

/// TOTP parameters (defaults: SHA-1, 6 digits, 30 s, base32 seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    /// The HMAC hash.
    pub algorithm: TotpAlgorithm,
    /// Code length, 6 to 8.
    pub digits: u32,
    /// Time step in seconds, 1 to 300.
    pub period: u64,
    /// Encoding of the seed.
    pub encoding: SeedEncoding,
}

impl Default for TotpParams {
    fn default() -> Self {
        TotpParams {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period: 30,
            encoding: SeedEncoding::Base32,
        }
    }
}

/// A one-time code. Debug prints `[REDACTED]`; the code is valid for one period.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(Zeroizing<String>);

impl TotpCode {
    /// The code's digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpCode([REDACTED])")
    }
}

fn hotp<M: Mac + KeyInit>(key: &[u8], counter: u64) -> Result<u32, TotpError> {
    let mut mac = <M as KeyInit>::new_from_slice(key)
        .map_err(|_| TotpError::BadSeed("unusable key length"))?;
    mac.update(&counter.to_be_bytes());
    let tag = mac.finalize().into_bytes();
    // RFC 4226 dynamic truncation.
    let off = usize::from(tag[tag.len() - 1] & 0x0f);
    let bin = (u32::from(tag[off] & 0x7f) << 24)
        | (u32::from(tag[off + 1]) << 16)
        | (u32::from(tag[off + 2]) << 8)
        | u32::from(tag[off + 3]);
    Ok(bin)
}

fn decode_seed(seed: &[u8], encoding: SeedEncoding) -> Result<Zeroizing<Vec<u8>>, TotpError> {
    let key = match encoding {
        SeedEncoding::Raw => Zeroizing::new(seed.to_vec()),
        SeedEncoding::Base32 => {
            if seed.len() > MAX_SEED_LEN * 2 {
                return Err(TotpError::BadSeed("too long"));
            }
            let clean: Zeroizing<Vec<u8>> = Zeroizing::new(
                seed.iter()
                    .filter(|b| !matches!(b, b' ' | b'-' | b'=' | b'\t'))
                    .map(u8::to_ascii_uppercase)
                    .collect(),
            );
            Zeroizing::new(
                data_encoding::BASE32_NOPAD
                    .decode(&clean)
                    .map_err(|_| TotpError::BadSeed("not valid base32"))?,
            )
        }
    };
    if key.is_empty() || key.len() > MAX_SEED_LEN {
        return Err(TotpError::BadSeed("must be 1 to 1024 bytes"));
    }
    Ok(key)
}

/// Checks digits (6 to 8) and period (1 to 300 s).
pub fn check_params(params: &TotpParams) -> Result<(), TotpError> {
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&params.digits) {
        return Err(TotpError::InvalidParams("digits must be 6 to 8"));
    }
    if params.period == 0 || params.period > MAX_PERIOD {
        return Err(TotpError::InvalidParams("period must be 1 to 300 seconds"));
    }
    Ok(())
}

/// The RFC 6238 code for `seed` at Unix time `unix_time` (T0 = 0).
pub fn totp(
    seed: &SecretBytes,
    params: &TotpParams,
    unix_time: u64,
) -> Result<TotpCode, TotpError> {
    check_params(params)?;
    let key = decode_seed(seed.expose(), params.encoding)?;
    let counter = unix_time / params.period;
    let bin = match params.algorithm {
        TotpAlgorithm::Sha1 => hotp::<Hmac<sha1::Sha1>>(&key, counter)?,
        TotpAlgorithm::Sha256 => hotp::<Hmac<sha2::Sha256>>(&key, counter)?,
        TotpAlgorithm::Sha512 => hotp::<Hmac<sha2::Sha512>>(&key, counter)?,
    };
    let code = bin % 10u32.pow(params.digits);
    Ok(TotpCode(Zeroizing::new(format!(
        "{code:0width$}",
        width = params.digits as usize
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED20: &[u8] = b"12345678901234567890";
    const SEED32: &[u8] = b"12345678901234567890123456789012";
    const SEED64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn raw(alg: TotpAlgorithm, digits: u32) -> TotpParams {
        TotpParams {
            algorithm: alg,
            digits,
            period: 30,
            encoding: SeedEncoding::Raw,
        }
    }

    /// RFC 6238 Appendix B, all 18 vectors (8 digits).
    #[test]
    fn rfc6238_vectors() {
        let cases: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, s1, s256, s512) in cases {
            assert_eq!(
                totp(
                    &SecretBytes::from_slice(SEED20),
                    &raw(TotpAlgorithm::Sha1, 8),
                    t
                )
                .unwrap()
                .as_str(),
                s1,
                "sha1 t={t}"
            );
            assert_eq!(
                totp(
                    &SecretBytes::from_slice(SEED32),
                    &raw(TotpAlgorithm::Sha256, 8),
                    t
                )
                .unwrap()
                .as_str(),
                s256,
                "sha256 t={t}"
            );
            assert_eq!(
                totp(
                    &SecretBytes::from_slice(SEED64),
                    &raw(TotpAlgorithm::Sha512, 8),
                    t
                )
                .unwrap()
                .as_str(),
                s512,
                "sha512 t={t}"
            );
        }
    }

    /// Shorter codes are the low digits of the same truncated value (RFC 4226 test values too).
    #[test]
    fn six_and_seven_digits() {
        let s = SecretBytes::from_slice(SEED20);
        assert_eq!(
            totp(&s, &raw(TotpAlgorithm::Sha1, 6), 59).unwrap().as_str(),
            "287082"
        );
        assert_eq!(
            totp(&s, &raw(TotpAlgorithm::Sha1, 7), 59).unwrap().as_str(),
            "4287082"
        );
        // RFC 4226 Appendix D: HOTP counter 1 = TOTP at t in [30, 60) with period 30.
        assert_eq!(
            totp(&s, &raw(TotpAlgorithm::Sha1, 6), 30).unwrap().as_str(),
            "287082"
        );
        assert_eq!(
            totp(&s, &raw(TotpAlgorithm::Sha1, 6), 0).unwrap().as_str(),
            "755224"
        );
        assert_eq!(
            totp(&s, &raw(TotpAlgorithm::Sha1, 6), 9 * 30)
                .unwrap()
                .as_str(),
            "520489"
        );
    }

    #[test]
    fn base32_seed_matches_raw() {
        // "12345678901234567890" in base32, lower case with spaces as apps show it.
        let b32 = SecretBytes::from("gezd gnbv gy3t qojq gezd gnbv gy3t qojq");
        let p = TotpParams {
            digits: 8,
            ..TotpParams::default()
        };
        assert_eq!(totp(&b32, &p, 1111111109).unwrap().as_str(), "07081804");
        assert_eq!(
            totp(&b32, &TotpParams::default(), 59).unwrap().as_str(),
            "287082"
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let s = SecretBytes::from_slice(SEED20);
        for d in [0, 5, 9, 10] {
            assert!(matches!(
                totp(&s, &raw(TotpAlgorithm::Sha1, d), 0),
                Err(TotpError::InvalidParams(_))
            ));
        }
        for period in [0, 301] {
            let p = TotpParams {
                period,
                ..raw(TotpAlgorithm::Sha1, 6)
            };
            assert!(matches!(totp(&s, &p, 0), Err(TotpError::InvalidParams(_))));
        }
        assert!(matches!(
            totp(&SecretBytes::from("!!notbase32"), &TotpParams::default(), 0),
            Err(TotpError::BadSeed(_))
        ));
        assert!(matches!(
            totp(&SecretBytes::from(""), &TotpParams::default(), 0),
            Err(TotpError::BadSeed(_))
        ));
        assert!(matches!(
            totp(
                &SecretBytes::new(vec![1; 1025]),
                &raw(TotpAlgorithm::Sha1, 6),
                0
            ),
            Err(TotpError::BadSeed(_))
        ));
        let e = totp(
            &SecretBytes::from("!!secret-seed!!"),
            &TotpParams::default(),
            0,
        )
        .unwrap_err();
        assert!(
            !e.to_string().contains("secret"),
            "errors never echo the seed"
        );
        assert_eq!(
            format!("{:?}", totp(&s, &TotpParams::default(), 0)),
            "Err(BadSeed(\"not valid base32\"))"
        );
        assert_eq!(
            format!("{:?}", totp(&s, &raw(TotpAlgorithm::Sha1, 6), 0).unwrap()),
            "TotpCode([REDACTED])"
        );
        // The largest time is fine.
        assert_eq!(
            totp(&s, &raw(TotpAlgorithm::Sha256, 8), u64::MAX)
                .unwrap()
                .as_str()
                .len(),
            8
        );
    }
}
