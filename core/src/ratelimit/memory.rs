//! The in-process backend: a bounded, sharded table of GCRA cells.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use async_trait::async_trait;

use super::gcra::{self, CellBackoff, CellOp, CellState, Take};
use super::{Cell, Outcome, RateLimitBackend, RateLimitError};

/// Default bound of the in-process table: 100,000 cells (about 8 MB).
pub const DEFAULT_MAX_CELLS: usize = 100_000;

const SHARDS: usize = 64;
/// Keys up to this many bytes (header included) are hashed from one stack buffer.
const KEY_BUF: usize = 160;

/// The table's keys are already keyed SipHash outputs: hashing them again would only cost
/// time, so the map uses them as they are.
#[derive(Default, Clone, Copy)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Table = HashMap<u64, Entry, std::hash::BuildHasherDefault<PreHashed>>;
/// Cells looked at to choose one to evict when a shard is full.
const EVICTION_SAMPLE: usize = 32;

#[derive(Debug, Clone, Copy)]
struct Entry {
    state: CellState,
    /// From then on the cell holds nothing (full, unlocked, failures forgotten).
    idle_at: u64,
}

/// In-process limiter state: at most `max_cells` cells in 64 shards, each behind its own
/// mutex. Cells are found by a 64-bit SipHash of their key under a per-process random key
/// (an attacker cannot aim collisions; two keys share a cell with probability 2^-64).
///
/// Bounded: when a shard is full, a new key evicts an idle cell, or else the cell closest
/// to idle among 32 sampled, so a key-spraying attacker evicts cells that are nearly full
/// again first, and a locked-out cell goes last. Under a spray of more than `max_cells`
/// live keys, evicted cells forget their state; the bound and this trade-off are
/// documented in docs/SECURITY.md.
#[derive(Debug)]
pub struct MemoryLimiter {
    shards: Box<[Mutex<Table>]>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds on the monotonic clock (never 0: 0 means "never" in a cell).
fn now_us() -> u64 {
    // Seconds and sub-second parts: `as_micros()` would divide a u128 on every check.
    let d = epoch().elapsed();
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(d.subsec_micros()))
        .saturating_add(1)
}

impl MemoryLimiter {
    /// A table of at most `max_cells` cells (at least 64).
    pub fn new(max_cells: usize) -> MemoryLimiter {
        epoch();
        let per_shard = max_cells.max(SHARDS) / SHARDS;
        MemoryLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(Table::default())).collect(),
            per_shard,
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Cells held now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// True when no cell is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most cells held at once.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// The cell's id: one keyed SipHash over a header (class, level, each part's length
    /// plus one, 0 for an absent part) and the parts' bytes, so the bytes parse one way
    /// only. No allocation; the same stream whether it is written at once or in parts.
    fn hash(&self, c: &Cell<'_>) -> u64 {
        let (a, b) = match c.level {
            super::Level::Tenant => (None, None),
            super::Level::Subject => (c.key.subject, None),
            super::Level::Object => (c.key.object, None),
            super::Level::Host => (c.key.subject, c.key.host),
        };
        let t = c.key.tenant;
        let len = |s: Option<&str>| s.map_or(0u64, |s| s.len() as u64 + 1);
        let mut header = [0u8; 26];
        header[0] = c.class as u8;
        header[1] = c.level as u8;
        header[2..10].copy_from_slice(&len(t).to_le_bytes());
        header[10..18].copy_from_slice(&len(a).to_le_bytes());
        header[18..26].copy_from_slice(&len(b).to_le_bytes());
        let mut h = self.hasher.build_hasher();
        let parts = [t, a, b];
        let total = header.len() + parts.iter().flatten().map(|p| p.len()).sum::<usize>();
        if total <= KEY_BUF {
            // One write of the whole key from the stack: SipHash then runs over full words
            // in one loop instead of paying its tail handling once per part.
            let mut buf = [0u8; KEY_BUF];
            buf[..header.len()].copy_from_slice(&header);
            let mut at = header.len();
            for part in parts.into_iter().flatten() {
                buf[at..at + part.len()].copy_from_slice(part.as_bytes());
                at += part.len();
            }
            h.write(&buf[..at]);
        } else {
            h.write(&header);
            for part in parts.into_iter().flatten() {
                h.write(part.as_bytes());
            }
        }
        h.finish()
    }

    fn with_cell<R>(
        &self,
        id: u64,
        now: u64,
        f: impl FnOnce(&mut CellState) -> (R, bool, Option<CellBackoff>),
    ) -> R {
        // Bits 32..38 pick the shard: the map itself uses the low bits (bucket) and the top
        // seven (tag), which stay fully random within a shard.
        let shard = &self.shards[((id >> 32) as usize) % SHARDS];
        // A panic while holding the lock cannot leave a cell half-written (plain copies).
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        // One lookup on the hot path: a cell that exists is updated in place.
        if let Some(e) = map.get_mut(&id) {
            let mut state = e.state;
            let (r, write, backoff) = f(&mut state);
            if write {
                let idle_at = gcra::idle_at(&state, backoff);
                if idle_at <= now {
                    map.remove(&id);
                } else {
                    *e = Entry { state, idle_at };
                }
            }
            return r;
        }
        let mut state = CellState::default();
        let (r, write, backoff) = f(&mut state);
        if write {
            let idle_at = gcra::idle_at(&state, backoff);
            if idle_at > now {
                if map.len() >= self.per_shard {
                    evict(&mut map, now);
                }
                map.insert(id, Entry { state, idle_at });
            }
        }
        r
    }

    /// Applies `cells` now (what [`RateLimitBackend::apply`] does, without a future).
    pub(crate) fn apply_now<'a, 'b: 'a>(
        &self,
        cells: impl Iterator<Item = &'a Cell<'b>> + Clone,
    ) -> Outcome {
        let now = now_us();
        let mut out = Outcome::default();
        let mut taken: [(u64, u64); 4] = [(0, 0); 4];
        let mut n_taken = 0;
        for c in cells.clone() {
            let id = self.hash(c);
            match c.op {
                CellOp::Take(cost) => {
                    let res =
                        self.with_cell(id, now, |s| match gcra::take(s, c.quota, cost, now) {
                            Take::Admit(tat) => {
                                s.tat = tat;
                                (None, cost > 0, None)
                            }
                            Take::Refuse(us) => (Some(us), false, None),
                        });
                    match res {
                        None => {
                            if n_taken < 4 {
                                taken[n_taken] =
                                    (id, c.quota.emission.saturating_mul(u64::from(cost)));
                                n_taken += 1;
                            }
                        }
                        Some(us) => {
                            out.refused_for = Some(out.refused_for.unwrap_or(0).max(us));
                            break;
                        }
                    }
                }
                CellOp::Fail(cost, backoff) => {
                    let (lock, fails) = self.with_cell(id, now, |s| {
                        let lock = gcra::fail(s, c.quota, cost, backoff, now);
                        ((lock, s.fails), true, backoff)
                    });
                    if backoff.is_some() {
                        out.fails = fails;
                        out.locked_for = lock;
                    }
                }
                CellOp::Succeed => {
                    self.with_cell(id, now, |s| {
                        gcra::succeed(s);
                        ((), true, None)
                    });
                }
            }
        }
        if out.refused_for.is_some() {
            // All or nothing: give back what the cells before the refusing one took.
            for &(id, amount) in &taken[..n_taken] {
                self.with_cell(id, now, |s| {
                    s.tat = s.tat.saturating_sub(amount);
                    ((), amount > 0, None)
                });
            }
        }
        out
    }
}

fn evict(map: &mut Table, now: u64) {
    let mut victim: Option<(u64, u64)> = None;
    for (&id, e) in map.iter().take(EVICTION_SAMPLE) {
        if e.idle_at <= now {
            victim = Some((id, 0));
            break;
        }
        if victim.is_none_or(|(_, at)| e.idle_at < at) {
            victim = Some((id, e.idle_at));
        }
    }
    if let Some((id, _)) = victim {
        map.remove(&id);
    }
}

#[async_trait]
impl RateLimitBackend for MemoryLimiter {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn apply(&self, cells: &[Cell<'_>]) -> Result<Outcome, RateLimitError> {
        Ok(self.apply_now(cells.iter()))
    }
}
