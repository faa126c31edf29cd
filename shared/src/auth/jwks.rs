//! The issuer's signing keys (JWKS): where they come from and the cache by `kid`.

use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Why the JWKS could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching the JWKS failed")]
    Transport(#[source] reqwest::Error),
    #[error("the JWKS endpoint answered HTTP {0}")]
    Status(u16),
    #[error("the JWKS is not JSON {{\"keys\": [...]}}")]
    Malformed,
    #[error("{0}")]
    Other(String),
}

/// One JWK as issuers publish it (only what verification needs; unknown members ignored).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct Jwk {
    #[serde(default)]
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub key_use: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
}

/// Where the issuer's keys come from.
#[async_trait::async_trait]
pub trait JwksSource: Send + Sync {
    async fn fetch(&self) -> Result<Vec<Jwk>, JwksError>;
}

/// The issuer's `jwks_uri` over HTTP.
#[derive(Debug, Clone)]
pub struct HttpJwks {
    http: reqwest::Client,
    url: String,
}

/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1 << 20;

impl HttpJwks {
    pub fn new(http: reqwest::Client, url: impl Into<String>) -> Self {
        Self { http, url: url.into() }
    }
}

#[async_trait::async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> Result<Vec<Jwk>, JwksError> {
        let resp = self
            .http
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(JwksError::Transport)?;
        if !resp.status().is_success() {
            return Err(JwksError::Status(resp.status().as_u16()));
        }
        let body = resp.bytes().await.map_err(JwksError::Transport)?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::Malformed);
        }
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = serde_json::from_slice(&body).map_err(|_| JwksError::Malformed)?;
        // A key weft cannot read is skipped, not fatal: issuers publish keys of several kinds.
        Ok(set.keys.into_iter().filter_map(|k| serde_json::from_value(k).ok()).collect())
    }
}

/// A key ready to verify with, and the one algorithm it may verify.
pub(crate) struct UsableKey {
    pub key: DecodingKey,
    pub alg: Algorithm,
}

/// The keys by kid that weft can use: RSA for RS256, P-256 for ES256, signature use only. Everything else
/// (HMAC secrets, other curves, encryption keys) is dropped, so no token can pick them.
pub(crate) fn usable_keys(jwks: Vec<Jwk>) -> HashMap<String, Arc<UsableKey>> {
    let mut out = HashMap::new();
    for jwk in jwks {
        let Some(kid) = jwk.kid.clone().filter(|k| !k.is_empty()) else {
            continue;
        };
        if jwk.key_use.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let usable = match (jwk.kty.as_str(), jwk.alg.as_deref()) {
            ("RSA", None | Some("RS256")) => match (&jwk.n, &jwk.e) {
                (Some(n), Some(e)) => {
                    DecodingKey::from_rsa_components(n, e).ok().map(|key| UsableKey { key, alg: Algorithm::RS256 })
                }
                _ => None,
            },
            ("EC", None | Some("ES256")) if jwk.crv.as_deref() == Some("P-256") => match (&jwk.x, &jwk.y) {
                (Some(x), Some(y)) => {
                    DecodingKey::from_ec_components(x, y).ok().map(|key| UsableKey { key, alg: Algorithm::ES256 })
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(k) = usable {
            out.insert(kid, Arc::new(k));
        }
    }
    out
}
