//! Forged and malformed webhooks, each refused with its reason; the key cache under a burst.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod webhook_support;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use webhook_support::{CountingKeys, TestKey, b64, claims, plaid_body, sample_body};
use weft::auth::webhook::{VerifyError, WebhookVerifier, WebhookVerifierConfig};
use weft::doubles::FixedClock;
use weft::ports::WebhookEvent;

const NOW: i64 = 1_700_000_000;
const ITEM: &str = "eVBnVMp7zdTJLkRNr33Rs6zr7KNJqBFL9DrE6";

struct Setup {
    key: TestKey,
    keys: Arc<CountingKeys>,
    verifier: WebhookVerifier,
}

fn setup() -> Setup {
    let key = TestKey::new("6c5516e1-92dc-479e-a8ff-5a51992e0002");
    let keys = Arc::new(CountingKeys::with([key.jwk(None)]));
    let verifier = WebhookVerifier::new(keys.clone()).with_clock(Arc::new(FixedClock::at_unix(NOW)));
    Setup { key, keys, verifier }
}

async fn refused(s: &Setup, header: Option<&str>, body: &[u8]) -> VerifyError {
    s.verifier.verify(header, body).await.expect_err("must be refused")
}

#[tokio::test]
async fn a_genuine_webhook_is_accepted() {
    let s = setup();
    let body = sample_body(ITEM);
    let v = s.verifier.verify(Some(&s.key.plaid_header(&body, NOW - 10)), &body).await.unwrap();
    assert_eq!(v.item_id.as_ref().unwrap().as_str(), ITEM);
    assert_eq!(v.environment.as_deref(), Some("sandbox"));
    assert_eq!(
        v.event,
        WebhookEvent::SyncUpdatesAvailable { initial_update_complete: true, historical_update_complete: false }
    );
    assert_eq!(v.issued_at.unix_timestamp(), NOW - 10);
    // Up to 60 s ahead is clock skew, accepted.
    assert!(s.verifier.verify(Some(&s.key.plaid_header(&body, NOW + 60)), &body).await.is_ok());
    assert!(s.verifier.verify(Some(&s.key.plaid_header(&body, NOW - 300)), &body).await.is_ok());
    assert_eq!(s.keys.fetches(), 1, "the key is fetched once and cached");
}

#[tokio::test]
async fn no_header() {
    let s = setup();
    let body = sample_body(ITEM);
    assert!(matches!(refused(&s, None, &body).await, VerifyError::MissingHeader));
    assert!(matches!(refused(&s, Some("  "), &body).await, VerifyError::MissingHeader));
    assert_eq!(refused(&s, None, &body).await.reason(), "missing_header");
}

#[tokio::test]
async fn malformed_headers() {
    let s = setup();
    let body = sample_body(ITEM);
    for h in ["abc", "a.b", "a.b.c.d", "!!!.e30.sig", &format!("{}.e30.sig", b64(b"not json"))] {
        let e = refused(&s, Some(h), &body).await;
        assert!(matches!(e, VerifyError::Malformed(_)), "{h}: {e:?}");
    }
    assert!(matches!(refused(&s, Some(&"a".repeat(10_000)), &body).await, VerifyError::Malformed(_)));
    assert_eq!(s.keys.fetches(), 0);
}

#[tokio::test]
async fn alg_none_is_refused_before_any_key_lookup() {
    let s = setup();
    let body = sample_body(ITEM);
    for alg in
        [json!("none"), json!("None"), json!("NONE"), json!(null), json!("es256"), json!("ES384"), json!("EdDSA")]
    {
        let header = json!({"alg": alg, "kid": s.key.kid, "typ": "JWT"});
        let token =
            format!("{}.{}.", b64(header.to_string().as_bytes()), b64(claims(&body, NOW).to_string().as_bytes()));
        let e = refused(&s, Some(&token), &body).await;
        assert!(matches!(e, VerifyError::BadAlg), "{alg}: {e:?}");
    }
    let no_alg = format!("{}.{}.", b64(json!({"kid": s.key.kid}).to_string().as_bytes()), b64(b"{}"));
    assert!(matches!(refused(&s, Some(&no_alg), &body).await, VerifyError::BadAlg));
    assert_eq!(s.keys.fetches(), 0, "no key is looked up for a wrong alg");
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let s = setup();
    let body = sample_body(ITEM);
    let jwk = s.key.jwk(None);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(s.key.kid.clone());
    // The classic confusion attack, with each form of the public key an implementation might use as secret.
    for secret in [s.key.public_sec1(), serde_json::to_vec(&jwk).unwrap(), format!("{}{}", jwk.x, jwk.y).into_bytes()] {
        let token = jsonwebtoken::encode(&header, &claims(&body, NOW), &EncodingKey::from_secret(&secret)).unwrap();
        let e = refused(&s, Some(&token), &body).await;
        assert!(matches!(e, VerifyError::BadAlg), "{e:?}");
        assert_eq!(e.reason(), "bad_alg");
    }
    assert_eq!(s.keys.fetches(), 0);
}

#[tokio::test]
async fn rs256_is_refused() {
    let s = setup();
    let body = sample_body(ITEM);
    let header = json!({"alg": "RS256", "kid": s.key.kid, "typ": "JWT"});
    let token = format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims(&body, NOW).to_string().as_bytes()),
        b64(&[7; 256])
    );
    assert!(matches!(refused(&s, Some(&token), &body).await, VerifyError::BadAlg));
}

#[tokio::test]
async fn another_keys_signature_is_refused() {
    let s = setup();
    let body = sample_body(ITEM);
    let attacker = TestKey::new(&s.key.kid); // same kid, different key
    let e = refused(&s, Some(&attacker.plaid_header(&body, NOW)), &body).await;
    assert!(matches!(e, VerifyError::BadSignature), "{e:?}");
    assert_eq!(e.reason(), "bad_signature");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn unknown_kid_is_refused_and_remembered() {
    let s = setup();
    let body = sample_body(ITEM);
    let stranger = TestKey::new("0b0b0b0b-0000-4000-8000-000000000000");
    let e = refused(&s, Some(&stranger.plaid_header(&body, NOW)), &body).await;
    assert!(matches!(e, VerifyError::UnknownKid), "{e:?}");
    assert!(!e.is_retryable());
    // Asked again: answered from memory, Plaid is not asked twice.
    let _ = refused(&s, Some(&stranger.plaid_header(&body, NOW)), &body).await;
    assert_eq!(s.keys.fetches(), 1);
}

#[tokio::test]
async fn implausible_kids_are_refused_without_a_fetch() {
    let s = setup();
    let body = sample_body(ITEM);
    for kid in [json!("../../etc/passwd"), json!(""), json!("a".repeat(200)), json!(null), json!("kid with space")] {
        let token = s.key.sign(&json!({"alg": "ES256", "kid": kid, "typ": "JWT"}), &claims(&body, NOW));
        let e = refused(&s, Some(&token), &body).await;
        assert!(matches!(e, VerifyError::BadKid), "{kid}: {e:?}");
    }
    let token = s.key.sign(&json!({"alg": "ES256", "typ": "JWT"}), &claims(&body, NOW));
    assert!(matches!(refused(&s, Some(&token), &body).await, VerifyError::BadKid));
    assert_eq!(s.keys.fetches(), 0);
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let key = TestKey::new("11111111-2222-4333-8444-555555555555");
    let keys = Arc::new(CountingKeys::with([key.jwk(Some(NOW - 1))]));
    let verifier = WebhookVerifier::new(keys).with_clock(Arc::new(FixedClock::at_unix(NOW)));
    let body = sample_body(ITEM);
    let e = verifier.verify(Some(&key.plaid_header(&body, NOW - 30)), &body).await.unwrap_err();
    assert!(matches!(e, VerifyError::ExpiredKey), "{e:?}");
    assert_eq!(e.reason(), "expired_key");

    // A key that expires in the future still verifies.
    let key = TestKey::new("11111111-2222-4333-8444-555555555556");
    let keys = Arc::new(CountingKeys::with([key.jwk(Some(NOW + 3600))]));
    let verifier = WebhookVerifier::new(keys).with_clock(Arc::new(FixedClock::at_unix(NOW)));
    assert!(verifier.verify(Some(&key.plaid_header(&body, NOW)), &body).await.is_ok());
}

#[tokio::test]
async fn iat_six_minutes_old_is_stale() {
    let s = setup();
    let body = sample_body(ITEM);
    let e = refused(&s, Some(&s.key.plaid_header(&body, NOW - 6 * 60)), &body).await;
    assert!(matches!(e, VerifyError::Stale), "{e:?}");
    assert_eq!(e.reason(), "stale");
    let e = refused(&s, Some(&s.key.plaid_header(&body, NOW - 301)), &body).await;
    assert!(matches!(e, VerifyError::Stale), "{e:?}");
}

#[tokio::test]
async fn iat_ten_minutes_ahead_is_refused() {
    let s = setup();
    let body = sample_body(ITEM);
    let e = refused(&s, Some(&s.key.plaid_header(&body, NOW + 10 * 60)), &body).await;
    assert!(matches!(e, VerifyError::Future), "{e:?}");
    assert_eq!(e.reason(), "future");
    let e = refused(&s, Some(&s.key.plaid_header(&body, NOW + 61)), &body).await;
    assert!(matches!(e, VerifyError::Future), "{e:?}");
}

#[tokio::test]
async fn body_changed_by_one_byte() {
    let s = setup();
    let body = sample_body(ITEM);
    let header = s.key.plaid_header(&body, NOW);
    let mut changed = body.clone();
    let at = changed.windows(ITEM.len()).position(|w| w == ITEM.as_bytes()).unwrap();
    changed[at] ^= 0x01; // the item id's first letter
    let e = refused(&s, Some(&header), &changed).await;
    assert!(matches!(e, VerifyError::BodyMismatch), "{e:?}");
    assert_eq!(e.reason(), "body_mismatch");
    // A claim that is not a hex SHA-256 at all.
    let token =
        s.key.sign(&json!({"alg": "ES256", "kid": s.key.kid}), &json!({"iat": NOW, "request_body_sha256": "zz"}));
    assert!(matches!(refused(&s, Some(&token), &body).await, VerifyError::BodyMismatch));
}

#[tokio::test]
async fn body_with_trailing_data() {
    let s = setup();
    for tail in [&b"garbage"[..], b"{}", b"\n{\"webhook_type\":\"ITEM\"}", b"]"] {
        let mut body = sample_body(ITEM);
        body.extend_from_slice(tail);
        // Correctly signed (the hash covers the tail): refused for the shape, not the signature.
        let e = refused(&s, Some(&s.key.plaid_header(&body, NOW)), &body).await;
        assert!(matches!(e, VerifyError::TrailingData), "{e:?}");
        assert_eq!(e.reason(), "trailing_data");
    }
    // Whitespace after the value is not data.
    let mut body = sample_body(ITEM);
    body.extend_from_slice(b"\n  ");
    assert!(s.verifier.verify(Some(&s.key.plaid_header(&body, NOW)), &body).await.is_ok());
}

#[tokio::test]
async fn oversized_body() {
    let s = setup();
    let filler = "x".repeat(256 * 1024);
    let body = plaid_body(&json!({"item_id": ITEM, "webhook_type": "ITEM", "webhook_code": "ERROR", "pad": filler}));
    let e = refused(&s, Some(&s.key.plaid_header(&body, NOW)), &body).await;
    assert!(matches!(e, VerifyError::BodyTooLarge), "{e:?}");
    assert_eq!(e.reason(), "body_too_large");
    assert_eq!(s.keys.fetches(), 0, "refused before any key work");
    // The cap is configurable.
    let config = WebhookVerifierConfig { max_body_bytes: 1 << 20, ..Default::default() };
    let roomy = WebhookVerifier::with_config(s.keys.clone(), config).with_clock(Arc::new(FixedClock::at_unix(NOW)));
    assert!(roomy.verify(Some(&s.key.plaid_header(&body, NOW)), &body).await.is_ok());
}

#[tokio::test]
async fn a_failed_key_fetch_is_retryable_not_a_refusal() {
    let key = TestKey::new("22222222-2222-4333-8444-555555555555");
    let keys = Arc::new(CountingKeys { fail: true, ..CountingKeys::with([key.jwk(None)]) });
    let verifier = WebhookVerifier::new(keys).with_clock(Arc::new(FixedClock::at_unix(NOW)));
    let body = sample_body(ITEM);
    let e = verifier.verify(Some(&key.plaid_header(&body, NOW)), &body).await.unwrap_err();
    assert!(matches!(e, VerifyError::KeyFetchFailed(_)), "{e:?}");
    assert_eq!(e.reason(), "key_fetch_failed");
    assert!(e.is_retryable());
    assert_eq!(weft::api::ApiError::from(e).status(), 502, "answered 5xx so Plaid delivers it again");
}

#[tokio::test]
async fn authentic_bodies_that_are_not_webhooks() {
    let s = setup();
    for body in [&b"[1, 2]"[..], b"{\"webhook_type\": \"ITEM\"}", b"not json"] {
        let e = refused(&s, Some(&s.key.plaid_header(body, NOW)), body).await;
        assert!(matches!(e, VerifyError::MalformedBody(_)), "{e:?}");
    }
}

#[tokio::test]
async fn item_webhooks_are_typed() {
    let s = setup();
    let body = plaid_body(&json!({
        "environment": "production",
        "error": {"display_message": null, "error_code": "ITEM_LOGIN_REQUIRED", "error_message": "the login details of this item have changed",
                  "error_type": "ITEM_ERROR", "status": 400},
        "item_id": ITEM, "webhook_code": "ERROR", "webhook_type": "ITEM"
    }));
    let v = s.verifier.verify(Some(&s.key.plaid_header(&body, NOW)), &body).await.unwrap();
    match v.event {
        WebhookEvent::ItemError { error: Some(e) } => assert!(e.is_item_login_required()),
        other => panic!("{other:?}"),
    }
    let body = plaid_body(&json!({"account_id": "acc123", "error": null, "item_id": ITEM,
                                  "webhook_code": "USER_ACCOUNT_REVOKED", "webhook_type": "ITEM"}));
    let v = s.verifier.verify(Some(&s.key.plaid_header(&body, NOW)), &body).await.unwrap();
    assert_eq!(v.event, WebhookEvent::UserAccountRevoked { account_id: "acc123".into(), error: None });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_for_a_new_kid_fetches_the_key_once() {
    let key = Arc::new(TestKey::new("33333333-2222-4333-8444-555555555555"));
    let keys =
        Arc::new(CountingKeys { delay: Some(Duration::from_millis(100)), ..CountingKeys::with([key.jwk(None)]) });
    let verifier = Arc::new(WebhookVerifier::new(keys.clone()).with_clock(Arc::new(FixedClock::at_unix(NOW))));
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (verifier, key, barrier) = (verifier.clone(), key.clone(), barrier.clone());
            tokio::spawn(async move {
                let body = sample_body(&format!("item{i:03}"));
                let header = key.plaid_header(&body, NOW);
                barrier.wait().await;
                verifier.verify(Some(&header), &body).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(keys.fetches(), 1, "exactly one key fetch for 100 concurrent verifications");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_kids_cannot_flood_plaid() {
    let s = setup();
    let body = sample_body(ITEM);
    let mut retryable = 0;
    for i in 0..60 {
        let forger = TestKey::new(&format!("f0f0f0f0-0000-4000-8000-{i:012}"));
        let e = refused(&s, Some(&forger.plaid_header(&body, NOW)), &body).await;
        match e {
            VerifyError::UnknownKid => {}
            VerifyError::KeyFetchFailed(_) => retryable += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(s.keys.fetches(), 20, "at most 20 key fetches a minute");
    assert_eq!(retryable, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_during_a_plaid_outage_fetches_once_and_is_retryable() {
    let key = Arc::new(TestKey::new("44444444-2222-4333-8444-555555555555"));
    let keys = Arc::new(CountingKeys {
        delay: Some(Duration::from_millis(100)),
        fail: true,
        ..CountingKeys::with([key.jwk(None)])
    });
    let verifier = Arc::new(WebhookVerifier::new(keys.clone()).with_clock(Arc::new(FixedClock::at_unix(NOW))));
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (verifier, key, barrier) = (verifier.clone(), key.clone(), barrier.clone());
            tokio::spawn(async move {
                let body = sample_body(ITEM);
                let header = key.plaid_header(&body, NOW);
                barrier.wait().await;
                verifier.verify(Some(&header), &body).await
            })
        })
        .collect();
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
    }
    assert_eq!(keys.fetches(), 1, "the queued webhooks share the failed fetch");
}

/// Plaid's answer to a key fetch decides whether a webhook was forged (its kid is no key of Plaid's: 401)
/// or could not be checked (Plaid or weft's own credentials failed: 5xx, so Plaid delivers it again).
#[tokio::test]
async fn a_kid_plaid_refuses_is_no_key_and_only_failures_are_retried() {
    use weft::auth::webhook::{PlaidKeySource, WebhookKeySource};
    use weft::doubles::plaid::{ScriptedPlaid, endpoints, errors};
    let plaid = Arc::new(ScriptedPlaid::new(Arc::new(FixedClock::new(time::OffsetDateTime::now_utc()))));
    let source = PlaidKeySource(plaid.clone());
    let endpoint = endpoints::WEBHOOK_VERIFICATION_KEY_GET;
    plaid.fail_next(endpoint, errors::api(endpoint, "INVALID_REQUEST", "INVALID_FIELD", 400));
    assert!(source.fetch_key("not a kid").await.unwrap().is_none(), "a malformed kid is no key");
    plaid.fail_next(endpoint, errors::api(endpoint, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID", 400));
    assert!(source.fetch_key("unknown").await.unwrap().is_none(), "an unknown kid is no key");
    plaid.fail_next(endpoint, errors::api(endpoint, "INVALID_INPUT", "INVALID_API_KEYS", 400));
    assert!(source.fetch_key("k").await.is_err(), "weft's own credentials failing is not a forgery");
    plaid.fail_next(endpoint, errors::server_error(endpoint));
    assert!(source.fetch_key("k").await.is_err(), "Plaid failing is not a forgery");
}
