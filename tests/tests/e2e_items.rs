//! The app-facing item APIs end to end over HTTP: the item list, transactions (paged, decrypted, bounded),
//! removal (at Plaid, every record, the wrapped data key with them), Link events and the conversion report
//! over them, institution health (from Plaid, then from the cache), and every handler recording the
//! caller's last activity.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use serde_json::{Value, json};
use weft_tests::app_client::AppClient;
use weft_tests::flows::{self, app_item, link_and_exchange, unique_user, wait_until_mirrored};
use weft_tests::stack::{LocalStack, StackOptions, shared_stack};

async fn stack() -> &'static LocalStack {
    let stack = shared_stack("items", StackOptions::default);
    flows::relax_emulator(stack).await.unwrap();
    stack
}

async fn new_item(stack: &LocalStack) -> (AppClient, String, String) {
    let user = unique_user("items");
    let app = AppClient::new(stack, &user);
    let item_id = link_and_exchange(&app, stack, "ins_109508").await.unwrap();
    (app, user, item_id)
}

#[tokio::test]
async fn the_list_shows_institution_accounts_status_and_action() {
    let stack = stack().await;
    let (app, _, item_id) = new_item(stack).await;
    let item = app_item(&app, &item_id).await.unwrap().expect("listed");
    assert_eq!(item["institution"], json!({ "institution_id": "ins_109508", "name": "First Platypus Bank" }));
    assert_eq!((item["status"].as_str(), item["action"].as_str()), (Some("healthy"), Some("healthy")), "{item}");
    // The accounts the user shared, as Plaid has them.
    let plaid = stack.emulator().item(&item_id).await.unwrap();
    let ours: Vec<(&str, &str)> = item["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["account_id"].as_str().unwrap(), a["mask"].as_str().unwrap()))
        .collect();
    let theirs: Vec<(&str, &str)> = plaid["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["account_id"].as_str().unwrap(), a["mask"].as_str().unwrap()))
        .collect();
    assert_eq!(ours, theirs);
    assert!(!app.get("/items").await.text.contains("access-sandbox"), "no token in the list");
}

#[tokio::test]
async fn transactions_are_paged_decrypted_and_bounded() {
    let stack = stack().await;
    let (app, _, item_id) = new_item(stack).await;
    let all = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    // The same set through small pages (the helper checks order and duplicates across pages).
    assert_eq!(flows::app_transactions(&app, &item_id, 7).await.unwrap(), all);

    let path = format!("/items/{item_id}/transactions");
    let first = app.get(&format!("{path}?limit=1")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["transactions"].as_array().unwrap().len(), 1);
    let t = &first.body["transactions"][0];
    for field in ["transaction_id", "account_id", "amount", "date", "name", "payment_channel"] {
        assert!(!t[field].is_null(), "{field} missing from {t}");
    }
    let max = app.get(&format!("{path}?limit=500")).await;
    assert_eq!(max.status, 200, "{}", max.text);

    for bad in ["limit=0", "limit=501", "limit=-1", "limit=ten", "cursor=not-a-cursor"] {
        let answer = app.get(&format!("{path}?{bad}")).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
        assert_eq!(answer.code(), "INVALID_REQUEST", "{bad}");
    }
    // A cursor is good for its own item only.
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let (other_app, _, other_item) = new_item(stack).await;
    let answer = other_app.get(&format!("/items/{other_item}/transactions?cursor={cursor}")).await;
    assert_eq!(answer.status, 400, "another item's cursor: {}", answer.text);

    // Decrypted here, sealed at rest: the names the API shows are not in the table.
    let name = all.values().find(|t| t.name.len() > 6).unwrap().name.clone();
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let rows = dynamo
        .query()
        .table_name(&stack.resources.table_name)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("ITEM#{item_id}")))
        .send()
        .await
        .unwrap();
    let dump = format!("{:?}", rows.items());
    assert!(dump.contains("enc"), "transactions are stored");
    assert!(!dump.contains(&name), "a transaction name is stored in the clear");
}

#[tokio::test]
async fn removing_an_item_removes_it_at_plaid_and_every_record_with_its_key() {
    let stack = stack().await;
    let (app, user, item_id) = new_item(stack).await;
    wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    let record = flows::record(stack, &format!("USER#{user}"), &format!("ITEM#{item_id}")).await.unwrap().unwrap();
    assert!(record.contains_key("dek"), "the item record holds its wrapped data key");
    let removes = flows::plaid_calls(stack, "/item/remove", Some(&item_id)).await.unwrap();

    let answer = app.delete(&format!("/items/{item_id}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(flows::plaid_calls(stack, "/item/remove", Some(&item_id)).await.unwrap(), removes + 1);
    assert_eq!(stack.emulator().item(&item_id).await.unwrap()["removed"], true);
    // Only the audit trail (its link and its removal) still names it.
    let left = flows::records_mentioning(stack, &item_id).await.unwrap();
    assert!(left.iter().all(|r| r.starts_with("AUDIT#")), "records left after removal: {left:?}");
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(flows::stored_transaction_count(stack, &item_id).await.unwrap(), 0);
    assert!(app_item(&app, &item_id).await.unwrap().is_none());
    for answer in
        [app.get(&format!("/items/{item_id}/transactions")).await, app.delete(&format!("/items/{item_id}")).await]
    {
        assert_eq!(answer.status, 404, "{}", answer.text);
    }
}

/// Link's callbacks as the app would forward them, from an emulator Link session's outcome.
fn link_events(outcome: &Value, link_token: &str, timestamp: &str) -> Vec<Value> {
    let mut events: Vec<Value> = outcome["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let m = &e["metadata"];
            json!({
                "kind": "EVENT",
                "event_name": e["event_name"],
                "link_session_id": m["link_session_id"],
                "link_token": link_token,
                "request_id": m["request_id"],
                "institution_id": m["institution_id"],
                "institution_name": m["institution_name"],
                "error_type": m["error_type"],
                "error_code": m["error_code"],
                "error_message": m["error_message"],
                "exit_status": m["exit_status"],
                "view_name": m["view_name"],
                "timestamp": timestamp,
            })
        })
        .collect();
    let session = events[0]["link_session_id"].clone();
    if outcome["status"] == "success" {
        events.push(json!({ "kind": "SUCCESS", "link_session_id": session, "link_token": link_token,
            "institution_id": outcome["metadata"]["institution"]["institution_id"], "timestamp": timestamp }));
    } else {
        let exit = &outcome["exit"];
        events.push(json!({ "kind": "EXIT", "link_session_id": session, "link_token": link_token,
            "error_type": exit["error"]["error_type"], "error_code": exit["error"]["error_code"],
            "exit_status": exit["metadata"]["status"], "timestamp": timestamp }));
    }
    events
}

#[tokio::test]
async fn link_events_are_recorded_and_reported_as_a_funnel() {
    let stack = stack().await;
    let app = AppClient::new(stack, &unique_user("funnel"));
    // A day no other test posts events on.
    let day = time::OffsetDateTime::now_utc().date() - time::Duration::days(123);
    let at = format!("{day}T12:00:00Z");

    let mut posted = 0;
    for (institution, password) in
        [("ins_109508", "pass_good"), ("ins_109508", "error_INVALID_CREDENTIALS"), ("ins_109509", "pass_good")]
    {
        let created = app.post("/link/token", &json!({})).await;
        let token = created.body["link_token"].as_str().unwrap().to_owned();
        let outcome = stack.complete_link(&token, institution, "user_good", password).await.unwrap();
        let events = link_events(&outcome, &token, &at);
        posted += events.len();
        let answer = app.post("/link/events", &json!({ "events": events })).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["recorded"], events.len());
    }
    assert!(posted > 6);

    // The funnel is an operator's report: a user (who may never have opened Link) gets 403.
    let refused = app.get(&format!("/link/conversion?from={day}&to={day}")).await;
    assert_eq!((refused.status, refused.code()), (403, "FORBIDDEN"), "{}", refused.text);
    let user_b = AppClient::new(stack, &unique_user("funnel-b"));
    assert_eq!(user_b.get(&format!("/link/conversion?from={day}&to={day}")).await.status, 403);
    let operator = AppClient::with_token(stack, stack.operator_token(&unique_user("operator")));
    let report = operator.get(&format!("/link/conversion?from={day}&to={day}")).await;
    assert_eq!(report.status, 200, "{}", report.text);
    let r = &report.body;
    assert_eq!(r["sessions"], 3, "{r}");
    let platypus = &r["by_institution"]["ins_109508"];
    assert_eq!(platypus["institution_name"], "First Platypus Bank", "{r}");
    assert_eq!((platypus["selected"].as_u64(), platypus["submitted_credentials"].as_u64()), (Some(2), Some(2)), "{r}");
    assert_eq!((platypus["succeeded"].as_u64(), platypus["exited"].as_u64()), (Some(1), Some(1)), "{r}");
    assert_eq!(platypus["conversion"], 0.5);
    assert_eq!(platypus["errors_by_code"]["INVALID_CREDENTIALS"], 1, "{r}");
    let gingham = &r["by_institution"]["ins_109509"];
    assert_eq!((gingham["selected"].as_u64(), gingham["succeeded"].as_u64()), (Some(1), Some(1)), "{r}");
    assert_eq!(r["errors_by_code"]["INVALID_CREDENTIALS"], 1);

    // Other days do not see them.
    let next = day.next_day().unwrap();
    let other = operator.get(&format!("/link/conversion?from={next}&to={next}")).await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert_eq!(other.body["sessions"], 0, "{}", other.text);

    for bad in [
        format!("from={next}&to={day}"),
        format!("from={}&to={day}", day - time::Duration::days(100)),
        "from=yesterday".into(),
    ] {
        let answer = operator.get(&format!("/link/conversion?{bad}")).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
    }
    let bad_event = app.post("/link/events", &json!({ "events": [{ "kind": "MAYBE", "link_session_id": "x" }] })).await;
    assert_eq!(bad_event.status, 400, "{}", bad_event.text);
    let none = app.post("/link/events", &json!({ "events": [] })).await;
    assert_eq!(none.status, 400, "{}", none.text);
}

#[tokio::test]
async fn institution_health_comes_from_plaid_then_from_the_cache() {
    let stack = stack().await;
    let app = AppClient::new(stack, &unique_user("health"));
    // Counted for this institution only: the suite's other tests ask Plaid about theirs meanwhile.
    let before = flows::plaid_institution_calls(stack, "/institutions/get_by_id", "ins_132361").await.unwrap();
    let first = app.get("/institutions/ins_132361/health").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["institution_id"], "ins_132361");
    assert_eq!(first.body["status"]["item_logins"]["status"], "DOWN", "{}", first.text);
    assert_eq!(first.body["status"]["transactions_updates"]["status"], "DOWN", "{}", first.text);
    let after_first = flows::plaid_institution_calls(stack, "/institutions/get_by_id", "ins_132361").await.unwrap();
    assert_eq!(after_first, before + 1, "asked Plaid once");

    let second = app.get("/institutions/ins_132361/health").await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body, first.body);
    assert_eq!(
        flows::plaid_institution_calls(stack, "/institutions/get_by_id", "ins_132361").await.unwrap(),
        after_first,
        "from the cache"
    );

    let healthy = app.get("/institutions/ins_109508/health").await;
    assert_eq!(healthy.body["status"]["item_logins"]["status"], "HEALTHY", "{}", healthy.text);
    let unknown = app.get("/institutions/ins_999999/health").await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    let malformed = app.get("/institutions/not%20an%20id/health").await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
}

#[tokio::test]
async fn every_handler_records_the_callers_last_activity() {
    let stack = stack().await;
    let (_, _, item_id) = new_item(stack).await;
    let day = time::OffsetDateTime::now_utc().date();
    let session = uuid::Uuid::new_v4().to_string();
    let calls: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/items".into(), None),
        ("GET", format!("/items/{item_id}/transactions"), None),
        ("DELETE", format!("/items/{item_id}"), None),
        (
            "POST",
            "/link/events".into(),
            Some(json!({ "events": [{ "kind": "EVENT", "event_name": "OPEN", "link_session_id": session }] })),
        ),
        ("GET", format!("/link/conversion?from={day}&to={day}"), None),
        ("GET", "/institutions/ins_109508/health".into(), None),
        ("POST", "/link/token".into(), Some(json!({}))),
        ("GET", "/link/token/resume".into(), None),
        ("POST", "/items/exchange".into(), Some(json!({}))),
    ];
    for (method, path, body) in calls {
        let user = unique_user("active");
        let app = AppClient::new(stack, &user);
        let before = time::OffsetDateTime::now_utc();
        let answer = app.call(method, &path, body.as_ref()).await;
        assert!(answer.status != 0 && answer.status != 401, "{method} {path}: {}", answer.text);
        let profile = flows::record(stack, &format!("USER#{user}"), "PROFILE").await.unwrap();
        let last = profile
            .as_ref()
            .and_then(|p| p.get("last_active_at"))
            .and_then(|v| v.as_s().ok())
            .unwrap_or_else(|| panic!("{method} {path} recorded no activity: {profile:?}"));
        let last = time::OffsetDateTime::parse(last, &time::format_description::well_known::Rfc3339).unwrap();
        assert!(last >= before - time::Duration::seconds(1), "{method} {path}: {last} is not now");
    }
}

#[tokio::test]
async fn balances_refresh_in_real_time_for_the_owner_only() {
    let stack = stack().await;
    let (app, _, item_id) = new_item(stack).await;
    let path = format!("/items/{item_id}/balances/refresh");
    let refreshed = app.post(&path, &json!({})).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let accounts = refreshed.body["item"]["accounts"].as_array().unwrap();
    assert!(!accounts.is_empty());
    assert!(accounts.iter().all(|a| a["balances"]["current"].is_number() && a["balances"]["as_of"].is_string()));
    assert_eq!(flows::plaid_calls(stack, "/accounts/balance/get", Some(&item_id)).await.unwrap(), 1);
    // Another user gets a 404 and Plaid is not asked (nor billed).
    let other = AppClient::new(stack, &unique_user("balance-other"));
    let refused = other.post(&path, &json!({})).await;
    assert_eq!((refused.status, refused.code()), (404, "NOT_FOUND"), "{}", refused.text);
    assert_eq!(flows::plaid_calls(stack, "/accounts/balance/get", Some(&item_id)).await.unwrap(), 1);
}

#[tokio::test]
async fn the_api_answers_unknown_routes_with_the_json_error_shape() {
    let stack = stack().await;
    let app = AppClient::new(stack, &unique_user("gateway"));
    for (method, path) in
        [("GET", "/nope"), ("PUT", "/items"), ("GET", "/lambda-url/items/items"), ("DELETE", "/items/")]
    {
        let answer = app.call(method, path, None).await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.text);
        assert_eq!(answer.body["error"]["code"], "NOT_FOUND", "{method} {path}: {}", answer.text);
        assert!(answer.body["error"]["message"].as_str().is_some_and(|m| m.contains(path)), "{}", answer.text);
        assert!(!answer.text.contains("local-stack"), "no list of functions: {}", answer.text);
    }
    // The template's routes answer at the root, as the deployed HTTP API serves them.
    assert_eq!(app.get("/items").await.status, 200);
}
