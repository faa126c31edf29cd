//! Plaid's webhook verification keys: where they come from ([`WebhookKeySource`]) and the per-container
//! cache by `kid` (on [`moka`]), with one fetch in flight per kid, a short memory of kids Plaid does not
//! know, the last good key kept while a refresh fails, and a cap on fetches per minute so forged kids
//! cannot turn webhooks into a flood of calls to Plaid.

use crate::ports::PlaidWebhookKeys;
use crate::ports::plaid::wire::WebhookVerificationKey;
use jsonwebtoken::DecodingKey;
use moka::Expiry;
use moka::future::Cache;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a key could not be had (the verifier answers 5xx so Plaid retries).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct KeyFetchError {
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl KeyFetchError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }
}

/// Where webhook verification keys come from. Every [`PlaidWebhookKeys`] is one (through
/// `/webhook_verification_key/get`); tests use doubles.
#[async_trait::async_trait]
pub trait WebhookKeySource: Send + Sync {
    /// The key for `kid`; `Ok(None)` when Plaid does not know the kid.
    async fn fetch_key(&self, kid: &str) -> Result<Option<WebhookVerificationKey>, KeyFetchError>;
}

#[async_trait::async_trait]
impl<T: PlaidWebhookKeys + ?Sized> WebhookKeySource for T {
    async fn fetch_key(&self, kid: &str) -> Result<Option<WebhookVerificationKey>, KeyFetchError> {
        match self.webhook_verification_key_get(kid).await {
            Ok(r) => Ok(Some(r.key)),
            Err(e) if e.error_code() == Some("INVALID_WEBHOOK_VERIFICATION_KEY_ID") => Ok(None),
            // Plaid refused the kid itself (malformed: no key of Plaid's has it); not our credentials, which
            // are an INVALID_INPUT of their own (INVALID_API_KEYS) and stay a failure.
            Err(e)
                if e.api_error().is_some_and(|p| {
                    p.error_type == "INVALID_REQUEST"
                        || (p.error_type == "INVALID_INPUT" && p.error_code != "INVALID_API_KEYS")
                }) =>
            {
                Ok(None)
            }
            Err(e) => {
                Err(KeyFetchError { message: "webhook_verification_key/get failed".into(), source: Some(Box::new(e)) })
            }
        }
    }
}

/// A [`WebhookKeySource`] over a shared `dyn PlaidWebhookKeys`.
pub struct PlaidKeySource(pub Arc<dyn PlaidWebhookKeys>);

#[async_trait::async_trait]
impl WebhookKeySource for PlaidKeySource {
    async fn fetch_key(&self, kid: &str) -> Result<Option<WebhookVerificationKey>, KeyFetchError> {
        self.0.fetch_key(kid).await
    }
}

/// A usable key.
pub(crate) struct CachedKey {
    pub key: DecodingKey,
    /// Unix seconds.
    pub expired_at: Option<i64>,
}

/// What a lookup found.
pub(crate) enum Lookup {
    Found(Arc<CachedKey>),
    Unknown,
    Failed(KeyFetchError),
}

/// Cache settings.
#[derive(Debug, Clone)]
pub(crate) struct CacheLimits {
    pub key_ttl: Duration,
    pub unknown_kid_ttl: Duration,
    pub max_fetches_per_minute: usize,
}

/// Kids remembered, keys and unknown kids together. Unknown kids only enter after a fetch Plaid answered,
/// so the fetch cap bounds them too (20 a minute, 5 minutes each: about 100 at the defaults).
const MAX_KIDS: u64 = 1024;
/// Last good keys kept to serve while a refresh fails.
const MAX_KEYS: u64 = 64;

/// What Plaid last said about a kid.
#[derive(Clone)]
enum Known {
    Key(Arc<CachedKey>),
    /// Plaid does not know the kid.
    Unknown,
}

/// A key lives `key_ttl` (then it is fetched again, so an `expired_at` Plaid set later is seen); an unknown
/// kid `unknown_kid_ttl`.
struct KnownExpiry {
    key_ttl: Duration,
    unknown_kid_ttl: Duration,
}

impl KnownExpiry {
    fn ttl(&self, known: &Known) -> Option<Duration> {
        Some(match known {
            Known::Key(_) => self.key_ttl,
            Known::Unknown => self.unknown_kid_ttl,
        })
    }
}

impl Expiry<String, Known> for KnownExpiry {
    fn expire_after_create(&self, _: &String, known: &Known, _: Instant) -> Option<Duration> {
        self.ttl(known)
    }

    fn expire_after_update(&self, _: &String, known: &Known, _: Instant, _: Option<Duration>) -> Option<Duration> {
        self.ttl(known)
    }
}

/// Why the fetch a lookup ran (or waited for) gave nothing to cache.
#[derive(Debug)]
struct FetchFailed {
    message: String,
    /// Whether the last good key for the kid may serve instead (not when Plaid served an unusable key).
    stale_ok: bool,
}

/// The per-container key cache: [`moka`] caches (housekeeping on the callers' tasks, no background work).
///
/// - `known`: kid -> key or "unknown", each for its TTL; a lookup that misses runs the fetch through
///   moka's `try_get_with`, so concurrent lookups of a kid share one fetch, and its failure (nothing is
///   cached then): the webhooks that queued behind a failed fetch fail with it rather than each trying
///   again.
/// - `last_good`: the last usable key per kid, kept past its TTL to serve while a refresh fails.
/// - a cap on fetches per minute (all kids together), so forged kids cannot flood Plaid.
pub(crate) struct KeyCache {
    limits: CacheLimits,
    known: Cache<String, Known>,
    last_good: Cache<String, Arc<CachedKey>>,
    fetches: Mutex<VecDeque<Instant>>,
}

impl KeyCache {
    pub fn new(limits: CacheLimits) -> Self {
        let known = Cache::builder()
            .max_capacity(MAX_KIDS)
            .expire_after(KnownExpiry { key_ttl: limits.key_ttl, unknown_kid_ttl: limits.unknown_kid_ttl })
            .build();
        Self { limits, known, last_good: Cache::new(MAX_KEYS), fetches: Mutex::default() }
    }

    pub async fn get(&self, kid: &str, source: &dyn WebhookKeySource) -> Lookup {
        // The fetch's own error, when this lookup ran it (those that waited for it get a shorter one).
        let mut own_error = None;
        let fetched = self.known.try_get_with(kid.to_owned(), self.fetch(kid, source, &mut own_error)).await;
        let failed = match fetched {
            Ok(Known::Key(key)) => return Lookup::Found(key),
            Ok(Known::Unknown) => return Lookup::Unknown,
            Err(failed) => failed,
        };
        if failed.stale_ok
            && let Some(key) = self.last_good.get(kid).await
        {
            return Lookup::Found(key);
        }
        Lookup::Failed(own_error.unwrap_or_else(|| {
            KeyFetchError::new(format!("the key fetch this webhook waited for failed: {}", failed.message))
        }))
    }

    /// One fetch, run by moka for the first lookup that misses; `Err` caches nothing.
    async fn fetch(
        &self,
        kid: &str,
        source: &dyn WebhookKeySource,
        own_error: &mut Option<KeyFetchError>,
    ) -> Result<Known, FetchFailed> {
        if !self.admit_fetch() {
            tracing::warn!(event = "webhook_key_fetch_throttled", kid, "too many key fetches; not fetching");
            *own_error = Some(KeyFetchError::new("key fetches throttled"));
            return Err(FetchFailed { message: "key fetches throttled".into(), stale_ok: true });
        }
        match source.fetch_key(kid).await {
            Ok(Some(jwk)) => match usable(kid, &jwk) {
                Ok(key) => {
                    tracing::info!(event = "webhook_key_fetched", kid, expired_at = ?jwk.expired_at, "webhook key cached");
                    let key = Arc::new(CachedKey { key, expired_at: jwk.expired_at });
                    self.last_good.insert(kid.to_owned(), key.clone()).await;
                    Ok(Known::Key(key))
                }
                Err(why) => {
                    tracing::error!(event = "webhook_key_unusable", kid, why, "Plaid served an unusable webhook key");
                    let message = format!("unusable key: {why}");
                    *own_error = Some(KeyFetchError::new(message.clone()));
                    Err(FetchFailed { message, stale_ok: false })
                }
            },
            Ok(None) => {
                tracing::info!(event = "webhook_key_unknown", kid, "Plaid does not know this kid");
                self.last_good.invalidate(kid).await;
                Ok(Known::Unknown)
            }
            Err(e) => {
                if self.last_good.contains_key(kid) {
                    tracing::warn!(event = "webhook_key_refresh_failed", kid, error = %e, "using the cached key");
                } else {
                    tracing::error!(event = "webhook_key_fetch_failed", kid, error = %e, "webhook key fetch failed");
                }
                let failed = FetchFailed { message: e.to_string(), stale_ok: true };
                *own_error = Some(e);
                Err(failed)
            }
        }
    }

    /// Sliding one-minute window.
    fn admit_fetch(&self) -> bool {
        let mut fetches = self.fetches.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        while fetches.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            fetches.pop_front();
        }
        if fetches.len() >= self.limits.max_fetches_per_minute {
            return false;
        }
        fetches.push_back(now);
        true
    }
}

/// The JWK as a P-256 verification key, if it is one.
fn usable(kid: &str, jwk: &WebhookVerificationKey) -> Result<DecodingKey, &'static str> {
    if jwk.kid != kid {
        return Err("kid differs from the one asked for");
    }
    if !jwk.kty.is_empty() && jwk.kty != "EC" {
        return Err("kty is not EC");
    }
    if !jwk.crv.is_empty() && jwk.crv != "P-256" {
        return Err("crv is not P-256");
    }
    if !jwk.alg.is_empty() && jwk.alg != "ES256" {
        return Err("alg is not ES256");
    }
    if !jwk.key_use.is_empty() && jwk.key_use != "sig" {
        return Err("use is not sig");
    }
    DecodingKey::from_ec_components(&jwk.x, &jwk.y).map_err(|_| "x / y are not a P-256 point")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const KID: &str = "6c5516e1-92dc-479e-a8ff-5a51992e0001";

    fn jwk(kid: &str) -> WebhookVerificationKey {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let point = secret.public_key().to_encoded_point(false);
        WebhookVerificationKey {
            alg: "ES256".into(),
            crv: "P-256".into(),
            kid: kid.into(),
            kty: "EC".into(),
            key_use: "sig".into(),
            x: URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            y: URL_SAFE_NO_PAD.encode(point.y().unwrap()),
            created_at: None,
            expired_at: None,
        }
    }

    /// Serves `key` (or says the kid is unknown), fails while `down`, counts fetches.
    struct Source {
        key: Mutex<Option<WebhookVerificationKey>>,
        down: AtomicBool,
        fetches: AtomicUsize,
        delay: Duration,
    }

    impl Source {
        fn new(key: Option<WebhookVerificationKey>) -> Self {
            Self {
                key: Mutex::new(key),
                down: AtomicBool::new(false),
                fetches: AtomicUsize::new(0),
                delay: Duration::ZERO,
            }
        }
        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl WebhookKeySource for Source {
        async fn fetch_key(&self, kid: &str) -> Result<Option<WebhookVerificationKey>, KeyFetchError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if self.down.load(Ordering::SeqCst) {
                return Err(KeyFetchError::new("Plaid is down"));
            }
            Ok(self.key.lock().unwrap().clone().filter(|k| k.kid == kid))
        }
    }

    fn cache(key_ttl: Duration, unknown_kid_ttl: Duration) -> KeyCache {
        KeyCache::new(CacheLimits { key_ttl, unknown_kid_ttl, max_fetches_per_minute: 100 })
    }

    fn found(lookup: Lookup) -> Arc<CachedKey> {
        match lookup {
            Lookup::Found(k) => k,
            Lookup::Unknown => panic!("unknown"),
            Lookup::Failed(e) => panic!("failed: {e}"),
        }
    }

    #[tokio::test]
    async fn a_key_is_fetched_again_after_its_ttl_and_the_old_one_serves_while_that_fails() {
        let source = Source::new(Some(jwk(KID)));
        let keys = cache(Duration::from_millis(200), Duration::from_secs(300));
        let first = found(keys.get(KID, &source).await);
        assert!(Arc::ptr_eq(&first, &found(keys.get(KID, &source).await)), "cached");
        assert_eq!(source.fetches(), 1);

        source.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stale = found(keys.get(KID, &source).await);
        assert!(Arc::ptr_eq(&first, &stale), "the last good key serves while the refresh fails");
        assert_eq!(source.fetches(), 2, "a refresh was tried");

        source.down.store(false, Ordering::SeqCst);
        let _ = found(keys.get(KID, &source).await);
        assert_eq!(source.fetches(), 3, "a failed refresh caches nothing: the next lookup tries again");
    }

    #[tokio::test]
    async fn an_unusable_refresh_does_not_fall_back_to_the_old_key() {
        let source = Source::new(Some(jwk(KID)));
        let keys = cache(Duration::from_millis(200), Duration::from_secs(300));
        let _ = found(keys.get(KID, &source).await);
        let mut bad = jwk(KID);
        bad.crv = "P-384".into();
        *source.key.lock().unwrap() = Some(bad);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(matches!(keys.get(KID, &source).await, Lookup::Failed(_)));
    }

    #[tokio::test]
    async fn an_unknown_kid_is_remembered_for_its_ttl_then_asked_again() {
        let source = Source::new(None);
        let keys = cache(Duration::from_secs(3600), Duration::from_millis(200));
        assert!(matches!(keys.get(KID, &source).await, Lookup::Unknown));
        assert!(matches!(keys.get(KID, &source).await, Lookup::Unknown));
        assert_eq!(source.fetches(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        *source.key.lock().unwrap() = Some(jwk(KID));
        let _ = found(keys.get(KID, &source).await);
        assert_eq!(source.fetches(), 2);
    }

    #[tokio::test]
    async fn a_kid_plaid_stops_knowing_loses_its_old_key() {
        let source = Source::new(Some(jwk(KID)));
        let keys = cache(Duration::from_millis(200), Duration::from_millis(200));
        let _ = found(keys.get(KID, &source).await);
        *source.key.lock().unwrap() = None;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(matches!(keys.get(KID, &source).await, Lookup::Unknown));
        // Once that is forgotten, a failed fetch does not bring the disowned key back.
        source.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(matches!(keys.get(KID, &source).await, Lookup::Failed(_)));
        assert_eq!(source.fetches(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lookups_waiting_for_a_failed_refresh_share_it_and_keep_the_old_key() {
        let mut source = Source::new(Some(jwk(KID)));
        source.delay = Duration::from_millis(100);
        let source = Arc::new(source);
        let keys = Arc::new(cache(Duration::from_millis(200), Duration::from_secs(300)));
        let first = found(keys.get(KID, source.as_ref()).await);
        source.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (keys, source, barrier) = (keys.clone(), source.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    found(keys.get(KID, source.as_ref()).await)
                })
            })
            .collect();
        for t in tasks {
            assert!(Arc::ptr_eq(&first, &t.await.unwrap()));
        }
        assert_eq!(source.fetches(), 2, "one refresh for the whole burst");
    }
}
