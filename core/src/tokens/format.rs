//! The token string format: `<prefix>_<30 base62 random><6 base62 CRC32>`.
//!
//! The random part carries 30 × log2(62) ≈ 178 bits from the OS generator. The checksum is
//! CRC32 (IEEE) over `<prefix>_<random>`, written as 6 base62 digits, so a typo, a
//! truncated paste or a secret scanner's candidate is rejected before any lookup.

use super::TokenError;

/// Base62 digits, in value order.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the random part, in base62 characters (≈178 bits).
pub const RANDOM_LEN: usize = 30;
/// Length of the checksum, in base62 characters.
pub const CHECKSUM_LEN: usize = 6;
/// Longest prefix, in bytes.
pub const MAX_PREFIX_LEN: usize = 16;
/// Longest token string accepted by the parser, in bytes.
pub const MAX_TOKEN_LEN: usize = MAX_PREFIX_LEN + 1 + RANDOM_LEN + CHECKSUM_LEN;

/// Checks a token prefix: 1 to 16 characters from `[a-z0-9]`, starting with a letter.
pub fn validate_prefix(prefix: &str) -> Result<(), TokenError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix.as_bytes()[0].is_ascii_lowercase()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(TokenError::InvalidInput(format!(
            "token prefix must be 1 to {MAX_PREFIX_LEN} characters from a-z 0-9, starting with a letter"
        )))
    }
}

fn checksum(prefix_and_random: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut v = crc32fast::hash(prefix_and_random);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(v % 62) as usize];
        v /= 62;
    }
    out
}

/// Draws `RANDOM_LEN` base62 characters from the OS generator (rejection sampling, no bias).
fn random_base62() -> Result<[u8; RANDOM_LEN], TokenError> {
    let mut out = [0u8; RANDOM_LEN];
    let mut n = 0;
    let mut buf = [0u8; 64];
    while n < RANDOM_LEN {
        getrandom::fill(&mut buf).map_err(|_| TokenError::Rng)?;
        for &b in buf.iter() {
            // 248 = 4 × 62: bytes at or above it would bias the digits.
            if b < 248 && n < RANDOM_LEN {
                out[n] = BASE62[(b % 62) as usize];
                n += 1;
            }
        }
    }
    zeroize::Zeroize::zeroize(&mut buf);
    Ok(out)
}

/// A random public id: `prefix` followed by 20 base62 characters (≈119 bits).
pub(crate) fn random_id(prefix: &str) -> Result<String, TokenError> {
    let r = random_base62()?;
    let mut s = String::with_capacity(prefix.len() + 20);
    s.push_str(prefix);
    s.extend(r[..20].iter().map(|&b| b as char));
    Ok(s)
}

/// Makes a fresh token string with `prefix` (already validated).
pub(crate) fn generate(prefix: &str) -> Result<String, TokenError> {
    let random = random_base62()?;
    let mut s = String::with_capacity(prefix.len() + 1 + RANDOM_LEN + CHECKSUM_LEN);
    s.push_str(prefix);
    s.push('_');
    // Base62 digits are ASCII.
    s.extend(random.iter().map(|&b| b as char));
    let sum = checksum(s.as_bytes());
    s.extend(sum.iter().map(|&b| b as char));
    Ok(s)
}

/// Checks that `token` is well formed for `prefix` and its checksum matches, without any
/// lookup. Typed errors: `Malformed` (shape) or `BadChecksum`.
pub fn parse(token: &str, prefix: &str) -> Result<(), TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("too long"));
    }
    let Some((p, body)) = token.rsplit_once('_') else {
        return Err(TokenError::Malformed("no prefix separator"));
    };
    if p != prefix {
        return Err(TokenError::Malformed("wrong prefix"));
    }
    if body.len() != RANDOM_LEN + CHECKSUM_LEN {
        return Err(TokenError::Malformed("wrong length"));
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TokenError::Malformed("not base62"));
    }
    let split = token.len() - CHECKSUM_LEN;
    let expected = checksum(&token.as_bytes()[..split]);
    if expected != token.as_bytes()[split..] {
        return Err(TokenError::BadChecksum);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = generate("tg").unwrap();
        let b = generate("tg").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 + 1 + RANDOM_LEN + CHECKSUM_LEN);
        parse(&a, "tg").unwrap();
        assert_eq!(
            parse(&a, "xy").unwrap_err(),
            TokenError::Malformed("wrong prefix")
        );
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        let t = generate("tg").unwrap();
        let start = 3;
        for i in start..t.len() {
            for &c in BASE62.iter() {
                if t.as_bytes()[i] == c {
                    continue;
                }
                let mut bad = t.clone().into_bytes();
                bad[i] = c;
                let bad = String::from_utf8(bad).unwrap();
                assert!(parse(&bad, "tg").is_err(), "typo at {i} accepted");
            }
        }
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(validate_prefix("tg").is_ok());
        assert!(validate_prefix("acme2").is_ok());
        for bad in ["", "Tg", "1a", "a_b", "abcdefghijklmnopq"] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }
}
