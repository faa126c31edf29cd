//! `/transactions/sync` on the doubles: every page applied together with the cursor saved at the end, a
//! mutation during pagination restarting from the starting cursor, one sync per item at a time (the lease),
//! item errors recorded, batches grouped by item.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{added, at, link_item, stored, txn};
use std::time::Duration;
use weft::domain::{ItemRecord, ItemStatus, TransactionId, observed_at};
use weft::doubles::plaid::{endpoints, errors};
use weft::doubles::{SyncChange, TestServices};
use weft::ports::{SyncReason, SyncRequest, SyncStore, WebhookDedup};
use weft::services::ServiceError;
use weft::services::sync::{LEASE, QueuedSync, sync_batch, sync_item};

async fn setup() -> (TestServices, ItemRecord) {
    let t = TestServices::new(); // pages of 3
    let item = link_item(&t, "alice", "ins_1").await;
    t.queue.take();
    (t, item)
}

fn ids(list: &[TransactionId]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

/// What the store holds for the item is exactly what Plaid has.
fn assert_same_as_plaid(t: &TestServices, item: &ItemRecord) {
    assert_eq!(ids(&t.store.transaction_ids(&item.item_id)), t.plaid.transaction_ids(&item.item_id));
}

#[tokio::test]
async fn every_page_is_applied_and_the_cursor_saved_at_the_end() {
    let (t, item) = setup().await;
    t.plaid.push_changes(&item.item_id, added(&item, "t", 7));
    let report = sync_item(&t.services, &item.item_id).await.unwrap();
    assert_eq!((report.added, report.pages, report.restarts, report.skipped), (7, 3, 0, None));
    assert_same_as_plaid(&t, &item);
    assert_eq!(t.store.transaction_ids(&item.item_id).len(), 7);
    assert_eq!(t.store.calls("apply_transaction_changes"), 1, "all pages applied together");
    assert_eq!(t.store.calls("save_sync_cursor"), 1, "the cursor saved once, with the data it covers");
    assert_eq!(t.store.lease_owner(&item.item_id), None, "the lease is released");

    // The next sync starts from the saved cursor.
    let saved = t.store.sync_cursor(&item.item_id).unwrap();
    let report = sync_item(&t.services, &item.item_id).await.unwrap();
    assert_eq!((report.added, report.pages), (0, 1));
    assert_eq!(t.plaid.sync_cursors(&item.item_id)[3].as_deref(), Some(saved.as_str()));
}

#[tokio::test]
async fn balances_and_newly_shared_accounts_come_with_every_sync() {
    let (t, item) = setup().await;
    t.plaid.push_changes(&item.item_id, added(&item, "t", 2));
    t.plaid.add_account(&item.item_id, weft::doubles::plaid::account("acc-new", "Plaid CD", "5555", "cd"));
    t.clock.advance(time::Duration::hours(1));
    let before = t.plaid.calls(endpoints::ACCOUNTS_GET);
    sync_item(&t.services, &item.item_id).await.unwrap();
    let after = stored(&t, &item).await;
    assert_eq!(after.accounts.len(), item.accounts.len() + 1, "the newly shared account appears");
    assert!(after.accounts.iter().all(|a| a.balances.current.is_some() && a.balances.as_of == Some(t.now())));
    assert_eq!(t.plaid.calls(endpoints::ACCOUNTS_GET), before, "no extra Plaid call: the sync carries them");
    // And how far Plaid's transactions are, and when weft last synced.
    assert_eq!(after.transactions_sync.last_synced_at, Some(t.now()));
    assert!(after.transactions_sync.update_status.is_some(), "{:?}", after.transactions_sync);
}

#[tokio::test]
async fn a_failure_on_a_later_page_applies_nothing_and_keeps_the_cursor() {
    let (t, item) = setup().await;
    t.plaid.push_changes(&item.item_id, added(&item, "t", 7));
    t.plaid.pass_next(endpoints::TRANSACTIONS_SYNC, 2);
    t.plaid.fail_next(endpoints::TRANSACTIONS_SYNC, errors::server_error(endpoints::TRANSACTIONS_SYNC));
    let err = sync_item(&t.services, &item.item_id).await.unwrap_err();
    assert!(matches!(&err, ServiceError::Plaid(e) if e.is_server_error()), "{err:?}");
    assert!(t.store.transaction_ids(&item.item_id).is_empty());
    assert_eq!(t.store.sync_cursor(&item.item_id), None);
    assert_eq!(t.store.lease_owner(&item.item_id), None, "the lease is released after a failure too");
    // The queue's retry runs it again from the start.
    sync_item(&t.services, &item.item_id).await.unwrap();
    assert_same_as_plaid(&t, &item);
}

#[tokio::test]
async fn a_mutation_during_pagination_restarts_from_the_starting_cursor() {
    let (t, item) = setup().await;
    t.plaid.push_changes(&item.item_id, added(&item, "t", 4));
    sync_item(&t.services, &item.item_id).await.unwrap();
    let start = t.store.sync_cursor(&item.item_id).unwrap();

    // Since then: three new transactions, one modified, one removed (two pages of changes) ...
    t.plaid.push_changes(
        &item.item_id,
        vec![
            SyncChange::Added(txn(&item, "t5", 5, 50.0)),
            SyncChange::Added(txn(&item, "t6", 6, 60.0)),
            SyncChange::Added(txn(&item, "t7", 7, 70.0)),
            SyncChange::Modified(txn(&item, "t2", 2, 22.0)),
            SyncChange::Removed("t1".into()),
        ],
    );
    // ... and while the sync pages through them, another removal and another addition.
    t.plaid.change_before_sync_call(
        &item.item_id,
        2,
        vec![SyncChange::Removed("t3".into()), SyncChange::Added(txn(&item, "t8", 8, 80.0))],
    );
    let calls_before = t.plaid.sync_cursors(&item.item_id).len();
    let report = sync_item(&t.services, &item.item_id).await.unwrap();
    assert_eq!(report.restarts, 1);

    let cursors = t.plaid.sync_cursors(&item.item_id)[calls_before..].to_vec();
    assert_eq!(cursors[0].as_deref(), Some(start.as_str()));
    assert_ne!(cursors[1].as_deref(), Some(start.as_str()), "the second page was asked with its own cursor");
    assert_eq!(cursors[2].as_deref(), Some(start.as_str()), "restarted from the starting cursor, not from null");
    assert!(cursors.iter().all(Option::is_some));

    // Exactly Plaid's transactions: no removal lost, the modification kept.
    assert_same_as_plaid(&t, &item);
    assert_eq!(t.plaid.transaction_ids(&item.item_id), ["t2", "t4", "t5", "t6", "t7", "t8"]);
    let page = weft::services::items::transactions(&t.services, &item.user_id, &item.item_id, None, 10).await.unwrap();
    let t2 = page.transactions.iter().find(|x| x.transaction_id.as_str() == "t2").unwrap();
    assert_eq!(t2.details.amount, 22.0);
}

#[tokio::test]
async fn a_lease_held_by_another_worker_is_a_conflict_and_nothing_is_written() {
    let (t, item) = setup().await;
    t.plaid.push_changes(&item.item_id, added(&item, "t", 4));
    t.store.acquire_sync_lease(&item.user_id, &item.item_id, "other-worker", t.now(), LEASE).await.unwrap();

    let err = sync_item(&t.services, &item.item_id).await.unwrap_err();
    assert!(matches!(err, ServiceError::Conflict), "{err:?}");
    assert_eq!(t.plaid.calls(endpoints::TRANSACTIONS_SYNC), 0);
    assert!(t.store.transaction_ids(&item.item_id).is_empty());
    assert_eq!(t.store.sync_cursor(&item.item_id), None);
    assert_eq!(t.store.lease_owner(&item.item_id).as_deref(), Some("other-worker"), "its lease is left alone");

    // Once that lease expires, a sync takes the item over.
    t.clock.advance(time::Duration::try_from(LEASE + Duration::from_secs(1)).unwrap());
    sync_item(&t.services, &item.item_id).await.unwrap();
    assert_same_as_plaid(&t, &item);
    // The other worker's late cursor is refused.
    let late = t.store.save_sync_cursor(&item.user_id, &item.item_id, "other-worker", "stale").await;
    assert!(matches!(late, Err(weft::ports::LeaseError::Held)));
}

#[tokio::test]
async fn item_login_required_during_sync_marks_the_item() {
    let (t, item) = setup().await;
    t.plaid.push_changes(&item.item_id, added(&item, "t", 4));
    t.plaid.set_item_error(&item.item_id, Some(errors::login_required()));
    t.clock.advance(time::Duration::seconds(30));
    let report = sync_item(&t.services, &item.item_id).await.unwrap();
    assert_eq!(report.skipped, Some("login_required"));
    let after = stored(&t, &item).await;
    assert_eq!(after.status, ItemStatus::LoginRequired);
    assert_eq!(after.error.as_ref().unwrap().since, observed_at(at(30)));
    assert!(t.store.transaction_ids(&item.item_id).is_empty());
    assert_eq!(t.store.sync_cursor(&item.item_id), None);
}

#[tokio::test]
async fn a_batch_syncs_each_item_once_and_reports_every_message_of_a_failed_item() {
    let t = TestServices::new();
    let a = link_item(&t, "alice", "ins_1").await;
    let b = link_item(&t, "alice", "ins_2").await;
    let c = link_item(&t, "bob", "ins_1").await;
    for item in [&a, &b, &c] {
        t.plaid.push_changes(&item.item_id, added(item, "t", 2));
    }
    // B's sync cannot start: another worker holds it.
    t.store.acquire_sync_lease(&b.user_id, &b.item_id, "other-worker", t.now(), LEASE).await.unwrap();
    let message = |id: &str, item: &ItemRecord| {
        let key = format!("{id}-key");
        QueuedSync {
            message_id: id.into(),
            receipt: format!("{id}-receipt"),
            receive_count: 2,
            request: SyncRequest {
                item_id: item.item_id.clone(),
                reason: SyncReason::Webhook("SYNC_UPDATES_AVAILABLE".into()),
                dedup_key: format!("{id}-dedup"),
                webhook_key: Some(key),
            },
        }
    };
    let batch = vec![message("a1", &a), message("b1", &b), message("a2", &a), message("c1", &c), message("b2", &b)];
    for m in &batch {
        t.store.mark_webhook_seen(m.request.webhook_key.as_deref().unwrap()).await.unwrap();
    }

    let failed = sync_batch(&t.services, batch).await;
    assert_eq!(failed, ["b1", "b2"]);
    // Back in 20 s (their second delivery failed), not after the queue's visibility timeout.
    let twenty = Duration::from_secs(20);
    assert_eq!(t.queue.retries(), [("b1-receipt".to_owned(), twenty), ("b2-receipt".to_owned(), twenty)]);
    assert_eq!(t.plaid.sync_cursors(&a.item_id).len(), 1, "one sync serves both of A's messages");
    assert_eq!(t.plaid.sync_cursors(&c.item_id).len(), 1);
    assert!(t.plaid.sync_cursors(&b.item_id).is_empty());
    assert_same_as_plaid(&t, &a);
    assert_same_as_plaid(&t, &c);
    assert!(t.store.transaction_ids(&b.item_id).is_empty());
    // The webhooks of the syncs that started are forgotten, and so are failed B's: B's next webhook queues
    // a sync of its own (were B's messages to end in the dead-letter queue, it would otherwise wait on them).
    for key in ["a1", "a2", "c1", "b1", "b2"] {
        assert!(!t.store.webhook_seen(&format!("{key}-key")).await.unwrap(), "{key}");
    }
}

#[tokio::test]
async fn history_not_ready_saves_nothing() {
    let (t, item) = setup().await;
    t.plaid.set_history_ready(&item.item_id, false);
    let report = sync_item(&t.services, &item.item_id).await.unwrap();
    assert_eq!(report.skipped, Some("not_ready"));
    assert_eq!(t.store.sync_cursor(&item.item_id), None);
    assert_eq!(t.store.calls("apply_transaction_changes"), 0);
}
