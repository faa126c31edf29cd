//! App users' bearer tokens: valid ones give the subject; expired, wrong issuer or audience, bad
//! signature, alg none / HMAC, unknown kid and the rest are refused, each for its reason. JWKS fetches are
//! counted: unknown kids cannot make the verifier hammer the issuer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weft::auth::{AuthError, AuthOptions, AuthVerifier};
use weft::config::AuthConfig;
use weft::doubles::FixedClock;
use weft::ports::{Jwk, JwksError, JwksSource};

const NOW: i64 = 1_750_000_000;
const ISSUER: &str = "https://id.weft.test";
const AUDIENCE: &str = "weft-app";

/// A throwaway RSA key for RS256 tests (generated for this file; it protects nothing).
const RSA_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDHtbu8E3IPchFB\n0qJJG8CFmuDGJWtapECmHTGox7gP9JrtpJPJRafcu0oSo1yWDSJxs5NVLb7YToAf\n4Lpu6kHM5onqfvM6BzlOuvKBASfAng8mQ25Mhp9qPn+uR1ytVWGBATZ1My5XpNeF\nc+ez9gICvH3Jf8p2bcr8k1WvqI5yXcQ4oHJmXqaTXgDIgBuQUBg5pFv3bhc1nV7R\nJ7QwYgHnc+kklFvmzhpekN1AgTmGbfB4ymqWh3QVuKDANEUWGjEpe4HTvXbKtTFI\n/vuuoA2VXF6zND/R63/adlUKYcKk0jPqeh6m/z61bAdo92FLEBy1ZppJuSp7H+oH\n2/+MNSXXAgMBAAECggEAVOmfVdtKvuh4D+2YFM+Y7vWoJneYiqSV3EtDZwjr6NTO\n3sYAFC7qrX5wgzY0UpRpFcENnsThhSTzcxphCnHN4moPL8YkcoLJygDQxSsRlONf\ne5xmFGGU/F5weVBcRlKsL2atme1WAevTuylJ1gl+V11/eiI8mlgaW4Plhdd8IYGd\n0MXUB+0YkMGqc4aBqsRPqDsdhp86PnnZHMh2sv3ISnzj+JL5lCUcZQ9oa/gMhp3m\neU9nATsQXCbEqe97UfX1D/WmylJaQBpALCzikt1cENhsNhD7LSFMXDrrVYFAR8+c\nIKYdW6AtVyDIr71nQb2Tla6rFqc2ETcgRRANNtZDUQKBgQD1rwK6TBeOvfJsE6bw\n0OU7WFXdB2nRKL77TJfK6m7VGjMdW/CH9pAD4pxSrIUS2C1/LLyM1ByBNJfW8O5x\n3QvB3W20tD8Lzdt/9vvbHijixlS6altZcxCTL8Dfn5VCv77Yv8A5qjwBEd8zRKpk\n6hRpRd1Q77t8gbZALTy6P5EUWQKBgQDQGIaIV0UhuGxn48bT4XS+igWGR8+3FSCK\nPrwIXhk3ZrkK3h65F604SDu/G1NlnaDVVYSgLBHDfXb00UPY9fXGtq7A1w1DgZ5U\n+fPsveyUZQ+NJZXQJVIkQzs6RDK+0SsF1ZF2NgfLrbp0KwGra5rm772cBhT4uejM\nzzMW5WaFrwKBgQCYLn7/DPEurwQB5C5tTsgfeXk+P0BRme6q1OfVfl+GywLMdc3J\nOnY8odr47vpDEPslon1sslqxwfUn4/efOi/1Nwakf13qHuqPGlspgEYNKpMDIaxR\n/Q9QTK0pF72qKgG6WxRj48nlU7+xDyCI/+ICz47meojk96f/msXaDFP+iQKBgF+T\nJBbynhnCrmd4whUGc6wfkDIAQXKBDZTxA0OElGhRkaNgKRQxv6kd4/L+Beuh3gCd\nanB2TSJQOZZvlo3LSbqepNyE6N6cZa/5rQKKqGHvmJjnLkuPGI73Ifi84eGqB+yC\nDnEQl7wAaqZ4KiglH9v5OEi0smUaXcXTVE+rxM6ZAoGATA1eA+INEyJfykiO3+oo\nr20TvfGF3SWYPj7V/9+n1WNlsG8HFS7E2KK0qLdm6d4L0ozm72Z4LzGfVN3fb02q\n7+Ycef51Xbrsh64abv8HppR6w4Jhnq0ZIiXlLE8uVc5d6vwBdnPXkV7P73fTl4jy\n3Oteyiv7Wfe4pIR9fUcmHwc=\n-----END PRIVATE KEY-----";
const RSA_N: &str = "x7W7vBNyD3IRQdKiSRvAhZrgxiVrWqRAph0xqMe4D_Sa7aSTyUWn3LtKEqNclg0icbOTVS2-2E6AH-C6bupBzOaJ6n7zOgc5TrrygQEnwJ4PJkNuTIafaj5_rkdcrVVhgQE2dTMuV6TXhXPns_YCArx9yX_Kdm3K_JNVr6iOcl3EOKByZl6mk14AyIAbkFAYOaRb924XNZ1e0Se0MGIB53PpJJRb5s4aXpDdQIE5hm3weMpqlod0FbigwDRFFhoxKXuB0712yrUxSP77rqANlVxeszQ_0et_2nZVCmHCpNIz6noepv8-tWwHaPdhSxActWaaSbkqex_qB9v_jDUl1w";

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

struct EcKey {
    kid: String,
    key: SigningKey,
}

impl EcKey {
    fn new(kid: &str) -> Self {
        Self { kid: kid.into(), key: SigningKey::random(&mut rand::rngs::OsRng) }
    }
    fn jwk(&self) -> Jwk {
        let p = self.key.verifying_key().to_encoded_point(false);
        Jwk {
            kty: "EC".into(),
            kid: Some(self.kid.clone()),
            alg: Some("ES256".into()),
            key_use: Some("sig".into()),
            crv: Some("P-256".into()),
            x: Some(b64(p.x().unwrap())),
            y: Some(b64(p.y().unwrap())),
            ..Default::default()
        }
    }
    fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }
    fn mint(&self, claims: &Value) -> String {
        self.sign_raw(&json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"}), claims)
    }
}

fn rsa_jwk(kid: &str) -> Jwk {
    Jwk {
        kty: "RSA".into(),
        kid: Some(kid.into()),
        alg: Some("RS256".into()),
        n: Some(RSA_N.into()),
        e: Some("AQAB".into()),
        ..Default::default()
    }
}

fn claims(sub: &str) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": NOW - 10, "exp": NOW + 3600})
}

/// Serves a key set, counts fetches; can fail.
#[derive(Default)]
struct Keys {
    jwks: Mutex<Vec<Jwk>>,
    fetches: AtomicUsize,
    fail: std::sync::atomic::AtomicBool,
    delay: Option<Duration>,
}

impl Keys {
    fn new(jwks: Vec<Jwk>) -> Arc<Self> {
        Arc::new(Self { jwks: Mutex::new(jwks), ..Default::default() })
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl JwksSource for Keys {
    async fn fetch(&self) -> Result<Vec<Jwk>, JwksError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(JwksError::Status(503));
        }
        Ok(self.jwks.lock().unwrap().clone())
    }
}

fn config() -> AuthConfig {
    AuthConfig::new(ISSUER, vec![AUDIENCE.into(), "weft-admin".into()], "https://unused.test/jwks")
}

fn verifier(keys: Arc<Keys>) -> AuthVerifier {
    AuthVerifier::new(config(), keys).with_clock(Arc::new(FixedClock::at_unix(NOW)))
}

struct Setup {
    ec: EcKey,
    keys: Arc<Keys>,
    auth: AuthVerifier,
}

fn setup() -> Setup {
    let ec = EcKey::new("ec-1");
    let keys = Keys::new(vec![ec.jwk(), rsa_jwk("rsa-1")]);
    let auth = verifier(keys.clone());
    Setup { ec, keys, auth }
}

async fn refused(s: &Setup, token: &str) -> AuthError {
    s.auth.verify(token).await.expect_err("must be refused")
}

#[tokio::test]
async fn a_valid_es256_token_gives_its_subject() {
    let s = setup();
    let user = s.auth.verify(&s.ec.mint(&claims("auth0|alice"))).await.unwrap();
    assert_eq!(user.as_str(), "auth0|alice");
    let user = s.auth.verify_authorization(Some(&format!("Bearer {}", s.ec.mint(&claims("bob"))))).await.unwrap();
    assert_eq!(user.as_str(), "bob");
    // aud as a list, issuer with a trailing slash, nbf in the past.
    let mut c = claims("carol");
    c["aud"] = json!(["other", "weft-admin"]);
    c["iss"] = json!(format!("{ISSUER}/"));
    c["nbf"] = json!(NOW - 5);
    assert_eq!(s.auth.verify(&s.ec.mint(&c)).await.unwrap().as_str(), "carol");
    assert_eq!(s.keys.fetches(), 1, "the JWKS is fetched once and cached");
}

#[tokio::test]
async fn a_valid_rs256_token_gives_its_subject() {
    let s = setup();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let token =
        jsonwebtoken::encode(&header, &claims("rsa-user"), &EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap())
            .unwrap();
    assert_eq!(s.auth.verify(&token).await.unwrap().as_str(), "rsa-user");
    // The same token claiming ES256 does not get to use the RSA key.
    let (_, rest) = token.split_once('.').unwrap();
    let es = format!("{}.{rest}", b64(json!({"alg": "ES256", "kid": "rsa-1"}).to_string().as_bytes()));
    assert!(matches!(refused(&s, &es).await, AuthError::BadSignature));
}

#[tokio::test]
async fn no_token() {
    let s = setup();
    assert!(matches!(refused(&s, "").await, AuthError::MissingToken));
    assert!(matches!(s.auth.verify_authorization(None).await, Err(AuthError::MissingToken)));
    assert!(matches!(s.auth.verify_authorization(Some("")).await, Err(AuthError::MissingToken)));
    assert!(matches!(s.auth.verify_authorization(Some("Basic dXNlcjpwYXNz")).await, Err(AuthError::Malformed(_))));
    assert!(matches!(s.auth.verify_authorization(Some("Bearer")).await, Err(AuthError::Malformed(_))));
    for junk in ["a", "a.b", "a.b.c.d", "!!.e30.x", &"a".repeat(10_000)] {
        assert!(matches!(refused(&s, junk).await, AuthError::Malformed(_)), "{junk}");
    }
    assert_eq!(s.keys.fetches(), 0);
}

#[tokio::test]
async fn expired() {
    let s = setup();
    let mut c = claims("alice");
    c["exp"] = json!(NOW - 31);
    let e = refused(&s, &s.ec.mint(&c)).await;
    assert!(matches!(e, AuthError::Expired), "{e:?}");
    assert_eq!(e.reason(), "expired");
    c["exp"] = json!(NOW - 20); // within the 30 s leeway
    assert!(s.auth.verify(&s.ec.mint(&c)).await.is_ok());
    c.as_object_mut().unwrap().remove("exp");
    assert!(matches!(refused(&s, &s.ec.mint(&c)).await, AuthError::Malformed(_)), "exp is required");
}

#[tokio::test]
async fn not_yet_valid() {
    let s = setup();
    let mut c = claims("alice");
    c["nbf"] = json!(NOW + 120);
    assert!(matches!(refused(&s, &s.ec.mint(&c)).await, AuthError::NotYetValid));
}

#[tokio::test]
async fn wrong_issuer() {
    let s = setup();
    for iss in [json!("https://evil.test"), json!("https://id.weft.test.evil"), json!(null)] {
        let mut c = claims("alice");
        c["iss"] = iss;
        let e = refused(&s, &s.ec.mint(&c)).await;
        assert!(matches!(e, AuthError::WrongIssuer), "{e:?}");
    }
}

#[tokio::test]
async fn wrong_audience() {
    let s = setup();
    for aud in [json!("another-app"), json!(["a", "b"]), json!([]), json!(null)] {
        let mut c = claims("alice");
        c["aud"] = aud;
        let e = refused(&s, &s.ec.mint(&c)).await;
        assert!(matches!(e, AuthError::WrongAudience), "{e:?}");
    }
}

#[tokio::test]
async fn bad_signature() {
    let s = setup();
    let forger = EcKey::new("ec-1"); // the real kid, another key
    assert!(matches!(refused(&s, &forger.mint(&claims("alice"))).await, AuthError::BadSignature));
    // A genuine token with its claims swapped for others.
    let token = s.ec.mint(&claims("alice"));
    let parts: Vec<&str> = token.split('.').collect();
    let swapped = format!("{}.{}.{}", parts[0], b64(claims("mallory").to_string().as_bytes()), parts[2]);
    assert!(matches!(refused(&s, &swapped).await, AuthError::BadSignature));
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
    assert!(matches!(refused(&s, &flipped).await, AuthError::BadSignature));
}

#[tokio::test]
async fn alg_none_and_hmac_are_refused() {
    let s = setup();
    let payload = b64(claims("alice").to_string().as_bytes());
    for alg in ["none", "None", "HS256", "RS512", "ES384", "PS256"] {
        let header = b64(json!({"alg": alg, "kid": "ec-1", "typ": "JWT"}).to_string().as_bytes());
        let e = refused(&s, &format!("{header}.{payload}.")).await;
        assert!(matches!(e, AuthError::UnsupportedAlg), "{alg}: {e:?}");
    }
    // HS256 signed with the issuer's public key as the secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("ec-1".into());
    let jwk = serde_json::to_vec(&s.ec.jwk()).unwrap();
    let token = jsonwebtoken::encode(&header, &claims("alice"), &EncodingKey::from_secret(&jwk)).unwrap();
    assert!(matches!(refused(&s, &token).await, AuthError::UnsupportedAlg));
    assert_eq!(s.keys.fetches(), 0, "no key lookup for a refused alg");
}

#[tokio::test]
async fn unknown_kid_and_no_kid() {
    let s = setup();
    s.auth.verify(&s.ec.mint(&claims("alice"))).await.unwrap();
    let stranger = EcKey::new("ec-unknown");
    let e = refused(&s, &stranger.mint(&claims("alice"))).await;
    assert!(matches!(e, AuthError::UnknownKid), "{e:?}");
    let no_kid = s.ec.sign_raw(&json!({"alg": "ES256"}), &claims("alice"));
    assert!(matches!(refused(&s, &no_kid).await, AuthError::Malformed(_)));
}

#[tokio::test]
async fn a_flood_of_unknown_kids_does_not_hammer_the_issuer() {
    let s = setup();
    for i in 0..200 {
        let stranger = EcKey::new(&format!("made-up-{i}"));
        assert!(matches!(refused(&s, &stranger.mint(&claims("x"))).await, AuthError::UnknownKid));
    }
    assert_eq!(s.keys.fetches(), 1, "one fetch, then rate-limited to one per 30 s");
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_on_its_first_token() {
    let old = EcKey::new("old");
    let keys = Keys::new(vec![old.jwk()]);
    let options = AuthOptions { min_refetch_interval: Duration::ZERO, ..Default::default() };
    let auth = verifier(keys.clone()).with_options(options);
    auth.verify(&old.mint(&claims("alice"))).await.unwrap();
    let new = EcKey::new("new");
    keys.jwks.lock().unwrap().push(new.jwk());
    assert_eq!(auth.verify(&new.mint(&claims("alice"))).await.unwrap().as_str(), "alice");
    assert_eq!(keys.fetches(), 2);
}

#[tokio::test]
async fn subjects_must_be_user_ids() {
    let s = setup();
    assert!(matches!(refused(&s, &s.ec.mint(&claims("alice#ITEM"))).await, AuthError::InvalidSubject));
    let mut c = claims("x");
    c.as_object_mut().unwrap().remove("sub");
    assert!(matches!(refused(&s, &s.ec.mint(&c)).await, AuthError::InvalidSubject));
}

#[tokio::test]
async fn an_unreachable_issuer_is_retryable() {
    let s = setup();
    s.keys.fail.store(true, Ordering::SeqCst);
    let e = refused(&s, &s.ec.mint(&claims("alice"))).await;
    assert!(matches!(e, AuthError::JwksUnavailable(_)), "{e:?}");
    assert!(e.is_retryable());
    // Not retried on every request.
    let _ = refused(&s, &s.ec.mint(&claims("alice"))).await;
    assert_eq!(s.keys.fetches(), 1);
}

#[tokio::test]
async fn keys_that_cannot_sign_tokens_are_ignored() {
    let ec = EcKey::new("enc");
    let mut enc = ec.jwk();
    enc.key_use = Some("enc".into());
    let hmac = Jwk { kty: "oct".into(), kid: Some("hmac".into()), alg: Some("HS256".into()), ..Default::default() };
    let keys = Keys::new(vec![enc, hmac]);
    let auth = verifier(keys);
    assert!(matches!(auth.verify(&ec.mint(&claims("a"))).await, Err(AuthError::UnknownKid)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_burst_fetches_the_jwks_once() {
    let ec = Arc::new(EcKey::new("ec-burst"));
    let keys = Arc::new(Keys {
        jwks: Mutex::new(vec![ec.jwk()]),
        delay: Some(Duration::from_millis(50)),
        ..Default::default()
    });
    let auth = Arc::new(verifier(keys.clone()));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (auth, ec) = (auth.clone(), ec.clone());
            tokio::spawn(async move { auth.verify(&ec.mint(&claims(&format!("u{i}")))).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(keys.fetches(), 1);
}

#[tokio::test]
async fn keys_prefetched_at_init_serve_the_first_token() {
    let s = setup();
    assert_eq!(s.auth.prefetch().await.unwrap(), 2);
    assert_eq!(s.auth.verify(&s.ec.mint(&claims("alice"))).await.unwrap().as_str(), "alice");
    assert_eq!(s.keys.fetches(), 1, "the first token used the prefetched keys");
}

#[tokio::test]
async fn a_failed_prefetch_does_not_hold_back_the_first_token() {
    let s = setup();
    s.keys.fail.store(true, Ordering::SeqCst);
    assert!(matches!(s.auth.prefetch().await, Err(AuthError::JwksUnavailable(_))));
    s.keys.fail.store(false, Ordering::SeqCst);
    // The issuer is back: the first token fetches at once, not after the refetch interval.
    assert_eq!(s.auth.verify(&s.ec.mint(&claims("alice"))).await.unwrap().as_str(), "alice");
    assert_eq!(s.keys.fetches(), 2);
}

#[tokio::test]
async fn only_verified_contact_claims_reach_the_caller() {
    let s = setup();
    let mut c = claims("alice");
    c["phone_number"] = json!("+14155550123");
    c["phone_number_verified"] = json!(true);
    c["email"] = json!("alice@example.com");
    c["email_verified"] = json!(true);
    let caller = s.auth.verify_caller(&s.ec.mint(&c)).await.unwrap();
    assert_eq!(caller.returning_user.phone_number.as_deref(), Some("+14155550123"));
    assert_eq!(caller.returning_user.email_address, None, "no email claim is configured by default");
    assert!(!format!("{caller:?}").contains("4155550123"), "never printed");

    // Not verified (false, a string "true", absent): not taken.
    for verified in [json!(false), json!("true"), Value::Null] {
        c["phone_number_verified"] = verified;
        let caller = s.auth.verify_caller(&s.ec.mint(&c)).await.unwrap();
        assert_eq!(caller.returning_user.phone_number, None);
    }

    // Configured claims: another phone claim, and the email.
    let mut config = config();
    config.phone_claim = "custom:phone".into();
    config.email_claim = Some("email".into());
    let auth = AuthVerifier::new(config, s.keys.clone()).with_clock(Arc::new(FixedClock::at_unix(NOW)));
    c["custom:phone"] = json!("+442071838750");
    c["phone_number_verified"] = json!(true);
    let caller = auth.verify_caller(&s.ec.mint(&c)).await.unwrap();
    assert_eq!(caller.returning_user.phone_number.as_deref(), Some("+442071838750"));
    assert_eq!(caller.returning_user.email_address.as_deref(), Some("alice@example.com"));
}
