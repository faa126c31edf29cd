//! Access-token rotation end to end over HTTP: an operator rotates one item's token and then every item's;
//! each item keeps working through the app (its transactions fetched again under the new data key, an
//! update-mode Link token, which needs the access token) while the emulator refuses every old token; users
//! get 403 on the operator routes; no access token reaches the table or the logs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use serde_json::{Value, json};
use std::collections::BTreeMap;
use weft_tests::app_client::AppClient;
use weft_tests::flows::{self, link_and_exchange, unique_user, wait_until_mirrored};
use weft_tests::stack::{LocalStack, PLAID_CLIENT_ID, PLAID_SECRET, StackOptions, shared_stack};

async fn stack() -> &'static LocalStack {
    let stack = shared_stack("rotation", StackOptions::default);
    flows::relax_emulator(stack).await.unwrap();
    stack
}

/// The item's current access token, as the emulator (Plaid) has it.
async fn plaid_token(stack: &LocalStack, item_id: &str) -> String {
    let item = stack.emulator().item(item_id).await.unwrap();
    item["access_token"].as_str().expect("the emulator shows the item's token").to_owned()
}

/// `/item/get` at the emulator with `token`, as any Plaid client would call it: status and body.
async fn item_get(stack: &LocalStack, token: &str) -> (u16, Value) {
    let resp = stack
        .http
        .post(format!("{}/item/get", stack.plaid.base_url()))
        .json(&json!({ "client_id": PLAID_CLIENT_ID, "secret": PLAID_SECRET, "access_token": token }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn assert_dead(stack: &LocalStack, token: &str) {
    let (status, body) = item_get(stack, token).await;
    assert_eq!((status, body["error_code"].as_str()), (400, Some("INVALID_ACCESS_TOKEN")), "{body}");
}

async fn assert_alive(stack: &LocalStack, token: &str, item_id: &str) {
    let (status, body) = item_get(stack, token).await;
    assert_eq!((status, body["item"]["item_id"].as_str()), (200, Some(item_id)), "{body}");
}

/// The item works through the app: its transactions are served again (fetched under the new key), and an
/// update-mode Link token (made with the item's access token) is given.
async fn assert_works(stack: &LocalStack, app: &AppClient, item_id: &str) {
    wait_until_mirrored(app, stack, item_id, 500).await.unwrap();
    let update = app.post("/link/token", &json!({ "item_id": item_id })).await;
    assert_eq!(update.status, 200, "update mode for {item_id}: {}", update.text);
}

#[tokio::test]
async fn operators_rotate_one_token_then_every_token_and_every_item_keeps_working() {
    let stack = stack().await;
    let alice = AppClient::new(stack, &unique_user("rot-alice"));
    let bob = AppClient::new(stack, &unique_user("rot-bob"));
    let carol = AppClient::new(stack, &unique_user("rot-carol"));
    // One item each: the emulator gives every sandbox login the same account names and masks, which weft
    // refuses as a duplicate within one user.
    let a1 = link_and_exchange(&alice, stack, "ins_109508").await.unwrap();
    let b1 = link_and_exchange(&bob, stack, "ins_109508").await.unwrap();
    let c1 = link_and_exchange(&carol, stack, "ins_109509").await.unwrap();
    let owners: BTreeMap<&str, &AppClient> = [(a1.as_str(), &alice), (b1.as_str(), &bob), (c1.as_str(), &carol)].into();
    for (item, app) in &owners {
        wait_until_mirrored(app, stack, item, 500).await.unwrap();
    }
    let operator = AppClient::with_token(stack, stack.operator_token(&unique_user("rot-operator")));
    let mut every_token = Vec::new();

    // One item.
    let before = plaid_token(stack, &a1).await;
    every_token.push(before.clone());
    let answer = operator.post(&format!("/operator/items/{a1}/rotate-token"), &json!({})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body, json!({ "rotated": a1 }));
    let after = plaid_token(stack, &a1).await;
    assert_ne!(after, before);
    every_token.push(after.clone());
    assert_dead(stack, &before).await;
    assert_alive(stack, &after, &a1).await;
    assert_works(stack, &alice, &a1).await;
    // The others are untouched.
    for item in [&b1, &c1] {
        let token = plaid_token(stack, item).await;
        assert_alive(stack, &token, item).await;
    }
    let unknown = operator.post("/operator/items/item-unknown/rotate-token", &json!({})).await;
    assert_eq!((unknown.status, unknown.code()), (404, "NOT_FOUND"), "{}", unknown.text);

    // Every item, at two a minute: each call rotates one item and answers 202 with the run id (the next slot
    // is past the call's time budget); calls continue the run until it is complete.
    let before: BTreeMap<String, String> = {
        let mut m = BTreeMap::new();
        for item in owners.keys() {
            m.insert((*item).to_owned(), plaid_token(stack, item).await);
        }
        m
    };
    every_token.extend(before.values().cloned());
    let mut body = json!({ "per_minute": 2 });
    let mut last = Value::Null;
    let mut in_progress = 0;
    for _ in 0..50 {
        let answer = operator.post("/operator/token-rotations", &body).await;
        match answer.status {
            200 => {
                last = answer.body;
                break;
            }
            202 => {
                assert_eq!(answer.body["status"], "in_progress", "{}", answer.text);
                in_progress += 1;
                body = json!({ "run_id": answer.body["run_id"], "per_minute": 2 });
            }
            other => panic!("POST /operator/token-rotations: {other} {}", answer.text),
        }
    }
    assert_eq!(last["status"], "complete", "{last}");
    assert!(in_progress >= 2, "the run was resumed across calls: {in_progress} answers in progress");
    assert!(last["run_id"].as_str().unwrap().starts_with("rotation-"), "{last}");
    assert_eq!(last["failed"], 0, "{last}");
    assert!(last["rotated"].as_u64().unwrap() >= 3, "{last}");
    let mut after_all = BTreeMap::new();
    for (item, old) in &before {
        let new = plaid_token(stack, item).await;
        assert_ne!(&new, old, "{item} was rotated");
        every_token.push(new.clone());
        after_all.insert(item.clone(), new.clone());
        assert_dead(stack, old).await;
        assert_alive(stack, &new, item).await;
    }
    for (item, app) in &owners {
        assert_works(stack, app, item).await;
    }
    // The finished run answers complete again, rotating nothing more.
    let again = operator.post("/operator/token-rotations", &json!({ "run_id": last["run_id"] })).await;
    assert_eq!((again.status, &again.body), (200, &last), "{}", again.text);
    for (item, token) in &after_all {
        assert_eq!(&plaid_token(stack, item).await, token, "{item} was not rotated again");
    }

    // Audited, with the operator as actor and no token.
    let audited = flows::records_mentioning(stack, "token_rotated").await.unwrap();
    assert!(audited.len() >= 4, "one audit record per rotation: {audited:?}");

    // No access token (old or new) in the table (audit records included) or in any log line.
    let leaked = flows::records_mentioning(stack, "access-sandbox").await.unwrap();
    assert!(leaked.is_empty(), "access tokens in the table: {leaked:?}");
    let log = flows::lambda_log(stack);
    for token in &every_token {
        assert!(!log.contains(token.as_str()), "an access token in the logs");
    }
}

#[tokio::test]
async fn users_get_403_on_the_operator_routes() {
    let stack = stack().await;
    let user = AppClient::new(stack, &unique_user("rot-user"));
    // Refused before anything is looked up: no item is needed (and none is created, so this test cannot
    // race the other one's rotation of every item).
    for (path, body) in [
        ("/operator/items/item-any/rotate-token".to_owned(), json!({})),
        ("/operator/token-rotations".to_owned(), json!({})),
        ("/operator/token-rotations".to_owned(), json!({ "run_id": "rotation-1-abc" })),
    ] {
        let refused = user.post(&path, &body).await;
        assert_eq!((refused.status, refused.code()), (403, "FORBIDDEN"), "{path}: {}", refused.text);
    }
    // Without a token at all: 401.
    let anonymous = user.raw("POST", "/operator/token-rotations", Some(b"{}".to_vec()), false).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
}
