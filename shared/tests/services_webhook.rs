//! Webhook intake on the doubles: item events applied once and in order, redeliveries deduplicated, sync
//! hand-offs, revocation, and failures answered so that Plaid retries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{added, at, item_error_webhook, item_id, link_item, stored, sync_webhook, webhook};
use weft::domain::{ItemStatus, ItemView};
use weft::doubles::TestServices;
use weft::doubles::plaid::endpoints;
use weft::ports::{PlaidError, SyncReason, WebhookDedup, WebhookEvent};
use weft::services::ServiceError;
use weft::services::sync::{QueuedSync, sync_batch, sync_item};
use weft::services::webhook::{Handled, intake, sync_pending_key};

async fn setup() -> (TestServices, weft::domain::ItemRecord) {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    t.queue.take(); // the exchange's first sync
    (t, item)
}

#[tokio::test]
async fn an_item_error_is_applied_once_and_a_redelivery_is_a_duplicate() {
    let (t, item) = setup().await;
    let w = item_error_webhook(&item.item_id, at(10));
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::Applied);
    let after = stored(&t, &item).await;
    assert_eq!(after.status, ItemStatus::LoginRequired);
    assert_eq!(after.view(), ItemView::NeedsLogin);
    assert_eq!(after.error.as_ref().unwrap().since, at(10));

    // Plaid delivers the same signed request again: nothing happens a second time.
    let updates = t.store.calls("update_item") + t.store.calls("update_item_with_events");
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::Duplicate);
    assert_eq!(t.store.calls("update_item") + t.store.calls("update_item_with_events"), updates);
    assert_eq!(stored(&t, &item).await, after);

    // The same body signed later is a new event: processed (its time recorded), not a duplicate.
    let later = item_error_webhook(&item.item_id, at(20));
    assert_eq!(later.body_sha256, w.body_sha256);
    assert_ne!(intake(&t.services, &later).await.unwrap(), Handled::Duplicate);
    assert!(t.store.webhook_seen(&later.dedup_key()).await.unwrap());
    let latest = stored(&t, &item).await;
    assert_eq!(latest.event_times.error, Some(at(20)));
    assert_eq!(latest.error.unwrap().since, at(10), "the error began at the first one");
}

#[tokio::test]
async fn webhooks_for_an_unknown_item_are_acknowledged() {
    let (t, _) = setup().await;
    let unknown = item_id("item-gone");
    assert_eq!(intake(&t.services, &item_error_webhook(&unknown, at(1))).await.unwrap(), Handled::UnknownItem);
    assert_eq!(intake(&t.services, &sync_webhook(&unknown, at(1))).await.unwrap(), Handled::UnknownItem);
    assert!(t.queue.requests().is_empty());
    assert_eq!(t.store.calls("update_item") + t.store.calls("update_item_with_events"), 0);
}

#[tokio::test]
async fn a_webhook_that_arrives_before_its_item_is_stored_leaves_no_mark() {
    let (t, _) = setup().await;
    // Plaid's first webhooks can beat the exchange's write of the item: then no sync is queued, and no
    // mark may stay to swallow the item's later webhooks.
    let not_yet = item_id("item-being-stored");
    assert_eq!(intake(&t.services, &sync_webhook(&not_yet, at(1))).await.unwrap(), Handled::UnknownItem);
    assert!(!t.store.has_webhook_mark(&sync_pending_key(&not_yet)));
}

#[tokio::test]
async fn a_store_failure_is_an_error_and_leaves_no_mark_so_plaids_retry_is_processed() {
    let (t, item) = setup().await;
    let w = item_error_webhook(&item.item_id, at(10));
    t.store.fail_next("update_item_with_events", 1);
    let err = intake(&t.services, &w).await.unwrap_err();
    assert!(matches!(err, ServiceError::Store(_)), "{err:?}");
    assert!(!t.store.has_webhook_mark(&w.dedup_key()));
    assert_eq!(stored(&t, &item).await.status, ItemStatus::Healthy);
    // Plaid retries the same delivery.
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::Applied);
    assert_eq!(stored(&t, &item).await.status, ItemStatus::LoginRequired);

    // The sync hand-off: the item lookup fails while the mark is written; the mark is taken back.
    let s = sync_webhook(&item.item_id, at(30));
    t.store.fail_next("find_item", 1);
    assert!(intake(&t.services, &s).await.is_err());
    assert!(!t.store.has_webhook_mark(&s.dedup_key()));
    // The queue refuses: likewise.
    t.queue.fail_next(1);
    assert!(matches!(intake(&t.services, &s).await.unwrap_err(), ServiceError::Queue(_)));
    assert!(!t.store.has_webhook_mark(&s.dedup_key()));
    assert_eq!(intake(&t.services, &s).await.unwrap(), Handled::SyncQueued);
    assert_eq!(t.queue.requests().len(), 1);
}

#[tokio::test]
async fn what_weft_does_not_act_on_is_acknowledged_even_a_bad_account_id() {
    let (t, item) = setup().await;
    let unknown = WebhookEvent::Unknown { webhook_type: "AUTH".into(), webhook_code: "AUTOMATICALLY_VERIFIED".into() };
    let w = webhook(&item.item_id, unknown, at(1), "auth");
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::Ignored);
    let no_error = webhook(&item.item_id, WebhookEvent::ItemError { error: None }, at(2), "error without error");
    assert_eq!(intake(&t.services, &no_error).await.unwrap(), Handled::Ignored);
    let writes = ["update_item", "update_item_with_events", "mark_webhook_seen"];
    assert_eq!(writes.iter().map(|op| t.store.calls(op)).sum::<usize>(), 0);

    // An account id weft cannot key a record with: nothing changes.
    let revoked = WebhookEvent::UserAccountRevoked { account_id: "not an id!".into(), error: None };
    let w = webhook(&item.item_id, revoked, at(3), "bad account");
    // Never actionable: acknowledged (an error would make Plaid retry it forever).
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::Ignored);
    assert_eq!(stored(&t, &item).await, item);
}

#[tokio::test]
async fn transactions_webhooks_queue_one_sync_per_item_until_it_starts() {
    let (t, item) = setup().await;
    let w = sync_webhook(&item.item_id, at(5));
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::SyncQueued);
    let queued = t.queue.requests();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].item_id, item.item_id);
    assert_eq!(queued[0].reason, SyncReason::Webhook("SYNC_UPDATES_AVAILABLE".into()));
    let pending = sync_pending_key(&item.item_id);
    assert_eq!(queued[0].webhook_key.as_deref(), Some(pending.as_str()));
    // A redelivery, and a newer change, while the sync is queued: covered by it (it has read nothing yet).
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::Coalesced);
    let newer = sync_webhook(&item.item_id, at(6));
    assert_eq!(intake(&t.services, &newer).await.unwrap(), Handled::Coalesced);
    assert_eq!(t.queue.requests().len(), 1);
    // Another item's webhook is its own.
    let other = link_item(&t, "bob", "ins_2").await.item_id;
    assert_eq!(intake(&t.services, &sync_webhook(&other, at(6))).await.unwrap(), Handled::SyncQueued);
    assert_eq!(t.queue.take().len(), 3, "alice's, bob's first sync, bob's");

    // The worker runs the sync: once it holds the item it forgets the webhook.
    let failed = sync_batch(
        &t.services,
        vec![QueuedSync {
            message_id: "m1".into(),
            receipt: "r1".into(),
            receive_count: 1,
            request: queued[0].clone(),
        }],
    )
    .await;
    assert!(failed.is_empty());
    assert!(!t.store.has_webhook_mark(&pending));
    // From now on a delivery may carry a change that sync missed: it queues another.
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::SyncQueued);
    assert_eq!(t.queue.requests().len(), 1);
}

#[tokio::test]
async fn a_revoked_item_is_removed_at_plaid_and_deleted() {
    let (t, item) = setup().await;
    t.plaid.push_changes(&item.item_id, added(&item, "t", 4));
    sync_item(&t.services, &item.item_id).await.unwrap();
    assert_eq!(t.store.transaction_ids(&item.item_id).len(), 4);

    let revoked = webhook(&item.item_id, WebhookEvent::UserPermissionRevoked { error: None }, at(50), "revoked");
    assert_eq!(intake(&t.services, &revoked).await.unwrap(), Handled::ItemRemoved);
    assert!(t.plaid.is_removed(&item.item_id));
    assert_eq!(t.plaid.remove_calls(&item.item_id), 1);
    assert_eq!(t.store.item_count(), 0);
    assert!(t.store.transaction_ids(&item.item_id).is_empty());
    assert_eq!(intake(&t.services, &revoked).await.unwrap(), Handled::Duplicate);
    assert_eq!(intake(&t.services, &item_error_webhook(&item.item_id, at(60))).await.unwrap(), Handled::UnknownItem);
    assert_eq!(t.plaid.calls(endpoints::ITEM_REMOVE), 1);
}

#[tokio::test]
async fn an_error_older_than_a_repair_changes_nothing() {
    let (t, item) = setup().await;
    assert_eq!(intake(&t.services, &item_error_webhook(&item.item_id, at(100))).await.unwrap(), Handled::Applied);
    let repaired = webhook(&item.item_id, WebhookEvent::LoginRepaired, at(200), "repaired");
    assert_eq!(intake(&t.services, &repaired).await.unwrap(), Handled::Applied);
    let healthy = stored(&t, &item).await;
    assert_eq!(healthy.status, ItemStatus::Healthy);
    let catch_up = t.queue.requests();
    assert_eq!(catch_up.len(), 1, "a repaired item is caught up");
    assert_eq!(catch_up[0].reason, SyncReason::Repaired);

    // An ERROR Plaid signed before the repair arrives late.
    let late = item_error_webhook(&item.item_id, at(150));
    assert_eq!(intake(&t.services, &late).await.unwrap(), Handled::Unchanged);
    assert_eq!(stored(&t, &item).await, healthy);
}

#[tokio::test]
async fn other_item_errors_make_the_item_unavailable() {
    let (t, item) = setup().await;
    let error = PlaidError {
        error_type: "INSTITUTION_ERROR".into(),
        error_code: "INSTITUTION_DOWN".into(),
        ..Default::default()
    };
    let w = webhook(&item.item_id, WebhookEvent::ItemError { error: Some(error) }, at(1), "institution down");
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::Applied);
    let after = stored(&t, &item).await;
    assert_eq!(after.status, ItemStatus::Error);
    assert_eq!(after.view(), ItemView::Unavailable);
}
