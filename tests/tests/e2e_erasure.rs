//! The right to erasure end to end over HTTP: `DELETE /users/me` removes every item of the caller at Plaid
//! (the emulator) and leaves no record of them in the raw table, only audit records without personal data;
//! stopped half-way by Plaid failing, it is finished by the next call; an operator erases another user with
//! `DELETE /users/{id}`, a user cannot (403). Nothing secret reaches the table (audit records included) or the
//! logs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use serde_json::{Value, json};
use weft_tests::app_client::{Answer, AppClient};
use weft_tests::flows::{self, unique_user, wait_until_mirrored};
use weft_tests::stack::{LocalStack, PLAID_SECRET, StackOptions, shared_stack};

async fn stack() -> &'static LocalStack {
    let stack = shared_stack("erasure", StackOptions::default);
    flows::relax_emulator(stack).await.unwrap();
    stack
}

/// Link token -> Link in the emulator choosing the accounts with `masks` (`user_good` has the same accounts
/// at every institution: one item each, or the exchange refuses a duplicate) -> exchange: the item's id.
async fn link(app: &AppClient, stack: &LocalStack, institution: &str, masks: &[&str]) -> String {
    let created = app.post("/link/token", &json!({})).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let completion = json!({ "link_token": created.body["link_token"], "institution_id": institution,
        "username": "user_good", "password": "pass_good", "account_masks": masks });
    let outcome = stack.emulator().post("link/complete", completion).await.unwrap();
    assert_eq!(outcome["status"], "success", "{outcome}");
    let body = json!({ "public_token": outcome["public_token"], "metadata": outcome["metadata"] });
    let answer = app.post("/items/exchange", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["item"]["item_id"].as_str().unwrap().to_owned()
}

/// Checking, credit card, savings: accounts no two items of one user share.
const ACCOUNTS: [&str; 3] = ["0000", "3333", "1111"];

/// A user with items at `institutions` (the first two synced: their transactions are stored) and Link
/// events of a session (`session`, which another user may report too).
async fn user_with_items(
    stack: &LocalStack,
    user: &str,
    institutions: &[&str],
    session: &str,
) -> (AppClient, String, Vec<String>) {
    let user = user.to_owned();
    let app = AppClient::new(stack, &user);
    let mut items = Vec::new();
    for (i, institution) in institutions.iter().enumerate() {
        let item_id = link(&app, stack, institution, &[ACCOUNTS[i % ACCOUNTS.len()]]).await;
        if i < 2 {
            wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
        }
        items.push(item_id);
    }
    report_events(&app, session).await;
    (app, user, items)
}

async fn report_events(app: &AppClient, session: &str) {
    let events = json!({ "events": [
        { "kind": "EVENT", "event_name": "OPEN", "link_session_id": session },
        { "kind": "EVENT", "event_name": "SELECT_INSTITUTION", "link_session_id": session, "institution_id": "ins_109508" },
        { "kind": "EXIT", "link_session_id": session, "exit_status": "requires_credentials" },
    ]});
    let answer = app.post("/link/events", &events).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

/// Calls `DELETE path` until it answers anything but 202 (at most ten times); every 202 says how many items
/// are left.
async fn erase(app: &AppClient, path: &str) -> Answer {
    for _ in 0..10 {
        let answer = app.delete(path).await;
        if answer.status != 202 {
            return answer;
        }
        assert_eq!(answer.body["status"], "in_progress", "{}", answer.text);
        assert!(answer.body["items_left"].as_u64().is_some_and(|n| n > 0), "{}", answer.text);
    }
    panic!("DELETE {path} was still in progress after ten calls");
}

/// Every record of the table as `(PK, SK, everything as text)`.
async fn table(stack: &LocalStack) -> Vec<(String, String, String)> {
    flows::table_rows(stack).await.unwrap()
}

/// The audit records (their JSON).
async fn audit_records(stack: &LocalStack) -> Vec<Value> {
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let day = time::OffsetDateTime::now_utc().date();
    let mut records = Vec::new();
    // Today's and yesterday's (a test running over midnight).
    for d in [day.previous_day().unwrap(), day] {
        let out = dynamo
            .query()
            .table_name(&stack.resources.table_name)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("AUDIT#{d}")))
            .send()
            .await
            .unwrap();
        for item in out.items() {
            let json = item.get("record").and_then(|v| v.as_s().ok()).unwrap();
            records.push(serde_json::from_str(json).unwrap());
        }
    }
    records
}

/// Nothing of `user` is in the table but audit records; those hold neither the user id nor any token,
/// secret or JWT; the items' ids are only in audit records.
async fn nothing_left(stack: &LocalStack, user: &str, items: &[String]) {
    let rows = table(stack).await;
    let of_user: Vec<String> =
        rows.iter().filter(|(_, _, text)| text.contains(user)).map(|(pk, sk, _)| format!("{pk} / {sk}")).collect();
    assert!(of_user.is_empty(), "records holding the erased user's id: {of_user:?}");
    for item_id in items {
        let left: Vec<String> = rows
            .iter()
            .filter(|(pk, _, text)| !pk.starts_with("AUDIT#") && text.contains(item_id.as_str()))
            .map(|(pk, sk, _)| format!("{pk} / {sk}"))
            .collect();
        assert!(left.is_empty(), "records of the erased item {item_id}: {left:?}");
        assert_eq!(flows::stored_transaction_count(stack, item_id).await.unwrap(), 0);
    }
    no_secret_in_the_table(&rows);
}

fn no_secret_in_the_table(rows: &[(String, String, String)]) {
    for (pk, sk, text) in rows {
        for (needle, what) in [
            ("access-sandbox", "an access token"),
            ("public-sandbox", "a public token"),
            (PLAID_SECRET, "the Plaid secret"),
        ] {
            assert!(!text.contains(needle), "{pk} / {sk} holds {what}");
        }
        assert!(!flows::contains_jwt(text), "{pk} / {sk} holds a JWT");
    }
}

#[tokio::test]
async fn erasing_oneself_removes_every_item_at_plaid_and_every_record() {
    let stack = stack().await;
    let session = format!("sess-{}", uuid::Uuid::new_v4().simple());
    let (app, user, items) =
        user_with_items(stack, &unique_user("erase-me"), &["ins_109508", "ins_109509", "ins_109510"], &session).await;
    // Another user reports events of the same session id, and keeps an item.
    let (other, other_user, other_items) =
        user_with_items(stack, &unique_user("erase-other"), &["ins_109508"], &session).await;
    assert!(!flows::records_mentioning(stack, &user).await.unwrap().is_empty());
    let removes: Vec<u64> = futures::future::join_all(
        items.iter().map(|i| async move { flows::plaid_calls(stack, "/item/remove", Some(i)).await.unwrap() }),
    )
    .await;
    assert_eq!(removes, [0, 0, 0]);

    let answer = erase(&app, "/users/me").await;
    assert_eq!((answer.status, &answer.body), (200, &json!({ "status": "erased" })), "{}", answer.text);

    for item_id in &items {
        assert_eq!(stack.emulator().item(item_id).await.unwrap()["removed"], true, "{item_id} is live at Plaid");
        assert_eq!(flows::plaid_calls(stack, "/item/remove", Some(item_id)).await.unwrap(), 1, "{item_id}");
    }
    nothing_left(stack, &user, &items).await;

    // The audit trail: the erasure by the user, about the user, both as the pseudonym.
    let audit = audit_records(stack).await;
    for record in &audit {
        let text = record.to_string();
        assert!(!text.contains(&user) && !text.contains(&other_user), "an audit record holds a user id: {text}");
    }
    let erasures: Vec<&Value> =
        audit.iter().filter(|r| r["action"] == "user_erased" && r["outcome"] == "done").collect();
    let mine: Vec<&&Value> =
        erasures.iter().filter(|r| r["actor"]["kind"] == "user" && r["actor"]["id"] == r["subject"]).collect();
    assert!(!mine.is_empty(), "no audit record of the erasure: {erasures:?}");
    assert!(mine.iter().all(|r| r["subject"].as_str().is_some_and(|s| s.len() >= 32)), "{mine:?}");
    let removals = audit
        .iter()
        .filter(|r| {
            r["action"] == "item_removed"
                && r["detail"] == "erasure"
                && items.iter().any(|i| r["item_id"] == i.as_str())
        })
        .count();
    assert_eq!(removals, 3);

    // The other user keeps everything, their events of the shared session included.
    assert!(stack.emulator().item(&other_items[0]).await.unwrap()["removed"] != true);
    assert!(flows::app_item(&other, &other_items[0]).await.unwrap().is_some());
    let session_rows: Vec<(String, String, String)> =
        table(stack).await.into_iter().filter(|(pk, _, _)| *pk == format!("LINKSESSION#{session}")).collect();
    assert_eq!(session_rows.len(), 3, "the other user's three events stay");
    assert!(session_rows.iter().all(|(_, _, text)| text.contains(&other_user)));

    // Erasing again answers at once: nothing is left.
    let again = app.delete("/users/me").await;
    assert_eq!((again.status, again.body["status"].as_str()), (200, Some("erased")), "{}", again.text);
    for item_id in &items {
        assert_eq!(flows::plaid_calls(stack, "/item/remove", Some(item_id)).await.unwrap(), 1, "removed twice");
    }

    // Nothing secret reached the logs either (read once the erasure's own log line is there).
    let logs = flows::eventually("the erasure's log line", std::time::Duration::from_secs(30), || async {
        let logs = flows::lambda_log(stack);
        logs.contains("user erased").then_some(logs)
    })
    .await
    .unwrap();
    for (needle, what) in [
        ("access-sandbox", "an access token"),
        ("public-sandbox", "a public token"),
        (PLAID_SECRET, "the Plaid secret"),
    ] {
        assert!(!logs.contains(needle), "{what} reached the logs");
    }
    assert!(!weft_tests::flows::contains_jwt(&logs), "a JWT reached the logs");
}

#[tokio::test]
async fn an_erasure_stopped_half_way_by_plaid_is_finished_by_the_next_call() {
    let stack = stack().await;
    let session = format!("sess-{}", uuid::Uuid::new_v4().simple());
    let (app, user, items) =
        user_with_items(stack, &unique_user("erase-stopped"), &["ins_109508", "ins_109509"], &session).await;
    // Plaid is down for the second item: the first is removed, the second is left whole, the call fails.
    let fault = json!({ "endpoint": "/item/remove", "kind": "planned_maintenance", "count": 100, "item_id": items[1] });
    stack.emulator().fault(fault).await.unwrap();
    let stopped = app.delete("/users/me").await;
    assert_eq!((stopped.status, stopped.code()), (502, "UPSTREAM_UNAVAILABLE"), "{}", stopped.text);
    assert_eq!(stack.emulator().item(&items[0]).await.unwrap()["removed"], true);
    assert_eq!(stack.emulator().item(&items[1]).await.unwrap()["removed"], false);
    assert!(flows::record(stack, &format!("USER#{user}"), &format!("ITEM#{}", items[1])).await.unwrap().is_some());
    assert!(flows::record(stack, &format!("USER#{user}"), "PROFILE").await.unwrap().is_some(), "erased too soon");
    assert!(flows::records_mentioning(stack, &items[0]).await.unwrap().iter().all(|r| r.starts_with("AUDIT#")));

    // Plaid is back: the next call removes what is left and erases the rest.
    stack.emulator().delete("faults").await.unwrap();
    let answer = erase(&app, "/users/me").await;
    assert_eq!((answer.status, answer.body["status"].as_str()), (200, Some("erased")), "{}", answer.text);
    assert_eq!(stack.emulator().item(&items[1]).await.unwrap()["removed"], true);
    assert_eq!(flows::plaid_calls(stack, "/item/remove", Some(&items[0])).await.unwrap(), 1, "removed twice");
    nothing_left(stack, &user, &items).await;
}

#[tokio::test]
async fn operators_erase_other_users_and_users_cannot() {
    let stack = stack().await;
    let session = format!("sess-{}", uuid::Uuid::new_v4().simple());
    // A subject as an identity provider may give it (an email), URL-encoded in the path.
    let user = format!("{}@example.com", unique_user("erase-by-operator"));
    let (_, user, items) = user_with_items(stack, &user, &["ins_109509"], &session).await;
    let path = format!("/users/{}", user.replace('@', "%40"));

    let someone = AppClient::new(stack, &unique_user("erase-someone"));
    let refused = someone.delete(&path).await;
    assert_eq!((refused.status, refused.code()), (403, "FORBIDDEN"), "{}", refused.text);
    let anonymous = someone.raw("DELETE", &path, None, false).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    assert_eq!(stack.emulator().item(&items[0]).await.unwrap()["removed"], false, "a refused erasure did something");

    let operator_id = unique_user("erase-operator");
    let operator = AppClient::with_token(stack, stack.operator_token(&operator_id));
    let answer = erase(&operator, &path).await;
    assert_eq!((answer.status, answer.body["status"].as_str()), (200, Some("erased")), "{}", answer.text);
    assert_eq!(stack.emulator().item(&items[0]).await.unwrap()["removed"], true);
    nothing_left(stack, &user, &items).await;
    let audit = audit_records(stack).await;
    assert!(
        audit.iter().any(|r| r["action"] == "user_erased"
            && r["actor"]["kind"] == "operator"
            && r["subject"].as_str().is_some_and(|s| s != r["actor"]["id"])),
        "no audit record of the operator's erasure"
    );
    assert!(audit.iter().all(|r| !r.to_string().contains(&operator_id)), "an audit record holds the operator's id");

    // Again: nothing left, done.
    let again = operator.delete(&path).await;
    assert_eq!(again.status, 200, "{}", again.text);
    // Not a user id at all.
    let malformed = operator.delete("/users/a%23b").await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
}
