//! Exchange under failure, and what must never leak: a Plaid 500 is retried; a storage failure after Plaid
//! created the item leaves no orphan; the raw table holds no access token; the logs hold no token, secret
//! or JWT. One stack of its own, since these tests break it on purpose.

use serde_json::{Value, json};
use weft_tests::app_client::AppClient;
use weft_tests::stack::{LocalStack, PLAID_SECRET, StackOptions};

async fn link(app: &AppClient, stack: &LocalStack, institution: &str) -> (String, Value) {
    let created = app.post("link-token", "/link/token", &json!({})).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let token = created.body["link_token"].as_str().unwrap().to_owned();
    let outcome = stack.complete_link(&token, institution, "user_good", "pass_good").await.unwrap();
    (outcome["public_token"].as_str().unwrap().to_owned(), outcome["metadata"].clone())
}

fn calls_of(calls: &Value, endpoint: &str) -> u64 {
    calls[endpoint].as_u64().or_else(|| calls["calls"][endpoint].as_u64()).unwrap_or(0)
}

#[tokio::test]
async fn exchange_faults_and_leaks() {
    let stack = LocalStack::start(StackOptions::default()).await.unwrap();
    let emulator = stack.emulator();

    // 1. Plaid answers 500 once: the client retries and the exchange succeeds.
    let app = AppClient::new(&stack, "fault-user-1");
    let (public_token, metadata) = link(&app, &stack, "ins_109508").await;
    emulator.fault(json!({ "endpoint": "/item/public_token/exchange", "kind": "500", "count": 1 })).await.unwrap();
    let before = calls_of(&emulator.calls().await.unwrap(), "/item/public_token/exchange");
    let answer =
        app.post("exchange", "/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let after = calls_of(&emulator.calls().await.unwrap(), "/item/public_token/exchange");
    assert_eq!(after - before, 2, "one failed call and one retry");
    let good_item = answer.body["item"]["item_id"].as_str().unwrap().to_owned();

    // 2. The raw table holds no access token in plain text.
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let scan = dynamo.scan().table_name(&stack.resources.table_name).send().await.unwrap();
    let dump = format!("{:?}", scan.items());
    assert!(dump.contains(&good_item), "the item is stored");
    assert!(!dump.contains("access-sandbox"), "an access token is stored in plain text");

    // 3. Storing fails after Plaid created the item (the KMS key is disabled, so no data key can be made):
    //    the item is removed at Plaid, not orphaned (and billed) there.
    let app2 = AppClient::new(&stack, "fault-user-2");
    let (public_token, metadata) = link(&app2, &stack, "ins_109509").await;
    let kms = aws_sdk_kms::Client::new(&stack.sdk);
    kms.disable_key().key_id(&stack.resources.kms_key_id).send().await.unwrap();
    let answer =
        app2.post("exchange", "/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    kms.enable_key().key_id(&stack.resources.kms_key_id).send().await.unwrap();
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert_eq!(answer.code(), "INTERNAL");
    let items = emulator.get("items").await.unwrap();
    let live: Vec<&Value> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["institution_id"] == "ins_109509" && !i["removed"].as_bool().unwrap_or(false))
        .collect();
    assert!(live.is_empty(), "an orphaned item is still live at Plaid: {live:?}");
    assert!(app2.get("items", "/items").await.body["items"].as_array().unwrap().is_empty());

    // 4. Nothing secret reached a log line.
    drop(stack.token("x"));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let logs = std::fs::read_to_string(stack.log_dir.join("lambda.log")).unwrap();
    assert!(logs.contains("public token exchanged"), "the logs were captured");
    for (needle, what) in [
        ("access-sandbox", "an access token"),
        ("public-sandbox", "a public token"),
        (PLAID_SECRET, "the Plaid secret"),
        ("eyJ", "a JWT"),
    ] {
        assert!(!logs.contains(needle), "{what} reached the logs");
    }
}
