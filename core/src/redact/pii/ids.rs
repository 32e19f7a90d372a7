//! National identifiers with their official check digits (or, for the UK NINO, which has
//! none, its allocation rules): DE Steuer-IdNr, FR NIR (INSEE), ES DNI/NIE, IT codice
//! fiscale, UK NINO, SI EMŠO.

use super::text::digits_end;

/// DE tax id (11 digits, ISO 7064 MOD 11,10; in the first ten digits exactly one digit
/// occurs two or three times, no other repeats; the first is not 0).
pub(crate) fn de_tax_id(d: &[u8]) -> bool {
    if d.len() != 11 || d[0] == b'0' || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut counts = [0u8; 10];
    for &c in &d[..10] {
        counts[(c - b'0') as usize] += 1;
    }
    let repeated = counts.iter().filter(|&&c| c > 1).count();
    if repeated != 1 || !counts.iter().any(|&c| c == 2 || c == 3) {
        return false;
    }
    let mut product = 10u32;
    for &c in &d[..10] {
        let mut sum = (u32::from(c - b'0') + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    let check = (11 - product) % 10;
    check == u32::from(d[10] - b'0')
}

/// FR NIR: 13 digits (sex 1/2 or 3/4/7/8, year, month 01-12 or 20-42/50-99, département with
/// `2A`/`2B` for Corsica) and a key of 97 minus the number modulo 97.
pub(crate) fn fr_nir(d: &[u8]) -> bool {
    if d.len() != 15 || !matches!(d[0], b'1' | b'2' | b'3' | b'4' | b'7' | b'8') {
        return false;
    }
    let mut n: u64 = 0;
    for (i, &c) in d[..13].iter().enumerate() {
        let v = match (i, c) {
            (_, b'0'..=b'9') => u64::from(c - b'0'),
            (6, b'A' | b'B') if d[5] == b'2' => 0,
            _ => return false,
        };
        n = n * 10 + v;
    }
    if !d[13..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    // Corsica: 2A and 2B count as 19 and 18 in the département position.
    if d[6] == b'A' {
        n -= 1_000_000;
    } else if d[6] == b'B' {
        n -= 2_000_000;
    }
    let month = u32::from(d[3] - b'0') * 10 + u32::from(d[4] - b'0');
    if month == 0 || (month > 12 && month < 20) {
        return false;
    }
    let key = u64::from(d[13] - b'0') * 10 + u64::from(d[14] - b'0');
    (1..=97).contains(&key) && 97 - n % 97 == key
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// ES DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter), mod 23.
pub(crate) fn es_dni_nie(w: &[u8]) -> bool {
    if w.len() != 9 {
        return false;
    }
    let lead = match w[0] {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        b'0'..=b'9' => u32::from(w[0] - b'0'),
        _ => return false,
    };
    if !w[1..8].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = w[1..8]
        .iter()
        .fold(lead, |a, &c| a * 10 + u32::from(c - b'0'));
    DNI_LETTERS[(n % 23) as usize] == w[8]
}

/// IT codice fiscale: 16 characters, the last a check letter over the first 15.
pub(crate) fn it_codice_fiscale(w: &[u8]) -> bool {
    const ODD: [u8; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    // Omocodia replaces digits by these letters; the positions keep their class.
    const DIGIT_POS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
    if w.len() != 16 {
        return false;
    }
    for (i, &c) in w.iter().enumerate() {
        let ok = if DIGIT_POS.contains(&i) {
            c.is_ascii_digit() || b"LMNPQRSTUV".contains(&c)
        } else {
            c.is_ascii_uppercase()
        };
        if !ok {
            return false;
        }
    }
    if !b"ABCDEHLMPRST".contains(&w[8]) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in w[..15].iter().enumerate() {
        let v = if c.is_ascii_digit() {
            c - b'0'
        } else {
            c - b'A'
        };
        sum += u32::from(if i % 2 == 0 { ODD[v as usize] } else { v });
    }
    w[15] == b'A' + (sum % 26) as u8
}

/// UK NINO allocation rules (no check digit): two prefix letters (not D F I Q U V; second not
/// O; not BG GB KN NK NT TN ZZ), six digits, suffix A-D.
pub(crate) fn uk_nino(w: &[u8]) -> bool {
    if w.len() != 9 {
        return false;
    }
    let (a, b) = (w[0], w[1]);
    let bad = |c: u8| matches!(c, b'D' | b'F' | b'I' | b'Q' | b'U' | b'V');
    if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() || bad(a) || bad(b) || b == b'O' {
        return false;
    }
    if matches!(
        &w[..2],
        b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ"
    ) {
        return false;
    }
    w[2..8].iter().all(u8::is_ascii_digit) && matches!(w[8], b'A'..=b'D')
}

/// SI EMŠO: 13 digits, DDMMYYY, region, serial, mod-11 check digit.
pub(crate) fn si_emso(d: &[u8]) -> bool {
    if d.len() != 13 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let v = |i: usize| u32::from(d[i] - b'0');
    let day = v(0) * 10 + v(1);
    let month = v(2) * 10 + v(3);
    if !(1..=31).contains(&day) || !(1..=12).contains(&month) {
        return false;
    }
    const W: [u32; 12] = [7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    let sum: u32 = (0..12).map(|i| v(i) * W[i]).sum();
    let m = 11 - sum % 11;
    let check = match m {
        11 => 0,
        10 => return false,
        m => m,
    };
    check == v(12)
}

/// Groups of digits separated by single spaces starting at `s`: their lengths and ends.
fn groups(b: &[u8], s: usize, max: usize) -> ([usize; 8], [usize; 8], usize) {
    let mut lens = [0; 8];
    let mut ends = [0; 8];
    let mut n = 0;
    let mut p = s;
    while n < max.min(8) {
        let e = digits_end(b, p);
        if e == p {
            break;
        }
        lens[n] = e - p;
        ends[n] = e;
        n += 1;
        if e + 1 < b.len() && b[e] == b' ' && b[e + 1].is_ascii_digit() {
            p = e + 1;
        } else {
            break;
        }
    }
    (lens, ends, n)
}

fn boundary_after(b: &[u8], e: usize) -> bool {
    e >= b.len() || !b[e].is_ascii_alphanumeric()
}

fn boundary_before(b: &[u8], s: usize) -> bool {
    s == 0 || !(b[s - 1].is_ascii_alphanumeric() || matches!(b[s - 1], b'+' | b'-' | b'/' | b'.'))
}

/// A national id starting at `s` (a word of digits and capitals), as its end.
pub(super) fn at(t: &str, s: usize) -> Option<usize> {
    let b = t.as_bytes();
    if !boundary_before(b, s) {
        return None;
    }
    let c = b[s];
    if c.is_ascii_digit() {
        let (lens, ends, n) = groups(b, s, 7);
        if n == 0 {
            return None;
        }
        let mut buf = [0u8; 16];
        let collect = |k: usize, buf: &mut [u8; 16]| -> Option<usize> {
            let mut m = 0;
            let mut p = s;
            for i in 0..k {
                if m + lens[i] > 16 {
                    return None;
                }
                buf[m..m + lens[i]].copy_from_slice(&b[p..p + lens[i]]);
                m += lens[i];
                p = ends[i] + 1;
            }
            Some(m)
        };
        // Grouped forms first: DE `12 345 678 901`, FR `1 85 03 75 116 001 42`.
        if n == 7 && lens[..7] == [1, 2, 2, 2, 3, 3, 2] && boundary_after(b, ends[6]) {
            if let Some(m) = collect(7, &mut buf) {
                if fr_nir(&buf[..m]) {
                    return Some(ends[6]);
                }
            }
        }
        if n == 4 && lens[..4] == [2, 3, 3, 3] && boundary_after(b, ends[3]) {
            if let Some(m) = collect(4, &mut buf) {
                if de_tax_id(&buf[..m]) {
                    return Some(ends[3]);
                }
            }
        }
        let e = ends[0];
        let w = &b[s..e];
        if boundary_after(b, e) {
            let ok = match w.len() {
                11 => de_tax_id(w),
                13 => si_emso(w),
                15 => fr_nir(w),
                _ => false,
            };
            if ok {
                return Some(e);
            }
        }
        // DNI: 8 digits and a letter.
        if w.len() == 8
            && e < b.len()
            && b[e].is_ascii_uppercase()
            && boundary_after(b, e + 1)
            && es_dni_nie(&b[s..e + 1])
        {
            return Some(e + 1);
        }
        return None;
    }
    if !c.is_ascii_uppercase() {
        return None;
    }
    let mut e = s;
    while e < b.len() && b[e].is_ascii_alphanumeric() {
        e += 1;
    }
    let w = &b[s..e];
    match w.len() {
        9 if (es_dni_nie(w) || uk_nino(w)) => return Some(e),
        16 if it_codice_fiscale(w) => return Some(e),
        // NINO written in groups: `QQ 12 34 56 C`.
        2 => {
            let (lens, ends, n) = groups(b, e + 1, 3);
            if e < b.len() && b[e] == b' ' && n == 3 && lens[..3] == [2, 2, 2] {
                let se = ends[2];
                if se + 2 <= b.len() && b[se] == b' ' && boundary_after(b, se + 2) {
                    let mut nino = [0u8; 9];
                    nino[..2].copy_from_slice(w);
                    let mut p = e + 1;
                    for i in 0..3 {
                        nino[2 + 2 * i..4 + 2 * i].copy_from_slice(&b[p..p + 2]);
                        p += 3;
                    }
                    nino[8] = b[se + 1];
                    if uk_nino(&nino) {
                        return Some(se + 2);
                    }
                }
            }
        }
        _ => {}
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_examples() {
        // Examples published by the issuing authorities or in their specifications.
        assert!(de_tax_id(b"86095742719"));
        assert!(!de_tax_id(b"86095742718"));
        assert!(fr_nir(b"255081416802538"));
        assert!(!fr_nir(b"255081416802539"));
        assert!(es_dni_nie(b"12345678Z"));
        assert!(!es_dni_nie(b"12345678A"));
        assert!(es_dni_nie(b"X1234567L"));
        assert!(it_codice_fiscale(b"RSSMRA85T10A562S"));
        assert!(!it_codice_fiscale(b"RSSMRA85T10A562T"));
        assert!(uk_nino(b"AB123456C"));
        assert!(!uk_nino(b"BG123456C"));
        assert!(!uk_nino(b"AB123456E"));
        assert!(si_emso(b"0101006500006"));
        assert!(!si_emso(b"0101006500007"));
    }

    #[test]
    fn grouped_forms() {
        assert_eq!(at("id 86 095 742 719.", 3), Some(17));
        assert_eq!(at("2 55 08 14 168 025 38", 0), Some(21));
        assert_eq!(at("AB 12 34 56 C", 0), Some(13));
        assert_eq!(at("12345678Z", 0), Some(9));
        assert_eq!(at("+86095742719", 1), None);
    }
}
