//! Verifying webhooks logs neither the `Plaid-Verification` JWT nor the body. Alone in its binary (tracing's
//! interest cache is process-wide).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod log_capture;
mod webhook_support;

use log_capture::Captured;
use std::sync::Arc;
use webhook_support::{CountingKeys, TestKey, sample_body};
use weft::auth::webhook::WebhookVerifier;
use weft::doubles::FixedClock;

#[test]
fn no_jwt_or_body_in_the_logs() {
    const NOW: i64 = 1_700_000_000;
    let captured = Captured::default();
    let subscriber = captured.subscriber();
    let key = TestKey::new("55555555-2222-4333-8444-555555555555");
    let body = sample_body("itemWithASecretishId0000000000000000");
    let genuine = key.plaid_header(&body, NOW);
    let forged = TestKey::new(&key.kid).plaid_header(&body, NOW);
    let unknown = TestKey::new("66666666-2222-4333-8444-555555555555").plaid_header(&body, NOW);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let verifier = WebhookVerifier::new(Arc::new(CountingKeys::with([key.jwk(None)])))
                .with_clock(Arc::new(FixedClock::at_unix(NOW)));
            verifier.verify(Some(&genuine), &body).await.unwrap();
            assert!(verifier.verify(Some(&forged), &body).await.is_err());
            assert!(verifier.verify(Some(&unknown), &body).await.is_err());
            assert!(verifier.verify(Some(&genuine), b"{}").await.is_err());
        })
    });
    let logs = captured.text();
    assert!(logs.contains("webhook_key_fetched"), "the key fetch is logged, by kid:\n{logs}");
    let signature = genuine.rsplit('.').next().unwrap();
    for secret in [genuine.as_str(), forged.as_str(), signature, "itemWithASecretishId"] {
        assert!(!logs.contains(secret), "leaked into the logs: {secret}");
    }
    for part in genuine.split('.') {
        assert!(!logs.contains(part), "a JWT segment leaked into the logs");
    }
}
