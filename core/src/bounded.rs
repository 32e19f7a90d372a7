//! Insertion-ordered maps for the bounded in-process caches (tokens, egress policies,
//! PostgreSQL identity proofs; the key cache uses the same map with its own slots).
//!
//! A full cache drops its oldest entries one at a time in O(1) (the front of hashlink's
//! `LinkedHashMap`), instead of scanning for the oldest or clearing everything, which made
//! every tenant pay a store or KMS round trip at once. Entries are inserted with a fixed
//! lifetime, so the front is also the first to expire. std's keyed SipHash is the hasher, as
//! for every other map keyed by tenant-chosen values.

use std::collections::hash_map::RandomState;
use std::hash::Hash;

/// A map that remembers insertion order (re-inserting a key moves it to the back).
pub(crate) type OrderedMap<K, V> = hashlink::LinkedHashMap<K, V, RandomState>;

/// An empty [`OrderedMap`].
pub(crate) fn ordered_map<K, V>() -> OrderedMap<K, V> {
    OrderedMap::with_hasher(RandomState::new())
}

/// Inserts `k` at the back, first dropping from the front the entries that are `stale` and
/// then, while the map is full, the oldest, so that it never holds more than `cap` entries.
/// Returns how many were dropped. `cap` 0 keeps nothing.
pub(crate) fn insert_bounded<K: Hash + Eq, V>(
    map: &mut OrderedMap<K, V>,
    k: K,
    v: V,
    cap: usize,
    stale: impl Fn(&V) -> bool,
) -> usize {
    if cap == 0 {
        return 0;
    }
    if map.contains_key(&k) {
        map.insert(k, v);
        return 0;
    }
    let mut dropped = 0;
    while map.front().is_some_and(|(_, v)| stale(v)) || map.len() >= cap {
        if map.pop_front().is_none() {
            break;
        }
        dropped += 1;
    }
    map.insert(k, v);
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_map_drops_only_the_oldest() {
        let mut m = ordered_map();
        for i in 0..100u32 {
            insert_bounded(&mut m, i, i, 10, |_| false);
            assert!(m.len() <= 10);
        }
        let keys: Vec<u32> = m.keys().copied().collect();
        assert_eq!(keys, (90..100).collect::<Vec<_>>());
        // Re-inserting a present key neither drops anything nor grows the map.
        assert_eq!(insert_bounded(&mut m, 95, 0, 10, |_| false), 0);
        assert_eq!(m.len(), 10);
        assert_eq!(m.back().map(|(k, _)| *k), Some(95));
    }

    #[test]
    fn stale_front_entries_go_first() {
        let mut m = ordered_map();
        for i in 0..5u32 {
            insert_bounded(&mut m, i, i, 10, |_| false);
        }
        // Entries 0..3 are stale: they go even though the map is not full.
        assert_eq!(insert_bounded(&mut m, 9, 9, 10, |v| *v < 3), 3);
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec![3, 4, 9]);
        assert_eq!(insert_bounded(&mut m, 1, 1, 0, |_| false), 0);
        assert!(!m.contains_key(&1));
    }
}
