//! End to end: the churned-item remover, invoked through the Lambda Invoke API of `cargo lambda watch`, over
//! a population seeded the way it comes to exist: real items at the Plaid emulator, stored through the real
//! store adapter and KMS envelope, with activity, errors and repairs dated in the past, and re-link prompts
//! counted by the real items API.
//!
//! Each test starts its own stack: a churn run reads the whole table, so tests sharing one would remove
//! each other's items.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should stop the test

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration as StdDuration;
use time::{Duration, OffsetDateTime};
use weft::adapters::dynamodb::churn_shard;
use weft::domain::ItemRecord;
use weft::ports::{ChurnStore, ItemStore, UserStore};
use weft_tests::app_client::AppClient;
use weft_tests::seed::{INSTITUTIONS, Seeder, records_mentioning};
use weft_tests::stack::{LocalStack, PLAID_CLIENT_ID, PLAID_SECRET, StackOptions};

fn days_ago(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - Duration::days(days)
}

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// Invokes the remover synchronously; its answer is the run's summary.
async fn invoke(stack: &LocalStack, input: Value) -> Value {
    let response = stack.http.post(stack.lambda.invoke_url("churn-remover")).json(&input).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "churn-remover {input}: {status} {text}");
    let summary: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(summary.get("errorMessage").is_none(), "churn-remover {input} failed: {summary}");
    summary
}

/// `(item_id, reason)` of the items a summary lists with `outcome`.
fn listed(summary: &Value, outcome: &str) -> BTreeSet<(String, String)> {
    summary["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["outcome"] == outcome)
        .map(|i| (i["item_id"].as_str().unwrap().to_owned(), i["reason"].as_str().unwrap().to_owned()))
        .collect()
}

fn ids(items: &[&ItemRecord]) -> BTreeSet<String> {
    items.iter().map(|i| i.item_id.to_string()).collect()
}

fn remove_calls(stack: &LocalStack, item: &ItemRecord) -> u64 {
    stack.plaid.control().call_count("/item/remove", Some(item.item_id.as_str()))
}

fn removed_at_plaid(stack: &LocalStack, item: &ItemRecord) -> bool {
    stack.plaid.control().item(item.item_id.as_str()).unwrap()["removed"] == true
}

/// Removed at Plaid exactly once, and not a record left here that mentions it but the audit trail's records
/// of its removal (and of failed attempts before it).
async fn assert_gone(stack: &LocalStack, item: &ItemRecord) {
    assert!(removed_at_plaid(stack, item), "{} is still live at Plaid", item.item_id);
    let left = records_mentioning(&stack.sdk, &stack.resources.table_name, item.item_id.as_str()).await.unwrap();
    let (audit, data): (Vec<&String>, Vec<&String>) = left.iter().partition(|r| r.starts_with("AUDIT#"));
    assert!(data.is_empty(), "records left for {}: {data:?}", item.item_id);
    assert!(!audit.is_empty(), "the removal is audited");
}

/// Untouched: live at Plaid, never asked to be removed, and stored exactly as seeded.
async fn assert_untouched(stack: &LocalStack, seeder: &Seeder, item: &ItemRecord) {
    assert!(!removed_at_plaid(stack, item), "{} was removed at Plaid", item.item_id);
    assert_eq!(remove_calls(stack, item), 0, "{} got an /item/remove", item.item_id);
    let stored = seeder.store.get_item(&item.user_id, &item.item_id).await.unwrap();
    assert_eq!(stored.as_ref(), Some(item), "{} changed in the table", item.item_id);
    assert!(seeder.store.get_item_sealed(&item.user_id, &item.item_id).await.unwrap().is_some());
}

/// Waits (bounded) until the function's log holds a line containing every one of `needles`.
async fn log_line(stack: &LocalStack, needles: &[&str]) -> Value {
    let path = stack.log_dir.join("lambda.log");
    for _ in 0..300 {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    panic!("no log line with {needles:?} in {}", path.display());
}

#[tokio::test]
async fn dry_run_lists_exactly_the_churned_items_then_the_real_run_removes_only_them() {
    let stack = LocalStack::start(StackOptions::default()).await.unwrap();
    let seeder = Seeder::for_stack(&stack);
    let t = tag();

    // Active user, two healthy items.
    let active = seeder.user(&format!("active-{t}"), days_ago(1)).await.unwrap();
    let a1 = seeder.item(&active, INSTITUTIONS[0], days_ago(300)).await.unwrap();
    let a2 = seeder.item(&active, INSTITUTIONS[1], days_ago(200)).await.unwrap();
    // Inactive for 61 days: both items go; one has synced transactions (and a cursor) to delete too.
    let inactive = seeder.user(&format!("inactive-{t}"), days_ago(61)).await.unwrap();
    let b1 = seeder.item(&inactive, INSTITUTIONS[0], days_ago(100)).await.unwrap();
    let b2 = seeder.item(&inactive, INSTITUTIONS[1], days_ago(90)).await.unwrap();
    let app = weft_tests::seed::app(
        &stack.sdk,
        &stack.resources.table_name,
        &stack.resources.kms_key_id,
        &stack.plaid.base_url(),
        PLAID_CLIENT_ID,
        PLAID_SECRET,
    )
    .unwrap()
    .app;
    let synced = weft::services::sync::sync_item(&app, &b1.item_id).await.unwrap();
    assert!(synced.added > 0, "{synced:?}");
    let b1 = seeder.store.get_item(&b1.user_id, &b1.item_id).await.unwrap().unwrap();
    let before = records_mentioning(&stack.sdk, &stack.resources.table_name, b1.item_id.as_str()).await.unwrap();
    assert!(before.len() > 1, "transactions are stored under the item: {before:?}");
    // Inactive for 200 days, and its item in error for 100: removed once, as inactive.
    let long_gone = seeder.user(&format!("long-gone-{t}"), days_ago(200)).await.unwrap();
    let mut c1 = seeder.item(&long_gone, INSTITUTIONS[2], days_ago(300)).await.unwrap();
    seeder.login_required(&mut c1, days_ago(100)).await.unwrap();
    // Just under the inactivity threshold.
    let almost = seeder.user(&format!("almost-{t}"), days_ago(59)).await.unwrap();
    let u1 = seeder.item(&almost, INSTITUTIONS[3], days_ago(120)).await.unwrap();
    // An active user with items in error: 31 days (goes), 10 days (stays), an institution error of 45 days
    // (goes), and one in error 40 days ago but repaired 5 days ago (stays).
    let erring = seeder.user(&format!("erring-{t}"), days_ago(2)).await.unwrap();
    let mut e1 = seeder.item(&erring, INSTITUTIONS[0], days_ago(120)).await.unwrap();
    seeder.login_required(&mut e1, days_ago(31)).await.unwrap();
    let mut e2 = seeder.item(&erring, INSTITUTIONS[1], days_ago(120)).await.unwrap();
    seeder.login_required(&mut e2, days_ago(10)).await.unwrap();
    let mut e3 = seeder.item(&erring, INSTITUTIONS[2], days_ago(120)).await.unwrap();
    seeder.institution_error(&mut e3, days_ago(45)).await.unwrap();
    let mut r1 = seeder.item(&erring, INSTITUTIONS[3], days_ago(120)).await.unwrap();
    seeder.login_required(&mut r1, days_ago(40)).await.unwrap();
    seeder.repaired(&mut r1, days_ago(5)).await.unwrap();
    // Users sent 10 re-link reminders (goes) and 9 (stays) without acting (the events function counts each
    // reminder as a prompt: counted here as it does); listing their items counts nothing.
    let mut prompted = Vec::new();
    for shown in [10, 9] {
        let name = format!("prompted-{shown}-{t}");
        let user = seeder.user(&name, days_ago(3)).await.unwrap();
        let mut item = seeder.item(&user, INSTITUTIONS[4], days_ago(100)).await.unwrap();
        seeder.login_required(&mut item, days_ago(3)).await.unwrap();
        for _ in 0..shown {
            seeder.store.count_relink_prompt(&user, &item.item_id).await.unwrap();
        }
        let app = AppClient::new(&stack, &name);
        for _ in 0..3 {
            let list = app.get("/items").await;
            assert_eq!(list.status, 200, "{}", list.text);
            assert_eq!(list.body["items"][0]["action"], "needs_login", "{}", list.text);
        }
        let item = seeder.store.get_item(&user, &item.item_id).await.unwrap().unwrap();
        assert_eq!(item.ignored_prompts, shown, "listing the items counted no prompt");
        prompted.push(item);
    }
    let (p1, p2) = (prompted[0].clone(), prompted[1].clone());

    let expected: BTreeSet<(String, String)> = [
        (&b1, "user_inactive"),
        (&b2, "user_inactive"),
        (&c1, "user_inactive"),
        (&e1, "error_unresolved"),
        (&e3, "error_unresolved"),
        (&p1, "ignored_prompts"),
    ]
    .iter()
    .map(|(i, r)| (i.item_id.to_string(), (*r).to_owned()))
    .collect();
    let churned = [&b1, &b2, &c1, &e1, &e3, &p1];
    let kept = [&a1, &a2, &u1, &e2, &r1, &p2];

    // Dry run: exactly the churned items, each with its reason; nothing removed anywhere.
    let dry = invoke(&stack, json!({ "dry_run": true })).await;
    assert_eq!(dry["status"], "complete", "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(listed(&dry, "would_remove"), expected, "{dry}");
    assert_eq!(dry["items"].as_array().unwrap().len(), expected.len(), "each item listed once: {dry}");
    // Scanned: three items of inactive users, then five from the error index (not c1 again).
    assert_eq!(
        (dry["scanned"].as_u64(), dry["candidates"].as_u64(), dry["skipped"].as_u64()),
        (Some(8), Some(6), Some(2))
    );
    assert_eq!((dry["removed"].as_u64(), dry["failed"].as_u64()), (Some(0), Some(0)));
    assert_eq!(dry["by_reason"]["user_inactive"]["candidates"], 3);
    assert_eq!(dry["by_reason"]["error_unresolved"]["candidates"], 2);
    assert_eq!(dry["by_reason"]["ignored_prompts"]["candidates"], 1);
    assert_eq!(stack.plaid.control().call_count("/item/remove", None), 0, "a dry run calls no /item/remove");
    for item in churned.iter().chain(kept.iter()) {
        assert_untouched(&stack, &seeder, item).await;
    }
    let after_dry = records_mentioning(&stack.sdk, &stack.resources.table_name, b1.item_id.as_str()).await.unwrap();
    assert_eq!(after_dry, before);
    let run_id = dry["run_id"].as_str().unwrap().to_owned();
    let summary_line = log_line(&stack, &["\"churn_summary\"", &run_id]).await;
    assert_eq!(summary_line["dry_run"], true);
    assert_eq!(summary_line["candidates"], 6);
    let metrics = log_line(&stack, &["\"_aws\"", &run_id, "\"Mode\":\"dry_run\""]).await;
    assert_eq!(metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"], "weft/local");
    assert_eq!(metrics["ChurnCandidates"], 6);

    // The real run removes them at Plaid and here, and nothing else.
    let real = invoke(&stack, json!({})).await;
    assert_eq!(real["status"], "complete", "{real}");
    assert_eq!(real["dry_run"], false);
    assert_eq!(listed(&real, "removed"), expected, "{real}");
    assert_eq!(
        (real["scanned"].as_u64(), real["removed"].as_u64(), real["skipped"].as_u64()),
        (Some(8), Some(6), Some(2))
    );
    assert_eq!(real["failed"], 0);
    assert_eq!(real["by_reason"]["user_inactive"]["removed"], 3);
    for item in churned {
        assert_gone(&stack, item).await;
        assert_eq!(remove_calls(&stack, item), 1, "{}", item.item_id);
    }
    for item in kept {
        assert_untouched(&stack, &seeder, item).await;
    }
    let run_id = real["run_id"].as_str().unwrap().to_owned();
    let metrics = log_line(&stack, &["\"_aws\"", &run_id, "\"Mode\":\"remove\"", "\"Reason\":\"user_inactive\""]).await;
    assert_eq!(metrics["ChurnRemoved"], 3);
    let totals = log_line(&stack, &["\"_aws\"", &run_id, "\"ChurnScanned\""]).await;
    assert_eq!((totals["ChurnRemoved"].as_u64(), totals["ChurnFailed"].as_u64()), (Some(6), Some(0)));

    // The two inactive users have no items left: a dry run counts them and keeps their profiles...
    let dry_again = invoke(&stack, json!({ "dry_run": true })).await;
    assert_eq!((dry_again["candidates"].as_u64(), dry_again["idle_users"].as_u64()), (Some(0), Some(2)), "{dry_again}");
    for user in [&inactive, &long_gone] {
        assert!(seeder.store.get_user(user).await.unwrap().is_some(), "a dry run keeps {user}");
    }
    // ...the next real run finds nothing to remove and drops them from the inactive index, so later runs
    // do not read them again; the active users' profiles stay.
    let again = invoke(&stack, json!({})).await;
    assert_eq!((again["candidates"].as_u64(), again["removed"].as_u64()), (Some(0), Some(0)), "{again}");
    assert_eq!(again["idle_users"], 2, "{again}");
    for user in [&inactive, &long_gone] {
        assert!(seeder.store.get_user(user).await.unwrap().is_none(), "{user}'s idle profile is forgotten");
    }
    for user in [&active, &almost, &erring] {
        assert!(seeder.store.get_user(user).await.unwrap().is_some(), "{user} keeps a profile");
    }
    let last = invoke(&stack, json!({})).await;
    assert_eq!((last["candidates"].as_u64(), last["idle_users"].as_u64()), (Some(0), Some(0)), "{last}");
}

#[tokio::test]
async fn an_idle_user_who_comes_back_keeps_a_profile() {
    let stack = LocalStack::start(StackOptions::default()).await.unwrap();
    let seeder = Seeder::for_stack(&stack);
    let name = format!("returning-{}", tag());
    let seen = days_ago(90);
    let user = seeder.user(&name, seen).await.unwrap();
    // The index shows the old activity; the user comes back before the profile is dropped.
    let idle = weft::ports::IdleUser { user_id: user.clone(), last_active_at: seen };
    let list = AppClient::new(&stack, &name).get("/items").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(!seeder.store.forget_idle_user(&idle).await.unwrap(), "activity since the read keeps the profile");
    let profile = seeder.store.get_user(&user).await.unwrap().expect("kept");
    assert!(profile.last_active_at.unwrap() > days_ago(1));
}

/// Users whose churn shard is `shard` (the inactive index is sharded by user id).
fn users_in_shard(prefix: &str, shard: u8, n: usize) -> Vec<String> {
    (0..).map(|i| format!("{prefix}-{i}")).filter(|u| churn_shard(u) == shard).take(n).collect()
}

/// A population of `candidates` churned items (inactive users, several items each, all in one index
/// shard so pages hold several; and items long in error), plus a few items that must stay.
struct Population {
    churned: Vec<ItemRecord>,
    kept: Vec<ItemRecord>,
}

async fn seed_population(seeder: &Seeder, t: &str) -> Population {
    let mut churned = Vec::new();
    let mut kept = Vec::new();
    for (n, name) in users_in_shard(&format!("gone-{t}"), 3, 2).iter().enumerate() {
        let user = seeder.user(name, days_ago(70 + n as i64)).await.unwrap();
        for institution in &INSTITUTIONS[..4] {
            churned.push(seeder.item(&user, institution, days_ago(200)).await.unwrap());
        }
    }
    let user = seeder.user(&format!("here-{t}"), days_ago(1)).await.unwrap();
    for (n, institution) in INSTITUTIONS.iter().enumerate() {
        let mut item = seeder.item(&user, institution, days_ago(200)).await.unwrap();
        if n < 3 {
            seeder.login_required(&mut item, days_ago(35 + n as i64)).await.unwrap();
            churned.push(item);
        } else {
            seeder.login_required(&mut item, days_ago(5)).await.unwrap();
            kept.push(item);
        }
    }
    Population { churned, kept }
}

#[tokio::test]
async fn a_run_stopped_half_way_resumes_from_its_checkpoint_and_removes_each_item_once() {
    let stack = LocalStack::start(StackOptions::default()).await.unwrap();
    let seeder = Seeder::for_stack(&stack);
    let population = seed_population(&seeder, &tag()).await;
    let total = population.churned.len() as u64;
    assert_eq!(total, 11);

    // Three items per invocation: the first stops inside the inactive users' page.
    let first = invoke(&stack, json!({ "max_items": 3, "concurrency": 2 })).await;
    assert_eq!((first["status"].as_str(), first["paused_by"].as_str()), (Some("paused"), Some("max_items")), "{first}");
    assert_eq!(first["invocation"]["removed"], 3);
    let run_id = first["run_id"].as_str().unwrap().to_owned();
    let mut removed: BTreeSet<(String, String)> = listed(&first, "removed");
    let mut invocations = 1;
    let last = loop {
        let next = invoke(&stack, json!({ "run_id": run_id, "max_items": 3, "concurrency": 2 })).await;
        invocations += 1;
        assert_eq!(next["run_id"], run_id.as_str());
        let now_removed = listed(&next, "removed");
        assert!(now_removed.is_disjoint(&removed), "an item was removed twice: {next}");
        assert!(next["invocation"]["removed"].as_u64().unwrap() <= 3, "{next}");
        removed.extend(now_removed);
        assert_eq!(next["removed"].as_u64(), Some(removed.len() as u64), "the totals carry over: {next}");
        if next["status"] == "complete" {
            break next;
        }
        assert!(invocations < 20, "the run does not end: {next}");
    };
    assert!(invocations >= 4, "{invocations} invocations for {total} items, three at a time");
    assert_eq!((last["removed"].as_u64(), last["failed"].as_u64()), (Some(total), Some(0)), "{last}");
    assert_eq!(last["skipped"], 2, "the two young errors, scanned once each: {last}");
    assert_eq!(ids(&population.churned.iter().collect::<Vec<_>>()), removed.iter().map(|(i, _)| i.clone()).collect());
    for item in &population.churned {
        assert_eq!(remove_calls(&stack, item), 1, "{} removed once", item.item_id);
        assert_gone(&stack, item).await;
    }
    assert_eq!(stack.plaid.control().call_count("/item/remove", None), total);
    for item in &population.kept {
        assert_untouched(&stack, &seeder, item).await;
    }

    // Continuing a finished run does nothing; a dry run cannot continue a real one.
    let done = invoke(&stack, json!({ "run_id": run_id })).await;
    assert_eq!((done["status"].as_str(), done["invocation"]["scanned"].as_u64()), (Some("complete"), Some(0)));
    assert_eq!(done["removed"].as_u64(), Some(total));
    let response = stack
        .http
        .post(stack.lambda.invoke_url("churn-remover"))
        .json(&json!({ "run_id": run_id, "dry_run": true }))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(text.contains("is a real run"), "{text}");
}

#[tokio::test]
async fn rate_limits_and_server_errors_slow_it_down_but_lose_nothing() {
    let stack = LocalStack::start(StackOptions::default()).await.unwrap();
    let seeder = Seeder::for_stack(&stack);
    let population = seed_population(&seeder, &tag()).await;
    let control = stack.plaid.control();
    let emulator = stack.emulator();

    // One item was removed at Plaid by an earlier run whose local deletion failed: ITEM_NOT_FOUND now.
    let half_done = &population.churned[0];
    let token = control.item(half_done.item_id.as_str()).unwrap()["access_token"].as_str().unwrap().to_owned();
    let removed = stack
        .http
        .post(format!("{}/item/remove", stack.plaid.base_url()))
        .json(&json!({ "client_id": PLAID_CLIENT_ID, "secret": PLAID_SECRET, "access_token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    // Plaid refuses the next calls with 429 and 500 (whichever items they hit), and one item's every call.
    emulator.fault(json!({ "endpoint": "/item/remove", "kind": "rate_limit", "count": 5 })).await.unwrap();
    emulator.fault(json!({ "endpoint": "/item/remove", "kind": "internal_server_error", "count": 4 })).await.unwrap();
    let stubborn = &population.churned[5];
    emulator
        .fault(json!({ "endpoint": "/item/remove", "kind": "internal_server_error", "count": 1000, "item_id": stubborn.item_id.as_str() }))
        .await
        .unwrap();
    // Another item meets more 429s in a row than the client retries by itself: the remover backs off.
    let throttled = &population.churned[7];
    emulator
        .fault(json!({ "endpoint": "/item/remove", "kind": "rate_limit", "count": 4, "item_id": throttled.item_id.as_str() }))
        .await
        .unwrap();
    let stubborn_before =
        records_mentioning(&stack.sdk, &stack.resources.table_name, stubborn.item_id.as_str()).await.unwrap();

    let first = invoke(&stack, json!({ "concurrency": 4 })).await;
    let total = population.churned.len() as u64;
    assert_eq!(first["status"], "complete", "{first}");
    assert_eq!((first["removed"].as_u64(), first["failed"].as_u64()), (Some(total - 1), Some(1)), "{first}");
    assert_eq!(
        listed(&first, "failed").into_iter().map(|(i, _)| i).collect::<Vec<_>>(),
        [stubborn.item_id.to_string()]
    );
    let calls = control.call_count("/item/remove", None);
    assert!(calls >= total + 1 + 9 + 4, "the refused calls were retried: {calls}");
    // The failed item is whole: live at Plaid, every record still here, its token still opens.
    assert!(!removed_at_plaid(&stack, stubborn));
    let stubborn_after =
        records_mentioning(&stack.sdk, &stack.resources.table_name, stubborn.item_id.as_str()).await.unwrap();
    // Only the audit trail's record of the failed removal is new.
    let (audit, data): (Vec<String>, Vec<String>) = stubborn_after.into_iter().partition(|r| r.starts_with("AUDIT#"));
    assert_eq!(data, stubborn_before);
    assert_eq!(audit.len(), 1, "{audit:?}");
    let app = weft_tests::seed::app(
        &stack.sdk,
        &stack.resources.table_name,
        &stack.resources.kms_key_id,
        &stack.plaid.base_url(),
        PLAID_CLIENT_ID,
        PLAID_SECRET,
    )
    .unwrap()
    .app;
    let (stored, sealed) = seeder.store.get_item_sealed(&stubborn.user_id, &stubborn.item_id).await.unwrap().unwrap();
    assert!(app.unseal(&stored.item_id, &sealed).await.is_ok());
    for item in population.churned.iter().filter(|i| i.item_id != stubborn.item_id) {
        assert_gone(&stack, item).await;
    }
    log_line(&stack, &["\"churn_rate_limited\"", throttled.item_id.as_str()]).await;
    log_line(&stack, &["\"churn_retry\"", stubborn.item_id.as_str()]).await;
    // Plaid's ITEM_NOT_FOUND for the item removed there already counts as removed (and the rest was deleted).
    assert!(listed(&first, "removed").iter().any(|(i, _)| *i == half_done.item_id.to_string()), "{first}");
    log_line(&stack, &["\"plaid_call\"", "/item/remove", "ITEM_NOT_FOUND"]).await;

    // Plaid recovers: the next run removes what is left.
    emulator.delete("faults").await.unwrap();
    let second = invoke(&stack, json!({})).await;
    assert_eq!((second["removed"].as_u64(), second["failed"].as_u64()), (Some(1), Some(0)), "{second}");
    assert_eq!(
        listed(&second, "removed").into_iter().map(|(i, _)| i).collect::<Vec<_>>(),
        [stubborn.item_id.to_string()]
    );
    for item in &population.churned {
        assert_gone(&stack, item).await;
    }
    for item in &population.kept {
        assert_untouched(&stack, &seeder, item).await;
    }
}

/// The Lambda service's Invoke API as the function sees it: asynchronous (`Event`) invocations are
/// accepted at once (202) and then run through `cargo lambda watch`; every answer is kept.
#[derive(Clone, Default)]
struct LambdaService {
    target: Arc<OnceLock<String>>,
    answers: Arc<Mutex<Vec<Value>>>,
    http: reqwest::Client,
}

async fn invoke_route(
    State(service): State<LambdaService>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Some(base) = service.target.get().cloned() else { return (StatusCode::SERVICE_UNAVAILABLE, String::new()) };
    let url = format!("{base}/2015-03-31/functions/{function}/invocations");
    let event = headers.get("x-amz-invocation-type").is_some_and(|v| v == "Event");
    let call = {
        let service = service.clone();
        async move {
            let answer = match service.http.post(url).body(body).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => weft::telemetry::chain(&e),
            };
            let value = serde_json::from_str(&answer).unwrap_or(Value::String(answer.clone()));
            service.answers.lock().unwrap().push(value);
            answer
        }
    };
    if event {
        tokio::spawn(call);
        (StatusCode::ACCEPTED, String::new())
    } else {
        (StatusCode::OK, call.await)
    }
}

#[tokio::test]
async fn a_run_out_of_time_continues_in_new_invocations_until_done() {
    let service = LambdaService { http: weft_tests::http::client(), ..LambdaService::default() };
    let router = axum::Router::new()
        .route("/2015-03-31/functions/{function}/invocations", axum::routing::post(invoke_route))
        .with_state(service.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lambda_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let stack = LocalStack::start(StackOptions {
        env: vec![("AWS_ENDPOINT_URL_LAMBDA".into(), lambda_url)],
        ..Default::default()
    })
    .await
    .unwrap();
    service.target.set(stack.lambda.base_url.clone()).unwrap();
    let seeder = Seeder::for_stack(&stack);
    let population = seed_population(&seeder, &tag()).await;
    let total = population.churned.len() as u64;

    // One second per invocation, one removal at a time, two a second: each invocation does a little.
    let input = json!({ "time_budget_secs": 1, "concurrency": 1, "removals_per_minute": 120 });
    let first = invoke(&stack, input).await;
    assert_eq!((first["status"].as_str(), first["paused_by"].as_str()), (Some("paused"), Some("deadline")), "{first}");
    let run_id = first["run_id"].as_str().unwrap().to_owned();
    let last = 'wait: {
        for _ in 0..1200 {
            let answers = service.answers.lock().unwrap().clone();
            for answer in &answers {
                assert_eq!(answer["run_id"], run_id.as_str(), "a continuation of another run: {answer}");
            }
            if let Some(done) = answers.iter().find(|a| a["status"] == "complete") {
                break 'wait (done.clone(), answers.len());
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        panic!("the run did not complete: {:?}", service.answers.lock().unwrap());
    };
    let (last, continuations) = last;
    assert!(continuations >= 1);
    assert_eq!((last["removed"].as_u64(), last["failed"].as_u64()), (Some(total), Some(0)), "{last}");
    for item in &population.churned {
        assert_eq!(remove_calls(&stack, item), 1, "{} removed once", item.item_id);
        assert_gone(&stack, item).await;
    }
    for item in &population.kept {
        assert_untouched(&stack, &seeder, item).await;
    }
}
