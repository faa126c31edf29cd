//! `GET /items` (`services::items::list`) counts no prompt (a page view is not a notification: the reminders
//! are the prompts the churn policy counts), and a reminder's count, its own write, never overwrites a
//! webhook's concurrent change of the item. Also the item's transactions listing and removal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{added, at, link_item, stored, user, webhook};
use std::time::Duration;
use weft::domain::{ItemRecord, ItemStatus, ItemView};
use weft::doubles::{Gate, TestServices};
use weft::ports::{StoreError, VerifiedWebhook, WebhookEvent};
use weft::services::ServiceError;
use weft::services::items;
use weft::services::sync::sync_item;
use weft::services::webhook::{Handled, intake};

/// An item in PENDING_EXPIRATION (its prompt not yet shown), and the PENDING_DISCONNECT webhook to come.
async fn expiring_item() -> (TestServices, ItemRecord, VerifiedWebhook) {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    let expiring = WebhookEvent::PendingExpiration { consent_expiration_time: Some(at(7 * 86_400)) };
    let w = webhook(&item.item_id, expiring, at(10), "pending expiration");
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::Applied);
    let item = stored(&t, &item).await;
    assert_eq!((item.status, item.ignored_prompts), (ItemStatus::PendingExpiration, 0));
    let disconnect = WebhookEvent::PendingDisconnect {
        reason: Some("INSTITUTION_MIGRATION".into()),
        disconnect_time: Some(at(3 * 86_400)),
    };
    let w = webhook(&item.item_id, disconnect, at(20), "pending disconnect");
    (t, item, w)
}

/// Waits until the held call has started; a call that never comes fails the test instead of hanging it.
async fn reached(gate: &mut Gate) {
    let op = gate.operation();
    tokio::time::timeout(Duration::from_secs(10), gate.reached())
        .await
        .unwrap_or_else(|_| panic!("{op} was never called"));
}

#[tokio::test]
async fn listing_the_items_counts_no_prompt_however_often() {
    let (t, item, w) = expiring_item().await;
    assert_eq!(intake(&t.services, &w).await.unwrap(), Handled::Applied);
    for _ in 0..20 {
        let listed = items::list(&t.services, &user("alice")).await.unwrap();
        assert_eq!(listed[0].view(), ItemView::Expiring { on: at(3 * 86_400) });
    }
    assert_eq!(t.store.calls("count_relink_prompt") + t.store.calls("add_reminder"), 0);
    assert_eq!(stored(&t, &item).await.ignored_prompts, 0, "a page view is not a notification");
}

#[tokio::test]
async fn a_reminder_between_a_webhooks_read_and_its_write_keeps_both() {
    let (t, item, w) = expiring_item().await;
    // A day after the item began needing the user, its first reminder is due.
    t.clock.advance(time::Duration::days(1) + time::Duration::minutes(1));
    let mut gate = t.store.pause_next("update_item_with_events");
    let (handled, reminded) = tokio::join!(intake(&t.services, &w), async {
        reached(&mut gate).await; // the webhook read the item (count 0) and is about to save its change
        let reminded = weft::services::events::remind(&t.services).await;
        gate.release();
        reminded
    });
    assert_eq!(reminded.unwrap().reminded, 1);
    assert_eq!(handled.unwrap(), Handled::Applied, "the reminder's count did not make the webhook's write conflict");
    let after = stored(&t, &item).await;
    assert_eq!(after.status, ItemStatus::PendingDisconnect, "the webhook's change is kept");
    assert_eq!(after.ignored_prompts, 1, "the reminder is counted");
}

#[tokio::test]
async fn healthy_items_list_without_prompts() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    let listed = items::list(&t.services, &user("alice")).await.unwrap();
    assert_eq!(listed[0].view(), ItemView::Healthy);
    assert_eq!(stored(&t, &item).await.ignored_prompts, 0);
    assert!(items::list(&t.services, &user("bob")).await.unwrap().is_empty());
}

#[tokio::test]
async fn transactions_are_listed_newest_first_in_pages() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    t.plaid.push_changes(&item.item_id, added(&item, "t", 5));
    sync_item(&t.services, &item.item_id).await.unwrap();

    let alice = user("alice");
    let first = items::transactions(&t.services, &alice, &item.item_id, None, 2).await.unwrap();
    let ids = |p: &weft::ports::TransactionPage| {
        p.transactions.iter().map(|t| t.transaction_id.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ["t5", "t4"]);
    assert_eq!(first.transactions[0].details.amount, 50.0, "details opened with the item's key");
    let second =
        items::transactions(&t.services, &alice, &item.item_id, first.next_cursor.as_deref(), 2).await.unwrap();
    assert_eq!(ids(&second), ["t3", "t2"]);
    let last = items::transactions(&t.services, &alice, &item.item_id, second.next_cursor.as_deref(), 2).await.unwrap();
    assert_eq!(ids(&last), ["t1"]);
    assert_eq!(last.next_cursor, None);

    // Another item's cursor is not valid here.
    let other = link_item(&t, "alice", "ins_2").await;
    t.plaid.push_changes(&other.item_id, added(&other, "o", 3));
    sync_item(&t.services, &other.item_id).await.unwrap();
    let foreign = items::transactions(&t.services, &alice, &other.item_id, None, 1).await.unwrap().next_cursor.unwrap();
    let err = items::transactions(&t.services, &alice, &item.item_id, Some(&foreign), 2).await.unwrap_err();
    assert!(matches!(err, ServiceError::Invalid(_)), "{err:?}");
    // Another user's item does not exist for them.
    let err = items::transactions(&t.services, &user("bob"), &item.item_id, None, 2).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound("item")), "{err:?}");
}

#[tokio::test]
async fn removal_is_at_plaid_first() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    t.plaid.fail_next(
        weft::doubles::plaid::endpoints::ITEM_REMOVE,
        weft::doubles::plaid::errors::server_error(weft::doubles::plaid::endpoints::ITEM_REMOVE),
    );
    assert!(matches!(items::remove(&t.services, &user("alice"), &item.item_id).await, Err(ServiceError::Plaid(_))));
    assert_eq!(stored(&t, &item).await, item, "not deleted here while Plaid still has it");
    items::remove(&t.services, &user("alice"), &item.item_id).await.unwrap();
    assert!(t.plaid.is_removed(&item.item_id));
    assert_eq!(t.store.item_count(), 0);
    let err = items::remove(&t.services, &user("alice"), &item.item_id).await.unwrap_err();
    assert!(matches!(err, ServiceError::NotFound("item")));
    // The store keeps NotFound for the prompt counter of a removed item.
    use weft::ports::ItemStore;
    assert!(matches!(t.store.count_relink_prompt(&item.user_id, &item.item_id).await, Err(StoreError::NotFound(_))));
}

#[tokio::test]
async fn a_real_time_balance_refresh_is_billed_so_it_has_a_daily_quota() {
    let t = TestServices::with_env(&[("WEFT_LIMIT_BALANCE_REFRESHES_PER_DAY", "2")]);
    let item = link_item(&t, "alice", "ins_1").await;
    t.clock.advance(time::Duration::minutes(5));
    let fresh = items::refresh_balances(&t.services, &user("alice"), &item.item_id).await.unwrap();
    assert!(fresh.accounts.iter().all(|a| a.balances.as_of == Some(t.now())), "{:?}", fresh.accounts);
    assert_eq!(t.plaid.calls(weft::doubles::plaid::endpoints::ACCOUNTS_BALANCE_GET), 1);
    // Another user cannot refresh (nor learn of) alice's item, and it costs nothing.
    let err = items::refresh_balances(&t.services, &user("mallory"), &item.item_id).await.unwrap_err();
    assert!(matches!(err, weft::services::ServiceError::NotFound(_)), "{err:?}");
    items::refresh_balances(&t.services, &user("alice"), &item.item_id).await.unwrap();
    let err = items::refresh_balances(&t.services, &user("alice"), &item.item_id).await.unwrap_err();
    assert!(matches!(err, weft::services::ServiceError::RateLimited { limit: "balance_refreshes", .. }), "{err:?}");
    assert_eq!(t.plaid.calls(weft::doubles::plaid::endpoints::ACCOUNTS_BALANCE_GET), 2, "the refused one cost nothing");
}
