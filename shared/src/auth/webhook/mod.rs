//! Plaid webhook verification: [`WebhookVerifier`] checks the `Plaid-Verification` JWS exactly as Plaid
//! documents it and turns the verified body into a typed [`WebhookEvent`].
//!
//! Refusals carry a reason code ([`VerifyError::reason`]); only [`VerifyError::KeyFetchFailed`] is
//! retryable (answer 5xx so Plaid delivers again), every other refusal is a 401. Nothing here logs the JWT
//! or the body.

mod keys;

pub use keys::{KeyFetchError, PlaidKeySource, WebhookKeySource};

use crate::domain::ItemId;
use crate::ports::{Clock, PlaidWebhookKeys, SystemClock, VerifiedWebhook, WebhookEvent};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use keys::{CacheLimits, KeyCache, Lookup};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// Verifier settings. `Default` gives Plaid's rules and weft's choices.
#[derive(Debug, Clone)]
pub struct WebhookVerifierConfig {
    /// Bodies above this are refused before anything is parsed (default 256 KiB; Plaid's are a few hundred
    /// bytes).
    pub max_body_bytes: usize,
    /// Oldest `iat` accepted (default 5 minutes, Plaid's rule).
    pub max_age: Duration,
    /// How far in the future `iat` may be (default 60 s: clock skew between Plaid and Lambda is seconds;
    /// anything more is a token minted ahead of time).
    pub max_future_skew: Duration,
    /// A cached key is fetched again after this long, so an `expired_at` Plaid set later is seen
    /// (default 1 hour; if the refresh fails the cached key keeps serving).
    pub key_ttl: Duration,
    /// A kid Plaid said it does not know is refused without asking again for this long (default 5 minutes).
    pub unknown_kid_ttl: Duration,
    /// Key fetches allowed per minute per container, all kids together (default 20): forged kids cannot
    /// turn webhooks into a flood of calls to Plaid.
    pub max_key_fetches_per_minute: usize,
}

impl Default for WebhookVerifierConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            max_age: Duration::from_secs(5 * 60),
            max_future_skew: Duration::from_secs(60),
            key_ttl: Duration::from_secs(3600),
            unknown_kid_ttl: Duration::from_secs(300),
            max_key_fetches_per_minute: 20,
        }
    }
}

/// Why a webhook was refused. [`VerifyError::reason`] is the code logged and counted;
/// [`VerifyError::is_retryable`] separates "we could not check it" (5xx, Plaid retries) from forgeries (401).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no Plaid-Verification header")]
    MissingHeader,
    #[error("the Plaid-Verification header is not a compact JWS: {0}")]
    Malformed(&'static str),
    #[error("the JWS algorithm is not ES256")]
    BadAlg,
    #[error("the JWS kid is missing or not a plausible key id")]
    BadKid,
    #[error("Plaid does not know the JWS kid")]
    UnknownKid,
    #[error("the signing key has expired")]
    ExpiredKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("iat is more than the allowed age in the past")]
    Stale,
    #[error("iat is in the future")]
    Future,
    #[error("the body does not match request_body_sha256")]
    BodyMismatch,
    #[error("the body is larger than allowed")]
    BodyTooLarge,
    #[error("the body has data after its JSON value")]
    TrailingData,
    #[error("the verified body is not a Plaid webhook: {0}")]
    MalformedBody(String),
    #[error("the signing key could not be fetched: {0}")]
    KeyFetchFailed(#[source] KeyFetchError),
}

impl VerifyError {
    /// A stable code for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingHeader => "missing_header",
            Self::Malformed(_) => "malformed",
            Self::BadAlg => "bad_alg",
            Self::BadKid => "bad_kid",
            Self::UnknownKid => "unknown_kid",
            Self::ExpiredKey => "expired_key",
            Self::BadSignature => "bad_signature",
            Self::Stale => "stale",
            Self::Future => "future",
            Self::BodyMismatch => "body_mismatch",
            Self::BodyTooLarge => "body_too_large",
            Self::TrailingData => "trailing_data",
            Self::MalformedBody(_) => "malformed_body",
            Self::KeyFetchFailed(_) => "key_fetch_failed",
        }
    }

    /// True only when the webhook could not be checked (answer 5xx so Plaid delivers it again); every
    /// other error is a refusal (401).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::KeyFetchFailed(_))
    }
}

#[derive(Deserialize)]
struct JwsHeader {
    alg: Option<String>,
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    iat: i64,
    request_body_sha256: String,
}

/// Longest header value looked at (Plaid's are about 400 bytes).
const MAX_HEADER_LEN: usize = 4096;

/// Verifies Plaid webhooks. Build one per container; it caches keys.
///
/// Order of checks: header present; body size; JWS shape; `alg` is exactly ES256 (before any key is
/// looked up: `none`, HS256, RS256 and the rest are refused); `kid` plausible; key by kid (cached; an
/// unknown kid is fetched, one fetch per kid however many webhooks arrive at once); key not expired;
/// ES256 signature (jsonwebtoken, no exp/aud rules); `iat` within [now - 5 min, now + 60 s]; SHA-256 of
/// the raw body equal (constant time) to `request_body_sha256`; the body exactly one JSON value; the
/// typed event.
pub struct WebhookVerifier {
    keys: Arc<dyn WebhookKeySource>,
    clock: Arc<dyn Clock>,
    config: WebhookVerifierConfig,
    cache: KeyCache,
    validation: Validation,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier").field("config", &self.config).finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// A verifier with the default settings and the system clock. Any [`PlaidWebhookKeys`] is a key source, so
    /// `WebhookVerifier::new(plaid_client.clone())` works.
    pub fn new(keys: Arc<dyn WebhookKeySource>) -> Self {
        Self::with_config(keys, WebhookVerifierConfig::default())
    }

    /// Keys from a shared `dyn PlaidWebhookKeys`.
    pub fn from_plaid(plaid: Arc<dyn PlaidWebhookKeys>) -> Self {
        Self::new(Arc::new(PlaidKeySource(plaid)))
    }

    pub fn with_config(keys: Arc<dyn WebhookKeySource>, config: WebhookVerifierConfig) -> Self {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let cache = KeyCache::new(CacheLimits {
            key_ttl: config.key_ttl,
            unknown_kid_ttl: config.unknown_kid_ttl,
            max_fetches_per_minute: config.max_key_fetches_per_minute.max(1),
        });
        Self { keys, clock: Arc::new(SystemClock), config, cache, validation }
    }

    /// Replaces the clock (tests pin time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &WebhookVerifierConfig {
        &self.config
    }

    /// Verifies one delivery: `header` is the `Plaid-Verification` header, `body` the raw body bytes.
    pub async fn verify(&self, header: Option<&str>, body: &[u8]) -> Result<VerifiedWebhook, VerifyError> {
        let token = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(VerifyError::MissingHeader)?;
        if body.len() > self.config.max_body_bytes {
            return Err(VerifyError::BodyTooLarge);
        }
        if token.len() > MAX_HEADER_LEN {
            return Err(VerifyError::Malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(_payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed("not three dot-separated parts"));
        };
        let header_json =
            URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| VerifyError::Malformed("header is not base64url"))?;
        let jws: JwsHeader =
            serde_json::from_slice(&header_json).map_err(|_| VerifyError::Malformed("header is not a JSON object"))?;

        // The algorithm is pinned before any key is touched.
        if jws.alg.as_deref() != Some("ES256") {
            return Err(VerifyError::BadAlg);
        }
        if jws.crit.is_some() {
            return Err(VerifyError::Malformed("critical header extensions are not supported"));
        }
        let kid = jws.kid.as_deref().filter(|k| plausible_kid(k)).ok_or(VerifyError::BadKid)?;

        let key = match self.cache.get(kid, self.keys.as_ref()).await {
            Lookup::Found(k) => k,
            Lookup::Unknown => return Err(VerifyError::UnknownKid),
            Lookup::Failed(e) => return Err(VerifyError::KeyFetchFailed(e)),
        };
        let now = self.clock.now();
        if key.expired_at.is_some_and(|at| at <= now.unix_timestamp()) {
            return Err(VerifyError::ExpiredKey);
        }

        let claims = match jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation) {
            Ok(data) => data.claims,
            Err(e) => {
                return Err(match e.kind() {
                    ErrorKind::InvalidSignature | ErrorKind::Base64(_) => VerifyError::BadSignature,
                    ErrorKind::InvalidAlgorithm => VerifyError::BadAlg,
                    ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
                        VerifyError::KeyFetchFailed(KeyFetchError::new("the cached key is not a P-256 point"))
                    }
                    // The signature verified, so Plaid signed claims we cannot read.
                    _ => VerifyError::Malformed("claims are not {iat, request_body_sha256}"),
                });
            }
        };

        let iat =
            OffsetDateTime::from_unix_timestamp(claims.iat).map_err(|_| VerifyError::Malformed("iat out of range"))?;
        if now - iat > self.config.max_age {
            return Err(VerifyError::Stale);
        }
        if iat - now > self.config.max_future_skew {
            return Err(VerifyError::Future);
        }

        let mut claimed = [0u8; 32];
        if hex::decode_to_slice(claims.request_body_sha256.as_bytes(), &mut claimed).is_err() {
            return Err(VerifyError::BodyMismatch);
        }
        let actual: [u8; 32] = Sha256::digest(body).into();
        if !bool::from(actual.ct_eq(&claimed)) {
            return Err(VerifyError::BodyMismatch);
        }

        let (item_id, environment, event) = parse_body(body)?;
        Ok(VerifiedWebhook {
            item_id,
            environment,
            event,
            issued_at: iat,
            key_id: kid.to_owned(),
            body_sha256: hex::encode(actual),
        })
    }
}

/// Plaid's kids are UUIDs; allow a little more, but nothing that could be a path, a URL or a flood of bytes.
fn plausible_kid(kid: &str) -> bool {
    (1..=128).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Exactly one JSON object (whitespace after it is allowed, anything else is trailing data).
fn parse_body(body: &[u8]) -> Result<(Option<ItemId>, Option<String>, WebhookEvent), VerifyError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_json::Value::deserialize(&mut de).map_err(|_| VerifyError::MalformedBody("not JSON".into()))?;
    de.end().map_err(|_| VerifyError::TrailingData)?;
    let serde_json::Value::Object(map) = &value else {
        return Err(VerifyError::MalformedBody("not a JSON object".into()));
    };
    let text = |k: &str| map.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
    let webhook_type = text("webhook_type").ok_or_else(|| VerifyError::MalformedBody("no webhook_type".into()))?;
    let webhook_code = text("webhook_code").ok_or_else(|| VerifyError::MalformedBody("no webhook_code".into()))?;
    // Every ITEM and TRANSACTIONS webhook names its item; LINK webhooks are about a Link session.
    let item_id = match text("item_id") {
        Some(s) => Some(ItemId::parse(s).map_err(|e| VerifyError::MalformedBody(e.to_string()))?),
        None if webhook_type == "LINK" => None,
        None => return Err(VerifyError::MalformedBody("no item_id".into())),
    };
    let environment = text("environment");
    let event = WebhookEvent::from_value(&webhook_type, &webhook_code, value).map_err(VerifyError::MalformedBody)?;
    Ok((item_id, environment, event))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn kids() {
        assert!(plausible_kid("6c5516e1-92dc-479e-a8ff-5a51992e0001"));
        assert!(!plausible_kid(""));
        assert!(!plausible_kid("../../etc/passwd"));
        assert!(!plausible_kid(&"a".repeat(129)));
        assert!(!plausible_kid("kid with spaces"));
    }

    #[test]
    fn bodies() {
        let ok = br#"{"webhook_type":"ITEM","webhook_code":"LOGIN_REPAIRED","item_id":"abc","environment":"sandbox"} "#;
        let (item, env, event) = parse_body(ok).unwrap();
        assert_eq!(item.unwrap().as_str(), "abc");
        assert_eq!(env.as_deref(), Some("sandbox"));
        assert_eq!(event, WebhookEvent::LoginRepaired);
        let trailing = br#"{"webhook_type":"ITEM","webhook_code":"LOGIN_REPAIRED","item_id":"abc"}{}"#;
        assert!(matches!(parse_body(trailing), Err(VerifyError::TrailingData)));
        assert!(matches!(parse_body(b"[1]"), Err(VerifyError::MalformedBody(_))));
        // Only LINK webhooks may name no item.
        let no_item = br#"{"webhook_type":"ITEM","webhook_code":"LOGIN_REPAIRED"}"#;
        assert!(matches!(parse_body(no_item), Err(VerifyError::MalformedBody(_))));
        let link = br#"{"webhook_type":"LINK","webhook_code":"SESSION_FINISHED","status":"EXITED","link_session_id":"s1","link_token":"link-sandbox-1"}"#;
        let (item, _, event) = parse_body(link).unwrap();
        assert!(item.is_none());
        assert_eq!(event.code(), "SESSION_FINISHED");
    }
}
