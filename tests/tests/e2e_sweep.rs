//! The reconciliation sweep end to end: Plaid's webhooks for an item are lost (the emulator holds them and
//! they are never delivered), and the sweep function, invoked through the Lambda Invoke API of
//! `cargo lambda watch`, finds what they said with `/item/get` against the emulator and applies it through
//! the real store: the app then sees the item need login, and, once repaired at Plaid, healthy again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should stop the test

use serde_json::{Value, json};
use weft_tests::app_client::AppClient;
use weft_tests::flows::{self, app_item, link_and_exchange, unique_user, wait_for_deliveries, wait_until_mirrored};
use weft_tests::stack::{LocalStack, PLAID_CLIENT_ID, PLAID_SECRET, StackOptions};

/// Invokes the sweep synchronously; its answer is the invocation's summary.
async fn sweep(stack: &LocalStack, input: Value) -> Value {
    let response = stack.http.post(stack.lambda.invoke_url("sweep")).json(&input).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "sweep {input}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn listed(summary: &Value, item_id: &str) -> Vec<String> {
    summary["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["item_id"] == item_id)
        .flat_map(|i| i["findings"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()))
        .collect()
}

async fn status(app: &AppClient, item_id: &str) -> (String, String) {
    let item = app_item(app, item_id).await.unwrap().unwrap();
    (item["status"].as_str().unwrap().to_owned(), item["action"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn lost_error_and_repair_webhooks_are_found_by_the_next_sweep() {
    let stack = LocalStack::start(StackOptions::default()).await.unwrap();
    flows::relax_emulator(&stack).await.unwrap();
    let app = AppClient::new(&stack, &unique_user("sweep"));
    let item_id = link_and_exchange(&app, &stack, "ins_109508").await.unwrap();
    wait_until_mirrored(&app, &stack, &item_id, 500).await.unwrap();

    // The item's webhooks are lost from here on: held at the emulator and never delivered.
    let emulator = stack.emulator();
    emulator.post(&format!("items/{item_id}/webhooks/hold"), json!({ "hold": true })).await.unwrap();
    emulator.post(&format!("items/{item_id}/reset_login"), json!({})).await.unwrap();
    wait_for_deliveries(&stack, &item_id, "ERROR", "held", 1).await.unwrap();
    assert_eq!(status(&app, &item_id).await.0, "healthy", "weft never heard of the error");

    // A dry run reports it and changes nothing.
    let dry = sweep(&stack, json!({ "dry_run": true, "stale_after_hours": 0 })).await;
    assert_eq!(dry["status"], "complete", "{dry}");
    assert_eq!(listed(&dry, &item_id), ["error_found"], "{dry}");
    assert_eq!(status(&app, &item_id).await.0, "healthy");

    let found = sweep(&stack, json!({ "stale_after_hours": 0 })).await;
    assert_eq!(listed(&found, &item_id), ["error_found"], "{found}");
    assert_eq!(found["invocation"]["checked"], found["plaid_calls"], "one /item/get per item: {found}");
    assert_eq!(status(&app, &item_id).await, ("login_required".to_owned(), "needs_login".to_owned()));

    // Repaired at Plaid outside the app (LOGIN_REPAIRED, lost too).
    let access_token = emulator.item(&item_id).await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let fired = stack
        .http
        .post(format!("{}/sandbox/item/fire_webhook", stack.plaid.base_url()))
        .json(&json!({ "client_id": PLAID_CLIENT_ID, "secret": PLAID_SECRET, "access_token": access_token, "webhook_code": "LOGIN_REPAIRED" }))
        .send()
        .await
        .unwrap();
    assert_eq!(fired.status(), 200);
    wait_for_deliveries(&stack, &item_id, "LOGIN_REPAIRED", "held", 1).await.unwrap();
    // Within the window nothing is asked: the sweep heard of the item just now.
    let quiet = sweep(&stack, json!({})).await;
    assert!(listed(&quiet, &item_id).is_empty(), "{quiet}");
    assert_eq!(status(&app, &item_id).await.0, "login_required");

    let repaired = sweep(&stack, json!({ "stale_after_hours": 0 })).await;
    assert_eq!(listed(&repaired, &item_id), ["repaired"], "{repaired}");
    assert_eq!(status(&app, &item_id).await, ("healthy".to_owned(), "healthy".to_owned()));
    // The lost webhooks were never delivered: everything above came from the sweep.
    let delivered = flows::deliveries(&stack, &item_id, None).await.unwrap();
    let sent = delivered
        .iter()
        .filter(|d| d["status"] == "delivered")
        .filter(|d| d["webhook_code"] == "ERROR" || d["webhook_code"] == "LOGIN_REPAIRED")
        .count();
    assert_eq!(sent, 0, "{delivered:?}");
}
