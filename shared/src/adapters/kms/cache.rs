//! A small, bounded, short-lived cache of unwrapped data keys, so a warm container does not call KMS
//! `Decrypt` for every request on the same item.
//!
//! Entries are keyed by SHA-256 of (item id, wrapped key): a wrapped key copied onto another item never
//! hits the cache and goes to KMS, which refuses it. Keys are zeroized when evicted, expired or dropped.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

pub(crate) type CacheId = [u8; 32];

struct Entry {
    key: Zeroizing<[u8; 32]>,
    expires_at: Instant,
}

pub(crate) struct KeyCache {
    capacity: usize,
    ttl: Duration,
    entries: Mutex<HashMap<CacheId, Entry>>,
}

impl KeyCache {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        Self { capacity, ttl, entries: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn id(item_id: &str, wrapped: &[u8]) -> CacheId {
        let mut h = Sha256::new();
        h.update((item_id.len() as u64).to_be_bytes());
        h.update(item_id.as_bytes());
        h.update(wrapped);
        h.finalize().into()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CacheId, Entry>> {
        // A panic while holding the lock cannot leave the map half-updated in a way that matters.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn get(&self, id: &CacheId, now: Instant) -> Option<Zeroizing<[u8; 32]>> {
        let mut entries = self.lock();
        match entries.get(id) {
            Some(e) if e.expires_at > now => Some(e.key.clone()),
            Some(_) => {
                entries.remove(id);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(&self, id: CacheId, key: &Zeroizing<[u8; 32]>, now: Instant) {
        if self.capacity == 0 || self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&id) {
            entries.retain(|_, e| e.expires_at > now);
        }
        while entries.len() >= self.capacity && !entries.contains_key(&id) {
            // Evict the entry closest to expiry (the oldest insert).
            let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.expires_at).map(|(k, _)| *k) else { break };
            entries.remove(&oldest);
        }
        entries.insert(id, Entry { key: key.clone(), expires_at: now + self.ttl });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn k(b: u8) -> Zeroizing<[u8; 32]> {
        Zeroizing::new([b; 32])
    }

    #[test]
    fn hit_until_expiry() {
        let cache = KeyCache::new(4, Duration::from_secs(300));
        let t0 = Instant::now();
        let id = KeyCache::id("item1", b"wrapped");
        cache.insert(id, &k(1), t0);
        assert_eq!(*cache.get(&id, t0 + Duration::from_secs(299)).unwrap(), [1; 32]);
        assert!(cache.get(&id, t0 + Duration::from_secs(300)).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn keyed_by_item_and_wrapped_key() {
        assert_ne!(KeyCache::id("item1", b"w"), KeyCache::id("item2", b"w"));
        assert_ne!(KeyCache::id("item1", b"w"), KeyCache::id("item1", b"x"));
        // Length prefix: no ambiguity between the id and the blob.
        assert_ne!(KeyCache::id("ab", b"c"), KeyCache::id("a", b"bc"));
    }

    #[test]
    fn bounded_evicting_the_oldest() {
        let cache = KeyCache::new(2, Duration::from_secs(300));
        let t0 = Instant::now();
        let ids: Vec<CacheId> = (0..3u8).map(|i| KeyCache::id("item", &[i])).collect();
        cache.insert(ids[0], &k(0), t0);
        cache.insert(ids[1], &k(1), t0 + Duration::from_secs(1));
        cache.insert(ids[2], &k(2), t0 + Duration::from_secs(2));
        assert_eq!(cache.len(), 2);
        let now = t0 + Duration::from_secs(3);
        assert!(cache.get(&ids[0], now).is_none());
        assert!(cache.get(&ids[1], now).is_some());
        assert!(cache.get(&ids[2], now).is_some());
    }

    #[test]
    fn zero_capacity_or_ttl_disables_it() {
        let t0 = Instant::now();
        let id = KeyCache::id("item", b"w");
        for cache in [KeyCache::new(0, Duration::from_secs(300)), KeyCache::new(8, Duration::ZERO)] {
            cache.insert(id, &k(1), t0);
            assert!(cache.get(&id, t0).is_none());
        }
    }
}
