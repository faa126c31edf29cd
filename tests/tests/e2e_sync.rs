//! Transactions sync end to end: the emulator delivers real signed webhooks to the locally served webhook
//! function, which queues syncs on SQS for the sync worker; the app's `GET /items/{id}/transactions` must
//! then show exactly what the emulator (Plaid) has: after the first sync, after adds / modifies / removes,
//! after a mutation during pagination, and after two syncs of one item run at the same time.
//!
//! The stack asks Plaid for 100 transactions per page (`WEFT_SYNC_PAGE_SIZE`), so the ~300-transaction
//! history and the larger changes below take several pages.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use serde_json::{Value, json};
use std::time::Duration;
use weft_tests::app_client::AppClient;
use weft_tests::flows::{self, link_and_exchange, unique_user, wait_until_mirrored};
use weft_tests::stack::{LocalStack, StackOptions, shared_stack};

const PAGE: u32 = 100;

fn options() -> StackOptions {
    StackOptions { env: vec![("WEFT_SYNC_PAGE_SIZE".into(), PAGE.to_string())], ..Default::default() }
}

/// The suite's stack, with the emulator's rate limits off (the tests sync many pages in little time).
async fn stack() -> &'static LocalStack {
    let stack = shared_stack("sync", options);
    flows::relax_emulator(stack).await.unwrap();
    stack
}

async fn new_item(stack: &LocalStack, institution: &str) -> (AppClient, String) {
    let app = AppClient::new(stack, &unique_user("sync"));
    let item_id = link_and_exchange(&app, stack, institution).await.unwrap();
    (app, item_id)
}

/// The emulator's account ids of an item.
async fn account_ids(stack: &LocalStack, item_id: &str) -> Vec<String> {
    let item = stack.emulator().item(item_id).await.unwrap();
    item["accounts"].as_array().unwrap().iter().map(|a| a["account_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_new_item_and_every_kind_of_change_are_mirrored_exactly() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109508").await;

    // The first sync: the whole history, over several pages.
    let first = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    assert!(first.len() > PAGE as usize, "the history ({}) should need several pages", first.len());
    // The item tells the app how far its transactions are, and its balances came with the sync.
    let progress = flows::eventually("the sync's progress on the item", Duration::from_secs(30), || async {
        let items = app.get("/items").await;
        let item = items.body["items"].as_array()?.iter().find(|i| i["item_id"] == item_id.as_str())?.clone();
        (item["transactions"]["historical_update_complete"] == true).then_some(item)
    })
    .await
    .unwrap();
    assert_eq!(progress["transactions"]["initial_update_complete"], true, "{progress}");
    assert!(progress["transactions"]["last_synced_at"].is_string(), "{progress}");
    assert!(progress["accounts"].as_array().unwrap().iter().all(|a| a["balances"]["as_of"].is_string()), "{progress}");

    // Adds, modifies and removes in one change.
    let accounts = account_ids(stack, &item_id).await;
    let ids: Vec<&String> = first.keys().collect();
    let changed = stack
        .emulator()
        .mutate_transactions(
            &item_id,
            json!({
                "add": [
                    { "account_id": accounts[0], "amount": 12.5, "name": "Blue Bottle", "merchant_name": "Blue Bottle", "date": "2026-01-02", "pending": false },
                    { "account_id": accounts[0], "amount": -250.0, "name": "Refund", "date": "2026-01-03", "pending": true },
                ],
                "modify": [
                    { "transaction_id": ids[0], "amount": 999.99, "name": "Changed name" },
                    { "transaction_id": ids[1], "amount": 0.01 },
                ],
                "remove": [ids[2], ids[3]],
                "webhook": true,
            }),
        )
        .await
        .unwrap();
    assert_eq!(changed["added"].as_array().unwrap().len(), 2, "{changed}");
    let after = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    assert_eq!(after.len(), first.len() + 2 - 2);
    assert_eq!(after[ids[0].as_str()].amount, 999.99);
    assert_eq!(after[ids[0].as_str()].name, "Changed name");
    assert!(!after.contains_key(ids[2].as_str()) && !after.contains_key(ids[3].as_str()));

    // A change that only modifies: Plaid then sends SYNC_UPDATES_AVAILABLE alone, with the very same body
    // as the earlier ones for this item. It must still be synced.
    let ids: Vec<String> = after.keys().cloned().collect();
    stack
        .emulator()
        .mutate_transactions(
            &item_id,
            json!({ "modify": [{ "transaction_id": ids[5], "amount": 42.42 }], "webhook": true }),
        )
        .await
        .unwrap();
    let after = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    assert_eq!(after[&ids[5]].amount, 42.42);

    // Pending transactions post (the pending one is removed, a posted one added), read back in small pages.
    let pending: Vec<String> = after.iter().filter(|(_, t)| t.pending).map(|(id, _)| id.clone()).collect();
    assert!(!pending.is_empty(), "the history has pending transactions");
    stack
        .emulator()
        .mutate_transactions(&item_id, json!({ "post_pending": [pending[0]], "webhook": true }))
        .await
        .unwrap();
    let after = wait_until_mirrored(&app, stack, &item_id, 37).await.unwrap();
    assert!(!after.contains_key(&pending[0]), "the posted pending transaction is gone");
    assert_eq!(flows::stored_transaction_count(stack, &item_id).await.unwrap(), after.len(), "no stray records");
}

#[tokio::test]
async fn a_mutation_during_pagination_restarts_the_sync_and_ends_exact() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109509").await;
    let first = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();

    // The next sync needs three pages (250 new transactions, 100 a page); its second page fails with
    // TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION.
    stack.emulator().post(&format!("items/{item_id}/transactions/fail_next_page"), json!({})).await.unwrap();
    let before = flows::plaid_calls(stack, "/transactions/sync", Some(&item_id)).await.unwrap();
    let changed =
        stack.emulator().mutate_transactions(&item_id, json!({ "generate": 250, "webhook": true })).await.unwrap();
    assert_eq!(changed["added"].as_array().unwrap().len(), 250, "{changed}");

    let after = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    assert_eq!(after.len(), first.len() + 250);
    let item = stack.emulator().item(&item_id).await.unwrap();
    assert_eq!(item["fail_next_paginated_sync"], false, "the armed failure was hit");
    // Pages 1 and 2 (failed), then the restart from the starting cursor: pages 1, 2 and 3 again.
    let calls = flows::plaid_calls(stack, "/transactions/sync", Some(&item_id)).await.unwrap() - before;
    assert!(calls >= 5, "a restart after the failed page takes at least 5 calls, saw {calls}");
    let log = flows::lambda_log(stack);
    assert!(log.contains("mutation during pagination; restarting"), "the restart is logged");
}

#[tokio::test]
async fn a_failed_sync_is_handed_back_after_a_short_backoff_and_completes() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109511").await;
    let first = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();

    // Every attempt of the next sync call fails (the client tries three times), so the worker reports the
    // message failed.
    let access_token = stack.emulator().item(&item_id).await.unwrap()["access_token"].as_str().unwrap().to_owned();
    stack
        .emulator()
        .fault(json!({ "endpoint": "/transactions/sync", "kind": "internal_server_error", "count": 3, "access_token": access_token }))
        .await
        .unwrap();
    stack.emulator().mutate_transactions(&item_id, json!({ "generate": 5, "webhook": true })).await.unwrap();

    let after = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    assert_eq!(after.len(), first.len() + 5, "the retried sync brought the changes");
    let log = flows::lambda_log(stack);
    let failed = log
        .lines()
        .find(|l| l.contains("will be retried") && l.contains(&item_id))
        .expect("the failed sync is logged with its retry");
    // Its first delivery failed: handed back after 10 s (ChangeMessageVisibility), not the queue's timeout.
    assert!(failed.contains("\"retry_in_s\":10"), "{failed}");
    let unscheduled = log.lines().any(|l| l.contains("could not schedule the retry") && l.contains(&item_id));
    assert!(!unscheduled, "the queue took the early hand-back");
}

/// An SQS event as Lambda's event source mapping would send it for one sync request.
fn sqs_event(item_id: &str, message_id: &str) -> Value {
    let body = json!({ "item_id": item_id, "reason": "TEST", "dedup_key": message_id }).to_string();
    json!({ "Records": [{
        "messageId": message_id,
        "receiptHandle": format!("handle-{message_id}"),
        "body": body,
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:weft-sync.fifo",
        "awsRegion": "us-east-1",
    }]})
}

#[tokio::test]
async fn syncs_of_one_item_at_once_never_interleave_and_end_exact() {
    let stack = stack().await;
    let (app, item_id) = new_item(stack, "ins_109510").await;
    let first = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();

    // Changes whose webhooks are held back, so only the syncs below pick them up.
    stack.emulator().post(&format!("items/{item_id}/webhooks/hold"), json!({ "hold": true })).await.unwrap();
    stack.emulator().mutate_transactions(&item_id, json!({ "generate": 150 })).await.unwrap();
    let ids: Vec<&String> = first.keys().collect();
    stack
        .emulator()
        .mutate_transactions(
            &item_id,
            json!({ "remove": [ids[0], ids[1]], "modify": [{ "transaction_id": ids[2], "amount": 7.77 }] }),
        )
        .await
        .unwrap();
    // Whichever sync takes the item first has its first page held up for 1.5 s, so the runs overlap.
    let access_token = stack.emulator().item(&item_id).await.unwrap()["access_token"].as_str().unwrap().to_owned();
    stack
        .emulator()
        .fault(json!({ "endpoint": "/transactions/sync", "kind": "stall", "stall_ms": 1500, "count": 1, "access_token": access_token }))
        .await
        .unwrap();

    // Three syncs at once: the sync worker invoked as Lambda's SQS event source would, and two more runs
    // of the same use case in this process (cargo-lambda serves one invocation of a function at a time).
    let in_process = flows::in_process_app(stack).await.unwrap();
    let item = weft::domain::ItemId::parse(item_id.clone()).unwrap();
    let url = stack.lambda.invoke_url("sync-worker");
    let invoke = |id: &'static str| {
        let (http, url, event) = (stack.http.clone(), url.clone(), sqs_event(&item_id, id));
        async move {
            let resp = http.post(url).json(&event).timeout(Duration::from_secs(120)).send().await.unwrap();
            assert!(resp.status().is_success());
            resp.json::<Value>().await.unwrap()
        }
    };
    let (worker, a, b) = tokio::join!(
        invoke("concurrent-worker"),
        weft::services::sync::sync_item(&in_process, &item),
        weft::services::sync::sync_item(&in_process, &item),
    );
    let worker_refused = worker["batchItemFailures"].as_array().map_or(0, Vec::len) > 0;
    let refused = |r: &Result<_, weft::services::ServiceError>| match r {
        Ok(_) => false,
        Err(weft::services::ServiceError::Conflict) => true,
        Err(e) => panic!("a sync failed: {e}"),
    };
    // The two in-process runs start together: one holds the item (stalled), the other is refused.
    assert!(refused(&a) || refused(&b), "two syncs of one item ran at once: {a:?} {b:?}");

    // What SQS does with a refused message: it comes back later. Until one run gets through after the others.
    if worker_refused {
        let retried = invoke("concurrent-retry").await;
        assert_eq!(retried["batchItemFailures"].as_array().map_or(0, Vec::len), 0, "{retried}");
    }
    if refused(&a) && refused(&b) {
        weft::services::sync::sync_item(&in_process, &item).await.unwrap();
    }
    let after = wait_until_mirrored(&app, stack, &item_id, 500).await.unwrap();
    assert_eq!(after.len(), first.len() + 150 - 2);
    assert_eq!(after[ids[2].as_str()].amount, 7.77);
    assert_eq!(flows::stored_transaction_count(stack, &item_id).await.unwrap(), after.len(), "no duplicates");
    assert!(!flows::lambda_log(stack).contains("lost the sync lease"), "no sync lost its lease midway");
}
