//! Signature checks with warm key caches, against the floor of raw aws-lc-rs in the same run: webhook
//! verification (ES256 over a Plaid-shaped body) and bearer tokens (ES256 and RS256), per second on one
//! core (a current-thread runtime, as one Lambda vCPU runs it), then the webhook check on every core.
//!
//! The floor: aws-lc-rs's ES256 (and RS256) verification of the same signing input, alone, through both of
//! its APIs (the public key parsed once, `ParsedPublicKey`, and per check, `UnparsedPublicKey`, as
//! `jsonwebtoken` calls it); the faster is the floor. Each figure is the best of `ROUNDS` alternating
//! rounds, so weft and its floor see the same machine load.
//!
//! `cargo run --release -p weft --example bench_webhook_verify [-- SECONDS]`
//!
//! Prints the figures; asserts nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, ParsedPublicKey, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::auth::AuthVerifier;
use weft::auth::webhook::{KeyFetchError, WebhookKeySource, WebhookVerifier};
use weft::config::AuthConfig;
use weft::ports::plaid::wire::WebhookVerificationKey;
use weft::ports::{Jwk, JwksError, JwksSource};

/// Alternating rounds per measure; the best of each is reported.
const ROUNDS: u32 = 5;

struct OneKey(WebhookVerificationKey);

#[async_trait::async_trait]
impl WebhookKeySource for OneKey {
    async fn fetch_key(&self, kid: &str) -> Result<Option<WebhookVerificationKey>, KeyFetchError> {
        Ok((kid == self.0.kid).then(|| self.0.clone()))
    }
}

struct Keys(Vec<Jwk>);

#[async_trait::async_trait]
impl JwksSource for Keys {
    async fn fetch(&self) -> Result<Vec<Jwk>, JwksError> {
        Ok(self.0.clone())
    }
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// `header.claims` of a JWS, signed by `sign`.
fn jws(header: &serde_json::Value, claims: &serde_json::Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> (String, String) {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig = sign(input.as_bytes());
    (format!("{input}.{}", b64(&sig)), input)
}

/// Checks a batch runs.
const BATCH: u64 = 100;

/// Checks per second of `batch` (which runs [`BATCH`] checks) on the current thread, for `run`.
fn rate(run: Duration, mut batch: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < run {
        batch();
        n += BATCH;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// [`BATCH`] runs of `check`.
fn batch(mut check: impl FnMut()) -> impl FnMut() {
    move || {
        for _ in 0..BATCH {
            check();
        }
    }
}

/// The best rate of each measure over `ROUNDS` rounds, the measures alternating within each round.
fn best_of(run: Duration, measures: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let mut best = vec![0.0f64; measures.len()];
    for _ in 0..ROUNDS {
        for (i, m) in measures.iter_mut().enumerate() {
            best[i] = best[i].max(rate(run, &mut **m));
        }
    }
    best
}

fn line(what: &str, per_s: f64, floor: Option<f64>) {
    let ratio = floor.map(|f| format!("  {:.2}× the floor", per_s / f)).unwrap_or_default();
    println!("  {what:<58} {per_s:>9.0}/s  ({:>5.1} µs){ratio}", 1e6 / per_s);
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let run = Duration::from_secs_f64(seconds / f64::from(ROUNDS));
    let rng = SystemRandom::new();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // ---- webhook: ES256 over the body's SHA-256, as Plaid signs ----------------------------------------
    let kid = "6c5516e1-92dc-479e-a8ff-5a51992e0001";
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let es = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = es.public_key().as_ref().to_vec(); // 0x04 || x || y
    let jwk = WebhookVerificationKey {
        alg: "ES256".into(),
        crv: "P-256".into(),
        kid: kid.into(),
        kty: "EC".into(),
        key_use: "sig".into(),
        x: b64(&point[1..33]),
        y: b64(&point[33..65]),
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
    let es_sign = |m: &[u8]| es.sign(&rng, m).unwrap().as_ref().to_vec();
    let (webhook_jws, webhook_input) = jws(
        &json!({"alg": "ES256", "kid": kid, "typ": "JWT"}),
        &json!({"iat": iat, "request_body_sha256": hex::encode(Sha256::digest(body.as_bytes()))}),
        es_sign,
    );
    let webhook_sig = URL_SAFE_NO_PAD.decode(webhook_jws.rsplit('.').next().unwrap()).unwrap();
    let verifier = Arc::new(WebhookVerifier::new(Arc::new(OneKey(jwk))));
    rt.block_on(verifier.verify(Some(&webhook_jws), body.as_bytes())).unwrap(); // warm the key cache

    let parsed = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point).unwrap();
    let unparsed = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point);
    // weft's checks run as a request runs them: awaited on the runtime (one `block_on` per batch).
    let [weft_rate, floor_parsed, floor_unparsed] = best_of(
        run,
        &mut [
            &mut || {
                rt.block_on(async {
                    for _ in 0..BATCH {
                        verifier.verify(Some(&webhook_jws), body.as_bytes()).await.unwrap();
                    }
                })
            },
            &mut batch(|| parsed.verify_sig(webhook_input.as_bytes(), &webhook_sig).unwrap()),
            &mut batch(|| unparsed.verify(webhook_input.as_bytes(), &webhook_sig).unwrap()),
        ],
    )[..] else {
        unreachable!()
    };
    let floor_webhook = floor_parsed.max(floor_unparsed);

    // ---- bearer tokens: ES256 and RS256 ------------------------------------------------------------------
    let issuer = "https://issuer.example";
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"iss": issuer, "aud": "app", "sub": "user-1", "iat": now, "exp": now + 3600});
    let ec_jwk = Jwk {
        kty: "EC".into(),
        kid: Some("ec-1".into()),
        alg: Some("ES256".into()),
        key_use: Some("sig".into()),
        crv: Some("P-256".into()),
        x: Some(b64(&point[1..33])),
        y: Some(b64(&point[33..65])),
        n: None,
        e: None,
    };
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rsa_public = rsa.public_key();
    let rsa_jwk = Jwk {
        kty: "RSA".into(),
        kid: Some("rsa-1".into()),
        alg: Some("RS256".into()),
        key_use: Some("sig".into()),
        crv: None,
        x: None,
        y: None,
        n: Some(b64(rsa_public.modulus().big_endian_without_leading_zero())),
        e: Some(b64(rsa_public.exponent().big_endian_without_leading_zero())),
    };
    let rsa_sign = |m: &[u8]| {
        let mut sig = vec![0u8; rsa.public_modulus_len()];
        rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, m, &mut sig).unwrap();
        sig
    };
    let (es_token, es_input) = jws(&json!({"alg": "ES256", "kid": "ec-1", "typ": "JWT"}), &claims, es_sign);
    let (rs_token, rs_input) = jws(&json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}), &claims, rsa_sign);
    let es_sig = URL_SAFE_NO_PAD.decode(es_token.rsplit('.').next().unwrap()).unwrap();
    let rs_sig = URL_SAFE_NO_PAD.decode(rs_token.rsplit('.').next().unwrap()).unwrap();
    let users = AuthVerifier::new(
        AuthConfig::new(issuer, vec!["app".into()], "https://issuer.example/jwks"),
        Arc::new(Keys(vec![ec_jwk, rsa_jwk])),
    );
    rt.block_on(users.prefetch()).unwrap();
    rt.block_on(users.verify(&es_token)).unwrap();
    rt.block_on(users.verify(&rs_token)).unwrap();
    let rsa_der = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(rsa_public).unwrap();
    let rsa_parsed = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, rsa_der.as_ref()).unwrap();
    let rsa_unparsed = UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, rsa_der.as_ref());
    let [bearer_es, floor_es_parsed, floor_es_unparsed, bearer_rs, floor_rs_parsed, floor_rs_unparsed] = best_of(
        run,
        &mut [
            &mut || {
                rt.block_on(async {
                    for _ in 0..BATCH {
                        users.verify(&es_token).await.unwrap();
                    }
                })
            },
            &mut batch(|| parsed.verify_sig(es_input.as_bytes(), &es_sig).unwrap()),
            &mut batch(|| unparsed.verify(es_input.as_bytes(), &es_sig).unwrap()),
            &mut || {
                rt.block_on(async {
                    for _ in 0..BATCH {
                        users.verify(&rs_token).await.unwrap();
                    }
                })
            },
            &mut batch(|| rsa_parsed.verify_sig(rs_input.as_bytes(), &rs_sig).unwrap()),
            &mut batch(|| rsa_unparsed.verify(rs_input.as_bytes(), &rs_sig).unwrap()),
        ],
    )[..] else {
        unreachable!()
    };
    let floor_es = floor_es_parsed.max(floor_es_unparsed);
    let floor_rs = floor_rs_parsed.max(floor_rs_unparsed);

    // ---- the webhook check on every core, one thread each --------------------------------------------------
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let total_run = run * ROUNDS;
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let (verifier, token, body) = (verifier.clone(), webhook_jws.clone(), body.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let mut n: u64 = 0;
                while start.elapsed() < total_run {
                    rt.block_on(async {
                        for _ in 0..BATCH {
                            verifier.verify(Some(&token), body.as_bytes()).await.unwrap();
                        }
                    });
                    n += BATCH;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let all = total as f64 / start.elapsed().as_secs_f64();

    println!(
        "signature checks, warm key caches, 1 core (best of {ROUNDS} alternating rounds of {run:.2?}; the floor is \
         the faster of the two raw aws-lc-rs calls):"
    );
    println!(" webhook (ES256, body {} bytes, SHA-256 of it, claims, iat window):", body.len());
    line("weft's WebhookVerifier::verify", weft_rate, Some(floor_webhook));
    line("aws-lc-rs ES256, key parsed once (ParsedPublicKey)", floor_parsed, Some(floor_webhook));
    line("aws-lc-rs ES256, key parsed per check (as jsonwebtoken)", floor_unparsed, Some(floor_webhook));
    println!(" bearer tokens (signature, iss, aud, exp, sub):");
    line("weft's AuthVerifier::verify, ES256", bearer_es, Some(floor_es));
    line("aws-lc-rs ES256, key parsed once", floor_es_parsed, Some(floor_es));
    line("aws-lc-rs ES256, key parsed per check", floor_es_unparsed, Some(floor_es));
    line("weft's AuthVerifier::verify, RS256 (2048-bit)", bearer_rs, Some(floor_rs));
    line("aws-lc-rs RS256, key parsed once", floor_rs_parsed, Some(floor_rs));
    line("aws-lc-rs RS256, key parsed per check", floor_rs_unparsed, Some(floor_rs));
    println!(" webhook on {cores} cores: {all:.0} verifications/s in total ({:.0} per core)", all / cores as f64);
}
