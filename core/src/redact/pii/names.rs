//! Person names: capitalized words looked up in the gazetteer (given names, surnames, the
//! organization's own names) and read with their context (titles, greetings, field labels,
//! sign-offs, chat speakers). A name that no list knows is still found after a cue.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use super::text::{self, is_cap};
use super::words::{self, GREET, LABEL, NAMEPREP, NONNAME, PARTICLE, SIGNOFF, TITLE};

pub(crate) const GIVEN: u8 = 1;
pub(crate) const SURNAME: u8 = 2;

/// Most words taken into one name (`María del Carmen García López` is 5 plus particles).
const MAX_NAME_WORDS: usize = 5;

/// Adds the built-in gazetteer (nothing without the `names` feature) to the word table, as
/// `GIVEN`/`SURNAME` shifted left by 16.
pub(super) fn add_gazetteer(_m: &mut words::HashKeyed<u32>) {
    #[cfg(feature = "names")]
    for (list, bit) in [
        (super::gazetteer::GIVEN, GIVEN),
        (super::gazetteer::SURNAMES, SURNAME),
    ] {
        for n in list.lines().filter(|l| !l.is_empty()) {
            *_m.entry(words::hash_lower(n)).or_default() |= u32::from(bit) << 16;
        }
    }
}

/// Gazetteer statistics: (names, bytes of names, approximate heap bytes of the word table
/// that holds them with the cue words).
pub fn gazetteer_size() -> (usize, usize, usize) {
    let g = words::table();
    let n = g.values().filter(|v| **v >> 16 != 0).count();
    #[cfg(feature = "names")]
    let bytes = super::gazetteer::GIVEN.len() + super::gazetteer::SURNAMES.len();
    #[cfg(not(feature = "names"))]
    let bytes = 0;
    let table = g.capacity() * (std::mem::size_of::<(u64, u32)>() + 1);
    (n, bytes, table + super::words::BLOOM_BYTES)
}

/// True if the built-in gazetteer knows `word` (any case) as a given name or surname; always
/// false without the `names` feature.
pub fn in_gazetteer(word: &str) -> bool {
    words::lookup(word) >> 16 != 0
}

/// The organization's own names and exempt words (lower case).
#[derive(Default)]
pub(crate) struct Lexicon {
    /// Hashes (see [`words::hash_lower`]) of the organization's name words.
    pub(crate) names: words::HashKeyed<u8>,
    /// Hashes of the exempt words.
    pub(crate) exempt: HashSet<u64, BuildHasherDefault<words::IdHasher>>,
}

impl Lexicon {
    pub(crate) fn new(names: &[String], exempt: &[String]) -> Arc<Self> {
        let mut lx = Lexicon::default();
        for n in names {
            for w in n.split_whitespace() {
                *lx.names.entry(words::hash_lower(w)).or_default() |= GIVEN | SURNAME;
            }
        }
        for x in exempt {
            for w in x.split_whitespace() {
                lx.exempt.insert(words::hash_lower(w));
            }
        }
        Arc::new(lx)
    }
}

/// Context before a candidate name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cue {
    None,
    /// The candidate starts a sentence or a line.
    SentenceStart,
    /// After a generic `Something:` field label: a name is likely but not certain.
    Label,
    /// A title, greeting, name label, sign-off or chat speaker slot: what follows is a name.
    Strong,
}

fn cue_before(t: &str, s: usize, buf: &mut text::Buf) -> Cue {
    let Some(p) = text::prev(t, s) else {
        return Cue::SentenceStart;
    };
    let raw = p.raw;
    let last = raw.as_bytes()[raw.len() - 1];
    if p.newline && last != b',' {
        return Cue::SentenceStart;
    }
    let class = words::class(text::trim(raw));
    classify(t, &p, last, class, buf)
}

fn classify(t: &str, p: &text::Prev<'_>, last: u8, class: u16, buf: &mut text::Buf) -> Cue {
    let raw = p.raw;
    if p.newline {
        // A signature under a sign-off line (`Best regards,` / `Anna Novak`).
        if class & SIGNOFF != 0 && last == b',' {
            return Cue::Strong;
        }
        return Cue::SentenceStart;
    }
    // `[10:02] Anna: ...`: chat speakers; `- Anna` signatures.
    if last == b']' || raw == "-" || raw == "–" || raw == "—" {
        return Cue::Strong;
    }
    // `Nom : Dupont`: the label is the chunk before the lone colon.
    if raw == ":" {
        let Some(pp) = text::prev(t, p.start) else {
            return Cue::SentenceStart;
        };
        let c = words::class(text::norm(pp.raw, buf));
        return if c & LABEL != 0 {
            Cue::Strong
        } else {
            Cue::Label
        };
    }
    if class & (TITLE | GREET) != 0 && !matches!(last, b'.' | b'!' | b'?') || class & TITLE != 0 {
        return Cue::Strong;
    }
    if class & LABEL != 0 {
        // `Name: X` is a field; `from X`, `od X` are prepositions as often as labels.
        return if last == b':' {
            Cue::Strong
        } else {
            Cue::Label
        };
    }
    if class & SIGNOFF != 0 && (last == b',' || last.is_ascii_alphabetic()) {
        return Cue::Strong;
    }
    if class & NAMEPREP != 0 {
        return Cue::Label;
    }
    // `intestato a X`, `a nombre de X`, `na ime X`.
    if class & PARTICLE != 0 {
        if let Some(pp) = text::prev(t, p.start) {
            if words::class(text::norm(pp.raw, buf)) & NAMEPREP != 0 {
                return Cue::Strong;
            }
        }
    }
    if last == b':' {
        return Cue::Label;
    }
    if matches!(last, b'.' | b'!' | b'?' | b'"' | b'>') || raw.ends_with(['«', '¿', '¡', '“'])
    {
        return Cue::SentenceStart;
    }
    Cue::None
}

/// What the lists say about one lower-cased word: (name bits, word classes).
#[inline]
fn flags(lx: &Lexicon, h: u64) -> (u8, u16) {
    let own = if lx.names.is_empty() {
        0
    } else {
        lx.names.get(&h).copied().unwrap_or(0)
    };
    let v = words::lookup_hash(h);
    ((v >> 16) as u8 | own, (v & 0xffff) as u16)
}

/// Cheap check before the full cue analysis: can anything before `s` make a lone unknown
/// capitalized word a name? Not after a sentence end or at a line start (most such words).
fn strong_cue_possible(t: &str, s: usize) -> bool {
    // `text::prev` without building the chunk: only its last byte and whether it is longer
    // than 7 bytes matter.
    let b = t.as_bytes();
    let mut i = s.min(b.len());
    let mut newline = false;
    let mut spaces = 0;
    while i > 0 && matches!(b[i - 1], b' ' | b'\t' | b'\r' | b'\n') {
        newline |= b[i - 1] == b'\n';
        i -= 1;
        spaces += 1;
        if spaces > 8 {
            return false;
        }
    }
    if i == 0 {
        return false;
    }
    let last = b[i - 1];
    if newline {
        return last == b',';
    }
    if !matches!(last, b'.' | b'!' | b'?') {
        return true;
    }
    // Title abbreviations (`Mr.`, `sig.ra`, `Dott.`) are short.
    let e = i;
    while i > 0 && e - i < 8 && !matches!(b[i - 1], b' ' | b'\t' | b'\r' | b'\n') {
        i -= 1;
    }
    e - i <= 7
}

/// Longest particle inside a name (`della`, `degli`, `van't`): longer lower-case words end
/// the name without a lookup.
const MAX_PARTICLE: usize = 5;

/// True if the word at `s` cannot start a name, decided without the full analysis below
/// for the most common capitalized word of prose: one ASCII word with no capitalized word or
/// particle after it, either in a stop list or unknown with no cue before it (a sentence's
/// first word). False means "look closer", never "a name". Same outcome as [`at`], at a
/// fraction of its cost (the scan calls this for every capitalized word).
#[inline]
fn lone_non_name(lx: &Lexicon, t: &str, s: usize) -> bool {
    let b = t.as_bytes();
    let mut e = s;
    let mut lower = false;
    let mut x = 0u64;
    while e < b.len() && b[e].is_ascii_alphabetic() {
        if e - s < 8 {
            x |= u64::from(b[e] | 0x20) << (8 * (e - s));
        }
        lower |= b[e].is_ascii_lowercase();
        e += 1;
    }
    // Letters the full path joins (`Müller`, `O'Neil`, `Jean-Luc`) or none at all.
    if e == s || (e < b.len() && (b[e] >= 0x80 || b[e] == b'-' || b[e] == b'\'')) {
        return false;
    }
    if e - s < 2 || !lower {
        // Not capitalized (`X`, `KEY`): no name starts here.
        return true;
    }
    // A capitalized word or a short lower-case word (a particle) may continue the name.
    if e + 1 < b.len() && b[e] == b' ' {
        let c = b[e + 1];
        if c.is_ascii_uppercase() || c >= 0x80 {
            return false;
        }
        if c.is_ascii_lowercase() {
            let mut q = e + 1;
            let mut y = 0u64;
            while q < b.len() && q - (e + 1) <= MAX_PARTICLE && b[q].is_ascii_lowercase() {
                y |= u64::from(b[q]) << (8 * (q - e - 1));
                q += 1;
            }
            let len = q - (e + 1);
            if len <= MAX_PARTICLE
                && ((q < b.len() && (b[q] >= 0x80 || b[q] == b'-' || b[q] == b'\''))
                    || words::lookup_hash(words::hash_lower_short(len, y)) & u32::from(PARTICLE)
                        != 0)
            {
                return false;
            }
        }
    }
    let h = if e - s <= 8 {
        words::hash_lower_short(e - s, x)
    } else {
        words::hash_lower(&t[s..e])
    };
    if !lx.exempt.is_empty() && lx.exempt.contains(&h) {
        return true;
    }
    let (f, class) = flags(lx, h);
    let stop = NONNAME | words::STREET_PRE | words::STREET_POST | TITLE | GREET | LABEL | SIGNOFF;
    if class & stop != 0 || (class & words::MONTH != 0 && f & GIVEN == 0) {
        return true;
    }
    // A lone unknown word is a name only after a strong cue (a title, a greeting, `Name:`...).
    f == 0 && (!strong_cue_possible(t, s) || cue_before(t, s, &mut text::Buf::new()) != Cue::Strong)
}

/// A name starting at `s` (the start of a capitalized word), as a byte range.
pub(super) fn at(lx: &Lexicon, t: &str, s: usize) -> Option<(usize, usize)> {
    if lone_non_name(lx, t, s) {
        return None;
    }
    // Read up to MAX_NAME_WORDS capitalized words joined by single spaces (particles allowed
    // inside: `Ludwig van Beethoven`, `María del Carmen`). Each word: (start, end, name bits).
    let mut words_ = [(0usize, 0usize, 0u8); MAX_NAME_WORDS];
    let mut n = 0;
    let mut p = s;
    let mut pending_particle_end = None;
    let mut particle = false;
    let mut first_ambiguous = false;
    loop {
        let e = text::word_end(t, p);
        if e == p {
            break;
        }
        let w = &t[p..e];
        // Casing first: most words after a capitalized one are lower case, and only short
        // ones (particles) need their hash.
        let cap = is_cap(w);
        if !cap && (n == 0 || e - p > MAX_PARTICLE || pending_particle_end.is_some()) {
            break;
        }
        let h = words::hash_lower(w);
        if !lx.exempt.is_empty() && lx.exempt.contains(&h) {
            break;
        }
        let (f, class) = flags(lx, h);
        if cap {
            let stop =
                NONNAME | words::STREET_PRE | words::STREET_POST | TITLE | GREET | LABEL | SIGNOFF;
            // `Maja` and `Jan` are names and months (Slovenian, abbreviated English).
            if class & stop != 0 || (class & words::MONTH != 0 && f & GIVEN == 0) {
                break;
            }
            if pending_particle_end.is_some() {
                particle = true;
            }
            if n == 0 {
                first_ambiguous = class & words::AMBIGUOUS != 0;
            }
            words_[n] = (p, e, f);
            n += 1;
            pending_particle_end = None;
            if n == MAX_NAME_WORDS {
                break;
            }
        } else if class & PARTICLE != 0 {
            pending_particle_end = Some(e);
        } else {
            break;
        }
        match text::next_word_start(t, e) {
            Some(q) => p = q,
            None => break,
        }
    }
    if n == 0 {
        return None;
    }
    if n == 1 && words_[0].2 == 0 && !strong_cue_possible(t, s) {
        return None;
    }
    let mut buf = text::Buf::new();
    let cue = cue_before(t, s, &mut buf);
    let known = |i: usize| words_[i].2 != 0;
    let given = |i: usize| words_[i].2 & GIVEN != 0;
    let surname = |i: usize| words_[i].2 & SURNAME != 0;
    let accept_all = match cue {
        Cue::Strong => true,
        Cue::Label => {
            (0..n).any(known) || (n >= 2 && !particle && looks_like_name(t, &words_[..n]))
        }
        _ if n >= 2 => {
            let any_known = (0..n).any(known);
            (given(0) && !first_ambiguous)
                || (given(0) && (1..n).any(known))
                || (surname(n - 1) && known(0))
                || (cue == Cue::None && any_known)
                || (cue == Cue::None && n <= 3 && !particle && looks_like_name(t, &words_[..n]))
        }
        Cue::None => given(0) && !first_ambiguous,
        Cue::SentenceStart => false,
    };
    if !accept_all {
        return None;
    }
    Some((s, words_[n - 1].1))
}

/// Unknown capitalized words mid-sentence, two or three in a row, shaped like names: each
/// 2 to 20 letters, one capital (or a `Mc`/`O'`/hyphen join).
fn looks_like_name(t: &str, ws: &[(usize, usize, u8)]) -> bool {
    ws.iter().all(|&(s, e, _)| {
        let w = &t[s..e];
        let n = w.chars().count();
        let caps = w.chars().filter(|c| c.is_uppercase()).count();
        (2..=20).contains(&n)
            && (caps == 1 || w.contains(['-', '\'']) || w.starts_with("Mc"))
            && !common_noun(w)
    })
}

/// German nouns are capitalized; their common endings rule a word out as a name.
fn common_noun(w: &str) -> bool {
    const ENDINGS: &[&str] = &[
        "ung",
        "ungen",
        "keit",
        "heit",
        "schaft",
        "ität",
        "tion",
        "nis",
        "chen",
        "lein",
        "karte",
        "datum",
        "nummer",
        "rechnung",
        "rechnungen",
        "vertrag",
        "adresse",
        "konto",
        "auftrag",
    ];
    ENDINGS
        .iter()
        .any(|e| w.len() > e.len() + 2 && w.ends_with(e))
}
