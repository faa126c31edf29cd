//! Webhooks that must not get in, and a verification that cannot be done yet: forged deliveries over HTTP
//! are refused with 401 (a representative few; the full forgery matrix is unit-tested in
//! `shared/tests/webhook_forgery.rs`), and when Plaid rotates its key and the new key cannot be fetched
//! the webhook answers 5xx, so Plaid retries and the retry goes through. A stack of its own: the key
//! rotation and the injected fault would disturb other suites.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use serde_json::json;
use weft_tests::app_client::AppClient;
use weft_tests::flows::{self, WAIT, app_item, eventually, link_and_exchange, unique_user, wait_for_deliveries};
use weft_tests::stack::{LocalStack, StackOptions};

#[tokio::test]
async fn forged_webhooks_are_refused_and_a_failed_key_fetch_is_retried() {
    let stack = LocalStack::start(StackOptions::default()).await.unwrap();
    let emulator = stack.emulator();
    let app = AppClient::new(&stack, &unique_user("forge"));
    let item_id = link_and_exchange(&app, &stack, "ins_109508").await.unwrap();

    // A real delivery to tamper with.
    let delivered = wait_for_deliveries(&stack, &item_id, "SYNC_UPDATES_AVAILABLE", "delivered", 1).await.unwrap();
    let real = &delivered[0];
    let body = real["body"].as_str().unwrap().to_owned();
    let header = real["plaid_verification"].as_str().unwrap().to_owned();

    let no_header = flows::post_webhook(&stack, None, body.as_bytes()).await.unwrap();
    assert_eq!(no_header.status, 401, "no Plaid-Verification header: {:?}", no_header.body);
    assert_eq!(no_header.body["error"]["code"], "UNAUTHENTICATED");

    let changed = body.replacen("\"sandbox\"", "\"production\"", 1);
    assert_ne!(changed, body);
    let tampered = flows::post_webhook(&stack, Some(&header), changed.as_bytes()).await.unwrap();
    assert_eq!(tampered.status, 401, "body changed under a valid signature: {:?}", tampered.body);

    let mut bad_signature = header.clone();
    let last = bad_signature.pop().unwrap();
    bad_signature.push(if last == 'A' { 'B' } else { 'A' });
    let resigned = flows::post_webhook(&stack, Some(&bad_signature), body.as_bytes()).await.unwrap();
    assert_eq!(resigned.status, 401, "signature changed: {:?}", resigned.body);

    let garbage = flows::post_webhook(&stack, Some("not-a-jwt"), body.as_bytes()).await.unwrap();
    assert_eq!(garbage.status, 401, "{:?}", garbage.body);

    // The untouched request still verifies (and, already handled, is a duplicate): the refusals above
    // were for the changes.
    let genuine = flows::post_webhook(&stack, Some(&header), body.as_bytes()).await.unwrap();
    assert_eq!(genuine.status, 200, "{:?}", genuine.body);

    // Plaid rotates its key; fetching the new one fails for now. (Plaid retries for hours; the emulator
    // is told to retry every second for a while, so the test need not race its default schedule.)
    emulator.post("webhooks/config", json!({ "retry_backoff_ms": [1000], "max_attempts": 60 })).await.unwrap();
    let rotated = emulator.post("keys/rotate", json!({})).await.unwrap();
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    emulator
        .fault(json!({ "endpoint": "/webhook_verification_key/get", "kind": "internal_server_error", "count": 1000 }))
        .await
        .unwrap();
    emulator.condition(&item_id, json!({ "condition": "PENDING_EXPIRATION" })).await.unwrap();
    let failed_attempt = eventually("a 5xx answer to the PENDING_EXPIRATION webhook", WAIT, || async {
        let log = flows::deliveries(&stack, &item_id, Some("PENDING_EXPIRATION")).await.ok()?;
        let attempts = log.first()?["attempts"].as_array()?.clone();
        attempts.into_iter().find(|a| a["status"].as_u64().is_some_and(|s| s >= 500))
    })
    .await
    .unwrap();
    assert_eq!(failed_attempt["kid"], new_kid.as_str(), "signed with the new key");
    assert_eq!(failed_attempt["status"], 502, "{failed_attempt}");
    assert_eq!(app_item(&app, &item_id).await.unwrap().unwrap()["status"], "healthy", "not applied unverified");

    // The key can be fetched again: Plaid's retry is verified and applied.
    emulator.delete("faults").await.unwrap();
    let delivered = wait_for_deliveries(&stack, &item_id, "PENDING_EXPIRATION", "delivered", 1).await.unwrap();
    let attempts = delivered[0]["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "delivered on a retry: {attempts:?}");
    assert_eq!(attempts.last().unwrap()["status"], 200);
    eventually("the item to await update mode", WAIT, || async {
        (app_item(&app, &item_id).await.ok()??["status"] == "pending_expiration").then_some(())
    })
    .await
    .unwrap();

    let log = flows::lambda_log(&stack);
    assert!(log.contains("webhook_rejected"), "refusals are logged");
    assert!(log.contains("webhook_key_fetch_failed"), "the failed key fetch is logged");
    assert!(!log.contains(&header), "no raw webhook JWT in the logs");
}
