//! A small, bounded, short-lived cache of unwrapped data keys, so a warm container does not call KMS
//! `Decrypt` for every request on the same item. A [`moka`] cache: size-bounded (TinyLFU admission and
//! eviction, so a burst of one-off items does not push out the keys in use), each key kept at most the TTL
//! after it was stored. moka does its housekeeping on the callers' tasks: no background thread or task.
//!
//! Entries are keyed by SHA-256 of (item id, wrapped key): a wrapped key copied onto another item never
//! hits the cache and goes to KMS, which refuses it. Values are [`Zeroizing`], so a key is wiped when its
//! entry is evicted, expires (dropped at moka's next housekeeping), or the cache is dropped, and every copy
//! handed out is wiped when its holder drops it.

use moka::future::Cache;
use sha2::{Digest, Sha256};
use std::time::Duration;
use zeroize::Zeroizing;

pub(crate) type CacheId = [u8; 32];

pub(crate) struct KeyCache {
    /// `None`: caching disabled (zero capacity or TTL).
    entries: Option<Cache<CacheId, Zeroizing<[u8; 32]>>>,
}

impl KeyCache {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        let entries = (capacity > 0 && !ttl.is_zero())
            .then(|| Cache::builder().max_capacity(capacity as u64).time_to_live(ttl).build());
        Self { entries }
    }

    pub(crate) fn id(item_id: &str, wrapped: &[u8]) -> CacheId {
        let mut h = Sha256::new();
        h.update((item_id.len() as u64).to_be_bytes());
        h.update(item_id.as_bytes());
        h.update(wrapped);
        h.finalize().into()
    }

    pub(crate) async fn get(&self, id: &CacheId) -> Option<Zeroizing<[u8; 32]>> {
        self.entries.as_ref()?.get(id).await
    }

    pub(crate) async fn insert(&self, id: CacheId, key: &Zeroizing<[u8; 32]>) {
        if let Some(entries) = &self.entries {
            entries.insert(id, key.clone()).await;
        }
    }

    /// Entries held, after moka's pending evictions and expiries are applied.
    #[cfg(test)]
    async fn len(&self) -> u64 {
        match &self.entries {
            Some(entries) => {
                entries.run_pending_tasks().await;
                entries.entry_count()
            }
            None => 0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn k(b: u8) -> Zeroizing<[u8; 32]> {
        Zeroizing::new([b; 32])
    }

    #[tokio::test]
    async fn hit_until_expiry() {
        let cache = KeyCache::new(4, Duration::from_millis(400));
        let id = KeyCache::id("item1", b"wrapped");
        cache.insert(id, &k(1)).await;
        assert_eq!(*cache.get(&id).await.unwrap(), [1; 32]);
        assert_eq!(cache.len().await, 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(cache.get(&id).await.is_none(), "expired after the TTL");
        assert_eq!(cache.len().await, 0, "and dropped (so wiped) at the next housekeeping");
    }

    #[tokio::test]
    async fn keyed_by_item_and_wrapped_key() {
        assert_ne!(KeyCache::id("item1", b"w"), KeyCache::id("item2", b"w"));
        assert_ne!(KeyCache::id("item1", b"w"), KeyCache::id("item1", b"x"));
        // Length prefix: no ambiguity between the id and the blob.
        assert_ne!(KeyCache::id("ab", b"c"), KeyCache::id("a", b"bc"));
        // The same wrapped key on another item does not hit.
        let cache = KeyCache::new(4, Duration::from_secs(300));
        cache.insert(KeyCache::id("item1", b"w"), &k(1)).await;
        assert!(cache.get(&KeyCache::id("item2", b"w")).await.is_none());
        assert!(cache.get(&KeyCache::id("item1", b"w")).await.is_some());
    }

    #[tokio::test]
    async fn bounded() {
        // moka admits and evicts by TinyLFU (not oldest-first) and applies the bound at its housekeeping:
        // what holds is that the cache never keeps more than its capacity, and every hit is the right key.
        let cache = KeyCache::new(2, Duration::from_secs(300));
        let ids: Vec<CacheId> = (0..10u8).map(|i| KeyCache::id("item", &[i])).collect();
        for (i, id) in ids.iter().enumerate() {
            cache.insert(*id, &k(i as u8)).await;
        }
        assert!(cache.len().await <= 2, "at most the capacity is kept");
        let mut hits = 0;
        for (i, id) in ids.iter().enumerate() {
            if let Some(key) = cache.get(id).await {
                assert_eq!(*key, [i as u8; 32], "a hit is the key stored under that id");
                hits += 1;
            }
        }
        assert!((1..=2).contains(&hits), "{hits} hits");
    }

    #[tokio::test]
    async fn zero_capacity_or_ttl_disables_it() {
        let id = KeyCache::id("item", b"w");
        for cache in [KeyCache::new(0, Duration::from_secs(300)), KeyCache::new(8, Duration::ZERO)] {
            cache.insert(id, &k(1)).await;
            assert!(cache.get(&id).await.is_none());
        }
    }
}
