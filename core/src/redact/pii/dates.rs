//! Dates of birth (a date with a birth cue shortly before it on the same line) and card
//! security codes (three or four digits with a CVC cue shortly before them).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::text::{self, digits_end};
use super::words::{self, MONTH};

/// How far before a date a birth cue may stand (`Date of birth (as on the passport): ...`).
const DOB_WINDOW: usize = 64;
/// How far before a security code its cue may stand (`CVC/CVV code: 123`).
const CVC_WINDOW: usize = 32;

fn dob_cues() -> &'static AhoCorasick {
    static A: OnceLock<AhoCorasick> = OnceLock::new();
    A.get_or_init(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            // A few dozen cues: the DFA is small and the fastest over short windows.
            .kind(Some(AhoCorasickKind::DFA))
            .build([
                "born",
                "birth",
                "dob",
                "d.o.b",
                "geboren",
                "geb.",
                "geburtsdatum",
                "geburtstag",
                "né le",
                "née le",
                "né(e)",
                "né ",
                "née ",
                "naissance",
                "nacido",
                "nacida",
                "nací",
                "nacimiento",
                "nato ",
                "nata ",
                "nato il",
                "nata il",
                "nascita",
                "rojen",
                "rojena",
                "rojstva",
                "rojstni",
                "roj.",
            ])
            .unwrap_or_else(|_| unreachable!("fixed patterns build"))
    })
}

fn cvc_cues() -> &'static AhoCorasick {
    static A: OnceLock<AhoCorasick> = OnceLock::new();
    A.get_or_init(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            // A few dozen cues: the DFA is small and the fastest over short windows.
            .kind(Some(AhoCorasickKind::DFA))
            .build([
                "cvc",
                "cvv",
                "cvn",
                "csc",
                "cid",
                "security code",
                "card code",
                "verification code",
                "prüfnummer",
                "prüfziffer",
                "kartenprüf",
                "sicherheitscode",
                "cryptogramme",
                "code de sécurité",
                "código de seguridad",
                "código cvv",
                "codice di sicurezza",
                "codice cvv",
                "varnostna koda",
                "varnostno kodo",
                "varnostna številka",
            ])
            .unwrap_or_else(|_| unreachable!("fixed patterns build"))
    })
}

fn has_cue(ac: &AhoCorasick, t: &str, start: usize, window: usize) -> bool {
    let b = t.as_bytes();
    // The line's start only matters inside the window: looking for it further back cost
    // more than the cue search on long lines (a 2 KB paragraph).
    let w0 = start.saturating_sub(window);
    let from = text::line_start(&b[w0..], start - w0) + w0;
    // The cue belongs to this value only if no other number stands between them
    // (`CVC 123, ticket 456`).
    ac.find_iter(&b[from..start])
        .last()
        .is_some_and(|m| !b[from + m.end()..start].iter().any(u8::is_ascii_digit))
}

fn num(b: &[u8]) -> u32 {
    b.iter().fold(0, |a, &c| a * 10 + u32::from(c - b'0'))
}

/// A full numeric date at `s`: `12.03.1985`, `03/12/1985`, `1985-03-12`, `12.3.85`.
fn numeric_date(b: &[u8], s: usize) -> Option<usize> {
    let e1 = digits_end(b, s);
    let l1 = e1 - s;
    if e1 >= b.len() || !matches!(b[e1], b'.' | b'/' | b'-') {
        return None;
    }
    let sep = b[e1];
    let e2 = digits_end(b, e1 + 1);
    let l2 = e2 - e1 - 1;
    if e2 >= b.len() || b[e2] != sep || !(1..=2).contains(&l2) {
        return None;
    }
    let e3 = digits_end(b, e2 + 1);
    let l3 = e3 - e2 - 1;
    if e3 < b.len() && b[e3].is_ascii_alphanumeric() {
        return None;
    }
    let ok = if l1 == 4 {
        sep == b'-' && (1..=2).contains(&l3) && year_ok(num(&b[s..e1]))
    } else {
        (1..=2).contains(&l1)
            && (l3 == 2 || (l3 == 4 && year_ok(num(&b[e2 + 1..e3]))))
            && num(&b[s..e1]) >= 1
            && num(&b[e1 + 1..e2]) >= 1
    };
    ok.then_some(e3)
}

fn year_ok(y: u32) -> bool {
    (1900..=2099).contains(&y)
}

/// The start of a date that ends with the year at `[ys, ye)`: `12 March 1985`,
/// `12. März 1985`, `12 de marzo de 1985`, `March 12, 1985`, `12. 3. 1985`.
fn date_before_year(t: &str, ys: usize) -> Option<usize> {
    let mut buf = text::Buf::new();
    let mut p = text::prev(t, ys)?;
    if p.newline {
        return None;
    }
    if text::norm(p.raw, &mut buf) == "de" {
        p = text::prev(t, p.start)?;
    }
    let raw = p.raw;
    let rb = raw.as_bytes();
    // `12. 3. 1985`
    if rb.len() >= 2 && rb.len() <= 3 && rb[rb.len() - 1] == b'.' && rb[0].is_ascii_digit() {
        let m = raw.trim_end_matches('.');
        if m.bytes().all(|c| c.is_ascii_digit()) && (1..=12).contains(&num(m.as_bytes())) {
            let d = text::prev(t, p.start)?;
            let dm = d.raw.trim_end_matches('.');
            if !d.newline
                && d.raw.ends_with('.')
                && !dm.is_empty()
                && dm.len() <= 2
                && dm.bytes().all(|c| c.is_ascii_digit())
            {
                return Some(d.start);
            }
        }
        return None;
    }
    let lc = text::norm(raw, &mut buf);
    if words::class(lc) & MONTH != 0 {
        // `12 March`, `12. März`, `12 de marzo`
        let mut d = text::prev(t, p.start);
        if let Some(dd) = &d {
            if !dd.newline && dd.raw == "de" {
                d = text::prev(t, dd.start);
            }
        }
        if let Some(d) = d {
            let dm = d.raw.trim_end_matches('.');
            if !d.newline
                && !dm.is_empty()
                && dm.len() <= 2
                && dm.bytes().all(|c| c.is_ascii_digit())
            {
                return Some(d.start);
            }
        }
        return Some(p.start);
    }
    // `March 12, 1985`
    let dm = raw.trim_end_matches(',');
    if !dm.is_empty() && dm.len() <= 2 && dm.bytes().all(|c| c.is_ascii_digit()) {
        let m = text::prev(t, p.start)?;
        if !m.newline && words::class(text::norm(m.raw, &mut buf)) & MONTH != 0 {
            return Some(m.start);
        }
    }
    None
}

/// A date of birth touching the numeric word at `s`, as a byte range.
pub(super) fn dob_at(t: &str, s: usize) -> Option<(usize, usize)> {
    let b = t.as_bytes();
    if s > 0 && (b[s - 1].is_ascii_alphanumeric() || matches!(b[s - 1], b'.' | b'/' | b'-')) {
        return None;
    }
    let (ds, de) = if let Some(e) = numeric_date(b, s) {
        (s, e)
    } else {
        let e = digits_end(b, s);
        if e - s != 4 || !year_ok(num(&b[s..e])) || (e < b.len() && b[e].is_ascii_alphanumeric()) {
            return None;
        }
        (date_before_year(t, s)?, e)
    };
    has_cue(dob_cues(), t, ds, DOB_WINDOW).then_some((ds, de))
}

/// A card security code at `s`: exactly three or four digits after a cue.
pub(super) fn cvc_at(t: &str, s: usize) -> Option<usize> {
    let b = t.as_bytes();
    let e = digits_end(b, s);
    if !(3..=4).contains(&(e - s))
        || (e < b.len() && (b[e].is_ascii_alphanumeric() || matches!(b[e], b'/' | b'-')))
        || (s > 0
            && (b[s - 1].is_ascii_alphanumeric() || matches!(b[s - 1], b'/' | b'-' | b'.' | b'+')))
    {
        return None;
    }
    has_cue(cvc_cues(), t, s, CVC_WINDOW).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dob(t: &str) -> Option<&str> {
        let b = t.as_bytes();
        (0..t.len())
            .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
            .find_map(|i| dob_at(t, i))
            .map(|(s, e)| &t[s..e])
    }

    #[test]
    fn dates_of_birth_in_six_languages() {
        assert_eq!(dob("born 12 March 1985, ok"), Some("12 March 1985"));
        assert_eq!(dob("DOB: March 12, 1985"), Some("March 12, 1985"));
        assert_eq!(dob("Geburtsdatum: 12. März 1985"), Some("12. März 1985"));
        assert_eq!(dob("geb. 12.03.1985"), Some("12.03.1985"));
        assert_eq!(dob("née le 12 mars 1985"), Some("12 mars 1985"));
        assert_eq!(
            dob("fecha de nacimiento: 12 de marzo de 1985"),
            Some("12 de marzo de 1985")
        );
        assert_eq!(dob("nato il 12/03/1985"), Some("12/03/1985"));
        assert_eq!(dob("rojena 12. 3. 1985"), Some("12. 3. 1985"));
        assert_eq!(dob("datum rojstva: 1985-03-12"), Some("1985-03-12"));
        assert_eq!(dob("invoice of 12.03.2024"), None);
        assert_eq!(dob("born in 1985"), None);
    }

    #[test]
    fn security_codes() {
        let t = "card 4111 1111 1111 1111 CVC 123, ticket 456";
        assert_eq!(
            cvc_at(t, t.find("123").unwrap()),
            Some(t.find("123").unwrap() + 3)
        );
        assert_eq!(cvc_at(t, t.find("456").unwrap()), None);
        let t = "Prüfnummer 4821";
        assert!(cvc_at(t, t.find("4821").unwrap()).is_some());
    }
}
