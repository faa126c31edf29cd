//! The item lifecycle end to end: the emulator puts items in every ITEM condition and delivers the real
//! signed webhooks to the locally served webhook function; the app sees the result through `GET /items`
//! (status and action), items are repaired (update mode with Link's onSuccess posted to `POST /link/events`,
//! or Plaid's LOGIN_REPAIRED webhook for a repair made elsewhere), and delivery quirks (redelivery, reordering, unknown items) change
//! nothing they must not.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use serde_json::{Value, json};
use weft_tests::app_client::AppClient;
use weft_tests::flows::{
    self, WAIT, app_item, eventually, link_and_exchange, unique_user, wait_for_deliveries, wait_until_mirrored,
};
use weft_tests::stack::{LocalStack, StackOptions, shared_stack};

async fn stack() -> &'static LocalStack {
    let stack = shared_stack("webhooks", StackOptions::default);
    flows::relax_emulator(stack).await.unwrap();
    stack
}

/// A new user with one item (its first sync done).
async fn new_item(stack: &LocalStack, institution: &str) -> (AppClient, String) {
    let app = AppClient::new(stack, &unique_user("wh"));
    let item_id = link_and_exchange(&app, stack, institution).await.unwrap();
    wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    flows::wait_until_settled(stack, &item_id).await.unwrap();
    (app, item_id)
}

/// Waits until `GET /items` shows the item in a state `check` accepts; returns it.
async fn wait_for_item(app: &AppClient, item_id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let item = app_item(app, item_id).await.unwrap();
        if let Some(item) = item.as_ref().filter(|i| check(i)) {
            return item.clone();
        }
        if started.elapsed() >= WAIT {
            // What Plaid (the emulator) sent for the item, and how each delivery went.
            let sent: Vec<String> = flows::deliveries(stack().await, item_id, None)
                .await
                .unwrap_or_default()
                .iter()
                .map(|d| format!("{} {} {}", d["webhook_code"], d["status"], d["attempts"]))
                .collect();
            panic!("timed out waiting for {what}; GET /items last showed {item:?}; deliveries: {sent:#?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn condition(stack: &LocalStack, item_id: &str, body: Value) -> Value {
    stack.emulator().condition(item_id, body).await.unwrap()
}

async fn hold(stack: &LocalStack, item_id: &str, hold: bool) {
    stack.emulator().post(&format!("items/{item_id}/webhooks/hold"), json!({ "hold": hold })).await.unwrap();
}

/// `/sandbox/item/fire_webhook`: Plaid (the emulator) fires `code` for the item, with its effect.
async fn fire(stack: &LocalStack, item_id: &str, code: &str) {
    let access_token = stack.emulator().item(item_id).await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let answer = stack
        .http
        .post(format!("{}/sandbox/item/fire_webhook", stack.plaid.base_url()))
        .json(&json!({
            "client_id": weft_tests::stack::PLAID_CLIENT_ID,
            "secret": weft_tests::stack::PLAID_SECRET,
            "access_token": access_token,
            "webhook_code": code,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap_or_default());
}

/// `POST /link/token {"item_id"}`: an update-mode link token.
async fn update_mode_token(app: &AppClient, item_id: &str) -> String {
    let answer = app.post("/link/token", &json!({ "item_id": item_id })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["mode"], "update");
    answer.body["link_token"].as_str().unwrap().to_owned()
}

/// Completes Link in update mode in the emulator, then posts Link's onSuccess to the app.
async fn update_mode(stack: &LocalStack, app: &AppClient, item_id: &str) -> Value {
    let token = update_mode_token(app, item_id).await;
    let outcome = stack.emulator().post("link/complete", json!({ "link_token": token })).await.unwrap();
    assert_eq!(outcome["status"], "success", "{outcome}");
    let session = outcome["metadata"]["link_session_id"].as_str().unwrap();
    let answer = app
        .post(
            "/link/events",
            &json!({ "events": [{ "kind": "SUCCESS", "link_session_id": session, "link_token": token }] }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    outcome
}

/// Waits until the emulator's clock has passed `delivery`'s latest signing second (every attempt is signed
/// anew, so a retried delivery carries a later `iat` than it was fired with), so the next webhook is signed
/// strictly later (webhook times have one-second resolution).
async fn next_second_after(stack: &LocalStack, delivery: &Value) {
    let parse = |t: &Value| {
        t.as_str().map(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap())
    };
    let fired = parse(&delivery["fired_at"]).unwrap();
    let last_attempt = delivery["attempts"].as_array().and_then(|a| a.last()).and_then(|a| parse(&a["at"]));
    let signed = last_attempt.map_or(fired, |at| at.max(fired));
    eventually("the emulator clock to tick", WAIT, || async {
        let now = stack.emulator().get("clock").await.ok()?;
        (now["unix"].as_i64()? > signed.unix_timestamp()).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn login_required_then_update_mode_and_link_success_make_it_healthy_and_caught_up() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109508").await;

    stack.emulator().post(&format!("items/{item_id}/reset_login"), json!({})).await.unwrap();
    let item = wait_for_item(&app, &item_id, "login_required", |i| i["status"] == "login_required").await;
    assert_eq!(item["action"], "needs_login", "{item}");

    // New transactions while the item needs the user: the sync they trigger fails with ITEM_LOGIN_REQUIRED.
    stack.emulator().mutate_transactions(&item_id, json!({ "generate": 3, "webhook": true })).await.unwrap();
    wait_for_deliveries(stack, &item_id, "DEFAULT_UPDATE", "delivered", 1).await.unwrap();

    // The user goes through update mode; as with Plaid, no LOGIN_REPAIRED follows a repair in the app's own
    // update mode: the app's Link onSuccess is what repairs the item.
    let error = flows::deliveries(stack, &item_id, Some("ERROR")).await.unwrap();
    next_second_after(stack, error.last().unwrap()).await;
    update_mode(stack, &app, &item_id).await;
    let item = wait_for_item(&app, &item_id, "healthy", |i| i["status"] == "healthy").await;
    assert_eq!(item["action"], "healthy", "{item}");
    assert!(flows::deliveries(stack, &item_id, Some("LOGIN_REPAIRED")).await.unwrap().is_empty(), "no webhook helped");

    // The repair queued a catch-up sync: the transactions added meanwhile are there.
    wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
}

#[tokio::test]
async fn login_repaired_webhook_alone_makes_the_item_healthy() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109509").await;
    stack.emulator().post(&format!("items/{item_id}/reset_login"), json!({})).await.unwrap();
    wait_for_item(&app, &item_id, "login_required", |i| i["status"] == "login_required").await;
    let error = flows::deliveries(stack, &item_id, Some("ERROR")).await.unwrap();
    next_second_after(stack, error.last().unwrap()).await;

    // The login is repaired outside the app (Plaid then says so with LOGIN_REPAIRED).
    fire(stack, &item_id, "LOGIN_REPAIRED").await;
    wait_for_deliveries(stack, &item_id, "LOGIN_REPAIRED", "delivered", 1).await.unwrap();
    let item = wait_for_item(&app, &item_id, "healthy", |i| i["status"] == "healthy").await;
    assert_eq!(item["action"], "healthy", "{item}");
}

#[tokio::test]
async fn pending_expiration_and_pending_disconnect_ask_for_update_mode_with_the_date() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109510").await;

    condition(stack, &item_id, json!({ "condition": "PENDING_EXPIRATION" })).await;
    let expires =
        stack.emulator().item(&item_id).await.unwrap()["consent_expiration_time"].as_str().unwrap().to_owned();
    let item = wait_for_item(&app, &item_id, "pending_expiration", |i| i["status"] == "pending_expiration").await;
    assert_eq!(item["action"], "expiring", "{item}");
    assert_same_time(&item["on"], &expires);

    condition(stack, &item_id, json!({ "condition": "PENDING_DISCONNECT" })).await;
    let disconnect = stack.emulator().item(&item_id).await.unwrap()["pending_disconnect"]["disconnect_time"]
        .as_str()
        .unwrap()
        .to_owned();
    let item = wait_for_item(&app, &item_id, "pending_disconnect", |i| i["status"] == "pending_disconnect").await;
    assert_eq!(item["action"], "expiring", "{item}");
    assert_same_time(&item["on"], &disconnect);

    // Update mode renews consent and prevents the disconnect.
    update_mode(stack, &app, &item_id).await;
    let item = wait_for_item(&app, &item_id, "healthy", |i| i["status"] == "healthy").await;
    assert_eq!(item["action"], "healthy", "{item}");
}

fn assert_same_time(ours: &Value, plaid: &str) {
    let parse = |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(parse(ours.as_str().unwrap()), parse(plaid), "{ours} vs {plaid}");
}

#[tokio::test]
async fn new_accounts_available_turns_on_account_selection_in_update_mode() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109511").await;
    condition(stack, &item_id, json!({ "condition": "NEW_ACCOUNTS_AVAILABLE" })).await;
    let item = wait_for_item(&app, &item_id, "new_accounts", |i| i["action"] == "new_accounts").await;
    assert_eq!(item["status"], "healthy", "{item}");

    // Link (the emulator) offers the waiting account only to a token with update.account_selection_enabled.
    let outcome = update_mode(stack, &app, &item_id).await;
    let selected: Vec<&str> =
        outcome["metadata"]["accounts"].as_array().unwrap().iter().filter_map(|a| a["mask"].as_str()).collect();
    assert!(selected.contains(&"9999"), "the new account was offered and selected: {outcome}");
    let plaid_item = stack.emulator().item(&item_id).await.unwrap();
    assert!(
        plaid_item["accounts"].as_array().unwrap().iter().any(|a| a["mask"] == "9999"),
        "the emulator added the new account: {plaid_item}"
    );
    let item = wait_for_item(&app, &item_id, "the prompt to clear", |i| i["action"] == "healthy").await;
    assert_eq!(item["status"], "healthy");
}

#[tokio::test]
async fn user_account_revoked_removes_that_account_only() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109512").await;
    let before = app_item(&app, &item_id).await.unwrap().unwrap();
    let accounts: Vec<String> =
        before["accounts"].as_array().unwrap().iter().map(|a| a["account_id"].as_str().unwrap().to_owned()).collect();
    // The credit card: it has transactions.
    let revoked = before["accounts"].as_array().unwrap().iter().find(|a| a["mask"] == "3333").unwrap()["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let had = flows::app_transactions(&app, &item_id, 500).await.unwrap();
    assert!(had.values().any(|t| t.account_id == revoked));
    condition(stack, &item_id, json!({ "condition": "USER_ACCOUNT_REVOKED", "account_id": revoked })).await;

    let item = wait_for_item(&app, &item_id, "the account to go", |i| {
        !i["accounts"].as_array().unwrap().iter().any(|a| a["account_id"] == revoked.as_str())
    })
    .await;
    let left: Vec<&str> =
        item["accounts"].as_array().unwrap().iter().map(|a| a["account_id"].as_str().unwrap()).collect();
    let expected: Vec<&str> = accounts.iter().filter(|a| **a != revoked).map(String::as_str).collect();
    assert_eq!(left, expected, "every other account stays");
    assert_eq!((item["status"].as_str(), item["action"].as_str()), (Some("healthy"), Some("healthy")), "{item}");
    assert_eq!(stack.emulator().item(&item_id).await.unwrap()["removed"], false, "the item stays at Plaid");

    // That account's transactions are gone; every other one stays, and the item keeps syncing.
    stack.emulator().mutate_transactions(&item_id, json!({ "generate": 2, "webhook": true })).await.unwrap();
    let expected = eventually("the other accounts' transactions, exactly", WAIT, || async {
        let mut plaid = flows::emulator_transactions(stack, &item_id).await.ok()?;
        plaid.retain(|_, t| t.account_id != revoked);
        let ours = flows::app_transactions(&app, &item_id, 500).await.ok()?;
        flows::diff(&ours, &plaid).is_empty().then_some(ours)
    })
    .await
    .unwrap();
    assert_eq!(
        flows::stored_transaction_count(stack, &item_id).await.unwrap(),
        expected.len(),
        "deleted from the table"
    );
}

#[tokio::test]
async fn user_permission_revoked_removes_the_item_at_plaid_and_every_record_of_it() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109508").await;
    // An update-mode token too, so the item has more than its own records.
    update_mode_token(&app, &item_id).await;
    assert!(!flows::records_mentioning(stack, &item_id).await.unwrap().is_empty());

    condition(stack, &item_id, json!({ "condition": "USER_PERMISSION_REVOKED" })).await;
    eventually("the item to leave GET /items", WAIT, || async {
        app_item(&app, &item_id).await.ok()?.is_none().then_some(())
    })
    .await
    .unwrap();
    let plaid_item = stack.emulator().item(&item_id).await.unwrap();
    assert_eq!(plaid_item["removed"], true, "removed at Plaid: {plaid_item}");
    // Only the audit trail (its link and its removal as revoked) still names it.
    let left = flows::records_mentioning(stack, &item_id).await.unwrap();
    assert!(left.iter().all(|r| r.starts_with("AUDIT#")), "records left for the revoked item: {left:?}");
    let gone = app.get(&format!("/items/{item_id}/transactions")).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
}

#[tokio::test]
async fn webhook_update_acknowledged_is_recorded() {
    let stack = stack().await;
    let user = unique_user("wh");
    let app = AppClient::new(stack, &user);
    let item_id = link_and_exchange(&app, stack, "ins_109508").await.unwrap();
    let new_url = format!("{}?v=2", stack.webhook_url());
    let access_token = stack.emulator().item(&item_id).await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let plaid = stack
        .http
        .post(format!("{}/item/webhook/update", stack.plaid.base_url()))
        .json(&json!({
            "client_id": weft_tests::stack::PLAID_CLIENT_ID,
            "secret": weft_tests::stack::PLAID_SECRET,
            "access_token": access_token,
            "webhook": new_url,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(plaid.status(), 200);
    wait_for_deliveries(stack, &item_id, "WEBHOOK_UPDATE_ACKNOWLEDGED", "delivered", 1).await.unwrap();
    let recorded = eventually("the new webhook URL on the item record", WAIT, || async {
        let record = flows::record(stack, &format!("USER#{user}"), &format!("ITEM#{item_id}")).await.ok()??;
        let url = record.get("webhook_url")?.as_s().ok()?.clone();
        (url == new_url).then_some(url)
    })
    .await;
    assert!(recorded.is_ok(), "{recorded:?}");
}

#[tokio::test]
async fn a_redelivered_webhook_has_no_second_effect() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109508").await;

    // An ITEM webhook: the same signed request again is a duplicate and changes nothing.
    stack.emulator().post(&format!("items/{item_id}/reset_login"), json!({})).await.unwrap();
    let error = wait_for_deliveries(stack, &item_id, "ERROR", "delivered", 1).await.unwrap().remove(0);
    wait_for_item(&app, &item_id, "login_required", |i| i["status"] == "login_required").await;
    next_second_after(stack, &error).await;
    fire(stack, &item_id, "LOGIN_REPAIRED").await;
    wait_for_item(&app, &item_id, "healthy", |i| i["status"] == "healthy").await;
    let again = flows::redeliver(stack, &error).await.unwrap();
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["handled"], "duplicate");
    assert_eq!(app_item(&app, &item_id).await.unwrap().unwrap()["status"], "healthy");

    // A TRANSACTIONS webhook: redelivered, it may at most run one more sync, which finds nothing new.
    stack.emulator().mutate_transactions(&item_id, json!({ "generate": 4, "webhook": true })).await.unwrap();
    let before = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    let sync = wait_for_deliveries(stack, &item_id, "SYNC_UPDATES_AVAILABLE", "delivered", 1).await.unwrap();
    let again = flows::redeliver(stack, sync.last().unwrap()).await.unwrap();
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert!(["coalesced", "sync_queued"].contains(&again.body["handled"].as_str().unwrap()), "{:?}", again.body);
    let after = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(flows::stored_transaction_count(stack, &item_id).await.unwrap(), before.len(), "no duplicates");
}

#[tokio::test]
async fn an_older_error_delivered_after_login_repaired_leaves_the_item_healthy() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109509").await;
    hold(stack, &item_id, true).await;
    stack.emulator().post(&format!("items/{item_id}/reset_login"), json!({})).await.unwrap();
    let error = wait_for_deliveries(stack, &item_id, "ERROR", "held", 1).await.unwrap().remove(0);
    next_second_after(stack, &error).await;
    fire(stack, &item_id, "LOGIN_REPAIRED").await;
    let repaired = wait_for_deliveries(stack, &item_id, "LOGIN_REPAIRED", "held", 1).await.unwrap().remove(0);

    // Delivered newest first. (A sync that ran into the login error may already have marked the item; the
    // repair then applies. Either way its time is kept.)
    let answer = flows::redeliver(stack, &repaired).await.unwrap();
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["handled"], "applied", "{:?}", answer.body);
    let answer = flows::redeliver(stack, &error).await.unwrap();
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["handled"], "unchanged", "the older ERROR is ignored");
    let item = app_item(&app, &item_id).await.unwrap().unwrap();
    assert_eq!((item["status"].as_str(), item["action"].as_str()), (Some("healthy"), Some("healthy")), "{item}");
}

#[tokio::test]
async fn a_webhook_for_an_unknown_item_is_acknowledged_and_logged() {
    let stack = stack().await;
    // An item Plaid has, with our webhook URL, that weft never stored.
    let created = stack.emulator().post("items", json!({ "webhook": stack.webhook_url() })).await.unwrap();
    let item_id = created["item_id"].as_str().unwrap();
    stack.emulator().post(&format!("items/{item_id}/reset_login"), json!({})).await.unwrap();
    let delivered = wait_for_deliveries(stack, item_id, "ERROR", "delivered", 1).await.unwrap();
    let attempts = delivered[0]["attempts"].as_array().unwrap();
    // Answered 200, never an error status (an attempt may time out when the machine is busy).
    assert_eq!(attempts.last().unwrap()["status"], 200, "{attempts:?}");
    assert!(attempts.iter().all(|a| a["status"].is_null() || a["status"] == 200), "{attempts:?}");
    let logged = eventually("the warning in the log", WAIT, || async {
        flows::lambda_log(stack)
            .lines()
            .any(|l| l.contains("\"WARN\"") && l.contains("unknown item") && l.contains(item_id))
            .then_some(())
    })
    .await;
    assert!(logged.is_ok(), "no warning naming {item_id}");
}

/// Posts Link's onSuccess for `token` to the app with the client's own `timestamp`.
async fn post_success(app: &AppClient, token: &str, session: &str, timestamp: &str) {
    let answer = app
        .post("/link/events",
            &json!({ "events": [{ "kind": "SUCCESS", "link_session_id": session, "link_token": token, "timestamp": timestamp }] }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn a_client_success_is_a_hint_confirmed_with_plaid_and_its_timestamp_orders_nothing() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109508").await;
    stack.emulator().post(&format!("items/{item_id}/reset_login"), json!({})).await.unwrap();
    wait_for_item(&app, &item_id, "login_required", |i| i["status"] == "login_required").await;
    let far_future = "2099-01-01T00:00:00Z";

    // The app says update mode succeeded, but the user never finished Link: Plaid still reports the error.
    let token = update_mode_token(&app, &item_id).await;
    post_success(&app, &token, "session-not-finished", far_future).await;
    let item = app_item(&app, &item_id).await.unwrap().unwrap();
    assert_eq!((item["status"].as_str(), item["action"].as_str()), (Some("login_required"), Some("needs_login")));

    // The user does finish it (Plaid repairs the item): the same report, still dated 2099, makes it healthy...
    let outcome = stack.emulator().post("link/complete", json!({ "link_token": token })).await.unwrap();
    assert_eq!(outcome["status"], "success", "{outcome}");
    let session = outcome["metadata"]["link_session_id"].as_str().unwrap().to_owned();
    post_success(&app, &token, &session, far_future).await;
    let repaired_by = time::OffsetDateTime::now_utc().unix_timestamp();
    wait_for_item(&app, &item_id, "healthy", |i| i["status"] == "healthy").await;
    // ...and Plaid's next ERROR still applies: the client's 2099 does not outdate it. (Fired in a later second
    // than the repair: webhook times are whole seconds, and weft's own repair outdates a Plaid event signed in
    // the same second.)
    eventually("the emulator clock to pass the repair's second", WAIT, || async {
        (stack.emulator().get("clock").await.ok()?["unix"].as_i64()? > repaired_by).then_some(())
    })
    .await
    .unwrap();
    stack.emulator().post(&format!("items/{item_id}/reset_login"), json!({})).await.unwrap();
    let item = wait_for_item(&app, &item_id, "login_required again", |i| i["status"] == "login_required").await;
    assert_eq!(item["action"], "needs_login", "{item}");
}
