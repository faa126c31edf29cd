//! Item events for the app, on the real wire: moto's EventBridge bus with a rule delivering every weft event
//! to a queue the test reads (as an app's rule would), the functions under cargo-lambda, Plaid's webhooks
//! from the emulator. Linked; needs login, with a Hosted Link URL where the user repairs the item with no app
//! page and no client call; repaired; removed; a webhook Plaid delivers again publishes nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::time::Duration;
use weft_tests::app_client::AppClient;
use weft_tests::flows::{self, eventually, link_and_exchange, unique_user};
use weft_tests::stack::{LocalStack, StackOptions, shared_stack};

const WAIT: Duration = Duration::from_secs(90);

async fn stack() -> &'static LocalStack {
    let stack =
        shared_stack("events", || StackOptions { drain_every: Some(Duration::from_secs(3)), ..Default::default() });
    flows::relax_emulator(stack).await.unwrap();
    stack
}

/// Reads the tap until an event of `detail_type` for `item_id` arrives; `seen` is then every event so far.
async fn next_event(stack: &LocalStack, seen: &mut Vec<Value>, item_id: &str, detail_type: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        *seen = stack.events.all().await.unwrap();
        if let Some(e) =
            seen.iter().find(|e| e["detail-type"] == detail_type && e["detail"]["item_id"] == item_id).cloned()
        {
            return e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {detail_type} event for {item_id} within {WAIT:?}; seen: {seen:?}\n{}",
            flows::lambda_log(stack)
        );
    }
}

#[tokio::test]
async fn a_broken_login_reaches_the_app_as_an_event_with_a_working_relink_url_and_removal_too() {
    let stack = stack().await;
    let user = unique_user("events");
    let app = AppClient::new(stack, &user);
    let item_id = link_and_exchange(&app, stack, "ins_109508").await.unwrap();
    let mut seen = Vec::new();

    let linked = next_event(stack, &mut seen, &item_id, "item.linked").await;
    assert_eq!(linked["source"], "weft");
    assert_eq!(linked["detail"]["institution_id"], "ins_109508");
    assert_eq!(linked["detail"]["user_id"], user.as_str());
    assert!(linked["detail"]["event_id"].as_str().is_some_and(|id| !id.is_empty()));

    // Plaid reports the login broken (ITEM / ERROR, signed): the webhook function applies it; the event
    // waits for the events function (the one holding the pseudonym key), which adds a Hosted Link URL.
    stack.emulator().post(&format!("items/{item_id}/reset_login"), serde_json::json!({})).await.unwrap();
    let needs_login = next_event(stack, &mut seen, &item_id, "item.needs_login").await;
    assert_eq!(needs_login["detail"]["error_code"], "ITEM_LOGIN_REQUIRED");
    let url = needs_login["detail"]["relink_url"].as_str().expect("a re-link URL").to_owned();
    assert!(url.starts_with(&format!("{}/__emulator/hosted/", stack.plaid.base_url())), "{url}");
    assert!(needs_login["detail"]["relink_expires_at"].as_str().is_some());
    // The URL opens Link in update mode for this item, with no app page; the user logs in there (the
    // pages' own forms, as a browser would post them), and that is all: no app page, no client call.
    let page = stack.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Update mode") && html.contains("Enter your credentials"), "update mode: {html}");
    let key = "name=\"session\" value=\"";
    let start = html.find(key).expect("a session field") + key.len();
    let session: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let done = stack
        .http
        .post(format!("{}/__emulator/link/web/credentials", stack.plaid.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("session={session}&username=user_good&password=pass_good"))
        .send()
        .await
        .unwrap();
    assert!(done.status().is_success() || done.status().is_redirection(), "{}", done.status());
    // Plaid sends LINK / SESSION_FINISHED; weft confirms the repair with /item/get and tells the app.
    let repaired = next_event(stack, &mut seen, &item_id, "item.repaired").await;
    assert!(repaired["detail"].get("relink_url").is_none());
    let listed = flows::app_item(&app, &item_id).await.unwrap().expect("listed");
    assert_eq!(listed["status"], "healthy", "{listed}");

    // Plaid delivers the same ERROR again: nothing new is published.
    let errors = flows::wait_for_deliveries(stack, &item_id, "ERROR", "delivered", 1).await.unwrap();
    let again = flows::redeliver(stack, &errors[0]).await.unwrap();
    assert_eq!(again.status, 200);

    app.delete(&format!("/items/{item_id}")).await;
    let removed = next_event(stack, &mut seen, &item_id, "item.removed").await;
    assert_eq!(removed["detail"]["reason"], "user");
    // Drain once more, then count: one event of each kind for this item.
    tokio::time::sleep(Duration::from_secs(4)).await;
    seen = stack.events.all().await.unwrap();
    let mine: Vec<&str> = seen
        .iter()
        .filter(|e| e["detail"]["item_id"] == item_id.as_str())
        .filter_map(|e| e["detail-type"].as_str())
        .filter(|t| *t != "item.transactions_updated")
        .collect();
    assert_eq!(mine, vec!["item.linked", "item.needs_login", "item.repaired", "item.removed"], "each once: {seen:?}");
    // Nothing left in the outbox.
    let left = eventually("the outbox empties", WAIT, || async {
        let rows = flows::table_rows(stack).await.ok()?;
        rows.iter().all(|(pk, _, _)| pk != "OUTBOX").then_some(())
    })
    .await;
    assert!(left.is_ok(), "{left:?}");
}

/// Waits until no LINK webhook of the emulator is still being delivered (each answered, or given up on).
async fn link_webhooks_settled(stack: &LocalStack) {
    eventually("LINK webhooks delivered", WAIT, || async {
        let log = stack.emulator().deliveries().await.ok()?;
        let link: Vec<&Value> = log["deliveries"].as_array()?.iter().filter(|d| d["webhook_type"] == "LINK").collect();
        (!link.is_empty() && link.iter().all(|d| d["status"] != "pending")).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_browser_that_dies_after_link_still_gets_its_item_from_plaids_item_add_result() {
    let stack = stack().await;
    let user = unique_user("hosted");
    let app = AppClient::new(stack, &user);
    // A Hosted Link session (Plaid sends its LINK webhooks): the user links, and the app never hears of it
    // (its page is gone: no onSuccess, no exchange).
    let created = app.post("/link/token", &serde_json::json!({ "hosted": true })).await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert!(created.body["hosted_link_url"].as_str().is_some_and(|u| u.contains("/__emulator/hosted/")));
    let link_token = created.body["link_token"].as_str().unwrap();
    let outcome = stack.complete_link(link_token, "ins_109508", "user_good", "pass_good").await.unwrap();
    let item_id = outcome["item_id"].as_str().unwrap().to_owned();
    // The public token reaches weft only through ITEM_ADD_RESULT / SESSION_FINISHED: one item, one exchange.
    let listed = eventually("the item exchanged from Plaid's webhook", WAIT, || async {
        flows::app_item(&app, &item_id).await.ok().flatten()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", flows::lambda_log(stack)));
    assert_eq!(listed["institution"]["institution_id"], "ins_109508");
    let mut seen = Vec::new();
    next_event(stack, &mut seen, &item_id, "item.linked").await;
    // Both webhooks carried the token; the exchange ran once.
    link_webhooks_settled(stack).await;
    assert_eq!(flows::plaid_calls(stack, "/item/public_token/exchange", Some(&item_id)).await.unwrap(), 1);
    assert_eq!(app.get("/items").await.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_same_public_token_from_the_app_and_from_plaid_at_once_makes_one_item_and_one_exchange() {
    let stack = stack().await;
    let user = unique_user("race");
    let app = AppClient::new(stack, &user);
    let created = app.post("/link/token", &serde_json::json!({ "hosted": true })).await;
    let link_token = created.body["link_token"].as_str().unwrap();
    // Link finishes: Plaid's LINK webhooks are on their way while the app posts the same public token.
    let outcome = stack.complete_link(link_token, "ins_109508", "user_good", "pass_good").await.unwrap();
    let item_id = outcome["item_id"].as_str().unwrap().to_owned();
    let body = serde_json::json!({ "public_token": outcome["public_token"], "metadata": outcome["metadata"] });
    let answer = app.post("/items/exchange", &body).await;
    assert!(answer.status == 200 || answer.status == 409, "{}", answer.text);
    eventually("the item", WAIT, || async { flows::app_item(&app, &item_id).await.ok().flatten() }).await.unwrap();
    // Let every LINK webhook of the session be handled, then count.
    link_webhooks_settled(stack).await;
    assert_eq!(flows::plaid_calls(stack, "/item/public_token/exchange", Some(&item_id)).await.unwrap(), 1);
    assert_eq!(app.get("/items").await.body["items"].as_array().map(Vec::len), Some(1), "one item");
}

#[tokio::test]
async fn while_eventbridge_is_down_no_event_is_lost() {
    // Its own stack: the bus is broken for a while, which the other tests must not see.
    let stack = shared_stack("events-faults", || StackOptions {
        drain_every: Some(Duration::from_secs(3)),
        ..Default::default()
    });
    flows::relax_emulator(stack).await.unwrap();
    let app = AppClient::new(stack, &unique_user("bus-down"));
    let item_id = link_and_exchange(&app, stack, "ins_109508").await.unwrap();
    let mut seen = Vec::new();
    next_event(stack, &mut seen, &item_id, "item.linked").await;

    stack.events.break_bus().await.unwrap();
    let removed = app.delete(&format!("/items/{item_id}")).await;
    assert_eq!(removed.status, 200, "removing works while the bus is down: {}", removed.text);
    // The event waits in the outbox (its PutEvents failed, and every drain's since).
    let waiting = eventually("the event in the outbox", WAIT, || async {
        let rows = flows::table_rows(stack).await.ok()?;
        rows.iter().any(|(pk, _, _)| pk == "OUTBOX").then_some(())
    })
    .await;
    assert!(waiting.is_ok(), "{waiting:?}");
    tokio::time::sleep(Duration::from_secs(7)).await; // two drains fail too
    stack.events.restore().await.unwrap();
    let event = next_event(stack, &mut seen, &item_id, "item.removed").await;
    assert_eq!(event["detail"]["reason"], "user");
}
