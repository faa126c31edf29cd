//! Plaid's webhook verification keys: where they come from ([`WebhookKeySource`]) and the per-container
//! cache by `kid`, with one fetch in flight per kid, a short memory of kids Plaid does not know, and a cap
//! on fetches per minute so forged kids cannot turn webhooks into a flood of calls to Plaid.

use crate::ports::PlaidWebhookKeys;
use crate::ports::plaid::wire::WebhookVerificationKey;
use jsonwebtoken::DecodingKey;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
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
    fetched: Instant,
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

const MAX_KEYS: usize = 64;
const MAX_UNKNOWN: usize = 1024;

pub(crate) struct KeyCache {
    limits: CacheLimits,
    keys: RwLock<HashMap<String, Arc<CachedKey>>>,
    unknown: Mutex<HashMap<String, Instant>>,
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// When a fetch for a kid last failed: the webhooks that queued behind it fail with it rather than
    /// each trying again.
    failed: Mutex<HashMap<String, Instant>>,
    fetches: Mutex<VecDeque<Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl KeyCache {
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            limits,
            keys: RwLock::default(),
            unknown: Mutex::default(),
            inflight: Mutex::default(),
            failed: Mutex::default(),
            fetches: Mutex::default(),
        }
    }

    fn cached(&self, kid: &str) -> Option<Arc<CachedKey>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).get(kid).cloned()
    }

    fn known_unknown(&self, kid: &str) -> bool {
        lock(&self.unknown).get(kid).is_some_and(|at| at.elapsed() < self.limits.unknown_kid_ttl)
    }

    pub async fn get(&self, kid: &str, source: &dyn WebhookKeySource) -> Lookup {
        let stale = match self.cached(kid) {
            Some(k) if k.fetched.elapsed() < self.limits.key_ttl => return Lookup::Found(k),
            other => other,
        };
        if stale.is_none() && self.known_unknown(kid) {
            return Lookup::Unknown;
        }

        // One fetch per kid at a time: the others wait for it and then read the cache.
        let gate = lock(&self.inflight).entry(kid.to_owned()).or_default().clone();
        let queued_at = Instant::now();
        let _turn = gate.lock().await;
        if stale.is_none() && lock(&self.failed).get(kid).is_some_and(|at| *at >= queued_at) {
            return Lookup::Failed(KeyFetchError::new("the key fetch this webhook waited for failed"));
        }
        let stale = match self.cached(kid) {
            Some(k) if k.fetched.elapsed() < self.limits.key_ttl => return Lookup::Found(k),
            Some(k) => Some(k),
            None if self.known_unknown(kid) => return Lookup::Unknown,
            None => stale,
        };
        let result = self.fetch(kid, source, stale).await;
        {
            let mut failed = lock(&self.failed);
            if matches!(result, Lookup::Failed(_)) {
                if failed.len() >= MAX_UNKNOWN {
                    failed.clear();
                }
                failed.insert(kid.to_owned(), Instant::now());
            } else {
                failed.remove(kid);
            }
        }
        lock(&self.inflight).remove(kid);
        result
    }

    async fn fetch(&self, kid: &str, source: &dyn WebhookKeySource, stale: Option<Arc<CachedKey>>) -> Lookup {
        if !self.admit_fetch() {
            tracing::warn!(event = "webhook_key_fetch_throttled", kid, "too many key fetches; not fetching");
            return match stale {
                Some(k) => Lookup::Found(k),
                None => Lookup::Failed(KeyFetchError::new("key fetches throttled")),
            };
        }
        match source.fetch_key(kid).await {
            Ok(Some(jwk)) => match usable(kid, &jwk) {
                Ok(key) => {
                    tracing::info!(event = "webhook_key_fetched", kid, expired_at = ?jwk.expired_at, "webhook key cached");
                    let key = Arc::new(CachedKey { key, expired_at: jwk.expired_at, fetched: Instant::now() });
                    let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
                    if keys.len() >= MAX_KEYS && !keys.contains_key(kid) {
                        keys.clear();
                    }
                    keys.insert(kid.to_owned(), key.clone());
                    lock(&self.unknown).remove(kid);
                    Lookup::Found(key)
                }
                Err(why) => {
                    tracing::error!(event = "webhook_key_unusable", kid, why, "Plaid served an unusable webhook key");
                    Lookup::Failed(KeyFetchError::new(format!("unusable key: {why}")))
                }
            },
            Ok(None) => {
                tracing::info!(event = "webhook_key_unknown", kid, "Plaid does not know this kid");
                self.keys.write().unwrap_or_else(|p| p.into_inner()).remove(kid);
                let mut unknown = lock(&self.unknown);
                if unknown.len() >= MAX_UNKNOWN {
                    unknown.clear();
                }
                unknown.insert(kid.to_owned(), Instant::now());
                Lookup::Unknown
            }
            Err(e) => match stale {
                Some(k) => {
                    tracing::warn!(event = "webhook_key_refresh_failed", kid, error = %e, "using the cached key");
                    Lookup::Found(k)
                }
                None => {
                    tracing::error!(event = "webhook_key_fetch_failed", kid, error = %e, "webhook key fetch failed");
                    Lookup::Failed(e)
                }
            },
        }
    }

    /// Sliding one-minute window.
    fn admit_fetch(&self) -> bool {
        let mut fetches = lock(&self.fetches);
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
