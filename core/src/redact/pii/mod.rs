//! Personal-data recognizers (issue 22): person names, postal addresses, dates of birth,
//! card security codes and national ids, in English, German, French, Spanish, Italian and
//! Slovenian text.
//!
//! They run inside the single scan of [`super::scan`]: the scan calls [`word`] on words
//! that start with a capital letter or hold a digit, and these recognizers read only a few
//! words around that spot (to the left for cues, to the right to finish a name or an
//! address). Nothing rescans the text. See `docs/PERSONAL_DATA.md`.

mod address;
mod dates;
#[cfg(feature = "names")]
mod gazetteer;
mod ids;
mod names;
mod text;
pub(crate) mod words;

use std::sync::Arc;

pub(crate) use names::Lexicon;
pub use names::{gazetteer_size, in_gazetteer};

use super::{EntityKind, Finding};

/// The kinds handled here, as bits of the scan's kind mask.
pub(crate) fn bits() -> u32 {
    [
        EntityKind::PersonName,
        EntityKind::Address,
        EntityKind::DateOfBirth,
        EntityKind::NationalId,
        EntityKind::CardCvc,
    ]
    .iter()
    .fold(0, |a, k| a | k.bit())
}

/// Bits of the kinds that need every capitalized word (names). National ids that start
/// with a capital hold digits (`X1234567L`) and reach [`word`] anyway, except the grouped
/// NINO (`AB 12 34 56 C`), see [`nino_prefix`].
pub(crate) fn cap_bits() -> u32 {
    EntityKind::PersonName.bit()
}

/// True if the plain word `w` may start a grouped UK NINO and ids are on.
pub(crate) fn nino_prefix(kinds: u32, w: &[u8]) -> bool {
    w.len() == 2
        && w[0].is_ascii_uppercase()
        && w[1].is_ascii_uppercase()
        && kinds & EntityKind::NationalId.bit() != 0
}

/// Per-redactor configuration: the organization's names and exempt words.
pub(crate) struct PiiConfig {
    pub(crate) lexicon: Arc<Lexicon>,
}

fn emit(out: &mut Vec<Finding>, kind: EntityKind, start: usize, end: usize) {
    out.push(Finding { kind, start, end });
}

/// Looks at the word starting at `s` (a capital letter, ASCII or not, or a digit). Returns
/// where the scan resumes when something was found there. `digits` is false when the scan's
/// word holds no digit (then the only id that can start at a capital is a grouped NINO).
pub(crate) fn word(
    cfg: &PiiConfig,
    kinds: u32,
    t: &str,
    s: usize,
    digits: bool,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    let b = t.as_bytes();
    let c = *b.get(s)?;
    let on = |k: EntityKind| kinds & k.bit() != 0;
    if c.is_ascii_digit() {
        if on(EntityKind::NationalId) {
            if let Some(e) = ids::at(t, s) {
                emit(out, EntityKind::NationalId, s, e);
                return Some(e);
            }
        }
        if on(EntityKind::DateOfBirth) {
            if let Some((ds, de)) = dates::dob_at(t, s) {
                emit(out, EntityKind::DateOfBirth, ds, de);
                return Some(de);
            }
        }
        if on(EntityKind::CardCvc) {
            if let Some(e) = dates::cvc_at(t, s) {
                emit(out, EntityKind::CardCvc, s, e);
                return Some(e);
            }
        }
        if on(EntityKind::Address) {
            if let Some((a, e)) = address::at(t, s) {
                emit(out, EntityKind::Address, a, e);
                return Some(e);
            }
        }
        return None;
    }
    if c < 0x80 && !c.is_ascii_uppercase() {
        return None;
    }
    // Every id written from a capital holds digits (`X1234567L`, `AB123456C`, a codice
    // fiscale) except the grouped NINO's two-letter prefix (`QQ 12 34 56 C`): most
    // capitalized words of prose skip the id checks.
    if c.is_ascii_uppercase() && on(EntityKind::NationalId) && (digits || two_letters(b, s)) {
        if let Some(e) = ids::at(t, s) {
            emit(out, EntityKind::NationalId, s, e);
            return Some(e);
        }
    }
    if on(EntityKind::PersonName) {
        if let Some((ns, ne)) = names::at(&cfg.lexicon, t, s) {
            emit(out, EntityKind::PersonName, ns, ne);
            return Some(ne);
        }
    }
    None
}

/// True if exactly two ASCII letters or digits start at `s`.
fn two_letters(b: &[u8], s: usize) -> bool {
    s + 1 < b.len()
        && b[s + 1].is_ascii_alphanumeric()
        && b.get(s + 2).is_none_or(|c| !c.is_ascii_alphanumeric())
}

/// True if the non-ASCII character at `i` is an upper-case letter starting a word.
pub(crate) fn upper_start(t: &str, i: usize) -> bool {
    let b = t.as_bytes();
    if i > 0 && b[i - 1].is_ascii_alphabetic() {
        return false;
    }
    text::char_at(t, i).is_some_and(char::is_uppercase)
}
