//! Exchange under failure, and what must never leak: a Plaid 500 is retried; a storage failure after Plaid
//! created the item leaves no orphan; the raw table holds no access token; the logs hold no token, secret
//! or JWT. One stack of its own, since these tests break it on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use serde_json::{Value, json};
use weft_tests::app_client::AppClient;
use weft_tests::stack::{LocalStack, PLAID_SECRET, StackOptions};

async fn link(app: &AppClient, stack: &LocalStack, institution: &str) -> (String, Value) {
    let created = app.post("/link/token", &json!({})).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let token = created.body["link_token"].as_str().unwrap().to_owned();
    let outcome = stack.complete_link(&token, institution, "user_good", "pass_good").await.unwrap();
    (outcome["public_token"].as_str().unwrap().to_owned(), outcome["metadata"].clone())
}

fn calls_of(calls: &Value, endpoint: &str) -> u64 {
    calls["total"][endpoint].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn exchange_faults_and_leaks() {
    let stack = LocalStack::start(StackOptions::default()).await.unwrap();
    let emulator = stack.emulator();

    // 1. Plaid answers 503 (planned maintenance: the exchange surely did not happen) once: the client retries
    //    by itself and the exchange succeeds.
    let app = AppClient::new(&stack, "fault-user-1");
    let (public_token, metadata) = link(&app, &stack, "ins_109508").await;
    let exchange_calls = || async { calls_of(&emulator.calls().await.unwrap(), "/item/public_token/exchange") };
    emulator
        .fault(json!({ "endpoint": "/item/public_token/exchange", "kind": "planned_maintenance", "count": 1 }))
        .await
        .unwrap();
    let before = exchange_calls().await;
    let answer = app.post("/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(exchange_calls().await - before, 2, "one failed call and the client's own retry");
    let good_item = answer.body["item"]["item_id"].as_str().unwrap().to_owned();

    //    Plaid answers 500 once: the exchange may have happened there, so the client does not retry blindly;
    //    the app gets a retryable 502, retries, and the exchange succeeds.
    let app3 = AppClient::new(&stack, "fault-user-3");
    let (public_token, metadata) = link(&app3, &stack, "ins_109510").await;
    emulator
        .fault(json!({ "endpoint": "/item/public_token/exchange", "kind": "internal_server_error", "count": 1 }))
        .await
        .unwrap();
    let body = json!({ "public_token": public_token, "metadata": metadata });
    let first = app3.post("/items/exchange", &body).await;
    assert_eq!(first.status, 502, "{}", first.text);
    assert_eq!(first.code(), "UPSTREAM_UNAVAILABLE");
    let retried = app3.post("/items/exchange", &body).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.body["item"]["institution"]["institution_id"], "ins_109510");

    //    Plaid exchanges, then answers 4 s late (longer than an ordinary call may take): the answer is
    //    waited for within the request's deadline and the item is stored, nothing left at Plaid unheld.
    let app5 = AppClient::new(&stack, "fault-user-5");
    let (public_token, metadata) = link(&app5, &stack, "ins_109512").await;
    emulator
        .fault(json!({ "endpoint": "/item/public_token/exchange", "kind": "late", "stall_ms": 4000, "count": 1 }))
        .await
        .unwrap();
    let late = app5.post("/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(late.status, 200, "{}", late.text);
    let late_item = late.body["item"]["item_id"].as_str().unwrap().to_owned();
    assert_eq!(emulator.item(&late_item).await.unwrap()["removed"], false);
    assert_eq!(app5.get("/items").await.body["items"][0]["item_id"], late_item.as_str());

    // 2. The raw table holds no access token in plain text, nor the audit trail any token, JWT or user id.
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let scan = dynamo.scan().table_name(&stack.resources.table_name).send().await.unwrap();
    let dump = format!("{:?}", scan.items());
    assert!(dump.contains(&good_item), "the item is stored");
    assert!(!dump.contains("access-sandbox"), "an access token is stored in plain text");
    let audit: Vec<String> = scan
        .items()
        .iter()
        .filter(|row| row.get("PK").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.starts_with("AUDIT#")))
        .map(|row| format!("{row:?}"))
        .collect();
    assert!(audit.iter().any(|r| r.contains("item_linked")), "the exchanges are audited: {audit:?}");
    for record in &audit {
        for needle in ["access-sandbox", "public-sandbox", "fault-user", PLAID_SECRET] {
            assert!(!record.contains(needle), "{needle:?} in an audit record: {record}");
        }
        assert!(!weft_tests::flows::contains_jwt(record), "a JWT in an audit record: {record}");
    }

    // 3. Storing fails after Plaid created the item (here KMS cannot make a data key: the functions of a second
    //    stack point at a key that does not exist): the item is removed at Plaid, not orphaned (and billed).
    let broken = LocalStack::start(StackOptions {
        env: vec![("WEFT_KMS_KEY_ID".into(), "alias/weft-no-such-key".into())],
        ..Default::default()
    })
    .await
    .unwrap();
    let app2 = AppClient::new(&broken, "fault-user-2");
    let (public_token, metadata) = link(&app2, &broken, "ins_109509").await;
    let answer = app2.post("/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.code(), "EXCHANGE_UNDONE", "the public token is spent: the app is told to link again");
    let items = broken.emulator().get("items").await.unwrap();
    let exchanged: Vec<&Value> =
        items["items"].as_array().unwrap().iter().filter(|i| i["exchanged"].as_bool().unwrap_or(false)).collect();
    assert_eq!(exchanged.len(), 1, "Plaid did create the item: {items}");
    assert_eq!(exchanged[0]["removed"], true, "an orphaned item is still live (and billed) at Plaid: {items}");
    assert!(app2.get("/items").await.body["items"].as_array().unwrap().is_empty());

    // 4. A public token older than its 30 minutes is refused (Plaid's clock moves on; webhooks signed after
    //    this would carry a future iat, which is why this comes last).
    let app4 = AppClient::new(&stack, "fault-user-4");
    let (public_token, metadata) = link(&app4, &stack, "ins_109511").await;
    emulator.advance_clock(31 * 60).await.unwrap();
    let expired = app4.post("/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(expired.status, 400, "{}", expired.text);
    assert_eq!(expired.code(), "INVALID_PUBLIC_TOKEN");

    // 5. Nothing secret reached a log line.
    drop(stack.token("x"));
    // Read once the last request's own log line is there (so its lines are in the scan too).
    let logs =
        weft_tests::flows::eventually("the last request's log line", std::time::Duration::from_secs(30), || async {
            let logs = std::fs::read_to_string(stack.log_dir.join("lambda.log")).ok()?;
            logs.contains("INVALID_PUBLIC_TOKEN").then_some(logs)
        })
        .await
        .unwrap();
    assert!(logs.contains("public token exchanged"), "the logs were captured");
    for (needle, what) in [
        ("access-sandbox", "an access token"),
        ("public-sandbox", "a public token"),
        (PLAID_SECRET, "the Plaid secret"),
    ] {
        assert!(!logs.contains(needle), "{what} reached the logs");
    }
    assert!(!weft_tests::flows::contains_jwt(&logs), "a JWT reached the logs");
}
