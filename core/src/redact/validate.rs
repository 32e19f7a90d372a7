//! Checksums and shape checks behind the recognizers (all allocation-free).

/// True if the ASCII digits of `s` (other bytes ignored) pass the Luhn check.
pub fn luhn_valid(s: &str) -> bool {
    luhn_bytes(s.as_bytes())
}

pub(crate) fn luhn_bytes(s: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut n = 0usize;
    for &b in s.iter().rev() {
        if !b.is_ascii_digit() {
            continue;
        }
        let mut d = u32::from(b - b'0');
        if n % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        n += 1;
    }
    n > 0 && sum.is_multiple_of(10)
}

/// The Luhn check digit that completes `digits` (ASCII digits only).
pub(crate) fn luhn_check_digit(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &b) in digits.iter().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    b'0' + ((10 - sum % 10) % 10) as u8
}

/// IBAN lengths per country (ISO 13616 registry).
const IBAN_LEN: &[(&[u8; 2], u8)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

pub(crate) fn iban_country_len(cc: &[u8]) -> Option<usize> {
    IBAN_LEN
        .iter()
        .find(|(c, _)| c[..] == *cc)
        .map(|(_, l)| *l as usize)
}

/// mod 97 of the IBAN rearranged (first four characters moved to the end), letters as 10..35.
/// `compact` holds only upper-case letters and digits.
pub(crate) fn iban_mod97(compact: &[u8]) -> Option<u32> {
    if compact.len() < 5 {
        return None;
    }
    let mut r = 0u32;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        r = match b {
            b'0'..=b'9' => (r * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (r * 100 + u32::from(b - b'A') + 10) % 97,
            _ => return None,
        };
    }
    Some(r)
}

/// True if `s` (spaces allowed, upper case) is an IBAN of its country's length passing mod-97.
pub fn iban_valid(s: &str) -> bool {
    let mut buf = [0u8; 34];
    let mut n = 0;
    for b in s.bytes() {
        if b == b' ' {
            continue;
        }
        if n == buf.len() {
            return false;
        }
        buf[n] = b;
        n += 1;
    }
    iban_compact_valid(&buf[..n])
}

pub(crate) fn iban_compact_valid(c: &[u8]) -> bool {
    c.len() >= 15
        && c[0].is_ascii_uppercase()
        && c[1].is_ascii_uppercase()
        && c[2].is_ascii_digit()
        && c[3].is_ascii_digit()
        && iban_country_len(&c[..2]) == Some(c.len())
        && c[4..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && iban_mod97(c) == Some(1)
}

fn digits_at(s: &[u8], i: usize, n: usize) -> bool {
    s.len() >= i + n && s[i..i + n].iter().all(u8::is_ascii_digit)
}

/// `AAA-GG-SSSS` with the ranges the SSA never issues excluded.
pub(crate) fn is_ssn(s: &[u8]) -> bool {
    // `AAA-GG-SSSS` or `AAA GG SSSS` (one separator, used twice).
    if s.len() != 11
        || !matches!(s[3], b'-' | b' ')
        || s[6] != s[3]
        || !digits_at(s, 0, 3)
        || !digits_at(s, 4, 2)
        || !digits_at(s, 7, 4)
    {
        return false;
    }
    let area = &s[0..3];
    area != b"000" && area != b"666" && area[0] != b'9' && &s[4..6] != b"00" && &s[7..11] != b"0000"
}

/// Dotted quad, each octet 0 to 255 without leading zeros.
pub(crate) fn is_ipv4(s: &[u8]) -> bool {
    let mut parts = 0;
    for p in s.split(|&b| b == b'.') {
        parts += 1;
        if parts > 4
            || p.is_empty()
            || p.len() > 3
            || !p.iter().all(u8::is_ascii_digit)
            || (p.len() > 1 && p[0] == b'0')
        {
            return false;
        }
        let v: u32 = p.iter().fold(0, |a, &b| a * 10 + u32::from(b - b'0'));
        if v > 255 {
            return false;
        }
    }
    parts == 4
}

/// An IPv6 address with at least two colons and one digit (so `a::b` in code is not one).
pub(crate) fn is_ipv6(s: &[u8]) -> bool {
    if s.len() < 3
        || s.len() > 45
        || s.iter().filter(|&&b| b == b':').count() < 2
        || !s.iter().any(u8::is_ascii_digit)
    {
        return false;
    }
    if !s
        .iter()
        .all(|b| b.is_ascii_hexdigit() || *b == b':' || *b == b'.')
    {
        return false;
    }
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<std::net::Ipv6Addr>().ok())
        .is_some()
}

/// Splits a numeric candidate into digit groups; returns (groups, separators) lengths.
/// Separators are the runs of non-digits between groups (at most 8 groups).
struct Shape {
    groups: [u8; 8],
    seps: [[u8; 2]; 8],
    n: usize,
    digits: usize,
    lead: u8,
}

fn shape(s: &[u8]) -> Option<Shape> {
    let mut sh = Shape {
        groups: [0; 8],
        seps: [[0; 2]; 8],
        n: 0,
        digits: 0,
        lead: 0,
    };
    let mut i = 0;
    if let Some(&b) = s.first() {
        if b == b'+' || b == b'(' {
            sh.lead = b;
            i = 1;
        }
    }
    let mut sep = [0u8; 2];
    let mut sep_len = 0usize;
    while i < s.len() {
        let b = s[i];
        if b.is_ascii_digit() {
            let st = i;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            if sh.n == 8 {
                return None;
            }
            sh.groups[sh.n] = u8::try_from(i - st).ok()?;
            sh.seps[sh.n] = sep;
            sh.n += 1;
            sh.digits += i - st;
            sep = [0; 2];
            sep_len = 0;
        } else {
            if sh.n == 0 || sep_len == 2 || !matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'/') {
                return None;
            }
            sep[sep_len] = b;
            sep_len += 1;
            i += 1;
        }
    }
    if sep_len > 0 || sh.n == 0 {
        return None;
    }
    Some(sh)
}

fn single(sep: [u8; 2]) -> u8 {
    if sep[1] == 0 {
        sep[0]
    } else {
        0xff
    }
}

/// A payment card: 13 to 19 digits, no separators or one consistent separator between
/// groups of 4 (or Amex/Diners 4-6-5 / 4-6-4), a known network prefix, and the Luhn check.
pub(crate) fn is_card(s: &[u8]) -> bool {
    let Some(sh) = shape(s) else { return false };
    if sh.lead != 0 || !(13..=19).contains(&sh.digits) {
        return false;
    }
    let g = &sh.groups[..sh.n];
    if sh.n > 1 {
        let sep = single(sh.seps[1]);
        if sep != b' ' && sep != b'-' {
            return false;
        }
        if (1..sh.n).any(|i| single(sh.seps[i]) != sep) {
            return false;
        }
        let fours = g[..sh.n - 1].iter().all(|&l| l == 4) && (3..=4).contains(&g[sh.n - 1]);
        let amex = g == [4, 6, 5] || g == [4, 6, 4];
        if !fours && !amex {
            return false;
        }
    }
    let first = s[0];
    let digit = |i: usize| {
        s.get(i)
            .filter(|b| b.is_ascii_digit())
            .map_or(0, |b| u32::from(b - b'0'))
    };
    let two = digit(0) * 10 + digit(1);
    let network = match first {
        b'4' => true,
        b'5' => (51..=55).contains(&two),
        b'2' => (22..=27).contains(&two),
        b'3' => matches!(two, 30 | 34 | 35 | 36 | 37 | 38 | 39),
        b'6' => true,
        _ => false,
    };
    network && luhn_bytes(s)
}

/// A phone number: `+` and 8 to 15 digits; `(ddd) ddd-dddd`; NANP `ddd-ddd-dddd` (same
/// separator) optionally after `1`; or a national number with a trunk `0`, 10 or 11 digits
/// in groups of at least two (UK, DE, FR... styles).
pub(crate) fn is_phone(s: &[u8]) -> bool {
    let Some(sh) = shape(s) else { return false };
    let g = &sh.groups[..sh.n];
    // German style `0171/2345678`: trunk 0, area code, slash, subscriber number.
    if sh.lead == 0
        && sh.n == 2
        && sh.seps[1] == [b'/', 0]
        && s[0] == b'0'
        && (3..=5).contains(&g[0])
        && (10..=12).contains(&sh.digits)
    {
        return true;
    }
    let seps_ok = (1..sh.n).all(|i| {
        sh.seps[i]
            .iter()
            .all(|&b| matches!(b, 0 | b' ' | b'-' | b'.' | b'(' | b')'))
    });
    if !seps_ok {
        return false;
    }
    let first_digit = s
        .iter()
        .find(|b| b.is_ascii_digit())
        .copied()
        .unwrap_or(b'0');
    match sh.lead {
        b'+' => {
            (8..=15).contains(&sh.digits)
                && first_digit != b'0'
                && (sh.n == 1 || (g[0] <= 4 && g[2..].iter().all(|&l| l >= 2)))
        }
        b'(' => {
            sh.n >= 2
                && (2..=5).contains(&g[0])
                && sh.seps[1][0] == b')'
                && (10..=11).contains(&sh.digits)
                && g[1..].iter().all(|&l| l >= 3)
        }
        _ => {
            if sh.n == 3 && g == [3, 3, 4] {
                let a = single(sh.seps[1]);
                return a == single(sh.seps[2])
                    && matches!(a, b'-' | b'.' | b' ')
                    && first_digit != b'0'
                    && first_digit != b'1';
            }
            if sh.n == 4 && g == [1, 3, 3, 4] && first_digit == b'1' {
                // `1 (212) 935-0366`: country code, area code in parentheses.
                if sh.seps[1] == [b' ', b'(']
                    && sh.seps[2] == [b')', b' ']
                    && matches!(single(sh.seps[3]), b'-' | b' ' | b'.')
                {
                    return true;
                }
                let a = single(sh.seps[1]);
                return (1..4).all(|i| single(sh.seps[i]) == a) && matches!(a, b'-' | b'.' | b' ');
            }
            if first_digit == b'0'
                && sh.n >= 2
                && (10..=11).contains(&sh.digits)
                && g.iter().all(|&l| l >= 2)
                && (2..=5).contains(&g[0])
            {
                let a = single(sh.seps[1]);
                return matches!(a, b' ' | b'-') && (1..sh.n).all(|i| single(sh.seps[i]) == a);
            }
            false
        }
    }
}

/// True for the 8-4-4-4-12 hex shape of a UUID (identifiers, not secrets).
fn is_uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// Longest run judged by its entropy: AWS STS session tokens reach about 1 KB.
const MAX_SECRET_LEN: usize = 4096;

/// True if `s` reads as a path (`src/main/java`): with three or more `/`, some segment is a
/// lower-case word. Random base64 (an AWS secret key with several `/`) has none.
fn path_like(s: &[u8]) -> bool {
    if s.iter().filter(|&&b| b == b'/').count() < 3 {
        return false;
    }
    s.split(|&b| b == b'/')
        .any(|seg| seg.len() >= 4 && seg.iter().all(u8::is_ascii_lowercase))
        || s.windows(2).any(|w| w == b"//")
}

/// Byte classes for [`is_high_entropy`]: low 3 bits 1 digit, 2 upper, 3 lower, 4 `+/_-`;
/// bit 3 a vowel; 0 a byte no secret alphabet has.
static ENT_CLASS: [u8; 256] = ent_class();

const fn ent_class() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'0'..=b'9' => 1,
            b'A'..=b'Z' => 2,
            b'a'..=b'z' => 3,
            b'+' | b'/' | b'_' | b'-' => 4,
            _ => 0,
        };
        if matches!(b | 0x20, b'a' | b'e' | b'i' | b'o' | b'u') && t[i] != 0 {
            t[i] |= 8;
        }
        i += 1;
    }
    t
}

/// `c log2 c` for the counts most tokens have, computed once with the same expression as
/// [`c_log2_c`] (so the sum below is bit for bit what it was without the table).
fn c_log2_c_table() -> &'static [f64; 256] {
    static T: std::sync::OnceLock<[f64; 256]> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t = [0.0; 256];
        for (c, v) in t.iter_mut().enumerate() {
            *v = c_log2_c(c as u16);
        }
        t
    })
}

fn c_log2_c(c: u16) -> f64 {
    let c = f64::from(c);
    c * c.log2()
}

/// Shannon entropy in bits per character: log2(n) - sum(c log2 c) / n. `present` has bit
/// `b` set for every byte `b` counted in `hist`: the sum visits only those, in the same
/// ascending order as a walk over all 128 entries (so the same terms in the same order),
/// and takes `c log2 c` from a table instead of calling `log2` (both were most of the cost
/// of this check on long tokens).
fn entropy(hist: &[u16; 128], present: u128, nf: f64) -> f64 {
    let table = c_log2_c_table();
    let mut sum = 0.0;
    let mut m = present;
    while m != 0 {
        let c = hist[m.trailing_zeros() as usize];
        m &= m - 1;
        if c > 1 {
            sum += match table.get(usize::from(c)) {
                Some(v) => *v,
                None => c_log2_c(c),
            };
        }
    }
    nf.log2() - sum / nf
}

/// A high-entropy token: 20 to 4096 characters from base64/base64url/hex, with the
/// character distribution of random data (Shannon entropy near the maximum for its length,
/// few vowels when it has no digits) and not shaped like a UUID.
pub(crate) fn is_high_entropy(s: &[u8]) -> bool {
    if s.len() < 20 || s.len() > MAX_SECRET_LEN || is_uuid(s) || s[0] == b'/' || path_like(s) {
        return false;
    }
    let mut hist = [0u16; 128];
    let mut present = 0u128;
    let mut cnt = [0usize; 6];
    for &b in s {
        let c = ENT_CLASS[b as usize];
        if c == 0 {
            return false;
        }
        cnt[(c & 7) as usize] += 1;
        cnt[5] += usize::from(c >> 3);
        hist[b as usize & 127] += 1;
        present |= 1 << (b & 127);
    }
    let (digits, upper, lower, other, vowels) = (cnt[1], cnt[2], cnt[3], cnt[4], cnt[5]);
    let n = s.len();
    let letters = upper + lower;
    if letters == 0 || other * 5 > n {
        return false;
    }
    let hex = s
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        || s.iter()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b));
    let nf = n as f64;
    if hex {
        return n >= 32 && digits > 0 && entropy(&hist, present, nf) >= 3.0;
    }
    // Word-like (many vowels): an identifier or a slug, not a key. Random base62 has about 19%.
    if (digits == 0 && vowels * 10 > letters * 3) || vowels * 10 > letters * 4 {
        return false;
    }
    if upper == 0 || lower == 0 {
        return n >= 24 && digits > 0 && entropy(&hist, present, nf) >= 3.8;
    }
    let h = entropy(&hist, present, nf);
    h >= 0.82 * nf.log2().min(6.0) && h >= 3.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        assert_eq!(luhn_check_digit(b"411111111111111"), b'1');
    }

    #[test]
    fn iban() {
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(!iban_valid("GB82WEST12345698765433"));
        assert!(!iban_valid("DE89 3704 0044 0532 0130 0"));
    }

    #[test]
    fn phones() {
        for p in [
            "+1 415 555 2671",
            "+44 20 7946 0958",
            "(415) 555-2671",
            "415-555-2671",
            "020 7946 0958",
            "07700 900123",
            "+14155552671",
            "01 23 45 67 89",
            "1-800-555-0199",
            "1 (212) 935-0366",
            "0171/2345678",
        ] {
            assert!(is_phone(p.as_bytes()), "{p}");
        }
        for p in ["2024-01-15", "12345", "1.2.3", "415-5552-671", "555 1234"] {
            assert!(!is_phone(p.as_bytes()), "{p}");
        }
    }
}
