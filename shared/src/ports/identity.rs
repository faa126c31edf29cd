//! The app users' identity provider: where the keys that sign their bearer tokens come from.
//! Adapter: [`crate::adapters::jwks_http::HttpJwks`].

use serde::Deserialize;

/// Why the JWKS could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching the JWKS failed")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
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
