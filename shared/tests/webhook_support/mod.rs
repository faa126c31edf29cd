//! Shared by the webhook tests: test keys, a JWS signer, and a counting key source.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use weft::auth::webhook::{KeyFetchError, WebhookKeySource};
use weft::ports::plaid::wire::WebhookVerificationKey;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A P-256 key pair with a kid.
pub struct TestKey {
    pub kid: String,
    pub signing: SigningKey,
}

impl TestKey {
    pub fn new(kid: &str) -> Self {
        Self { kid: kid.to_owned(), signing: SigningKey::random(&mut rand::rngs::OsRng) }
    }

    pub fn jwk(&self, expired_at: Option<i64>) -> WebhookVerificationKey {
        let point = self.signing.verifying_key().to_encoded_point(false);
        WebhookVerificationKey {
            alg: "ES256".into(),
            crv: "P-256".into(),
            kid: self.kid.clone(),
            kty: "EC".into(),
            key_use: "sig".into(),
            x: b64(point.x().unwrap()),
            y: b64(point.y().unwrap()),
            created_at: Some(1_600_000_000),
            expired_at,
        }
    }

    /// The uncompressed SEC1 public key (what an attacker would use as an HMAC secret).
    pub fn public_sec1(&self) -> Vec<u8> {
        self.signing.verifying_key().to_encoded_point(false).as_bytes().to_vec()
    }

    /// A compact JWS over `header` and `claims`, signed ES256 with this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig: Signature = self.signing.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64(&sig.to_bytes()))
    }

    /// The `Plaid-Verification` header Plaid would send for `body` at `iat`.
    pub fn plaid_header(&self, body: &[u8], iat: i64) -> String {
        self.sign(&json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"}), &claims(body, iat))
    }
}

pub fn claims(body: &[u8], iat: i64) -> Value {
    json!({"iat": iat, "request_body_sha256": hex::encode(Sha256::digest(body))})
}

/// Plaid's serialisation: sorted keys, 2-space indentation, no trailing newline.
pub fn plaid_body(v: &Value) -> Vec<u8> {
    serde_json::to_string_pretty(v).unwrap().into_bytes()
}

pub fn sample_body(item_id: &str) -> Vec<u8> {
    plaid_body(&json!({
        "environment": "sandbox",
        "error": null,
        "initial_update_complete": true,
        "historical_update_complete": false,
        "item_id": item_id,
        "webhook_code": "SYNC_UPDATES_AVAILABLE",
        "webhook_type": "TRANSACTIONS"
    }))
}

/// Serves fixed keys and counts fetches; optionally slow, optionally failing.
#[derive(Default)]
pub struct CountingKeys {
    pub keys: Mutex<HashMap<String, WebhookVerificationKey>>,
    pub fetches: AtomicUsize,
    pub delay: Option<Duration>,
    pub fail: bool,
}

impl CountingKeys {
    pub fn with(keys: impl IntoIterator<Item = WebhookVerificationKey>) -> Self {
        Self { keys: Mutex::new(keys.into_iter().map(|k| (k.kid.clone(), k)).collect()), ..Default::default() }
    }
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl WebhookKeySource for CountingKeys {
    async fn fetch_key(&self, kid: &str) -> Result<Option<WebhookVerificationKey>, KeyFetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        if self.fail {
            return Err(KeyFetchError::new("Plaid is down"));
        }
        Ok(self.keys.lock().unwrap().get(kid).cloned())
    }
}
