//! Postal addresses, found from their house number: a street type before or after it
//! (`Hauptstraße 12`, `Via Roma 10`, `12 rue de la Paix`, `221B Baker Street`), then an
//! optional flat (`2º B`), postcode and city (`10115 Berlin`, `Leeds LS1 4AP`,
//! `Boston, MA 02110`).

use super::text::{self, char_at, digits_end, is_cap};
use super::words::{self, PARTICLE, STREET_POST, STREET_PRE};

/// Most words between a street type and the house number (`Avenida de la Constitución 5`).
const MAX_STREET_WORDS: usize = 5;

/// End of a house number at `s`: 1 to 4 digits, an optional letter (`12a`, `221B`) or
/// `/B`, and a word boundary.
fn house_number(b: &[u8], s: usize) -> Option<usize> {
    let mut e = digits_end(b, s);
    if e == s || e - s > 4 || b[s] == b'0' {
        return None;
    }
    if e < b.len()
        && b[e].is_ascii_alphabetic()
        && !(e + 1 < b.len() && b[e + 1].is_ascii_alphanumeric())
    {
        e += 1;
    } else if e + 1 < b.len() && b[e] == b'/' && b[e + 1].is_ascii_alphanumeric() {
        let f = e
            + 1
            + b[e + 1..]
                .iter()
                .take(3)
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
        e = f;
    }
    if e < b.len()
        && (b[e].is_ascii_alphanumeric()
            || matches!(b[e], b'.' | b'/' | b'-' | b':')
                && e + 1 < b.len()
                && b[e + 1].is_ascii_digit())
    {
        return None;
    }
    Some(e)
}

/// A street written before the number at `s`; returns where it starts.
fn street_before(t: &str, s: usize) -> Option<usize> {
    let mut buf = text::Buf::new();
    let p = text::prev(t, s)?;
    if p.newline || p.raw.ends_with([',', ':', ';', ')']) {
        return None;
    }
    // Every form below needs letters right before the number (most numbers in text follow
    // a word with digits or symbols, or a lower-case word that is no street type): leave
    // early, before any lookup.
    let lead = p.raw.as_bytes()[0];
    if !(lead.is_ascii_alphabetic() || lead >= 0x80) || !is_word(p.raw.trim_end_matches('.')) {
        return None;
    }
    let word = text::trim(p.raw);
    let class = words::class(word);
    if word.eq_ignore_ascii_case("c/") {
        return None; // `C/ 5` has no street name.
    }
    if class & STREET_POST != 0 && is_word(p.raw) {
        // `Berliner Straße 12`, `Slovenska cesta 50`, `Oak Street 5`: the street's own
        // name is the word before the type.
        if let Some(q) = text::prev(t, p.start) {
            if !q.newline && is_cap(q.raw) && !q.raw.ends_with([',', ':', '.', ';']) {
                return Some(q.start);
            }
        }
        if class & STREET_PRE == 0 {
            return None;
        }
    }
    if words::is_compound_street(word) && is_cap(p.raw.trim_end_matches('.')) {
        return Some(p.start);
    }
    // A prefix type up to MAX_STREET_WORDS words back, with at least one capitalized word
    // between it and the number: `Via Dante Alighieri 10`, `Calle de Alcalá 5`, `Trg svobode 3`.
    let mut cap_seen = false;
    let mut cur = p;
    for _ in 0..=MAX_STREET_WORDS {
        let lc = text::norm(cur.raw, &mut buf);
        let class = words::class(lc);
        if class & STREET_PRE != 0
            && (is_cap(cur.raw) || lc == "c/")
            && (cap_seen || lc == "trg" || lc == "c/" || class & STREET_POST != 0)
        {
            return Some(cur.start);
        }
        if !is_word(cur.raw.trim_end_matches('.')) || cur.raw.ends_with([',', ':', ';']) {
            return None;
        }
        if is_cap(cur.raw) {
            cap_seen = true;
        } else if class & PARTICLE == 0 && lc.chars().count() > 3 {
            // Lower-case words other than particles end a street name, except in Slovenian
            // street names such as `Trg svobode`.
            if !cap_seen {
                let q = text::prev(t, cur.start)?;
                if words::class(text::norm(q.raw, &mut buf)) & STREET_PRE != 0 && is_cap(q.raw) {
                    return Some(q.start);
                }
            }
            return None;
        }
        let q = text::prev(t, cur.start)?;
        if q.newline {
            return None;
        }
        cur = q;
    }
    None
}

fn is_word(w: &str) -> bool {
    !w.is_empty()
        && w.chars()
            .all(|c| c.is_alphabetic() || c == '-' || c == '\'' || c == '/')
}

/// A street written after the number ending at `e`: `12 rue de la Paix`, `170 Cedar Avenue`.
fn street_after(t: &str, e: usize) -> Option<usize> {
    let b = t.as_bytes();

    let mut p = text::next_word_start(t, e)?;
    let mut we = text::word_end(t, p);
    if matches!(&t[p..we], "bis" | "ter" | "quater") {
        let after = if we < b.len() && b[we] == b',' {
            we + 1
        } else {
            we
        };
        p = text::next_word_start(t, after)?;
        we = text::word_end(t, p);
    }
    let first = &t[p..we];
    let first_cap = is_cap(first);
    if !first_cap && words::class(first) & STREET_PRE != 0 {
        // French: a lower-case type, then the name up to the comma or the line's end.
        let mut end = we;
        let mut q = we;
        let mut n = 0;
        while n < MAX_STREET_WORDS {
            let Some(ns) = text::next_word_start(t, q) else {
                break;
            };
            let ne = text::word_end(t, ns);
            end = ne;
            q = ne;
            n += 1;
        }
        return (n > 0).then_some(end);
    }
    // English: one to three capitalized words, the last a street type.
    if !first_cap {
        return None;
    }
    let mut q = p;
    for _ in 0..4 {
        let qe = text::word_end(t, q);
        let w = &t[q..qe];
        if !is_cap(w) {
            return None;
        }
        if words::class(w) & STREET_POST != 0 && q != p {
            // `Baker Street NW`: a compass suffix belongs to the street.
            if let Some(ns) = text::next_word_start(t, qe) {
                let ne = text::word_end(t, ns);
                if matches!(
                    &t[ns..ne],
                    "NW" | "NE" | "SW" | "SE" | "N" | "S" | "E" | "W"
                ) {
                    return Some(ne);
                }
            }
            let mut end = qe;
            if end < b.len() && b[end] == b'.' {
                end += 1;
            }
            return Some(end);
        }
        q = text::next_word_start(t, qe)?;
    }
    None
}

/// A UK postcode at `s`: `LS1 4AP`, `SW1A 1AA`, `M1 1AE`.
fn uk_postcode(b: &[u8], s: usize) -> Option<usize> {
    let mut i = s;
    let l = b[i..]
        .iter()
        .take(2)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    if l == 0 {
        return None;
    }
    i += l;
    let d = b[i..]
        .iter()
        .take(2)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if d == 0 {
        return None;
    }
    i += d;
    if i < b.len() && b[i].is_ascii_uppercase() {
        i += 1;
    }
    if i + 4 > b.len()
        || b[i] != b' '
        || !b[i + 1].is_ascii_digit()
        || !b[i + 2].is_ascii_uppercase()
        || !b[i + 3].is_ascii_uppercase()
    {
        return None;
    }
    let e = i + 4;
    (e == b.len() || !b[e].is_ascii_alphanumeric()).then_some(e)
}

/// Flat, postcode and city after the street part ending at `e`; returns the new end.
fn tail(t: &str, mut e: usize) -> usize {
    let b = t.as_bytes();
    // `, 2º B`, `, 3º izq.`
    if e + 3 < b.len() && b[e] == b',' && b[e + 1] == b' ' && b[e + 2].is_ascii_digit() {
        let d = digits_end(b, e + 2);
        if t[d..].starts_with('º') || t[d..].starts_with('ª') {
            let mut f = d + 2;
            if let Some(ws) = text::next_word_start(t, f) {
                let we = text::word_end(t, ws);
                if we - ws <= 4 {
                    f = we;
                    if f < b.len() && b[f] == b'.' {
                        f += 1;
                    }
                }
            }
            e = f;
        }
    }
    let mut p = e;
    if p < b.len() && b[p] == b',' {
        p += 1;
    }
    if p < b.len() && b[p] == b' ' {
        p += 1;
    } else {
        return e;
    }
    if p >= b.len() {
        return e;
    }
    if b[p].is_ascii_digit() {
        // `10115 Berlin`, `1000 Ljubljana`
        let d = digits_end(b, p);
        if (4..=5).contains(&(d - p)) {
            if let Some(cs) = text::next_word_start(t, d) {
                let ce = text::word_end(t, cs);
                if is_cap(&t[cs..ce]) {
                    return ce;
                }
            }
        }
        return e;
    }
    if char_at(t, p).is_some_and(char::is_uppercase) {
        // `Leeds LS1 4AP`, `Boston, MA 02110`
        let ce = text::word_end(t, p);
        if !is_cap(&t[p..ce]) {
            return e;
        }
        if ce + 1 < b.len() && b[ce] == b' ' {
            if let Some(pe) = uk_postcode(b, ce + 1) {
                return pe;
            }
        }
        if ce + 5 < b.len()
            && b[ce] == b','
            && b[ce + 1] == b' '
            && b[ce + 2].is_ascii_uppercase()
            && b[ce + 3].is_ascii_uppercase()
            && b[ce + 4] == b' '
        {
            let d = digits_end(b, ce + 5);
            if d - (ce + 5) == 5 && (d == b.len() || !b[d].is_ascii_alphanumeric()) {
                return d;
            }
        }
    }
    e
}

/// An address around the house number at `s`, as a byte range.
pub(super) fn at(t: &str, s: usize) -> Option<(usize, usize)> {
    let b = t.as_bytes();
    if s > 0
        && (b[s - 1].is_ascii_alphanumeric()
            || matches!(b[s - 1], b'.' | b'/' | b'-' | b'+' | b'#'))
    {
        return None;
    }
    let ne = house_number(b, s)?;
    if let Some(st) = street_before(t, s) {
        return Some((st, tail(t, ne)));
    }
    let se = street_after(t, ne)?;
    Some((s, tail(t, se)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(t: &str) -> Option<&str> {
        let b = t.as_bytes();
        (0..t.len())
            .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()))
            .find_map(|i| at(t, i))
            .map(|(s, e)| &t[s..e])
    }

    #[test]
    fn addresses_in_six_languages() {
        assert_eq!(
            addr("at 170 Cedar Avenue, Boston, MA 02110."),
            Some("170 Cedar Avenue, Boston, MA 02110")
        );
        assert_eq!(
            addr("to 221B Baker Street, London NW1 6XE"),
            Some("221B Baker Street, London NW1 6XE")
        );
        assert_eq!(
            addr("an Hauptstraße 12a, 10115 Berlin."),
            Some("Hauptstraße 12a, 10115 Berlin")
        );
        assert_eq!(
            addr("in der Berliner Straße 5, 50667 Köln"),
            Some("Berliner Straße 5, 50667 Köln")
        );
        assert_eq!(
            addr("Bahnhofstr. 7, 80331 München"),
            Some("Bahnhofstr. 7, 80331 München")
        );
        assert_eq!(
            addr("au 12 bis rue de la République, 69001 Lyon"),
            Some("12 bis rue de la République, 69001 Lyon")
        );
        assert_eq!(
            addr("a Calle de Alcalá 45, 2º B, 28014 Madrid"),
            Some("Calle de Alcalá 45, 2º B, 28014 Madrid")
        );
        assert_eq!(
            addr("C/ Mayor 5, 28013 Madrid"),
            Some("C/ Mayor 5, 28013 Madrid")
        );
        assert_eq!(
            addr("in Via Dante Alighieri 10/B, 00184 Roma"),
            Some("Via Dante Alighieri 10/B, 00184 Roma")
        );
        assert_eq!(
            addr("na Slovenska cesta 50, 1000 Ljubljana"),
            Some("Slovenska cesta 50, 1000 Ljubljana")
        );
        assert_eq!(
            addr("Trg svobode 3, 2000 Maribor"),
            Some("Trg svobode 3, 2000 Maribor")
        );
        assert_eq!(addr("sent via DHL 3 times"), None);
        assert_eq!(addr("Ticket 123 and Kapitel 5"), None);
        assert_eq!(addr("we have 3 rooms"), None);
    }
}
