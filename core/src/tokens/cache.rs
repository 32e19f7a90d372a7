//! In-process cache of verified token metadata, keyed by the token's SHA-256.
//!
//! Bounded (`cache_capacity` entries, the oldest dropped first in O(1) when full, never the
//! whole cache) and short-lived (`cache_ttl`): a hit skips the store,
//! so every revocation evicts through the event bus (at once in this process, within the
//! propagation bound in the others). Negative results are never cached. A generation
//! counter, moved on by every eviction, keeps a lookup that was in flight during an
//! eviction from putting the row it read (possibly before the revocation) back.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::TokenRecord;
use crate::bounded::{insert_bounded, ordered_map, OrderedMap};
use crate::storage::StoreError;
use crate::tenant::UserId;
use crate::tokens::Scope;

type Entries = OrderedMap<[u8; 32], (Arc<CachedToken>, Instant)>;

/// A token row as the warm path uses it: the agent id parsed and the scopes shared, once
/// per lookup rather than once per verification.
pub(crate) struct CachedToken {
    pub(crate) rec: TokenRecord,
    pub(crate) agent: UserId,
    pub(crate) scopes: Arc<[Scope]>,
}

impl CachedToken {
    pub(crate) fn new(rec: TokenRecord) -> Result<Self, StoreError> {
        let agent =
            UserId::new(rec.agent.clone()).map_err(|e| StoreError::Backend(e.to_string()))?;
        let scopes = rec.scopes.as_slice().into();
        Ok(CachedToken { rec, agent, scopes })
    }
}

pub(crate) struct TokenCache {
    map: RwLock<Entries>,
    /// Moved on, under the write lock, by every eviction.
    generation: std::sync::atomic::AtomicU64,
    ttl: Duration,
    capacity: usize,
}

impl TokenCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        TokenCache {
            map: RwLock::new(ordered_map()),
            generation: std::sync::atomic::AtomicU64::new(0),
            ttl,
            capacity,
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    pub(crate) fn get(&self, hash: &[u8; 32]) -> Option<Arc<CachedToken>> {
        if !self.enabled() {
            return None;
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        match map.get(hash) {
            Some((rec, at)) if at.elapsed() < self.ttl => Some(rec.clone()),
            _ => None,
        }
    }

    /// The generation to hand to [`TokenCache::insert_if_current`]: read it before the
    /// store lookup.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Caches `rec` unless an eviction happened since `generation` was read (the row may
    /// predate the news that caused it).
    pub(crate) fn insert_if_current(&self, rec: Arc<CachedToken>, generation: u64) {
        if !self.enabled() {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(std::sync::atomic::Ordering::Acquire) != generation {
            return;
        }
        let ttl = self.ttl;
        insert_bounded(
            &mut map,
            rec.rec.hash,
            (rec, Instant::now()),
            self.capacity,
            |(_, at)| at.elapsed() >= ttl,
        );
    }

    pub(crate) fn evict(&self, mut pred: impl FnMut(&TokenRecord) -> bool) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        map.retain(|_, (c, _)| !pred(&c.rec));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::TenantId;

    fn rec(i: u8) -> Arc<CachedToken> {
        Arc::new(
            CachedToken::new(TokenRecord {
                id: format!("t{i}"),
                tenant: TenantId::new("a").unwrap(),
                agent: "bot".into(),
                name: "n".into(),
                hash: [i; 32],
                scopes: vec![],
                created_at: 0,
                expires_at: None,
                revoked_at: None,
            })
            .unwrap(),
        )
    }

    #[test]
    fn bounded_and_evictable() {
        let c = TokenCache::new(Duration::from_secs(60), 3);
        for i in 0..3 {
            c.insert_if_current(rec(i), c.generation());
        }
        assert!(c.get(&[1; 32]).is_some());
        c.insert_if_current(rec(3), c.generation());
        assert_eq!(c.len(), 3);
        // Full: only the oldest (t0) went, not the whole cache.
        assert!(c.get(&[0; 32]).is_none());
        for i in 1..4 {
            assert!(c.get(&[i; 32]).is_some(), "t{i} survived");
        }
        c.evict(|r| r.id == "t3");
        assert!(c.get(&[3; 32]).is_none());
        let off = TokenCache::new(Duration::ZERO, 3);
        off.insert_if_current(rec(1), off.generation());
        assert!(off.get(&[1; 32]).is_none());
    }

    #[test]
    fn a_lookup_in_flight_during_an_eviction_is_not_cached() {
        let c = TokenCache::new(Duration::from_secs(60), 10);
        // The verification reads the generation, then the (not yet revoked) row...
        let g = c.generation();
        // ...meanwhile the revocation's news evicts the token...
        c.evict(|r| r.id == "t7");
        // ...and the row read before it must not come back into the cache.
        c.insert_if_current(rec(7), g);
        assert!(c.get(&[7; 32]).is_none());
        c.insert_if_current(rec(7), c.generation());
        assert!(c.get(&[7; 32]).is_some());
    }
}
