//! Small Unicode-aware token helpers over UTF-8 byte offsets. The main scan splits words at
//! every non-ASCII byte; names and addresses need whole words such as `Müller` or `Šuštaršič`,
//! so these helpers read letters themselves, only around a candidate.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: short keys (names, cue words) hash several times faster than with SipHash, and
/// the keys come from fixed lists or the organization's own configuration, not from the text
/// being scanned, so hash flooding is not a concern.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// The char starting at byte `i`, if `i` is a boundary inside the text.
pub(super) fn char_at(t: &str, i: usize) -> Option<char> {
    t.get(i..).and_then(|r| r.chars().next())
}

/// End of the word of letters starting at `s` (inner `-`, `'` and `’` join letters: `Jean-Luc`,
/// `O'Neil`). Returns `s` when no letter starts there.
pub(super) fn word_end(t: &str, s: usize) -> usize {
    let b = t.as_bytes();
    let mut i = s;
    loop {
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        if i >= b.len() {
            return i;
        }
        let c = b[i];
        if c >= 0x80 {
            match char_at(t, i) {
                Some(ch) if ch.is_alphabetic() => {
                    i += ch.len_utf8();
                    continue;
                }
                Some('’') if i > s && char_at(t, i + 3).is_some_and(char::is_alphabetic) => {
                    i += 3;
                    continue;
                }
                _ => return i,
            }
        }
        if (c == b'-' || c == b'\'') && i > s && char_at(t, i + 1).is_some_and(char::is_alphabetic)
        {
            i += 1;
            continue;
        }
        return i;
    }
}

/// A capitalized word: an upper-case letter, then at least one letter, not all upper case
/// (`ACME` is an acronym, `McKay` and `O'Neil` are names).
pub(super) fn is_cap(w: &str) -> bool {
    let mut cs = w.chars();
    let Some(first) = cs.next() else { return false };
    if !first.is_uppercase() {
        return false;
    }
    let mut n = 1;
    let mut lower = false;
    for c in cs {
        n += 1;
        if c.is_lowercase() {
            lower = true;
        }
    }
    n >= 2 && lower
}

/// Lower-cases `w` into `buf` (ASCII fast path) and returns it.
pub(super) fn lower<'a>(w: &str, buf: &'a mut String) -> &'a str {
    buf.clear();
    if w.is_ascii() {
        buf.push_str(w);
        buf.make_ascii_lowercase();
    } else {
        for c in w.chars() {
            buf.extend(c.to_lowercase());
        }
    }
    buf.as_str()
}

/// The whitespace-separated chunk before `pos`, with whether a line break lay between.
pub(super) struct Prev<'a> {
    pub(super) raw: &'a str,
    pub(super) start: usize,
    pub(super) newline: bool,
}

/// Longest chunk looked at backwards (cue words are short).
const MAX_CHUNK: usize = 48;

pub(super) fn prev(t: &str, pos: usize) -> Option<Prev<'_>> {
    let b = t.as_bytes();
    let mut i = pos.min(b.len());
    let mut newline = false;
    let mut spaces = 0;
    while i > 0 && matches!(b[i - 1], b' ' | b'\t' | b'\r' | b'\n') {
        newline |= b[i - 1] == b'\n';
        i -= 1;
        spaces += 1;
        if spaces > 8 {
            return None;
        }
    }
    if i == 0 {
        return None;
    }
    let e = i;
    while i > 0 && e - i < MAX_CHUNK && !matches!(b[i - 1], b' ' | b'\t' | b'\r' | b'\n') {
        i -= 1;
    }
    while !t.is_char_boundary(i) {
        i += 1;
    }
    Some(Prev {
        raw: t.get(i..e)?,
        start: i,
        newline,
    })
}

/// `raw` without trailing punctuation, lower-cased into `buf`.
pub(super) fn norm<'a>(raw: &str, buf: &'a mut String) -> &'a str {
    let r = raw.trim_end_matches(['.', ',', ':', ';', '!', '?', ')', '"', '»', '«', '>']);
    let r = r.trim_start_matches(['(', '"', '«', '>', '-']);
    lower(r, buf)
}

/// True if a space (one or two) and then a letter follow `e`; returns where the letter starts.
pub(super) fn next_word_start(t: &str, e: usize) -> Option<usize> {
    let b = t.as_bytes();
    if e < b.len() && b[e] == b' ' {
        let s = e + 1;
        if char_at(t, s).is_some_and(char::is_alphabetic) {
            return Some(s);
        }
    }
    None
}

/// End of a run of ASCII digits starting at `s`.
pub(super) fn digits_end(b: &[u8], s: usize) -> usize {
    let mut i = s;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// Start of the line holding `pos`.
pub(super) fn line_start(b: &[u8], pos: usize) -> usize {
    memchr::memrchr(b'\n', &b[..pos.min(b.len())]).map_or(0, |p| p + 1)
}
