//! In-process cache of verified token metadata, keyed by the token's SHA-256.
//!
//! Bounded (`cache_capacity` entries) and short-lived (`cache_ttl`): a hit skips the store,
//! so revocation through the same `Guard` evicts at once and other processes see it within
//! the TTL. Negative results are never cached.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::store::TokenRecord;

type Entries = HashMap<[u8; 32], (Arc<TokenRecord>, Instant)>;

pub(crate) struct TokenCache {
    map: RwLock<Entries>,
    ttl: Duration,
    capacity: usize,
}

impl TokenCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        TokenCache {
            map: RwLock::new(HashMap::new()),
            ttl,
            capacity,
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    pub(crate) fn get(&self, hash: &[u8; 32]) -> Option<Arc<TokenRecord>> {
        if !self.enabled() {
            return None;
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        match map.get(hash) {
            Some((rec, at)) if at.elapsed() < self.ttl => Some(rec.clone()),
            _ => None,
        }
    }

    pub(crate) fn insert(&self, rec: Arc<TokenRecord>) {
        if !self.enabled() {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity {
            let ttl = self.ttl;
            map.retain(|_, (_, at)| at.elapsed() < ttl);
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(rec.hash, (rec, Instant::now()));
    }

    pub(crate) fn evict(&self, mut pred: impl FnMut(&TokenRecord) -> bool) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (rec, _)| !pred(rec));
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

    fn rec(i: u8) -> Arc<TokenRecord> {
        Arc::new(TokenRecord {
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
    }

    #[test]
    fn bounded_and_evictable() {
        let c = TokenCache::new(Duration::from_secs(60), 3);
        for i in 0..3 {
            c.insert(rec(i));
        }
        assert!(c.get(&[1; 32]).is_some());
        c.insert(rec(3));
        assert!(c.len() <= 3);
        c.evict(|r| r.id == "t3");
        assert!(c.get(&[3; 32]).is_none());
        let off = TokenCache::new(Duration::ZERO, 3);
        off.insert(rec(1));
        assert!(off.get(&[1; 32]).is_none());
    }
}
