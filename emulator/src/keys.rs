//! Webhook signing keys: P-256 key pairs identified by a uuid `kid`, served as JWKs by
//! `/webhook_verification_key/get`, rotated through the control API.
//!
//! Plaid signs each webhook with a compact JWS (ES256) whose header is
//! `{"alg":"ES256","kid":"...","typ":"JWT"}` and whose claims are
//! `{"iat": <unix seconds>, "request_body_sha256": "<hex sha256 of the body bytes>"}`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Errors of key handling.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The stored key is not base64.
    #[error("stored private key is not valid base64")]
    Encoding(#[from] base64::DecodeError),
    /// The stored key is not a P-256 private key.
    #[error("stored private key is not a valid P-256 scalar")]
    Scalar(#[from] p256::ecdsa::Error),
    /// The public key cannot be written as a JWK.
    #[error("the public key has no affine coordinates")]
    NoCoordinates,
}

/// A signing key and its metadata.
#[derive(Clone)]
pub struct WebhookKey {
    pub kid: String,
    pub created_at: i64,
    pub expired_at: Option<i64>,
    signing: SigningKey,
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("expired_at", &self.expired_at)
            .finish_non_exhaustive()
    }
}

/// The persisted form of a key (the private scalar, base64).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    pub created_at: i64,
    pub expired_at: Option<i64>,
    pub private_scalar: String,
}

impl WebhookKey {
    /// A fresh random key created at `now` (unix seconds).
    pub fn generate(now: i64) -> Self {
        Self {
            kid: uuid::Uuid::new_v4().to_string(),
            created_at: now,
            expired_at: None,
            signing: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    pub fn to_stored(&self) -> StoredKey {
        StoredKey {
            kid: self.kid.clone(),
            created_at: self.created_at,
            expired_at: self.expired_at,
            private_scalar: STANDARD.encode(self.signing.to_bytes()),
        }
    }

    pub fn from_stored(stored: &StoredKey) -> Result<Self, KeyError> {
        let bytes = STANDARD.decode(&stored.private_scalar)?;
        let signing = SigningKey::from_slice(&bytes)?;
        Ok(Self { kid: stored.kid.clone(), created_at: stored.created_at, expired_at: stored.expired_at, signing })
    }

    /// The public key as Plaid's JWK object.
    pub fn jwk(&self) -> Result<Value, KeyError> {
        let point = self.signing.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(KeyError::NoCoordinates);
        };
        Ok(json!({
            "alg": "ES256",
            "created_at": self.created_at,
            "crv": "P-256",
            "expired_at": self.expired_at,
            "kid": self.kid,
            "kty": "EC",
            "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        }))
    }

    /// The `Plaid-Verification` header value for `body` at `iat`.
    pub fn sign_webhook(&self, body: &[u8], iat: i64) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"});
        let claims = json!({"iat": iat, "request_body_sha256": hex::encode(Sha256::digest(body))});
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// The emulator's key ring: every key ever used (expired ones stay served), newest last.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<WebhookKey>,
}

impl KeyRing {
    pub fn new(now: i64) -> Self {
        Self { keys: vec![WebhookKey::generate(now)] }
    }

    pub fn from_stored(stored: &[StoredKey], now: i64) -> Result<Self, KeyError> {
        let keys = stored.iter().map(WebhookKey::from_stored).collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Ok(Self::new(now));
        }
        Ok(Self { keys })
    }

    pub fn to_stored(&self) -> Vec<StoredKey> {
        self.keys.iter().map(WebhookKey::to_stored).collect()
    }

    /// The key webhooks are signed with now.
    pub fn current(&self) -> Option<&WebhookKey> {
        self.keys.last()
    }

    pub fn get(&self, kid: &str) -> Option<&WebhookKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn all(&self) -> &[WebhookKey] {
        &self.keys
    }

    /// Makes a new current key; the previous ones get `expired_at = now` (if not yet set).
    /// Returns (new kid, previous kid).
    pub fn rotate(&mut self, now: i64) -> (String, Option<String>) {
        let previous = self.keys.last().map(|k| k.kid.clone());
        for key in &mut self.keys {
            if key.expired_at.is_none() {
                key.expired_at = Some(now);
            }
        }
        let key = WebhookKey::generate(now);
        let kid = key.kid.clone();
        self.keys.push(key);
        (kid, previous)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn signs_a_verifiable_jws() {
        let key = WebhookKey::generate(1_700_000_000);
        let jws = key.sign_webhook(b"{}", 1_700_000_001);
        let parts: Vec<&str> = jws.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "ES256", "kid": key.kid, "typ": "JWT"}));
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iat"], 1_700_000_001);
        assert_eq!(claims["request_body_sha256"], hex::encode(Sha256::digest(b"{}")));
        let jwk = key.jwk().unwrap();
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
        assert_eq!((x.len(), y.len()), (32, 32));
        let point = p256::EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
        let vk = VerifyingKey::from_encoded_point(&point).unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
    }

    #[test]
    fn stored_round_trip_and_rotation() {
        let mut ring = KeyRing::new(10);
        let first = ring.current().unwrap().kid.clone();
        let (new, prev) = ring.rotate(20);
        assert_eq!(prev.as_deref(), Some(first.as_str()));
        assert_eq!(ring.get(&first).unwrap().expired_at, Some(20));
        assert_eq!(ring.current().unwrap().kid, new);
        let restored = KeyRing::from_stored(&ring.to_stored(), 30).unwrap();
        assert_eq!(restored.current().unwrap().jwk().unwrap(), ring.current().unwrap().jwk().unwrap());
    }

    /// The real Plaid-signed vector verifies with this module's reading of the scheme.
    #[test]
    fn plaid_vector_verifies() {
        let vector: Value = serde_json::from_str(include_str!("../testdata/plaid-webhook-2020.json")).unwrap();
        let jws = vector["plaid_verification_header"].as_str().unwrap();
        let body = vector["body"].as_str().unwrap();
        let parts: Vec<&str> = jws.split('.').collect();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["request_body_sha256"], hex::encode(Sha256::digest(body.as_bytes())));
        let x = URL_SAFE_NO_PAD.decode(vector["jwk"]["x"].as_str().unwrap()).unwrap();
        let y = URL_SAFE_NO_PAD.decode(vector["jwk"]["y"].as_str().unwrap()).unwrap();
        let point = p256::EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
        let vk = VerifyingKey::from_encoded_point(&point).unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
    }
}
