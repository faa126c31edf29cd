//! `/webhook_verification_key/get`.

use super::*;

// ---------------------------------------------------------------------------------------------------------
// /webhook_verification_key/get

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookVerificationKeyGetResponse {
    pub key: WebhookVerificationKey,
    #[serde(default)]
    pub request_id: String,
}

/// The JWK Plaid signs webhooks with. `x` and `y` are base64url 32-byte big-endian coordinates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookVerificationKey {
    #[serde(default, deserialize_with = "de_null_default")]
    pub alg: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub crv: String,
    pub kid: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub kty: String,
    #[serde(rename = "use", default, deserialize_with = "de_null_default")]
    pub key_use: String,
    pub x: String,
    pub y: String,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Unix seconds; set once Plaid rotated the key away. A webhook signed by an expired key is refused.
    #[serde(default)]
    pub expired_at: Option<i64>,
}
