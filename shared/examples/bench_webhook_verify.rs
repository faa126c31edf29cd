//! Webhook verification throughput with a warm key cache: verifications per second on one core (a
//! current-thread runtime, as one Lambda vCPU runs it), then on every core.
//!
//! `cargo run --release -p weft --example bench_webhook_verify [-- SECONDS]`
//!
//! Prints the figures; asserts nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::auth::webhook::{KeyFetchError, WebhookKeySource, WebhookVerifier};
use weft::ports::plaid::wire::WebhookVerificationKey;

struct OneKey(WebhookVerificationKey);

#[async_trait::async_trait]
impl WebhookKeySource for OneKey {
    async fn fetch_key(&self, kid: &str) -> Result<Option<WebhookVerificationKey>, KeyFetchError> {
        Ok((kid == self.0.kid).then(|| self.0.clone()))
    }
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let kid = "6c5516e1-92dc-479e-a8ff-5a51992e0001";
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let point = key.verifying_key().to_encoded_point(false);
    let jwk = WebhookVerificationKey {
        alg: "ES256".into(),
        crv: "P-256".into(),
        kid: kid.into(),
        kty: "EC".into(),
        key_use: "sig".into(),
        x: b64(point.x().unwrap()),
        y: b64(point.y().unwrap()),
        created_at: Some(0),
        expired_at: None,
    };
    // A typical webhook, as Plaid serialises it.
    let body = serde_json::to_string_pretty(&json!({
        "environment": "production",
        "historical_update_complete": true,
        "initial_update_complete": true,
        "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb",
        "webhook_code": "SYNC_UPDATES_AVAILABLE",
        "webhook_type": "TRANSACTIONS"
    }))
    .unwrap();
    let iat = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = json!({"alg": "ES256", "kid": kid, "typ": "JWT"});
    let claims = json!({"iat": iat, "request_body_sha256": hex::encode(Sha256::digest(body.as_bytes()))});
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig: Signature = key.sign(input.as_bytes());
    let jws = format!("{input}.{}", b64(&sig.to_bytes()));

    let verifier = Arc::new(WebhookVerifier::new(Arc::new(OneKey(jwk))));
    let run = Duration::from_secs(seconds);

    // One core.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let per_core = rt.block_on(async {
        verifier.verify(Some(&jws), body.as_bytes()).await.unwrap(); // warm the key cache
        let start = Instant::now();
        let mut n: u64 = 0;
        while start.elapsed() < run {
            for _ in 0..100 {
                verifier.verify(Some(&jws), body.as_bytes()).await.unwrap();
            }
            n += 100;
        }
        n as f64 / start.elapsed().as_secs_f64()
    });

    // The ES256 check alone (p256, what jsonwebtoken's rust_crypto backend runs), for scale.
    let raw = {
        use p256::ecdsa::signature::Verifier;
        let vk = *key.verifying_key();
        let start = Instant::now();
        let mut n: u64 = 0;
        while start.elapsed() < run / 2 {
            for _ in 0..100 {
                vk.verify(input.as_bytes(), &sig).unwrap();
            }
            n += 100;
        }
        n as f64 / start.elapsed().as_secs_f64()
    };

    // Every core, one thread each.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let (verifier, jws, body) = (verifier.clone(), jws.clone(), body.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    let mut n: u64 = 0;
                    while start.elapsed() < run {
                        for _ in 0..100 {
                            verifier.verify(Some(&jws), body.as_bytes()).await.unwrap();
                        }
                        n += 100;
                    }
                    n
                })
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let all = total as f64 / start.elapsed().as_secs_f64();

    println!("webhook verification, warm key cache, body {} bytes", body.len());
    println!("  1 core:      {per_core:>9.0} verifications/s  ({:.1} µs each)", 1e6 / per_core);
    println!("  (the bare P-256 signature check: {raw:.0}/s, {:.1} µs)", 1e6 / raw);
    println!("  {cores} cores:     {all:>9.0} verifications/s  ({:.0} per core)", all / cores as f64);
}
