//! A bounded, tenant-partitioned cache of unwrapped tenant keys.
//!
//! Entries expire after `max_age` and the oldest tenant is evicted past `max_tenants`, in
//! O(1): the map keeps insertion order (hashlink's `LinkedHashMap`, already in the tree
//! through rusqlite), and a slot is only ever inserted fresh, so the front is the oldest.
//! Keys are zeroized when the last user drops them (`TenantKey` is `ZeroizeOnDrop`; an
//! evicted slot drops the cache's references at once). Concurrent misses for one tenant share
//! one load (one key-provider call), so a cold tenant under load causes no thundering herd.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::crypto::{KeyId, TenantKey};
use crate::tenant::TenantId;

/// Limits of the unwrapped-key cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most tenants whose keys are held at once (default 10,000; 0 disables caching).
    pub max_tenants: usize,
    /// How long an unwrapped key is kept (default 5 minutes). Rotation, retirement and
    /// shredding evict at once through the event bus (from other instances within the
    /// propagation bound, with PostgreSQL); this age is the backstop for stores without a
    /// cross-instance feed.
    pub max_age: Duration,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_tenants: 10_000,
            max_age: Duration::from_secs(300),
        }
    }
}

/// Counters, for tests and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Keys loaded (each is one key-provider unwrap).
    pub loads: u64,
    /// Tenants evicted for space or age.
    pub evictions: u64,
}

type Cell = Arc<OnceCell<Arc<TenantKey>>>;

/// Most loads of one lookup when invalidations keep overtaking it (the last one's key is
/// returned: it was read after all but the latest news).
const RELOADS: u32 = 4;

struct Slot {
    born: Instant,
    active: Cell,
    versions: Mutex<HashMap<KeyId, Cell>>,
}

/// Insertion-ordered, with SipHash (std's keyed hasher) like every other map of tenant ids.
type Slots = hashlink::LinkedHashMap<TenantId, Arc<Slot>, RandomState>;

pub(crate) struct KeyCache {
    limits: CacheLimits,
    slots: Mutex<Slots>,
    hits: AtomicU64,
    loads: AtomicU64,
    evictions: AtomicU64,
}

impl KeyCache {
    pub(crate) fn new(limits: CacheLimits) -> Self {
        KeyCache {
            limits,
            slots: Mutex::new(Slots::with_hasher(RandomState::new())),
            hits: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            loads: self.loads.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    fn slot(&self, tenant: &TenantId) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slots.get(tenant) {
            if s.born.elapsed() < self.limits.max_age {
                return s.clone();
            }
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        let slot = Arc::new(Slot {
            born: Instant::now(),
            active: Arc::new(OnceCell::new()),
            versions: Mutex::new(HashMap::new()),
        });
        if self.limits.max_tenants == 0 {
            return slot;
        }
        // `insert` moves the tenant to the back: the front is always the oldest slot (and the
        // first to expire), so eviction pops it in O(1) instead of scanning for it.
        slots.insert(tenant.clone(), slot.clone());
        while slots.len() > self.limits.max_tenants {
            if slots.pop_front().is_none() {
                break;
            }
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        slot
    }

    /// A loaded, unexpired version: the hit path of every open, under the map's lock
    /// only (no slot or cell handle is cloned and dropped).
    fn loaded(&self, tenant: &TenantId, id: KeyId) -> Option<Arc<TenantKey>> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots.get(tenant)?;
        if slot.born.elapsed() >= self.limits.max_age {
            return None;
        }
        let versions = slot.versions.lock().unwrap_or_else(|p| p.into_inner());
        versions.get(&id)?.get().cloned()
    }

    /// Whether `slot` is still the tenant's slot: an invalidation (news of a rotation,
    /// retirement or shred) during a load replaces it, and what that load read may be
    /// the superseded key.
    fn is_current(&self, tenant: &TenantId, slot: &Arc<Slot>) -> bool {
        if self.limits.max_tenants == 0 {
            return true;
        }
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .is_some_and(|s| Arc::ptr_eq(s, slot))
    }

    /// The tenant's active key, loading it once on a miss. A load that an invalidation
    /// overtook is done again (at most [`RELOADS`] times), so news that arrived before
    /// this returns is never ignored.
    pub(crate) async fn active<E, F, Fut>(
        &self,
        tenant: &TenantId,
        load: F,
    ) -> Result<Arc<TenantKey>, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Arc<TenantKey>, E>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let slot = self.slot(tenant);
            let key = self.active_in(&slot, &load).await?;
            if attempt >= RELOADS || self.is_current(tenant, &slot) {
                return Ok(key);
            }
        }
    }

    async fn active_in<E, F, Fut>(&self, slot: &Arc<Slot>, load: &F) -> Result<Arc<TenantKey>, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Arc<TenantKey>, E>>,
    {
        if let Some(k) = slot.active.get() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(k.clone());
        }
        let key = slot
            .active
            .get_or_try_init(|| async {
                self.loads.fetch_add(1, Ordering::Relaxed);
                load().await
            })
            .await?
            .clone();
        let mut versions = slot.versions.lock().unwrap_or_else(|p| p.into_inner());
        versions
            .entry(key.id())
            .or_insert_with(|| Arc::new(OnceCell::new_with(Some(key.clone()))));
        Ok(key)
    }

    /// Version `id` of the tenant's key, loading it once on a miss (again if an
    /// invalidation overtook the load, like [`KeyCache::active`]).
    pub(crate) async fn version<E, F, Fut>(
        &self,
        tenant: &TenantId,
        id: KeyId,
        load: F,
    ) -> Result<Arc<TenantKey>, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Arc<TenantKey>, E>>,
    {
        // The hit path of every open: under the map's lock only (a loaded version of the
        // current slot; an invalidation removes the slot).
        if let Some(k) = self.loaded(tenant, id) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(k);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let slot = self.slot(tenant);
            let key = self.version_in(&slot, id, &load).await?;
            if attempt >= RELOADS || self.is_current(tenant, &slot) {
                return Ok(key);
            }
        }
    }

    async fn version_in<E, F, Fut>(
        &self,
        slot: &Arc<Slot>,
        id: KeyId,
        load: &F,
    ) -> Result<Arc<TenantKey>, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Arc<TenantKey>, E>>,
    {
        let cell = {
            let mut versions = slot.versions.lock().unwrap_or_else(|p| p.into_inner());
            versions.entry(id).or_default().clone()
        };
        if let Some(k) = cell.get() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(k.clone());
        }
        let loaded = cell
            .get_or_try_init(|| async {
                self.loads.fetch_add(1, Ordering::Relaxed);
                load().await
            })
            .await;
        match loaded {
            Ok(k) => Ok(k.clone()),
            Err(e) => {
                // Keep only loaded keys: ids named by forged or foreign values must not grow the map.
                let mut versions = slot.versions.lock().unwrap_or_else(|p| p.into_inner());
                if versions
                    .get(&id)
                    .is_some_and(|c| Arc::ptr_eq(c, &cell) && c.get().is_none())
                {
                    versions.remove(&id);
                }
                Err(e)
            }
        }
    }

    /// Drops every cached key of `tenant` (after rotation, retirement or shredding).
    pub(crate) fn invalidate(&self, tenant: &TenantId) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.remove(tenant);
    }

    /// The keys area's reaction to news: the tenant's keys are read again from the store
    /// on next use (a shredded tenant's then fail, a rotated one's active key is the new one).
    pub(crate) fn on_event(&self, event: &crate::events::Event) {
        use crate::events::Event;
        match event {
            Event::KeyRotated { tenant, .. }
            | Event::KeyRetired { tenant, .. }
            | Event::TenantShredded { tenant } => self.invalidate(tenant),
            Event::Resync => self.slots.lock().unwrap_or_else(|p| p.into_inner()).clear(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> Arc<TenantKey> {
        Arc::new(TenantKey::from_bytes(
            KeyId::new(id).unwrap(),
            [id as u8; 32],
        ))
    }

    #[tokio::test]
    async fn one_load_per_tenant_and_bounded() {
        let cache = KeyCache::new(CacheLimits {
            max_tenants: 2,
            max_age: Duration::from_secs(60),
        });
        let t = |s: &str| TenantId::new(s).unwrap();
        for _ in 0..5 {
            cache
                .active::<(), _, _>(&t("a"), || async { Ok(key(1)) })
                .await
                .unwrap();
        }
        assert_eq!(cache.stats().loads, 1);
        assert_eq!(cache.stats().hits, 4);
        cache
            .active::<(), _, _>(&t("b"), || async { Ok(key(1)) })
            .await
            .unwrap();
        cache
            .active::<(), _, _>(&t("c"), || async { Ok(key(1)) })
            .await
            .unwrap();
        assert_eq!(cache.slots.lock().unwrap().len(), 2);
        assert!(cache.stats().evictions >= 1);
        // The active key is also found by version, without a load.
        let loads = cache.stats().loads;
        cache
            .version::<(), _, _>(&t("c"), KeyId::FIRST, || async { Ok(key(9)) })
            .await
            .unwrap();
        assert_eq!(cache.stats().loads, loads);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_load() {
        let cache = Arc::new(KeyCache::new(CacheLimits::default()));
        let calls = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .active::<(), _, _>(&TenantId::new("hot").unwrap(), || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(key(1))
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failed_version_loads_leave_no_entry() {
        // Values naming key ids the tenant does not have (forged or foreign) must not grow
        // the cache: only successfully loaded keys are kept.
        let cache = KeyCache::new(CacheLimits::default());
        let t = TenantId::new("a").unwrap();
        for id in 2..1002 {
            let r = cache
                .version::<&str, _, _>(&t, KeyId::new(id).unwrap(), || async { Err("unknown key") })
                .await;
            assert!(r.is_err());
        }
        cache
            .version::<(), _, _>(&t, KeyId::FIRST, || async { Ok(key(1)) })
            .await
            .unwrap();
        let slot = cache.slot(&t);
        assert_eq!(slot.versions.lock().unwrap().len(), 1);
        // A failed load is retried next time (errors are not cached).
        let k = cache
            .version::<(), _, _>(&t, KeyId::new(2).unwrap(), || async { Ok(key(2)) })
            .await
            .unwrap();
        assert_eq!(k.id().get(), 2);
    }

    #[tokio::test]
    async fn news_during_a_load_makes_it_load_again() {
        // A load that read the old key while the news of a rotation arrived must not
        // hand out (nor keep) the superseded key.
        let cache = Arc::new(KeyCache::new(CacheLimits::default()));
        let t = TenantId::new("a").unwrap();
        let calls = Arc::new(AtomicU64::new(0));
        let (c2, t2, calls2) = (cache.clone(), t.clone(), calls.clone());
        let got = cache
            .active::<(), _, _>(&t, || {
                let (c2, t2, calls2) = (c2.clone(), t2.clone(), calls2.clone());
                async move {
                    let n = calls2.fetch_add(1, Ordering::SeqCst);
                    if n == 0 {
                        // The news arrives while the first load is in flight.
                        c2.on_event(&crate::events::Event::KeyRotated {
                            tenant: t2,
                            key_id: 2,
                        });
                        Ok(key(1))
                    } else {
                        Ok(key(2))
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(got.id().get(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let again = cache
            .active::<(), _, _>(&t, || async { Ok(key(9)) })
            .await
            .unwrap();
        assert_eq!(again.id().get(), 2, "the reloaded key is the one cached");
    }

    #[tokio::test]
    async fn expired_entries_reload() {
        let cache = KeyCache::new(CacheLimits {
            max_tenants: 10,
            max_age: Duration::from_millis(0),
        });
        let t = TenantId::new("a").unwrap();
        cache
            .active::<(), _, _>(&t, || async { Ok(key(1)) })
            .await
            .unwrap();
        cache
            .active::<(), _, _>(&t, || async { Ok(key(1)) })
            .await
            .unwrap();
        assert_eq!(cache.stats().loads, 2);
    }

    #[tokio::test]
    async fn full_cache_evicts_only_the_oldest_and_drops_its_key() {
        // A full cache must not clear everything (every tenant would pay a KMS call) nor
        // grow past its bound; the evicted tenant's key must be released (dropped, hence
        // zeroized: TenantKey is ZeroizeOnDrop), not kept alive by the cache.
        let max = 50;
        let cache = KeyCache::new(CacheLimits {
            max_tenants: max,
            max_age: Duration::from_secs(60),
        });
        let t = |i: usize| TenantId::new(format!("t{i}")).unwrap();
        let mut weak = Vec::new();
        for i in 0..max + 10 {
            let k = cache
                .active::<(), _, _>(&t(i), || async { Ok(key(1)) })
                .await
                .unwrap();
            weak.push(Arc::downgrade(&k));
            assert!(cache.slots.lock().unwrap().len() <= max);
        }
        assert_eq!(cache.slots.lock().unwrap().len(), max);
        assert_eq!(cache.stats().evictions, 10);
        // The ten oldest are gone (their keys dropped), the newest `max` are all still hits.
        for (i, w) in weak.iter().enumerate() {
            assert_eq!(w.upgrade().is_some(), i >= 10, "tenant t{i}");
        }
        let loads = cache.stats().loads;
        for i in 10..max + 10 {
            cache
                .active::<(), _, _>(&t(i), || async { Ok(key(1)) })
                .await
                .unwrap();
        }
        assert_eq!(cache.stats().loads, loads, "no survivor was evicted");
        // An expired tenant refreshed moves to the back: the next eviction takes another.
        cache.invalidate(&t(10));
        cache
            .active::<(), _, _>(&t(10), || async { Ok(key(1)) })
            .await
            .unwrap();
        cache
            .active::<(), _, _>(&t(999), || async { Ok(key(1)) })
            .await
            .unwrap();
        let slots = cache.slots.lock().unwrap();
        assert!(slots.contains_key(&t(10)) && !slots.contains_key(&t(11)));
    }
}
