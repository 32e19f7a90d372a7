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
    let Some(p) = text::prev(t, s) else {
        return false;
    };
    let last = p.raw.as_bytes()[p.raw.len() - 1];
    if p.newline {
        return last == b',';
    }
    // Title abbreviations (`Mr.`, `sig.ra`, `Dott.`) are short.
    !(matches!(last, b'.' | b'!' | b'?') && p.raw.len() > 7)
}

/// A name starting at `s` (the start of a capitalized word), as a byte range.
pub(super) fn at(lx: &Lexicon, t: &str, s: usize) -> Option<(usize, usize)> {
    let mut buf = text::Buf::new();
    // Read up to MAX_NAME_WORDS capitalized words joined by single spaces (particles allowed
    // inside: `Ludwig van Beethoven`, `María del Carmen`).
    let mut words_ = [(0usize, 0usize, 0u8); MAX_NAME_WORDS];
    let mut n = 0;
    let mut p = s;
    let mut pending_particle_end = None;
    let mut particle = false;
    loop {
        let e = text::word_end(t, p);
        if e == p {
            break;
        }
        let w = &t[p..e];
        let h = words::hash_lower(w);
        if !lx.exempt.is_empty() && lx.exempt.contains(&h) {
            break;
        }
        let (f, class) = flags(lx, h);
        if is_cap(w) {
            let stop =
                NONNAME | words::STREET_PRE | words::STREET_POST | TITLE | GREET | LABEL | SIGNOFF;
            // `Maja` and `Jan` are names and months (Slovenian, abbreviated English).
            if class & stop != 0 || (class & words::MONTH != 0 && f & GIVEN == 0) {
                break;
            }
            if pending_particle_end.is_some() {
                particle = true;
            }
            words_[n] = (p, e, f);
            n += 1;
            pending_particle_end = None;
            if n == MAX_NAME_WORDS {
                break;
            }
        } else if n > 0 && class & PARTICLE != 0 && pending_particle_end.is_none() {
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
    let cue = cue_before(t, s, &mut buf);
    let known = |i: usize| words_[i].2 != 0;
    let given = |i: usize| words_[i].2 & GIVEN != 0;
    let surname = |i: usize| words_[i].2 & SURNAME != 0;
    let first_lc_ambiguous = {
        let lc = text::lower(&t[words_[0].0..words_[0].1], &mut buf);
        words::ambiguous(lc)
    };
    let accept_all = match cue {
        Cue::Strong => true,
        Cue::Label => {
            (0..n).any(known) || (n >= 2 && !particle && looks_like_name(t, &words_[..n]))
        }
        _ if n >= 2 => {
            let any_known = (0..n).any(known);
            (given(0) && !first_lc_ambiguous)
                || (given(0) && (1..n).any(known))
                || (surname(n - 1) && known(0))
                || (cue == Cue::None && any_known)
                || (cue == Cue::None && n <= 3 && !particle && looks_like_name(t, &words_[..n]))
        }
        Cue::None => given(0) && !first_lc_ambiguous,
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
