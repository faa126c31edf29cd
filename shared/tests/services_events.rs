//! Item events for the app (`services::events`), on the doubles: which events each change publishes, the
//! re-link URL they carry, nothing lost when the bus fails (the outbox), nothing published twice for a
//! redelivered webhook, and reminders on their schedule counted as the prompts the churn policy counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{at, item_error_webhook, link_item, stored, sync_webhook, user, webhook};
use weft::domain::{AppEventKind, ItemStatus};
use weft::doubles::TestServices;
use weft::ports::{PlaidCallError, WebhookEvent};
use weft::services::events::{self, DRAIN_MIN_AGE};
use weft::services::link::{self, LinkTokenCommand};
use weft::services::webhook::{Handled, intake};
use weft::services::{items, sync};

fn repaired_webhook(item: &weft::domain::ItemId, issued_at: time::OffsetDateTime) -> weft::ports::VerifiedWebhook {
    let body = format!(r#"{{"webhook_type":"ITEM","webhook_code":"LOGIN_REPAIRED","item_id":"{item}"}}"#);
    webhook(item, WebhookEvent::LoginRepaired, issued_at, &body)
}

#[tokio::test]
async fn a_broken_login_and_its_repair_publish_needs_login_with_a_relink_url_then_repaired() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    assert_eq!(t.bus.types(), vec!["item.linked"]);

    let broken = item_error_webhook(&item.item_id, at(10));
    assert_eq!(intake(&t.services, &broken).await.unwrap(), Handled::Applied);
    let published = t.bus.published();
    let needs_login = published.last().unwrap();
    assert_eq!(needs_login.event.kind, AppEventKind::NeedsLogin { error_code: Some("ITEM_LOGIN_REQUIRED".into()) });
    let relink = needs_login.relink.as_ref().expect("a re-link URL");
    assert!(relink.url.starts_with("https://hosted.plaid.test/link/"), "{}", relink.url);
    assert_eq!(relink.expires_at, t.now() + time::Duration::hours(72));
    let detail = needs_login.detail();
    assert_eq!(detail["type"], "item.needs_login");
    assert_eq!(detail["relink_url"], relink.url.as_str());
    assert_eq!(detail["item_id"], item.item_id.as_str());
    // The Hosted Link token is update mode for the item, with the configured lifetime.
    let request = t.plaid.link_token_requests().last().cloned().unwrap();
    assert_eq!(request["hosted_link"]["url_lifetime_seconds"], 72 * 3600);
    assert!(request["access_token"].is_string());

    // Redelivered: nothing new.
    assert_eq!(intake(&t.services, &broken).await.unwrap(), Handled::Duplicate);
    assert_eq!(t.bus.published().len(), 2);

    assert_eq!(intake(&t.services, &repaired_webhook(&item.item_id, at(20))).await.unwrap(), Handled::Applied);
    assert_eq!(t.bus.types(), vec!["item.linked", "item.needs_login", "item.repaired"]);
    assert!(t.bus.published()[2].relink.is_none(), "nothing to act on");
    assert!(t.store.outbox().is_empty(), "every published event left the outbox");
}

#[tokio::test]
async fn while_the_bus_fails_no_event_is_lost_and_the_drain_publishes_them_once() {
    let t = TestServices::new();
    t.bus.fail_next(3);
    let item = link_item(&t, "alice", "ins_1").await;
    intake(&t.services, &item_error_webhook(&item.item_id, at(10))).await.unwrap();
    items::remove(&t.services, &user("alice"), &item.item_id).await.unwrap();
    assert!(t.bus.published().is_empty());
    assert_eq!(t.store.outbox().len(), 3, "linked, needs_login and removed wait in the outbox");

    // Too young for the drain (their writers may still publish them).
    assert_eq!(events::drain(&t.services, DRAIN_MIN_AGE).await.unwrap().published, 0);
    t.clock.advance(time::Duration::minutes(2));
    let drained = events::drain(&t.services, DRAIN_MIN_AGE).await.unwrap();
    assert_eq!((drained.published, drained.left), (3, 0));
    // Oldest first by `occurred_at`; events of the same instant in any order (as EventBridge delivers).
    let mut types = t.bus.types();
    types.sort_unstable();
    assert_eq!(types, vec!["item.linked", "item.needs_login", "item.removed"]);
    assert!(t.store.outbox().is_empty());
    // The item is gone: its needs-login event went without a re-link URL rather than never.
    assert_eq!(events::drain(&t.services, DRAIN_MIN_AGE).await.unwrap().published, 0, "published once");
}

#[tokio::test]
async fn an_event_waits_for_its_relink_url_while_plaid_cannot_make_one() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    t.plaid.fail_next("/link/token/create", PlaidCallError::Timeout { endpoint: "/link/token/create" });
    intake(&t.services, &item_error_webhook(&item.item_id, at(10))).await.unwrap();
    assert_eq!(t.bus.types(), vec!["item.linked"], "not published without its URL");
    assert_eq!(t.store.outbox().len(), 1);
    t.clock.advance(time::Duration::minutes(2));
    events::drain(&t.services, DRAIN_MIN_AGE).await.unwrap();
    assert_eq!(t.bus.types(), vec!["item.linked", "item.needs_login"]);
    assert!(t.bus.published()[1].relink.is_some());
}

#[tokio::test]
async fn removal_and_transactions_updates_are_published() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    t.plaid.push_changes(&item.item_id, services_support::added(&item, "t", 4));
    intake(&t.services, &sync_webhook(&item.item_id, at(5))).await.unwrap();
    let request = t.queue.take().pop().expect("a sync request");
    sync::sync_item(&t.services, &request.item_id).await.unwrap();
    let updated = t.bus.published().into_iter().find(|e| e.event.kind.name() == "item.transactions_updated");
    assert_eq!(updated.unwrap().event.kind, AppEventKind::TransactionsUpdated { added: 4, modified: 0, removed: 0 });
    items::remove(&t.services, &user("alice"), &item.item_id).await.unwrap();
    let removed = t.bus.published().pop().unwrap();
    assert_eq!(removed.event.kind, AppEventKind::Removed { reason: "user".into() });
    assert_eq!(removed.event.event_id, format!("removed-{}", item.item_id));
}

#[tokio::test]
async fn reminders_follow_the_schedule_count_as_prompts_and_stop_at_the_repair() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    intake(&t.services, &item_error_webhook(&item.item_id, at(0))).await.unwrap();
    let mut sent = Vec::new();
    // Days 1, 3, 7, then weekly: 4 reminders in the first 14 days, checked every day.
    for day in 1..=14 {
        t.clock.set(at(day * 86_400 + 60));
        let reminded = events::remind(&t.services).await.unwrap();
        if reminded.reminded > 0 {
            sent.push(day);
        }
        // Twice the same day sends nothing more.
        assert_eq!(events::remind(&t.services).await.unwrap().reminded, 0);
    }
    assert_eq!(sent, vec![1, 3, 7, 14]);
    let reminders: Vec<_> = t.bus.published().into_iter().filter(|e| e.event.kind.name() == "item.reminder").collect();
    assert_eq!(reminders.len(), 4);
    assert_eq!(reminders[3].event.kind, AppEventKind::Reminder { action: "needs_login".into(), number: 4 });
    assert!(reminders.iter().all(|r| r.relink.is_some()), "each reminder carries a re-link URL");
    assert_eq!(stored(&t, &item).await.ignored_prompts, 4, "the churn policy counts the reminders");

    intake(&t.services, &repaired_webhook(&item.item_id, at(14 * 86_400 + 120))).await.unwrap();
    assert_eq!(stored(&t, &item).await.ignored_prompts, 0, "the count starts afresh");
    t.clock.set(at(30 * 86_400));
    assert_eq!(events::remind(&t.services).await.unwrap().reminded, 0, "no reminder for a repaired item");
    assert_eq!(stored(&t, &item).await.status, ItemStatus::Healthy);
}

#[tokio::test]
async fn reminders_that_came_due_while_no_run_happened_are_one_reminder_not_a_burst() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    intake(&t.services, &item_error_webhook(&item.item_id, at(0))).await.unwrap();
    // No run for 10 days: days 1, 3 and 7 came due. One reminder, numbered 3; the count follows.
    t.clock.set(at(10 * 86_400));
    assert_eq!(events::remind(&t.services).await.unwrap().reminded, 1);
    assert_eq!(events::remind(&t.services).await.unwrap().reminded, 0, "nothing more the same day");
    let reminders: Vec<_> = t.bus.published().into_iter().filter(|e| e.event.kind.name() == "item.reminder").collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].event.kind, AppEventKind::Reminder { action: "needs_login".into(), number: 3 });
    assert_eq!(stored(&t, &item).await.ignored_prompts, 3);
}

#[tokio::test]
async fn the_app_can_ask_for_a_hosted_update_mode_link() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    let command = LinkTokenCommand { update_item: Some(item.item_id.clone()), hosted: true, ..Default::default() };
    let created = link::create(&t.services, &user("alice"), command).await.unwrap();
    assert!(created.hosted_link_url.is_some_and(|u| u.starts_with("https://hosted.plaid.test/")));
    let plain = link::create(&t.services, &user("alice"), LinkTokenCommand::default()).await.unwrap();
    assert!(plain.hosted_link_url.is_none());
}

#[tokio::test]
async fn a_function_without_the_pseudonym_key_leaves_relink_events_to_the_drain() {
    let mut t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    // As the webhook function: it serves no user, so it holds no pseudonym key and makes no Link token.
    t.services.stable_pseudonyms = false;
    intake(&t.services, &item_error_webhook(&item.item_id, at(10))).await.unwrap();
    assert_eq!(t.bus.types(), vec!["item.linked"]);
    assert_eq!(t.store.outbox().len(), 1, "needs_login waits for the events function");
    let creates = t.plaid.link_token_requests().len();
    // The events function (which holds the key) drains it a minute later, with its URL.
    t.services.stable_pseudonyms = true;
    t.clock.advance(time::Duration::minutes(2));
    events::drain(&t.services, DRAIN_MIN_AGE).await.unwrap();
    assert_eq!(t.bus.types(), vec!["item.linked", "item.needs_login"]);
    assert!(t.bus.published()[1].relink.is_some());
    assert_eq!(t.plaid.link_token_requests().len(), creates + 1);
}
