//! `/transactions/sync`: the seeded history, paging, opaque cursors, changes made through the
//! control API, mutation during pagination, and a delayed history.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Emu, Receiver, emulator};
use plaid_emulator::{ModifyTransaction, NewTransaction, TransactionMutation};
use serde_json::json;

#[tokio::test]
async fn full_history_is_realistic() {
    let emu = emulator().await;
    let (access, _) = emu.item(None).await;
    let r = emu
        .plaid(
            "/transactions/sync",
            json!({"access_token": access, "count": 500, "options": {"include_personal_finance_category": true}}),
        )
        .await;
    let v = r.ok().clone();
    assert_eq!(v["transactions_update_status"], "HISTORICAL_UPDATE_COMPLETE");
    assert_eq!(v["accounts"].as_array().unwrap().len(), 9);
    assert!(v["modified"].as_array().unwrap().is_empty() && v["removed"].as_array().unwrap().is_empty());
    let added = v["added"].as_array().unwrap();
    assert!((200..500).contains(&added.len()), "{}", added.len());
    assert_eq!(v["has_more"], false);
    let today = emu.control().now().date();
    let oldest = today - time::Duration::days(90);
    let ids: HashSet<&str> = added.iter().map(|t| t["transaction_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), added.len());
    let mut pending = 0;
    let mut linked = 0;
    for t in added {
        let date =
            time::Date::parse(t["date"].as_str().unwrap(), &time::macros::format_description!("[year]-[month]-[day]"))
                .unwrap();
        assert!(date <= today && date >= oldest, "{date}");
        assert_eq!(t["location"].as_object().unwrap().len(), 8);
        assert_eq!(t["payment_meta"].as_object().unwrap().len(), 8);
        assert!(t["personal_finance_category"]["primary"].is_string());
        assert!(t["amount"].is_number() && t["name"].is_string());
        assert!(["online", "in store", "other"].contains(&t["payment_channel"].as_str().unwrap()));
        if t["pending"] == true {
            pending += 1;
        }
        if let Some(pid) = t["pending_transaction_id"].as_str() {
            linked += 1;
            assert!(!ids.contains(pid), "the pending version was replaced");
            assert_eq!(t["pending"], false);
        }
    }
    assert!(pending > 0 && linked > 0, "pending {pending}, linked {linked}");
    let names: HashSet<&str> = added.iter().filter_map(|t| t["merchant_name"].as_str()).collect();
    assert!(names.len() > 10, "{names:?}");
    // Without the option, personal_finance_category is absent.
    let r = emu.plaid("/transactions/sync", json!({"access_token": access, "count": 1})).await;
    assert!(r.ok()["added"][0].get("personal_finance_category").is_none());
}

#[tokio::test]
async fn paging_with_count_has_more_and_opaque_cursors() {
    let emu = emulator().await;
    let (access, _) = emu.item(None).await;
    let (all, _, _, _) = emu.sync_all(&access, None, 500).await;
    // Default count is 100.
    let r = emu.plaid("/transactions/sync", json!({"access_token": access})).await;
    let first = r.ok().clone();
    assert_eq!(first["added"].as_array().unwrap().len(), 100.min(all.len()));
    assert_eq!(first["has_more"], all.len() > 100);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert!(cursor.parse::<i64>().is_err(), "{cursor}");
    assert!(!cursor.is_empty());
    // Paging by 37 gives the same set as one big page, each exactly once.
    let (paged, modified, removed, settled) = emu.sync_all(&access, None, 37).await;
    assert!(modified.is_empty() && removed.is_empty());
    let a: Vec<&str> = all.iter().map(|t| t["transaction_id"].as_str().unwrap()).collect();
    let b: Vec<&str> = paged.iter().map(|t| t["transaction_id"].as_str().unwrap()).collect();
    assert_eq!(a, b);
    // From the settled cursor: nothing new.
    let r = emu.plaid("/transactions/sync", json!({"access_token": access, "cursor": settled})).await;
    let v = r.ok();
    assert!(v["added"].as_array().unwrap().is_empty());
    assert_eq!(v["has_more"], false);
    // "now" fast-forwards.
    let r = emu.plaid("/transactions/sync", json!({"access_token": access, "cursor": "now"})).await;
    assert!(r.ok()["added"].as_array().unwrap().is_empty());
    // Another Item's cursor is not valid here.
    let (other, _) = emu.item(None).await;
    let r = emu.plaid("/transactions/sync", json!({"access_token": other, "cursor": settled})).await;
    r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
}

async fn settled_cursor(emu: &Emu, access: &str) -> String {
    emu.sync_all(access, None, 500).await.3
}

#[tokio::test]
async fn add_modify_remove_then_sync_sees_exactly_the_change() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (access, item_id) = emu.item(Some(&receiver.url)).await;
    let cursor = settled_cursor(&emu, &access).await;
    let current = emu.control().transactions(&item_id).unwrap();
    let to_modify = current[3]["transaction_id"].as_str().unwrap().to_owned();
    let to_remove = current[5]["transaction_id"].as_str().unwrap().to_owned();
    let result = emu
        .control()
        .mutate_transactions(
            &access,
            &TransactionMutation {
                add: vec![NewTransaction {
                    amount: Some(42.5),
                    name: Some("Blue Bottle Coffee".into()),
                    ..Default::default()
                }],
                modify: vec![ModifyTransaction {
                    transaction_id: to_modify.clone(),
                    amount: Some(99.99),
                    ..Default::default()
                }],
                remove: vec![to_remove.clone()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(result.added.len(), 1);
    let (added, modified, removed, _) = emu.sync_all(&access, Some(&cursor), 100).await;
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["transaction_id"], result.added[0].as_str());
    assert_eq!(added[0]["name"], "Blue Bottle Coffee");
    assert_eq!(added[0]["amount"], 42.5);
    assert_eq!(modified.len(), 1);
    assert_eq!(modified[0]["transaction_id"], to_modify.as_str());
    assert_eq!(modified[0]["amount"], 99.99);
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["transaction_id"], to_remove.as_str());
    assert!(removed[0]["account_id"].is_string());
    // Webhooks: SYNC_UPDATES_AVAILABLE, DEFAULT_UPDATE with new_transactions, TRANSACTIONS_REMOVED.
    let sync_hooks = receiver.wait_for("SYNC_UPDATES_AVAILABLE", 3).await;
    assert_eq!(sync_hooks[2].json()["historical_update_complete"], true);
    let default = receiver.wait_for("DEFAULT_UPDATE", 1).await;
    assert_eq!(default[0].json()["new_transactions"], 1);
    let removed_hook = receiver.wait_for("TRANSACTIONS_REMOVED", 1).await;
    assert_eq!(removed_hook[0].json()["removed_transactions"], json!([to_remove]));
    // The HTTP control route does the same.
    let r = emu.post(&format!("/__emulator/items/{item_id}/transactions"), json!({"remove": [to_modify]})).await;
    assert_eq!(r.ok()["removed"], json!([to_modify]));
    let r = emu.post(&format!("/__emulator/items/{item_id}/transactions"), json!({"remove": ["no-such-id"]})).await;
    r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
}

#[tokio::test]
async fn a_pending_transaction_posts() {
    let emu = emulator().await;
    let (access, _) = emu.item(None).await;
    let cursor = settled_cursor(&emu, &access).await;
    let pending = emu.control().transactions(&access).unwrap().into_iter().find(|t| t["pending"] == true).unwrap();
    let pid = pending["transaction_id"].as_str().unwrap().to_owned();
    let r = emu
        .control()
        .mutate_transactions(&access, &TransactionMutation { post_pending: vec![pid.clone()], ..Default::default() })
        .unwrap();
    let (added, _, removed, _) = emu.sync_all(&access, Some(&cursor), 100).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["transaction_id"], pid.as_str());
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["transaction_id"], r.added[0].as_str());
    assert_eq!(added[0]["pending_transaction_id"], pid.as_str());
    assert_eq!(added[0]["pending"], false);
}

#[tokio::test]
async fn mutation_during_pagination() {
    let emu = emulator().await;
    let (access, _) = emu.item(None).await;
    // Control: the next paginated read fails.
    let first = emu.plaid("/transactions/sync", json!({"access_token": access, "count": 50})).await;
    let first = first.ok().clone();
    assert_eq!(first["has_more"], true);
    let mid = first["next_cursor"].as_str().unwrap().to_owned();
    emu.control().fail_next_paginated_sync(&access).unwrap();
    // A first page (no cursor) is not affected.
    emu.plaid("/transactions/sync", json!({"access_token": access, "count": 50})).await.ok();
    let r = emu.plaid("/transactions/sync", json!({"access_token": access, "cursor": mid, "count": 50})).await;
    let e = r.err(400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION");
    assert!(e["error_message"].as_str().unwrap().contains("restart pagination"));
    // Once only.
    emu.plaid("/transactions/sync", json!({"access_token": access, "cursor": mid, "count": 50})).await.ok();

    // Real detection: the log changes while a client pages.
    let generated =
        emu.control().mutate_transactions(&access, &TransactionMutation { generate: 2, ..Default::default() }).unwrap();
    assert_eq!(generated.added.len(), 2);
    let r = emu.plaid("/transactions/sync", json!({"access_token": access, "cursor": mid, "count": 50})).await;
    r.err(400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION");
    // Restarting from the loop's starting cursor (here: none) works and sees the new data.
    let (added, _, _, _) = emu.sync_all(&access, None, 50).await;
    let ids: HashSet<&str> = added.iter().map(|t| t["transaction_id"].as_str().unwrap()).collect();
    assert!(generated.added.iter().all(|id| ids.contains(id.as_str())));
}

#[tokio::test]
async fn delayed_history_is_not_ready_at_first() {
    let mut config = common::config();
    config.history_delay = Duration::from_secs(60);
    let emu = Emu::start(config).await;
    let receiver = Receiver::start().await;
    let (access, item_id) = emu.item(Some(&receiver.url)).await;
    let r = emu.plaid("/transactions/sync", json!({"access_token": access})).await;
    let v = r.ok().clone();
    assert_eq!(v["next_cursor"], "");
    assert_eq!(v["has_more"], false);
    assert_eq!(v["transactions_update_status"], "NOT_READY");
    assert!(v["added"].as_array().unwrap().is_empty());
    assert!(receiver.received().is_empty());
    emu.control().advance_clock(Duration::from_secs(61)).unwrap();
    let hooks = receiver.wait_for("SYNC_UPDATES_AVAILABLE", 2).await;
    assert!(hooks.iter().all(|h| h.json()["item_id"] == item_id.as_str()));
    let initial = receiver.wait_for("INITIAL_UPDATE", 1).await;
    assert!(initial[0].json()["new_transactions"].as_u64().unwrap() > 0);
    let historical = receiver.wait_for("HISTORICAL_UPDATE", 1).await;
    let (added, _, _, _) = emu.sync_all(&access, None, 500).await;
    assert_eq!(historical[0].json()["new_transactions"].as_u64().unwrap() as usize, added.len());
}

#[tokio::test]
async fn item_without_webhook_gets_no_deliveries() {
    let emu = emulator().await;
    let (access, _) = emu.item(None).await;
    emu.control().mutate_transactions(&access, &TransactionMutation { generate: 1, ..Default::default() }).unwrap();
    assert!(emu.control().deliveries(None, None).is_empty());
    let r = emu
        .plaid("/sandbox/item/fire_webhook", json!({"access_token": access, "webhook_code": "DEFAULT_UPDATE"}))
        .await;
    r.err(400, "SANDBOX_ERROR", "SANDBOX_WEBHOOK_INVALID");
}

#[tokio::test]
async fn account_id_option_must_be_the_items() {
    let emu = emulator().await;
    let (access, item_id) = emu.item(None).await;
    let r = emu
        .plaid(
            "/transactions/sync",
            json!({"access_token": access, "options": {"account_id": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}),
        )
        .await;
    let e = r.err(400, "INVALID_INPUT", "INVALID_ACCOUNT_ID");
    assert_eq!(e["error_message"], "failed to find requested account ID for requested item");
    let view = emu.control().item(&item_id).unwrap();
    let card = view["accounts"].as_array().unwrap().iter().find(|a| a["mask"] == "3333").unwrap()["account_id"].clone();
    let r = emu
        .plaid("/transactions/sync", json!({"access_token": access, "count": 500, "options": {"account_id": card}}))
        .await;
    let added = r.ok()["added"].as_array().unwrap().clone();
    assert!(!added.is_empty());
    assert!(added.iter().all(|t| t["account_id"] == card));
}
