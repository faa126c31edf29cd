//! [`HttpJwks`]: the issuer's JWKS document over HTTP.

use crate::ports::{Jwk, JwksError, JwksSource};
use serde::Deserialize;
use std::time::Duration;

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
            .map_err(|e| JwksError::Transport(Box::new(e)))?;
        if !resp.status().is_success() {
            return Err(JwksError::Status(resp.status().as_u16()));
        }
        let body = resp.bytes().await.map_err(|e| JwksError::Transport(Box::new(e)))?;
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
