//! The real webhook Plaid signed (2020), with the key Plaid served for its kid: accepted as sent, refused
//! with any single byte of the body, the claims or the signature changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod webhook_support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use std::sync::Arc;
use webhook_support::CountingKeys;
use weft::auth::webhook::{VerifyError, WebhookVerifier};
use weft::doubles::FixedClock;
use weft::ports::WebhookEvent;
use weft::ports::plaid::wire::WebhookVerificationKey;

#[derive(Deserialize)]
struct Vector {
    plaid_verification_header: String,
    body: String,
    jwk: WebhookVerificationKey,
    claims: Claims,
}

#[derive(Deserialize)]
struct Claims {
    iat: i64,
}

/// `shared/test-vectors` beside the repository (override with `WEFT_TEST_VECTORS`).
fn vector() -> Vector {
    let dir = std::env::var("WEFT_TEST_VECTORS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/test-vectors").to_owned());
    let path = format!("{dir}/plaid-webhook-2020.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn verifier(v: &Vector, now: i64) -> WebhookVerifier {
    WebhookVerifier::new(Arc::new(CountingKeys::with([v.jwk.clone()]))).with_clock(Arc::new(FixedClock::at_unix(now)))
}

#[tokio::test]
async fn plaids_own_webhook_is_accepted() {
    let v = vector();
    let verified =
        verifier(&v, v.claims.iat + 60).verify(Some(&v.plaid_verification_header), v.body.as_bytes()).await.unwrap();
    assert_eq!(verified.item_id.as_ref().unwrap().as_str(), "yxQbxDjnD8hr69pKbQpbcKeVn3GL9QuyA7NV3");
    assert_eq!(verified.event, WebhookEvent::HistoricalUpdate { new_transactions: 390 });
    assert_eq!(verified.key_id, "6c5516e1-92dc-479e-a8ff-5a51992e0001");
    assert_eq!(verified.issued_at.unix_timestamp(), v.claims.iat);
    assert_eq!(verified.environment, None);
}

#[tokio::test]
async fn any_single_byte_of_the_body_changed_is_refused() {
    let v = vector();
    let verifier = verifier(&v, v.claims.iat + 60);
    let body = v.body.as_bytes();
    for i in 0..body.len() {
        for flip in [0x01u8, 0x80] {
            let mut changed = body.to_vec();
            changed[i] ^= flip;
            let err = verifier.verify(Some(&v.plaid_verification_header), &changed).await.unwrap_err();
            assert!(matches!(err, VerifyError::BodyMismatch), "byte {i} ^ {flip:#x}: {err:?}");
        }
    }
    // Removing or adding a byte too.
    let err = verifier.verify(Some(&v.plaid_verification_header), &body[..body.len() - 1]).await.unwrap_err();
    assert!(matches!(err, VerifyError::BodyMismatch));
    let mut longer = body.to_vec();
    longer.push(b'\n');
    let err = verifier.verify(Some(&v.plaid_verification_header), &longer).await.unwrap_err();
    assert!(matches!(err, VerifyError::BodyMismatch));
}

#[tokio::test]
async fn any_single_byte_of_the_signature_changed_is_refused() {
    let v = vector();
    let verifier = verifier(&v, v.claims.iat + 60);
    let (signing_input, sig_b64) = v.plaid_verification_header.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
    assert_eq!(sig.len(), 64, "ES256 signatures are r||s, 64 bytes");
    for i in 0..sig.len() {
        for flip in [0x01u8, 0x80] {
            let mut changed = sig.clone();
            changed[i] ^= flip;
            let header = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&changed));
            let err = verifier.verify(Some(&header), v.body.as_bytes()).await.unwrap_err();
            assert!(matches!(err, VerifyError::BadSignature), "signature byte {i} ^ {flip:#x}: {err:?}");
        }
    }
    // Truncated, extended, or empty signatures.
    for bad in [&sig[..63], &[sig.as_slice(), &[0]].concat()[..], &[][..]] {
        let header = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(bad));
        assert!(verifier.verify(Some(&header), v.body.as_bytes()).await.is_err());
    }
}

#[tokio::test]
async fn any_single_byte_of_the_signed_claims_changed_is_refused() {
    let v = vector();
    let verifier = verifier(&v, v.claims.iat + 60);
    let mut parts = v.plaid_verification_header.split('.');
    let (h, p, s) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let payload = URL_SAFE_NO_PAD.decode(p).unwrap();
    for i in 0..payload.len() {
        let mut changed = payload.clone();
        changed[i] ^= 0x01;
        let header = format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(&changed));
        let err = verifier.verify(Some(&header), v.body.as_bytes()).await.unwrap_err();
        assert!(matches!(err, VerifyError::BadSignature), "claims byte {i}: {err:?}");
    }
}

#[tokio::test]
async fn plaids_webhook_is_refused_outside_the_time_window() {
    let v = vector();
    let header = Some(v.plaid_verification_header.as_str());
    let stale = verifier(&v, v.claims.iat + 6 * 60).verify(header, v.body.as_bytes()).await.unwrap_err();
    assert!(matches!(stale, VerifyError::Stale), "{stale:?}");
    let early = verifier(&v, v.claims.iat - 10 * 60).verify(header, v.body.as_bytes()).await.unwrap_err();
    assert!(matches!(early, VerifyError::Future), "{early:?}");
    // Today, without a pinned clock, the 2020 webhook is long stale.
    let today = WebhookVerifier::new(Arc::new(CountingKeys::with([v.jwk.clone()])));
    assert!(matches!(today.verify(header, v.body.as_bytes()).await, Err(VerifyError::Stale)));
}
