//! App users' bearer tokens: [`AuthVerifier`] checks an OIDC JWT (signature by the issuer's JWKS, RS256 or
//! ES256; issuer; audience; expiry and not-before with a small leeway) and yields the [`UserId`] in `sub`.
//!
//! The JWKS is fetched on first use and cached by kid; a token with an unknown kid triggers a refetch (the
//! issuer rotated), at most once per [`AuthOptions::min_refetch_interval`], so a flood of made-up kids
//! cannot hammer the issuer. Tokens are never logged.

mod keys;

use crate::config::AuthConfig;
use crate::ports::{Clock, JwksError, JwksSource, SystemClock};

use crate::domain::{ReturningUser, UserId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use keys::{UsableKey, usable_keys};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Why a bearer token was refused. All are 401 for the caller, except that [`AuthError::is_retryable`]
/// ones mean the issuer could not be reached (a 503 is more honest there).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    MissingToken,
    #[error("the token is not a JWT: {0}")]
    Malformed(&'static str),
    #[error("the token's algorithm is not RS256 or ES256")]
    UnsupportedAlg,
    #[error("the token's kid is not among the issuer's keys")]
    UnknownKid,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token's subject is not a valid user id")]
    InvalidSubject,
    #[error("the issuer's keys are unavailable")]
    JwksUnavailable(#[source] JwksError),
}

impl AuthError {
    /// A stable code for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::Malformed(_) => "malformed",
            Self::UnsupportedAlg => "bad_alg",
            Self::UnknownKid => "unknown_kid",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::InvalidSubject => "invalid_subject",
            Self::JwksUnavailable(_) => "jwks_unavailable",
        }
    }

    /// The token could not be checked (the issuer's keys were unreachable), rather than being bad.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::JwksUnavailable(_))
    }
}

/// Tuning; `Default` is what weft deploys with.
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// Allowed clock skew on `exp` and `nbf` (default 30 s).
    pub leeway: Duration,
    /// Least time between two JWKS fetches caused by unknown kids or failures (default 30 s).
    pub min_refetch_interval: Duration,
    /// The JWKS is fetched again after this long even without an unknown kid (default 1 hour).
    pub jwks_ttl: Duration,
    /// Longest token looked at (default 8 KiB).
    pub max_token_bytes: usize,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(30),
            min_refetch_interval: Duration::from_secs(30),
            jwks_ttl: Duration::from_secs(3600),
            max_token_bytes: 8 * 1024,
        }
    }
}

/// The issuer's whole key set, replaced at once by each fetch. Hand-written rather than a keyed cache
/// (moka): there is one value, refetched on a miss as well as on age, rate-limited, and kept serving when a
/// fetch fails; none of that is eviction, and a cache with one entry would add a layer, not remove one.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<UsableKey>>,
    fetched_at: Option<Instant>,
}

/// Verifies app users' bearer tokens. Build one per container.
pub struct AuthVerifier {
    config: AuthConfig,
    options: AuthOptions,
    source: Arc<dyn JwksSource>,
    clock: Arc<dyn Clock>,
    keys: RwLock<KeySet>,
    /// One fetch at a time; holds when the last one was tried.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for AuthVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthVerifier").field("issuer", &self.config.issuer).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: Option<String>,
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    /// Every other claim (the operator claim is configurable).
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
    sub: Option<String>,
    iss: Option<String>,
    aud: Option<Audience>,
    exp: Option<f64>,
    nbf: Option<f64>,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    /// An operator (the token's operator claim holds the operator group): may use the operator routes.
    /// Operators are not users of anyone else's data through the user routes.
    pub operator: bool,
    /// The phone number (and, when configured, email address) the identity provider verified: for Plaid's
    /// returning-user flow only (never stored or logged).
    pub returning_user: ReturningUser,
}

/// The contact claims the identity provider verified: the phone number claim when `phone_number_verified`
/// is `true` (the boolean), the email claim (if one is configured) when `email_verified` is `true`.
fn returning_user(claims: &serde_json::Map<String, serde_json::Value>, config: &AuthConfig) -> ReturningUser {
    let verified = |flag: &str| claims.get(flag).and_then(serde_json::Value::as_bool) == Some(true);
    let text = |claim: &str| claims.get(claim).and_then(serde_json::Value::as_str).map(str::to_owned);
    ReturningUser {
        phone_number: verified("phone_number_verified").then(|| text(&config.phone_claim)).flatten(),
        email_address: config.email_claim.as_deref().filter(|_| verified("email_verified")).and_then(text),
    }
}

/// Whether a claim holds `group`: a list of strings containing it, or a string that is it (or lists it,
/// space- or comma-separated, as some issuers put groups or roles in one string).
fn holds(claim: Option<&serde_json::Value>, group: &str) -> bool {
    match claim {
        Some(serde_json::Value::Array(values)) => values.iter().any(|v| v.as_str() == Some(group)),
        Some(serde_json::Value::String(s)) => s.split([' ', ',']).any(|part| part == group),
        _ => false,
    }
}

impl AuthVerifier {
    /// Tokens of `config`'s issuer, signed by keys from `source` (production: the issuer's JWKS over HTTP,
    /// [`crate::adapters::jwks_http::HttpJwks`]).
    pub fn new(config: AuthConfig, source: Arc<dyn JwksSource>) -> Self {
        Self {
            config,
            options: AuthOptions::default(),
            source,
            clock: Arc::new(SystemClock),
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    pub fn with_options(mut self, options: AuthOptions) -> Self {
        self.options = options;
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// JWKS fetches made so far.
    pub fn jwks_fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches the issuer's keys ahead of the first token (at init, so the first request does not pay the
    /// round trip). Best effort: on failure nothing is recorded and the first token fetches as usual.
    pub async fn prefetch(&self) -> Result<usize, AuthError> {
        let mut last_try = self.fetching.lock().await;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let jwks = self.source.fetch().await.map_err(|e| {
            tracing::warn!(event = "jwks_prefetch_failed", error = %e, "issuer keys could not be fetched at init");
            AuthError::JwksUnavailable(e)
        })?;
        *last_try = Some(Instant::now());
        let keys = usable_keys(jwks);
        let count = keys.len();
        self.install(keys);
        Ok(count)
    }

    /// Replaces the cached key set with freshly fetched keys.
    fn install(&self, keys: HashMap<String, Arc<UsableKey>>) {
        tracing::info!(event = "jwks_fetched", keys = keys.len(), "issuer keys fetched");
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = KeySet { keys, fetched_at: Some(Instant::now()) };
    }

    /// Verifies an `Authorization` header value (`Bearer <token>`, scheme case-insensitive).
    pub async fn verify_authorization(&self, header: Option<&str>) -> Result<UserId, AuthError> {
        let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(AuthError::MissingToken)?;
        let (scheme, token) = header.split_once(' ').ok_or(AuthError::Malformed("not `Bearer <token>`"))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed("not `Bearer <token>`"));
        }
        self.verify(token).await
    }

    /// Verifies a bearer token and returns its subject.
    /// The user behind `token` (see [`AuthVerifier::verify_caller`]).
    pub async fn verify(&self, token: &str) -> Result<UserId, AuthError> {
        Ok(self.verify_caller(token).await?.user)
    }

    /// The caller behind `token`: the user, and whether they are an operator (the configured claim holds the
    /// operator group).
    pub async fn verify_caller(&self, token: &str) -> Result<Caller, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::MissingToken);
        }
        if token.len() > self.options.max_token_bytes {
            return Err(AuthError::Malformed("too long"));
        }
        let header_b64 = match token.split('.').collect::<Vec<_>>().as_slice() {
            [h, _, _] => *h,
            _ => return Err(AuthError::Malformed("not three dot-separated parts")),
        };
        let header: JwtHeader = URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or(AuthError::Malformed("header is not base64url JSON"))?;
        // Pinned before any key is looked at: `none`, HMAC and the rest never get near a key.
        let alg = match header.alg.as_deref() {
            Some("RS256") => Algorithm::RS256,
            Some("ES256") => Algorithm::ES256,
            _ => return Err(AuthError::UnsupportedAlg),
        };
        if header.crit.is_some() {
            return Err(AuthError::Malformed("critical header extensions are not supported"));
        }
        let kid = header.kid.filter(|k| !k.is_empty() && k.len() <= 256).ok_or(AuthError::Malformed("no kid"))?;
        let key = self.key(&kid).await?;
        if key.alg != alg {
            return Err(AuthError::BadSignature);
        }

        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                return Err(match e.kind() {
                    ErrorKind::InvalidSignature
                    | ErrorKind::Base64(_)
                    | ErrorKind::InvalidEcdsaKey
                    | ErrorKind::InvalidRsaKey(_)
                    | ErrorKind::InvalidKeyFormat
                    | ErrorKind::InvalidAlgorithm => AuthError::BadSignature,
                    _ => AuthError::Malformed("claims are not a JSON object of the expected types"),
                });
            }
        };

        let now = self.clock.now().unix_timestamp() as f64;
        let leeway = self.options.leeway.as_secs_f64();
        let exp = claims.exp.ok_or(AuthError::Malformed("no exp"))?;
        if now > exp + leeway {
            return Err(AuthError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| now + leeway < nbf) {
            return Err(AuthError::NotYetValid);
        }
        let issuer_ok = claims.iss.as_deref().is_some_and(|iss| same_issuer(iss, &self.config.issuer));
        if !issuer_ok {
            return Err(AuthError::WrongIssuer);
        }
        let audience_ok = match &claims.aud {
            Some(Audience::One(a)) => self.config.audiences.iter().any(|x| x == a),
            Some(Audience::Many(list)) => list.iter().any(|a| self.config.audiences.iter().any(|x| x == a)),
            None => false,
        };
        if !audience_ok {
            return Err(AuthError::WrongAudience);
        }
        let sub = claims.sub.ok_or(AuthError::InvalidSubject)?;
        let user = UserId::parse(sub).map_err(|_| AuthError::InvalidSubject)?;
        let operator = holds(claims.other.get(&self.config.operator_claim), &self.config.operator_group);
        let returning_user = returning_user(&claims.other, &self.config);
        Ok(Caller { user, operator, returning_user })
    }

    /// The key for `kid`, fetching the JWKS when it is cold, old, or lacks the kid (rate-limited).
    async fn key(&self, kid: &str) -> Result<Arc<UsableKey>, AuthError> {
        let fresh = |set: &KeySet| set.fetched_at.is_some_and(|t| t.elapsed() < self.options.jwks_ttl);
        {
            let set = self.keys.read().unwrap_or_else(|p| p.into_inner());
            if let Some(k) = set.keys.get(kid).filter(|_| fresh(&set)) {
                return Ok(k.clone());
            }
        }

        let mut last_try = self.fetching.lock().await;
        // Someone else may have fetched while this one waited.
        let (cached, is_fresh, have_any) = {
            let set = self.keys.read().unwrap_or_else(|p| p.into_inner());
            (set.keys.get(kid).cloned(), fresh(&set), set.fetched_at.is_some())
        };
        if let (Some(k), true) = (&cached, is_fresh) {
            return Ok(k.clone());
        }
        if last_try.is_some_and(|t| t.elapsed() < self.options.min_refetch_interval) {
            // Fetched (or tried) moments ago: no new fetch for this kid.
            if let Some(k) = cached {
                return Ok(k);
            }
            if have_any {
                return Err(AuthError::UnknownKid);
            }
            // Cold cache after a failure: retry at most once a second.
            if last_try.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return Err(AuthError::JwksUnavailable(JwksError::Other("the last JWKS fetch failed just now".into())));
            }
        }

        *last_try = Some(Instant::now());
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match self.source.fetch().await {
            Ok(jwks) => {
                let keys = usable_keys(jwks);
                let found = keys.get(kid).cloned();
                self.install(keys);
                found.ok_or(AuthError::UnknownKid)
            }
            Err(e) => {
                tracing::warn!(event = "jwks_fetch_failed", error = %e, "issuer keys could not be fetched");
                // An old key set still serves until the issuer answers again.
                cached.ok_or(AuthError::JwksUnavailable(e))
            }
        }
    }
}

/// Issuers compare as strings; a trailing slash on one side only is tolerated (configs often differ there).
fn same_issuer(a: &str, b: &str) -> bool {
    a == b || a.trim_end_matches('/') == b.trim_end_matches('/')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn issuer_comparison() {
        assert!(same_issuer("https://id.example.com/", "https://id.example.com"));
        assert!(!same_issuer("https://id.example.com.evil", "https://id.example.com"));
    }
}
