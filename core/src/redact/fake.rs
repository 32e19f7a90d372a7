//! Format-preserving fakes: a Luhn-valid card, a mod-97-valid IBAN, an e-mail and a phone
//! of the same shape. Randomness comes from the operating system's generator.

use super::validate::{iban_mod97, luhn_check_digit};
use super::{EntityKind, RedactError};

fn random(n: usize) -> Result<Vec<u8>, RedactError> {
    let mut v = vec![0u8; n];
    getrandom::fill(&mut v).map_err(|_| RedactError::Crypto(crate::crypto::CryptoError::Rng))?;
    Ok(v)
}

/// A fake for `value`, or `None` if the kind has no fake (a placeholder is used instead).
pub(crate) fn fake(kind: &EntityKind, value: &str) -> Result<Option<String>, RedactError> {
    Ok(match kind {
        EntityKind::CreditCard => Some(card(value)?),
        EntityKind::Iban => Some(iban(value)?),
        EntityKind::Email => Some(email()?),
        EntityKind::Phone => Some(phone(value)?),
        _ => None,
    })
}

/// Keeps the first two digits (the card network) and the separators; new random digits;
/// the last digit is the Luhn check digit.
fn card(value: &str) -> Result<String, RedactError> {
    let digits: Vec<u8> = value.bytes().filter(u8::is_ascii_digit).collect();
    let r = random(digits.len())?;
    let mut new: Vec<u8> = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| if i < 2 { d } else { b'0' + r[i] % 10 })
        .collect();
    if let Some(last) = new.len().checked_sub(1) {
        new[last] = luhn_check_digit(&new[..last]);
    }
    Ok(refill(value, &new))
}

/// Keeps the country, the letter/digit layout and the spacing; new random characters and
/// correct mod-97 check digits.
fn iban(value: &str) -> Result<String, RedactError> {
    let compact: Vec<u8> = value.bytes().filter(u8::is_ascii_alphanumeric).collect();
    let r = random(compact.len())?;
    let mut new = compact.clone();
    for i in 4..new.len() {
        new[i] = if new[i].is_ascii_digit() {
            b'0' + r[i] % 10
        } else {
            b'A' + r[i] % 26
        };
    }
    new[2] = b'0';
    new[3] = b'0';
    let rem = iban_mod97(&new).unwrap_or(0);
    let check = 98 - rem;
    new[2] = b'0' + (check / 10) as u8;
    new[3] = b'0' + (check % 10) as u8;
    let mut out = String::with_capacity(value.len());
    let mut it = new.into_iter();
    for c in value.chars() {
        if !c.is_ascii_alphanumeric() {
            out.push(c);
        } else if let Some(b) = it.next() {
            out.push(char::from(b));
        }
    }
    Ok(out)
}

fn email() -> Result<String, RedactError> {
    let r = random(5)?;
    let mut s = String::from("user-");
    for b in r {
        s.push_str(&format!("{b:02x}"));
    }
    s.push_str("@example.com");
    Ok(s)
}

/// Keeps the separators, a leading `+` and the first two digits; random other digits.
fn phone(value: &str) -> Result<String, RedactError> {
    let digits: Vec<u8> = value.bytes().filter(u8::is_ascii_digit).collect();
    let r = random(digits.len())?;
    let new: Vec<u8> = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| if i < 2 { d } else { b'0' + r[i] % 10 })
        .collect();
    Ok(refill(value, &new))
}

/// `value` with its ASCII digits replaced, in order, by `digits`.
fn refill(value: &str, digits: &[u8]) -> String {
    let mut it = digits.iter();
    value
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                it.next().map_or(c, |&d| char::from(d))
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::validate::{iban_valid, is_card};
    use super::*;

    #[test]
    fn fakes_stay_valid() {
        for _ in 0..200 {
            let c = card("4111 1111 1111 1111").unwrap();
            assert!(is_card(c.as_bytes()), "{c}");
            assert!(c.starts_with("41") && c.len() == 19);
            let i = iban("DE89 3704 0044 0532 0130 00").unwrap();
            assert!(iban_valid(&i), "{i}");
            assert!(i.starts_with("DE") && i.len() == 27);
            let g = iban("GB82WEST12345698765432").unwrap();
            assert!(iban_valid(&g), "{g}");
            assert!(g[4..8].bytes().all(|b| b.is_ascii_uppercase()));
        }
    }
}
