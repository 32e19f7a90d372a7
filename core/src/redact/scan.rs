//! The single left-to-right scan behind [`super::Redactor`] (see the module docs).

use std::sync::Arc;

use memchr::memmem;

use super::secrets::{self, Kind};
use super::validate::{
    iban_compact_valid, is_card, is_high_entropy, is_ipv4, is_ipv6, is_phone, is_ssn,
};
use super::{EntityKind, Finding, Recognizer};

// Character classes; 0 ends a word.
const D: u8 = 1;
const UP: u8 = 2;
const LO: u8 = 4;
const AT: u8 = 8;
const CO: u8 = 16;
const DOT: u8 = 32;
const OT: u8 = 64;

const fn class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0x21;
    while i < 0x7f {
        let b = i as u8;
        t[i] = match b {
            b'0'..=b'9' => D,
            b'A'..=b'Z' => UP,
            b'a'..=b'z' => LO,
            b'@' => AT,
            b':' => CO,
            b'.' => DOT,
            b'"' | b'\'' | b'<' | b'>' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b',' | b';'
            | b'=' | b'`' | b'|' | b'\\' => 0,
            _ => OT,
        };
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = class_table();

/// How far past a word's `=` a provider format may run (Atlassian tokens carry one `=`
/// and 8 characters after it). Bounded so that no word costs more than its length plus this.
const MAX_TOKEN_AHEAD: usize = 64;

/// `e` moved past up to two `=` of base64 padding.
fn padded(b: &[u8], mut e: usize) -> usize {
    let mut k = 0;
    while k < 2 && e < b.len() && b[e] == b'=' {
        e += 1;
        k += 1;
    }
    e
}

/// Longest run of numeric words joined into one candidate (`+33 1 23 45 67 89` is 6).
const MAX_RUN_WORDS: usize = 8;

/// Organization terms, indexed by their lower-cased first byte.
pub(crate) struct TermIndex {
    /// Whether a term starts with byte `c` in either case (one load on the scan's fast
    /// path; a `u128` bit test cost several instructions per word).
    first: [bool; 256],
    terms: Vec<Vec<u8>>,
    by_first: Vec<Vec<u32>>,
}

impl TermIndex {
    pub(crate) fn new(terms: &[String]) -> Self {
        let mut idx = TermIndex {
            first: [false; 256],
            terms: Vec::new(),
            by_first: vec![Vec::new(); 128],
        };
        let mut sorted: Vec<&String> = terms.iter().collect();
        sorted.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        sorted.dedup();
        for t in sorted {
            let first = t.as_bytes()[0].to_ascii_lowercase();
            idx.first[first as usize] = true;
            idx.first[first.to_ascii_uppercase() as usize] = true;
            idx.by_first[first as usize & 127].push(idx.terms.len() as u32);
            idx.terms.push(t.as_bytes().to_vec());
        }
        idx
    }

    fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

/// Organization regexes, compiled into one.
pub(crate) struct Patterns {
    pub(crate) regex: regex::Regex,
    /// The capture group of each pattern and what it finds.
    pub(crate) groups: Vec<(usize, EntityKind)>,
}

/// Everything the scan needs; built once per redactor.
pub(crate) struct ScanConfig {
    pub(crate) kinds: u32,
    pub(crate) agent_prefix: Vec<u8>,
    pub(crate) terms: TermIndex,
    pub(crate) patterns: Option<Patterns>,
    pub(crate) host: Vec<(Arc<dyn Recognizer>, EntityKind)>,
    /// Commit ids, digests in context, UUIDs and base64 images count as secrets.
    pub(crate) ids_as_secrets: bool,
    pub(crate) pii: super::pii::PiiConfig,
}

struct Scan<'a> {
    cfg: &'a ScanConfig,
    text: &'a str,
    b: &'a [u8],
    out: &'a mut Vec<Finding>,
    host_buf: Vec<std::ops::Range<usize>>,
}

/// Scans `text`, appending resolved (sorted, non-overlapping) findings to `out`.
pub(crate) fn scan(cfg: &ScanConfig, text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut sc = Scan {
        cfg,
        text,
        b,
        out,
        host_buf: Vec::new(),
    };
    let n = b.len();
    let fancy = !cfg.host.is_empty();
    // Personal-data recognizers look at capitalized words too (names, ids) and at words
    // starting with a non-ASCII capital (`Šuštaršič`, `Élodie`).
    let caps = cfg.kinds & super::pii::cap_bits() != 0;
    let mut i = 0;
    while i < n {
        if CLASS[b[i] as usize] == 0 {
            if caps && (0xC3..=0xC5).contains(&b[i]) && super::pii::upper_start(text, i) {
                if let Some(e) = super::pii::word(&cfg.pii, cfg.kinds, text, i, false, sc.out) {
                    i = e;
                    continue;
                }
            }
            i += 1;
            continue;
        }
        let s = i;
        let (e, f) = word_end(b, i);
        i = e;
        // Fast path: a short plain word that starts no organization term and meets no host
        // recognizer (most words of prose).
        if f & !(UP | LO) == 0
            && i - s < 20
            && !fancy
            && !cfg.terms.first[b[s] as usize]
            && !(caps && b[s].is_ascii_uppercase() && may_be_name(b, i, f))
            && !super::pii::nino_prefix(cfg.kinds, &b[s..i])
        {
            if i < n && trigger(b, i, i - s) {
                sc.keyed(s, i);
            }
            continue;
        }
        let next = sc.word(s, i, f);
        i = next.max(i);
    }
    if let Some(p) = &cfg.patterns {
        for caps in p.regex.captures_iter(text) {
            for (gi, kind) in &p.groups {
                if let Some(m) = caps.get(*gi) {
                    if !m.is_empty() {
                        out.push(Finding {
                            kind: kind.clone(),
                            start: m.start(),
                            end: m.end(),
                        });
                    }
                    break;
                }
            }
        }
    }
    resolve(out);
}

/// End of the word starting at `i` and the union of its bytes' classes. Eight bytes per
/// step, without a branch per byte: the classes go into one `u64` and the first class 0
/// (the word's end) is found with a zero-byte test. A byte-at-a-time loop mispredicted its
/// exit on nearly every word (word lengths are random to the branch predictor); here one
/// well-predicted test per step covers words of up to seven bytes.
#[inline(always)]
fn word_end(b: &[u8], mut i: usize) -> (usize, u8) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut f = 0u8;
    while let Some(q) = b.get(i..i + 8) {
        let mut v = 0u64;
        for (k, &c) in q.iter().enumerate() {
            v |= u64::from(CLASS[c as usize]) << (8 * k);
        }
        // Classes are below 0x80, so the lowest byte flagged here is the first class 0
        // (a borrow can only flag bytes above it).
        let z = v.wrapping_sub(ONES) & !v & HIGH;
        if z == 0 {
            f |= or_bytes(v);
            i += 8;
            continue;
        }
        let k = (z.trailing_zeros() / 8) as usize;
        let before = v & ((1u64 << (8 * k)) - 1);
        return (i + k, f | or_bytes(before));
    }
    while i < b.len() {
        let c = CLASS[b[i] as usize];
        if c == 0 {
            break;
        }
        f |= c;
        i += 1;
    }
    (i, f)
}

/// The union (bitwise or) of the eight bytes of `v`.
#[inline(always)]
fn or_bytes(v: u64) -> u8 {
    let v = v | v >> 32;
    let v = v | v >> 16;
    (v | v >> 8) as u8
}

/// Whether a plain word ending at `i` (class flags `f`) that starts with an ASCII capital
/// can start a name: it needs a lower-case letter (`KEY`, `SSN`, `X` cannot), unless the word
/// goes on past the scan's split (`Müller`, `O'Neil`), which the name recognizer reads whole.
#[inline]
fn may_be_name(b: &[u8], i: usize, f: u8) -> bool {
    f & LO != 0 || (i < b.len() && (b[i] >= 0x80 || b[i] == b'\''))
}

/// Sorts findings and removes overlaps: earliest start, then longest, then kind priority
/// wins a byte. A finding that overlaps an earlier one but runs past its end keeps that
/// tail (it starts where the earlier one ends, a character boundary): dropping it whole
/// would leave the end of a recognized secret in the clear (found by fuzzing: an
/// identifier ending in `==` swallowed the start of an assignment's value).
pub(crate) fn resolve(v: &mut Vec<Finding>) {
    v.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(a.kind.priority().cmp(&b.kind.priority()))
            .then(a.kind.cmp(&b.kind))
    });
    let mut last_end = 0;
    for f in v.iter_mut() {
        if f.end <= f.start || f.end <= last_end {
            // Empty, or wholly inside a kept finding: marked for removal.
            f.end = f.start;
            continue;
        }
        if f.start < last_end {
            f.start = last_end;
        }
        last_end = f.end;
    }
    // Kept findings start at or after the previous one's end: still sorted.
    v.retain(|f| f.end > f.start);
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

fn valid_domain(d: &[u8]) -> bool {
    if d.len() < 4 || d.len() > 253 {
        return false;
    }
    let mut labels = 0;
    let mut last: &[u8] = b"";
    for l in d.split(|&b| b == b'.') {
        if l.is_empty() || l.len() > 63 || l[0] == b'-' || l[l.len() - 1] == b'-' {
            return false;
        }
        labels += 1;
        last = l;
    }
    labels >= 2 && last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)
}

fn flags(b: &[u8]) -> u8 {
    b.iter().fold(0, |f, &c| f | CLASS[c as usize])
}

fn trim_end(b: &[u8], s: usize, mut e: usize) -> usize {
    while e > s && matches!(b[e - 1], b'.' | b':' | b'!' | b'?' | b'*' | b'&') {
        e -= 1;
    }
    e
}

fn b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl Scan<'_> {
    fn on(&self, kind: &EntityKind) -> bool {
        self.cfg.kinds & kind.bit() != 0
    }

    fn emit(&mut self, kind: EntityKind, start: usize, end: usize) {
        self.out.push(Finding { kind, start, end });
    }

    /// Handles one word `[s, e)` with class flags `f`; returns where scanning resumes.
    /// Kept out of line so the byte loop in [`scan`] stays small.
    #[inline(never)]
    fn word(&mut self, s: usize, e: usize, f: u8) -> usize {
        if !self.cfg.terms.is_empty() && self.on(&EntityKind::OrgTerm) {
            self.term(s);
        }
        if !self.cfg.host.is_empty() {
            self.host(s, e);
        }
        if (e < self.b.len() && trigger(self.b, e, e - s)) || (f & CO != 0 && self.b[e - 1] == b':')
        {
            self.keyed(s, e);
        }
        if self.cfg.kinds & super::pii::bits() != 0
            && (self.b[s].is_ascii_uppercase() || f & D != 0)
        {
            if let Some(end) = super::pii::word(
                &self.cfg.pii,
                self.cfg.kinds,
                self.text,
                s,
                f & D != 0,
                self.out,
            ) {
                return end.max(e);
            }
        }
        if f & (D | AT | CO | DOT | OT) == 0 && e - s < 20 {
            // Letters only and short: a plain word.
            return e;
        }
        if self.b[s] == b'-'
            && (self.b[s..].starts_with(b"-----BEGIN")
                || self.b[s..].starts_with(b"---- BEGIN SSH2"))
            && self.on(&EntityKind::PrivateKey)
        {
            if let Some(end) = self.pem(s) {
                return end;
            }
        }
        if self.b[s] == b'P' && self.on(&EntityKind::PrivateKey) {
            if let Some(end) = secrets::putty_end(self.b, s) {
                if self.text.is_char_boundary(end) {
                    self.emit(EntityKind::PrivateKey, s, end);
                    return end;
                }
            }
        }
        let te = trim_end(self.b, s, e);
        if te == s {
            return e;
        }
        let tf = if te == e { f } else { flags(&self.b[s..te]) };
        if tf & !(UP | LO) == 0 && te - s < 20 {
            // A plain word before punctuation.
            return e;
        }
        self.token(s, te, tf, te == e).max(e)
    }

    fn token(&mut self, s: usize, e: usize, f: u8, allow_run: bool) -> usize {
        let w = &self.b[s..e];
        if f & CO != 0 {
            if let Some(q) = secrets::find_short(w, b"://") {
                self.url(s, s + q, e);
                return e;
            }
            if secrets::telegram(w) && self.on(&EntityKind::ApiKey) {
                self.emit(EntityKind::ApiKey, s, e);
                return e;
            }
        }
        if f & OT != 0 && w.len() >= 2 && memchr::memchr(b'&', w).is_some() {
            // `value&next=...` inside a query string: each part on its own (parts hold no
            // `&`, so this recurses once).
            let mut p = s;
            for part in w.split(|&c| c == b'&') {
                let pe = p + part.len();
                if !part.is_empty() {
                    self.token(p, pe, flags(part), false);
                }
                p = pe + 1;
            }
            return e;
        }
        if f & AT != 0 {
            let before = self.out.len();
            self.emails(s, e);
            if self.cfg.ids_as_secrets && self.out.len() == before {
                // `image@sha256:<hex>`: no address here; with identifiers counted as secrets,
                // the part after the last `@` (a pinned digest) is read like a word of its
                // own (it holds no `@`, so this recurses once).
                if let Some(a) = memchr::memrchr(b'@', w) {
                    let ps = s + a + 1;
                    if ps < e {
                        self.token(ps, e, flags(&self.b[ps..e]), false);
                    }
                }
            }
            return e;
        }
        if f & OT != 0 && self.on(&EntityKind::Email) {
            if let Some(x) = secrets::find_short(w, b"%40") {
                // A percent-encoded address (`jane%40example.com` in a URL or a log).
                let a = s + x;
                let mut l = a;
                while l > s && is_local(self.b[l - 1]) {
                    l -= 1;
                }
                let mut r = a + 3;
                while r < e && is_domain(self.b[r]) {
                    r += 1;
                }
                if l < a && r > a + 3 && valid_domain(&self.b[a + 3..r]) {
                    self.emit(EntityKind::Email, l, r);
                    return e;
                }
            }
        }
        if f & CO != 0 {
            if self.on(&EntityKind::IpAddress) && is_ipv6(w) {
                self.emit(EntityKind::IpAddress, s, e);
                return e;
            }
            let mut p = s;
            for part in w.split(|&c| c == b':') {
                let pe = p + part.len();
                if !part.is_empty() {
                    let pf = flags(part);
                    self.token(p, pe, pf, false);
                }
                p = pe + 1;
            }
            return e;
        }
        if f & (UP | LO) == 0 {
            if f & D != 0 {
                return self.numeric(s, e, allow_run);
            }
            return e;
        }
        self.alnum(s, e, f, allow_run)
    }

    fn alnum(&mut self, s: usize, e: usize, f: u8, allow_run: bool) -> usize {
        let w = &self.b[s..e];
        if w[0] == b'e' && w.starts_with(b"eyJ") && self.on(&EntityKind::Jwt) {
            if let Some(end) = jwt_end(w) {
                self.emit(EntityKind::Jwt, s, s + end);
                return e;
            }
        }
        let ap = &self.cfg.agent_prefix;
        if !ap.is_empty()
            && w[0] == ap[0]
            && w.len() >= ap.len() + 16
            && w.starts_with(ap)
            && self.on(&EntityKind::AgentToken)
        {
            let body = w[ap.len()..].iter().take_while(|&&c| b64url(c)).count();
            if body >= 16 && ap.len() + body == w.len() {
                self.emit(EntityKind::AgentToken, s, e);
                return e;
            }
        }
        if w.len() >= 12 {
            // Some formats run past the word: a `=` inside (Atlassian) or as base64 padding.
            let ahead_end = if e < self.b.len() && self.b[e] == b'=' {
                self.b.len().min(e + MAX_TOKEN_AHEAD)
            } else {
                e
            };
            let ahead = &self.b[s..ahead_end];
            if let Some((len, kind)) = secrets::provider(ahead) {
                let kind = match kind {
                    Kind::ApiKey => EntityKind::ApiKey,
                    Kind::Secret => EntityKind::Secret,
                    Kind::PrivateKey => EntityKind::PrivateKey,
                };
                if self.on(&kind) && self.text.is_char_boundary(s + len) {
                    let end = padded(self.b, s + len);
                    self.emit(kind, s, end);
                    return e.max(end);
                }
            }
        }
        if w.len() >= 4
            && w[0].is_ascii_alphabetic()
            && w[1].is_ascii_alphabetic()
            && w[2].is_ascii_digit()
            && w[3].is_ascii_digit()
            && self.on(&EntityKind::Iban)
        {
            if let Some(end) = self.iban(s, e, allow_run) {
                return end;
            }
        }
        if w.len() >= 20 && f & DOT == 0 && self.on(&EntityKind::Secret) {
            if is_high_entropy(w) {
                if self.cfg.ids_as_secrets || !secrets::identifier_in_context(self.b, s, e) {
                    let end = padded(self.b, e);
                    self.emit(EntityKind::Secret, s, end);
                    return end;
                }
            } else if self.cfg.ids_as_secrets && secrets::is_uuid(w) {
                self.emit(EntityKind::Secret, s, e);
            }
        }
        e
    }

    fn iban(&mut self, s: usize, e: usize, allow_run: bool) -> Option<usize> {
        let w = &self.b[s..e];
        // Written in lower case too (`de89...`): validated upper-cased.
        let mut buf = [0u8; 34];
        if w.len() >= 15 {
            if w.len() <= 34 {
                buf[..w.len()].copy_from_slice(w);
                buf[..w.len()].make_ascii_uppercase();
                if iban_compact_valid(&buf[..w.len()]) {
                    self.emit(EntityKind::Iban, s, e);
                    return Some(e);
                }
            }
            return None;
        }
        if w.len() != 4 || !allow_run {
            return None;
        }
        // Grouped form: `DE89 3704 0044 0532 0130 00`.
        buf[..4].copy_from_slice(w);
        buf[..4].make_ascii_uppercase();
        let mut n = 4;
        let mut ends = [0usize; 9];
        let mut lens = [0usize; 9];
        let mut groups = 0;
        let mut p = e;
        while groups < 9 && p < self.b.len() && space_len(self.b, p) > 0 {
            let gs = p + space_len(self.b, p);
            let mut ge = gs;
            while ge < self.b.len() && ge - gs < 5 && self.b[ge].is_ascii_alphanumeric() {
                ge += 1;
            }
            if ge == gs
                || ge - gs > 4
                || n + (ge - gs) > 34
                || (ge < self.b.len()
                    && CLASS[self.b[ge] as usize] != 0
                    && !matches!(self.b[ge], b'.' | b':' | b'!' | b'?'))
            {
                break;
            }
            buf[n..n + ge - gs].copy_from_slice(&self.b[gs..ge]);
            buf[n..n + ge - gs].make_ascii_uppercase();
            n += ge - gs;
            ends[groups] = ge;
            lens[groups] = n;
            groups += 1;
            p = ge;
        }
        for g in (0..groups).rev() {
            if iban_compact_valid(&buf[..lens[g]]) {
                self.emit(EntityKind::Iban, s, ends[g]);
                return Some(ends[g]);
            }
        }
        None
    }

    fn numeric(&mut self, s: usize, e: usize, allow_run: bool) -> usize {
        if !allow_run {
            if let Some(k) = self.classify(s, e, true) {
                self.emit(k, s, e);
            }
            return e;
        }
        let b = self.b;
        let mut words = [(0usize, 0usize); MAX_RUN_WORDS];
        words[0] = (s, e);
        let mut k = 1;
        let mut resume = e;
        while k < MAX_RUN_WORDS {
            let prev_end = words[k - 1].1;
            let mut g = prev_end;
            let mut seps = 0;
            while g < b.len() && seps < 3 {
                let n = match b[g] {
                    b'(' | b')' => 1,
                    _ => space_len(b, g),
                };
                if n == 0 {
                    break;
                }
                g += n;
                seps += 1;
            }
            if g == prev_end || g >= b.len() || CLASS[b[g] as usize] == 0 {
                break;
            }
            let ws = g;
            let mut we = g;
            let mut wf = 0;
            // `&` ends a value in a query string or form body (`cc=4111 ... 1111&cvc=1`).
            while we < b.len() && CLASS[b[we] as usize] != 0 && b[we] != b'&' {
                wf |= CLASS[b[we] as usize];
                we += 1;
            }
            if wf & (UP | LO | AT | CO) != 0 || wf & D == 0 {
                break;
            }
            let te = trim_end(b, ws, we);
            words[k] = (ws, te);
            k += 1;
            resume = we;
            if te != we || b.get(we) == Some(&b'&') {
                break;
            }
        }
        let mut i = 0;
        let mut last_end = 0;
        while i < k {
            let mut matched = false;
            for j in (i..k.min(i + MAX_RUN_WORDS)).rev() {
                let ws = words[i].0;
                let we = words[j].1;
                let paren = ws > last_end && b[ws - 1] == b'(';
                let found = if paren {
                    self.classify(ws - 1, we, i == j)
                        .map(|k| (k, ws - 1))
                        .or_else(|| self.classify(ws, we, i == j).map(|k| (k, ws)))
                } else {
                    self.classify(ws, we, i == j).map(|k| (k, ws))
                };
                if let Some((kind, start)) = found {
                    self.emit(kind, start, we);
                    last_end = we;
                    i = j + 1;
                    matched = true;
                    break;
                }
            }
            if !matched {
                i += 1;
            }
        }
        resume
    }

    fn classify(&self, s: usize, e: usize, single: bool) -> Option<EntityKind> {
        let raw = &self.b[s..e];
        // Groups joined over a non-breaking or thin space are validated as if joined by `' '`.
        let spaced;
        let w: &[u8] = if raw.is_ascii() {
            raw
        } else {
            spaced = ascii_spaced(raw)?;
            &spaced
        };
        if single
            && self.on(&EntityKind::IpAddress)
            && w.len() >= 7
            && is_ipv4(w)
            && !secrets::version_context(self.b, s)
        {
            return Some(EntityKind::IpAddress);
        }
        if w.len() == 11 && self.on(&EntityKind::UsSsn) && is_ssn(w) {
            return Some(EntityKind::UsSsn);
        }
        if w.len() >= 13 && self.on(&EntityKind::CreditCard) && is_card(w) {
            return Some(EntityKind::CreditCard);
        }
        if w.len() >= 9 && self.on(&EntityKind::Phone) && is_phone(w) {
            return Some(EntityKind::Phone);
        }
        None
    }

    fn emails(&mut self, s: usize, e: usize) {
        let b = self.b;
        let mut p = s;
        while let Some(off) = memchr::memchr(b'@', &b[p..e]) {
            let a = p + off;
            let mut l = a;
            // The local part may hold non-ASCII letters (`zoë@`), which end a word: look
            // back past the word's start over letters (by character, so `l` stays on a
            // character boundary).
            while l > 0 && a - l < 64 {
                if is_local(b[l - 1]) {
                    l -= 1;
                } else if b[l - 1] >= 0x80 {
                    match self.text[..l].chars().next_back() {
                        Some(c) if c.is_alphanumeric() => l -= c.len_utf8(),
                        _ => break,
                    }
                } else {
                    break;
                }
            }
            while l < a && b[l] == b'.' {
                l += 1;
            }
            let mut r = a + 1;
            while r < e && is_domain(b[r]) {
                r += 1;
            }
            while r > a + 1 && matches!(b[r - 1], b'.' | b'-') {
                r -= 1;
            }
            if l < a && a - l <= 64 && valid_domain(&b[a + 1..r]) && self.on(&EntityKind::Email) {
                self.emit(EntityKind::Email, l, r);
                p = r;
            } else if r > a + 1 && is_ipv4(&b[a + 1..r]) && self.on(&EntityKind::IpAddress) {
                // `root@198.51.100.7`: an IP host after a user name.
                self.emit(EntityKind::IpAddress, a + 1, r);
                p = r;
            } else {
                p = a + 1;
            }
            if p >= e {
                break;
            }
        }
    }

    /// A URL `[s, e)` with `://` at `q`: credentials in its user info, an IP host, a webhook
    /// path, and secrets (or e-mails, keys) in its path segments and query values.
    fn url(&mut self, s: usize, q: usize, e: usize) {
        let b = self.b;
        let mut sc = q;
        while sc > s
            && (b[sc - 1].is_ascii_alphanumeric() || matches!(b[sc - 1], b'+' | b'.' | b'-'))
        {
            sc -= 1;
        }
        if sc == q || !b[sc].is_ascii_alphabetic() {
            return;
        }
        let auth = q + 3;
        // The authority ends at the path or query; a `#` there is part of a password.
        let auth_end = b[auth..e]
            .iter()
            .position(|c| matches!(c, b'/' | b'?'))
            .map_or(e, |p| auth + p);
        let mut host = auth;
        if let Some(at) = memchr::memrchr(b'@', &b[auth..auth_end]).map(|p| auth + p) {
            host = at + 1;
            let info = &b[auth..at];
            let creds = match memchr::memchr(b':', info) {
                Some(c) => c + 1 < info.len(),
                // A key alone as user info (Sentry DSN `https://<key>@host/1`).
                None => {
                    info.len() >= 16
                        && (is_high_entropy(info) || info.iter().all(u8::is_ascii_hexdigit))
                }
            };
            if creds && self.on(&EntityKind::UrlCredentials) {
                self.emit(EntityKind::UrlCredentials, auth, at);
            }
        }
        let mut host_end = auth_end;
        if host < auth_end && b[host] == b'[' {
            if let Some(p) = memchr::memchr(b']', &b[host..auth_end]) {
                if self.on(&EntityKind::IpAddress) && is_ipv6(&b[host + 1..host + p]) {
                    self.emit(EntityKind::IpAddress, host + 1, host + p);
                }
            }
        } else {
            if let Some(c) = memchr::memchr(b':', &b[host..auth_end]) {
                host_end = host + c;
            }
            if host_end > host && self.on(&EntityKind::IpAddress) && is_ipv4(&b[host..host_end]) {
                self.emit(EntityKind::IpAddress, host, host_end);
            }
        }
        if auth_end >= e {
            return;
        }
        let end = trim_end(b, auth_end, e);
        if let Some(off) = secrets::webhook(&b[host..host_end], &b[auth_end..end]) {
            if self.on(&EntityKind::ApiKey) {
                self.emit(EntityKind::ApiKey, auth_end + off, end);
                return;
            }
        }
        // Path segments and query parts (the scan split the text at `=` already, so a
        // query part here is a name or the start of a value).
        let mut p = auth_end;
        while p < end {
            let ps = p + 1;
            let pe = b[ps..end]
                .iter()
                .position(|c| matches!(c, b'/' | b'?' | b'&' | b'#' | b';'))
                .map_or(end, |x| ps + x);
            if pe - ps >= 16 {
                let f = flags(&b[ps..pe]);
                self.token(ps, pe, f, false);
            } else if pe > ps && memchr::memchr(b'@', &b[ps..pe]).is_some() {
                self.token(ps, pe, AT | LO, false);
            }
            p = pe;
        }
    }

    /// A secret-named key ends at `e` (or `e - 1` is its `:`): emits the value after it.
    fn keyed(&mut self, s: usize, e: usize) {
        let b = self.b;
        let ke = if b[e - 1] == b':' { e - 1 } else { e };
        if ke < e && e < b.len() && b[e] != b' ' && b[e] != b'\t' && b[e] != b'"' && b[e] != b'\'' {
            // `key:value` with no space is handled as a word of its own (host:port, a:b).
            return;
        }
        if ke == s {
            return;
        }
        let named = secrets::may_end_key(b[ke - 1]);
        if !named && !(ke == e && (e - s == 5 || e - s == 6)) {
            return;
        }
        let ks = secrets::key_before(b, s, ke);
        if ks == ke {
            return;
        }
        if named && secrets::secret_key(&b[ks..ke]) {
            if !self.on(&EntityKind::Secret) {
                return;
            }
            if let Some((vs, ve)) = secrets::keyed_value(b, ke) {
                if self.text.is_char_boundary(vs) && self.text.is_char_boundary(ve) {
                    self.emit(EntityKind::Secret, vs, ve);
                }
            }
        } else if ke == e && self.on(&EntityKind::Secret) {
            if let Some((vs, ve)) = secrets::auth_scheme(b, ks, ke) {
                self.emit(EntityKind::Secret, vs, ve);
            }
        }
    }

    fn pem(&mut self, s: usize) -> Option<usize> {
        let b = self.b;
        let line_end = b[s..]
            .iter()
            .take(80)
            .position(|&c| c == b'\n')
            .map_or((s + 80).min(b.len()), |p| s + p);
        let header = &b[s..line_end];
        // Every PEM private-key type (PKCS#1 RSA, SEC1 EC, DSA, PKCS#8 plain and encrypted,
        // OpenSSH) and OpenPGP `PRIVATE KEY BLOCK`; SSH2 (RFC 4716 style) uses four dashes.
        memmem::find(header, b"PRIVATE KEY")?;
        let (end_marker, dashes): (&[u8], &[u8]) = if header.starts_with(b"---- ") {
            (b"---- END", b"----")
        } else {
            (b"-----END", b"-----")
        };
        let end = match memmem::find(&b[line_end..], end_marker) {
            Some(p) => {
                let after = line_end + p + end_marker.len();
                match memmem::find(&b[after..b.len().min(after + 64)], dashes) {
                    Some(q) => after + q + dashes.len(),
                    None => b.len(),
                }
            }
            None => b.len(),
        };
        // `end` follows ASCII bytes or is the text's end, so it is a character boundary.
        let end = if self.text.is_char_boundary(end) {
            end
        } else {
            b.len()
        };
        self.emit(EntityKind::PrivateKey, s, end);
        Some(end)
    }

    fn term(&mut self, s: usize) {
        let b = self.b;
        let first = b[s].to_ascii_lowercase() as usize & 127;
        let terms = &self.cfg.terms;
        for &ti in &terms.by_first[first] {
            let t = &terms.terms[ti as usize];
            let end = s + t.len();
            if end <= b.len()
                && b[s..end].eq_ignore_ascii_case(t)
                && (end == b.len() || !is_alnum(b[end]))
                && self.text.is_char_boundary(end)
            {
                self.out.push(Finding {
                    kind: EntityKind::OrgTerm,
                    start: s,
                    end,
                });
                return;
            }
        }
    }

    fn host(&mut self, s: usize, e: usize) {
        let cfg = self.cfg;
        for (rec, kind) in &cfg.host {
            self.host_buf.clear();
            rec.recognize(self.text, s..e, &mut self.host_buf);
            for r in std::mem::take(&mut self.host_buf) {
                if r.start < r.end
                    && r.end <= self.b.len()
                    && self.text.is_char_boundary(r.start)
                    && self.text.is_char_boundary(r.end)
                {
                    self.out.push(Finding {
                        kind: kind.clone(),
                        start: r.start,
                        end: r.end,
                    });
                }
            }
        }
    }
}

/// Length of a JWT at the start of `w`: `eyJ<b64url>.eyJ<b64url>.<b64url>`.
fn jwt_end(w: &[u8]) -> Option<usize> {
    let seg = |from: usize| w[from..].iter().take_while(|&&c| b64url(c)).count();
    let h = seg(0);
    if h < 10 || w.get(h) != Some(&b'.') {
        return None;
    }
    let p0 = h + 1;
    let p = seg(p0);
    if p < 10 || !w[p0..].starts_with(b"eyJ") || w.get(p0 + p) != Some(&b'.') {
        return None;
    }
    let s0 = p0 + p + 1;
    let sig = seg(s0);
    Some(s0 + sig)
}

/// True if the word of length `len` ending at `i` may be a key followed by its value
/// (`=`, a closing quote, ` =`, ` :`) or an `Authorization` scheme followed by a space.
#[inline]
fn trigger(b: &[u8], i: usize, len: usize) -> bool {
    match b[i] {
        b'=' | b'"' | b'\'' => true,
        // `\"password\":` (JSON inside a JSON string, as in a log line).
        b'\\' => b.get(i + 1) == Some(&b'"'),
        b' ' | b'\t' => {
            matches!(b.get(i + 1), Some(b'=' | b':'))
                || ((len == 5 || len == 6) && matches!(b[i - len] | 0x20, b'b'))
        }
        _ => false,
    }
}

/// Bytes of the space at `b[p]` that may separate groups of digits: `' '`, or the
/// non-breaking (U+00A0), narrow non-breaking (U+202F), figure (U+2007) or thin (U+2009)
/// space that word processors and French typography put between groups; 0 if none.
fn space_len(b: &[u8], p: usize) -> usize {
    match b[p..] {
        [b' ', ..] => 1,
        [0xC2, 0xA0, ..] => 2,
        [0xE2, 0x80, 0x87 | 0x89, ..] | [0xE2, 0x80, 0xAF, ..] => 3,
        _ => 0,
    }
}

/// `w` with each of the spaces [`space_len`] knows written as `' '`; `None` if it holds any
/// other non-ASCII byte.
fn ascii_spaced(w: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(w.len());
    let mut p = 0;
    while p < w.len() {
        if w[p].is_ascii() {
            out.push(w[p]);
            p += 1;
        } else {
            let n = space_len(w, p);
            if n == 0 {
                return None;
            }
            out.push(b' ');
            p += n;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time loop that [`word_end`] replaces.
    fn word_end_naive(b: &[u8], mut i: usize) -> (usize, u8) {
        let mut f = 0;
        while i < b.len() && CLASS[b[i] as usize] != 0 {
            f |= CLASS[b[i] as usize];
            i += 1;
        }
        (i, f)
    }

    #[test]
    fn word_end_matches_the_byte_loop() {
        // Every start in texts mixing word bytes, separators and non-ASCII, with words of
        // every length around the 8-byte step.
        let mut texts: Vec<Vec<u8>> = vec![
            b"a bc def ghij klmno pqrstu vwxyz12 abcdefgh abcdefghi x".to_vec(),
            "Grüße: key=value; user@host.example:8080/path?x=1 (a) [b] {c} \"d\" 'e'"
                .as_bytes()
                .to_vec(),
            b"0123456789ABCDEFabcdef+/-_.:@!#$%^&*~".to_vec(),
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..50 {
            let mut t = Vec::new();
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let alphabet = b"ab1.:@%\" =,\xc3\xa9Z";
                t.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            texts.push(t);
        }
        for t in &texts {
            for i in 0..t.len() {
                assert_eq!(word_end(t, i), word_end_naive(t, i), "{t:?} at {i}");
            }
        }
    }
}
