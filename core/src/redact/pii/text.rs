//! Small Unicode-aware token helpers over UTF-8 byte offsets. The main scan splits words at
//! every non-ASCII byte; names and addresses need whole words such as `Müller` or `Šuštaršič`,
//! so these helpers read letters themselves, only around a candidate.

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
    let b = w.as_bytes();
    if b.is_ascii() {
        return b.len() >= 2
            && b[0].is_ascii_uppercase()
            && b[1..].iter().any(u8::is_ascii_lowercase);
    }
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

/// A scratch buffer for lower-casing: on the stack for ASCII words (no allocation on the
/// scan's hot path), on the heap only for longer or non-ASCII ones.
pub(super) struct Buf {
    a: [u8; 64],
    s: String,
}

impl Buf {
    pub(super) fn new() -> Self {
        Buf {
            a: [0; 64],
            s: String::new(),
        }
    }
}

/// Lower-cases `w` into `buf` and returns it.
pub(super) fn lower<'a>(w: &str, buf: &'a mut Buf) -> &'a str {
    if w.is_ascii() && w.len() <= buf.a.len() {
        let a = &mut buf.a[..w.len()];
        a.copy_from_slice(w.as_bytes());
        a.make_ascii_lowercase();
        return std::str::from_utf8(a).unwrap_or("");
    }
    let mut n = 0;
    for c in w.chars().flat_map(char::to_lowercase) {
        if n + c.len_utf8() > buf.a.len() {
            buf.s.clear();
            buf.s.extend(w.chars().flat_map(char::to_lowercase));
            return buf.s.as_str();
        }
        n += c.encode_utf8(&mut buf.a[n..]).len();
    }
    std::str::from_utf8(&buf.a[..n]).unwrap_or("")
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

/// `raw` without surrounding punctuation.
pub(super) fn trim(raw: &str) -> &str {
    // Most chunks start and end with an ASCII letter or digit: nothing to trim, and no
    // character decoding (a char-set pattern decodes UTF-8 at both ends).
    let b = raw.as_bytes();
    if b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
    {
        return raw;
    }
    let r = raw.trim_end_matches(['.', ',', ':', ';', '!', '?', ')', '"', '»', '«', '>']);
    r.trim_start_matches(['(', '"', '«', '>', '-'])
}

/// `raw` without surrounding punctuation, lower-cased into `buf`.
pub(super) fn norm<'a>(raw: &str, buf: &'a mut Buf) -> &'a str {
    lower(trim(raw), buf)
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
