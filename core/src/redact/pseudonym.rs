//! Reversible pseudonymization: a per-request mapping from placeholders (and fakes) to the
//! original values, held sealed, thread-safe and expiring.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, MatchKind};
use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

use super::{fake, EntityKind, RedactError, MAX_TEXT_LEN};
use crate::crypto::{self, DataKey, KeyId, SealedValue, TenantKey};
use crate::tenant::TenantId;

/// Most values one session maps.
pub const MAX_SESSION_ENTRIES: usize = 10_000;
/// Default lifetime of a session: 15 minutes.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(15 * 60);
/// Longest lifetime a session may have: 24 hours.
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(24 * 3600);
/// Longest text one restore (or one streaming push or finish) may produce: 16 MiB, four
/// times [`MAX_TEXT_LEN`]. An answer repeating a placeholder of a long value would otherwise
/// make restore allocate without bound; past this it fails with [`RedactError::TooLarge`].
pub const MAX_RESTORED_LEN: usize = 4 * MAX_TEXT_LEN;

struct Entry {
    token: String,
    sealed: SealedValue,
}

#[derive(Default)]
struct Inner {
    entries: Vec<Entry>,
    by_digest: HashMap<[u8; 32], usize>,
    tokens: BTreeSet<String>,
    counters: HashMap<String, u32>,
    matcher: Option<(usize, AhoCorasick)>,
    max_token: usize,
    wiped: bool,
}

impl Inner {
    fn wipe(&mut self) {
        *self = Inner {
            wiped: true,
            ..Inner::default()
        };
    }

    fn matcher(&mut self) -> Result<&AhoCorasick, RedactError> {
        let n = self.entries.len();
        if self.matcher.as_ref().is_none_or(|(c, _)| *c != n) {
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(self.entries.iter().map(|e| e.token.as_str()))
                .map_err(|e| {
                    RedactError::InvalidConfig(format!("cannot index placeholders: {e}"))
                })?;
            self.matcher = Some((n, ac));
        }
        match &self.matcher {
            Some((_, ac)) => Ok(ac),
            None => unreachable!("the matcher was just built"),
        }
    }
}

/// The mapping of one request: placeholders such as `<EMAIL_1>` (and fakes) to the original
/// values, which are held sealed under a random key that lives only in this object.
///
/// Equal values get the same placeholder within the session. Share it between threads
/// (`&self` methods, internally locked). After its time to live, every call fails with
/// [`RedactError::SessionExpired`] and the mapping is erased; dropping it erases it too.
pub struct PseudonymSession {
    tenant: TenantId,
    key: TenantKey,
    lookup: Zeroizing<[u8; 32]>,
    created: Instant,
    ttl: Duration,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for PseudonymSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PseudonymSession")
            .field("tenant", &self.tenant)
            .field("entries", &self.lock().entries.len())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn is_placeholder_tag(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'
}

/// Placeholder-shaped strings `<TAG_n>` already present in `text` (so none is reused).
pub(crate) fn existing_placeholders(text: &str) -> HashSet<String> {
    let b = text.as_bytes();
    let mut set = HashSet::new();
    for p in memchr::memchr_iter(b'<', b) {
        let rest = &b[p + 1..];
        let len = rest
            .iter()
            .take(48)
            .take_while(|&&c| is_placeholder_tag(c))
            .count();
        if len > 0 && rest.get(len) == Some(&b'>') {
            set.insert(text[p..p + len + 2].to_owned());
        }
    }
    set
}

impl PseudonymSession {
    /// A new, empty session for `tenant` living `ttl` (at most [`MAX_SESSION_TTL`]).
    pub fn new(tenant: &TenantId, ttl: Duration) -> Result<Self, RedactError> {
        if ttl > MAX_SESSION_TTL {
            return Err(RedactError::InvalidConfig(
                "session TTL is at most 24 hours".into(),
            ));
        }
        let key = TenantKey::new(KeyId::FIRST, &DataKey::generate()?);
        let mut lookup = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut lookup[..])
            .map_err(|_| RedactError::Crypto(crypto::CryptoError::Rng))?;
        Ok(PseudonymSession {
            tenant: tenant.clone(),
            key,
            lookup,
            created: Instant::now(),
            ttl,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// The tenant this session belongs to.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// How many values it maps (0 once expired).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True if it maps nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the time to live has passed (or after [`PseudonymSession::expire`]).
    pub fn is_expired(&self) -> bool {
        self.lock().wiped || self.created.elapsed() >= self.ttl
    }

    /// Erases the mapping now; later calls fail with `SessionExpired`.
    pub fn expire(&self) {
        self.lock().wipe();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live(&self) -> Result<MutexGuard<'_, Inner>, RedactError> {
        let mut inner = self.lock();
        if inner.wiped || self.created.elapsed() >= self.ttl {
            inner.wipe();
            return Err(RedactError::SessionExpired);
        }
        Ok(inner)
    }

    fn digest(&self, kind: &EntityKind, fake: bool, value: &str) -> [u8; 32] {
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.lookup[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(&[u8::from(fake)]);
        mac.update(kind.tag().as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn context(token: &str) -> Vec<u8> {
        let mut c = b"pseudonym:".to_vec();
        c.extend_from_slice(token.as_bytes());
        c
    }

    /// The placeholder (or, with `fake`, the fake) standing for `value`; equal values get
    /// the same one. `avoid` holds strings already in the text that must not be reused.
    pub(crate) fn token_for(
        &self,
        kind: &EntityKind,
        value: &str,
        use_fake: bool,
        avoid: &HashSet<String>,
    ) -> Result<String, RedactError> {
        let fake_value = if use_fake {
            fake::fake(kind, value)?
        } else {
            None
        };
        let is_fake = fake_value.is_some();
        let digest = self.digest(kind, is_fake, value);
        let mut inner = self.live()?;
        if let Some(&i) = inner.by_digest.get(&digest) {
            return Ok(inner.entries[i].token.clone());
        }
        if inner.entries.len() >= MAX_SESSION_ENTRIES {
            return Err(RedactError::SessionFull(MAX_SESSION_ENTRIES));
        }
        let token = match fake_value {
            Some(mut f) => {
                let mut tries = 0;
                while inner.tokens.contains(&f) || f == value || avoid.contains(&f) {
                    tries += 1;
                    if tries > 16 {
                        return Err(RedactError::InvalidConfig(
                            "could not draw a distinct fake".into(),
                        ));
                    }
                    f = fake::fake(kind, value)?.unwrap_or_default();
                }
                f
            }
            None => loop {
                let n = inner.counters.entry(kind.tag().to_owned()).or_insert(0);
                *n += 1;
                let t = format!("<{}_{}>", kind.tag(), n);
                if !avoid.contains(&t) && !inner.tokens.contains(&t) {
                    break t;
                }
            },
        };
        let sealed = crypto::seal_with_key(
            &self.key,
            &self.tenant,
            &Self::context(&token),
            value.as_bytes(),
        )?;
        let i = inner.entries.len();
        inner.max_token = inner.max_token.max(token.len());
        inner.tokens.insert(token.clone());
        inner.entries.push(Entry {
            token: token.clone(),
            sealed,
        });
        inner.by_digest.insert(digest, i);
        Ok(token)
    }

    /// Puts the original values back into `answer` wherever a placeholder or fake of this
    /// session appears (any number of times, in any order). Anything else, including unknown
    /// or malformed placeholders, is left exactly as is. A result longer than
    /// [`MAX_RESTORED_LEN`] is refused with [`RedactError::TooLarge`].
    pub fn restore(&self, answer: &str) -> Result<String, RedactError> {
        if answer.len() > MAX_TEXT_LEN {
            return Err(RedactError::TooLarge {
                len: answer.len(),
                max: MAX_TEXT_LEN,
            });
        }
        let mut inner = self.live()?;
        self.restore_locked(&mut inner, answer)
    }

    fn restore_locked(&self, inner: &mut Inner, answer: &str) -> Result<String, RedactError> {
        if inner.entries.is_empty() {
            return Ok(answer.to_owned());
        }
        inner.matcher()?;
        let Inner {
            entries, matcher, ..
        } = inner;
        let Some((_, ac)) = matcher.as_ref() else {
            return Ok(answer.to_owned());
        };
        let mut out = String::with_capacity(answer.len());
        let mut last = 0;
        for m in ac.find_iter(answer) {
            let e = &entries[m.pattern().as_usize()];
            let plain = crypto::open_with_key(
                &self.key,
                &self.tenant,
                &Self::context(&e.token),
                &e.sealed,
            )?;
            let value = String::from_utf8_lossy(plain.expose());
            let grown = out.len() + (m.start() - last) + value.len();
            if grown > MAX_RESTORED_LEN {
                return Err(RedactError::TooLarge {
                    len: grown,
                    max: MAX_RESTORED_LEN,
                });
            }
            out.push_str(&answer[last..m.start()]);
            out.push_str(&value);
            last = m.end();
        }
        let grown = out.len() + (answer.len() - last);
        if grown > MAX_RESTORED_LEN {
            return Err(RedactError::TooLarge {
                len: grown,
                max: MAX_RESTORED_LEN,
            });
        }
        out.push_str(&answer[last..]);
        Ok(out)
    }

    /// A restorer for an answer arriving in chunks (a placeholder may be split across them).
    pub fn stream(&self) -> StreamRestorer<'_> {
        StreamRestorer {
            session: self,
            carry: String::new(),
        }
    }

    /// Where `carry` can be cut: everything before is final, the rest may still be the
    /// beginning of a placeholder or fake.
    fn safe_cut(inner: &mut Inner, carry: &str) -> Result<usize, RedactError> {
        if inner.entries.is_empty() {
            return Ok(carry.len());
        }
        let max = inner.max_token;
        let mut k = carry.len();
        let from = carry.len().saturating_sub(max.saturating_sub(1));
        for p in from..carry.len() {
            if !carry.is_char_boundary(p) {
                continue;
            }
            let suffix = &carry[p..];
            let proper_prefix = inner
                .tokens
                .range::<str, _>((
                    std::ops::Bound::Included(suffix),
                    std::ops::Bound::Unbounded,
                ))
                .next()
                .is_some_and(|t| t.len() > suffix.len() && t.starts_with(suffix));
            if proper_prefix {
                k = p;
                break;
            }
        }
        let ac = inner.matcher()?;
        for m in ac.find_iter(carry) {
            if m.start() >= k {
                break;
            }
            if m.end() > k {
                k = m.start();
                break;
            }
        }
        Ok(k)
    }
}

/// Restores an answer that arrives in chunks; see [`PseudonymSession::stream`].
///
/// Each [`StreamRestorer::push`] returns the text that is final so far; at most one
/// placeholder's length is held back. Call [`StreamRestorer::finish`] at the end.
pub struct StreamRestorer<'a> {
    session: &'a PseudonymSession,
    carry: String,
}

impl std::fmt::Debug for StreamRestorer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRestorer")
            .field("held_back", &self.carry.len())
            .finish()
    }
}

impl StreamRestorer<'_> {
    /// Feeds one chunk; returns the restored text that can be emitted now.
    pub fn push(&mut self, chunk: &str) -> Result<String, RedactError> {
        self.session.stream_push(&mut self.carry, chunk)
    }

    /// Ends the stream, returning whatever was held back (restored).
    pub fn finish(self) -> Result<String, RedactError> {
        self.session.stream_finish(&self.carry)
    }
}

impl PseudonymSession {
    /// A [`StreamRestorer`] that shares ownership of the session instead of borrowing it,
    /// for holders that cannot keep a borrow alive (a foreign-language binding object).
    pub fn stream_owned(self: &Arc<Self>) -> OwnedStreamRestorer {
        OwnedStreamRestorer {
            session: Some(Arc::clone(self)),
            carry: String::new(),
        }
    }

    /// One [`StreamRestorer::push`] step over the held-back text `carry`.
    fn stream_push(&self, carry: &mut String, chunk: &str) -> Result<String, RedactError> {
        check_chunk(chunk)?;
        carry.push_str(chunk);
        let mut inner = self.live()?;
        let cut = Self::safe_cut(&mut inner, carry)?;
        let out = self.restore_locked(&mut inner, &carry[..cut])?;
        carry.drain(..cut);
        Ok(out)
    }

    /// The [`StreamRestorer::finish`] step: the held-back text `carry`, restored.
    fn stream_finish(&self, carry: &str) -> Result<String, RedactError> {
        let mut inner = self.live()?;
        self.restore_locked(&mut inner, carry)
    }
}

fn check_chunk(chunk: &str) -> Result<(), RedactError> {
    if chunk.len() > MAX_TEXT_LEN {
        return Err(RedactError::TooLarge {
            len: chunk.len(),
            max: MAX_TEXT_LEN,
        });
    }
    Ok(())
}

/// [`StreamRestorer`] owning a share of its session (see [`PseudonymSession::stream_owned`]):
/// same behaviour, no borrow. The session stays alive (and restorable) while this exists.
/// Without a session (an egress request with nothing pseudonymized) it passes text through.
pub struct OwnedStreamRestorer {
    session: Option<Arc<PseudonymSession>>,
    carry: String,
}

impl std::fmt::Debug for OwnedStreamRestorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedStreamRestorer")
            .field("held_back", &self.carry.len())
            .finish()
    }
}

impl OwnedStreamRestorer {
    /// A restorer with no session: each chunk comes back unchanged.
    pub(crate) fn passthrough() -> Self {
        OwnedStreamRestorer {
            session: None,
            carry: String::new(),
        }
    }

    /// Feeds one chunk (at most `MAX_TEXT_LEN` bytes); returns the restored text that
    /// can be emitted now.
    pub fn push(&mut self, chunk: &str) -> Result<String, RedactError> {
        match &self.session {
            Some(s) => s.stream_push(&mut self.carry, chunk),
            None => check_chunk(chunk).map(|()| chunk.to_owned()),
        }
    }

    /// Ends the stream, returning whatever was held back (restored).
    pub fn finish(self) -> Result<String, RedactError> {
        match &self.session {
            Some(s) => s.stream_finish(&self.carry),
            None => Ok(self.carry),
        }
    }

    /// Bytes of answer held back so far (at most one placeholder's length after a push).
    pub fn held_back(&self) -> usize {
        self.carry.len()
    }
}
