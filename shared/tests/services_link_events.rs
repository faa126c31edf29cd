//! Link callbacks on the doubles: an update-mode success repairs its item, dated by weft's clock, never by
//! the client's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{at, item_error_webhook, link_item, stored, user};
use weft::domain::{ItemRecord, ItemStatus, LinkEventKind, LinkMode, LinkSessionId, LinkToken};
use weft::doubles::TestServices;
use weft::ports::{ItemStore, LinkStore, SyncReason};
use weft::services::link::{LinkTokenCommand, create};
use weft::services::link_events::{LinkEvent, record};
use weft::services::webhook::{Handled, intake};

fn success(link_token: &LinkToken, client_timestamp: Option<time::OffsetDateTime>) -> LinkEvent {
    LinkEvent {
        kind: LinkEventKind::Success,
        event_name: None,
        link_session_id: LinkSessionId::parse("session-1").unwrap(),
        link_token: Some(link_token.to_string()),
        request_id: None,
        institution_id: Some("ins_1".into()),
        institution_name: None,
        error_type: None,
        error_code: None,
        error_message: None,
        exit_status: None,
        view_name: None,
        client_timestamp,
    }
}

/// An item that needs login since an hour before the start, and an update-mode link token for it.
async fn needs_login() -> (TestServices, ItemRecord, LinkToken) {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    assert_eq!(intake(&t.services, &item_error_webhook(&item.item_id, at(-3600))).await.unwrap(), Handled::Applied);
    for _ in 0..3 {
        t.store.count_relink_prompt(&item.user_id, &item.item_id).await.unwrap();
    }
    let command = LinkTokenCommand { update_item: Some(item.item_id.clone()), ..Default::default() };
    let created = create(&t.services, &user("alice"), command).await.unwrap();
    assert_eq!((created.mode, created.item_id.as_ref()), (LinkMode::Update, Some(&item.item_id)));
    let sent = &t.plaid.link_token_requests()[0];
    assert_eq!(sent["access_token"], t.plaid.access_token(&item.item_id).unwrap().expose(), "update mode");
    assert_eq!(stored(&t, &item).await.ignored_prompts, 0, "acting on the prompt resets its count");
    t.queue.take();
    (t, item, created.link_token)
}

#[tokio::test]
async fn an_update_mode_success_repairs_the_item() {
    let (t, item, token) = needs_login().await;
    t.clock.advance(time::Duration::minutes(1));
    assert_eq!(record(&t.services, &user("alice"), vec![success(&token, None)]).await.unwrap(), 1);
    let after = stored(&t, &item).await;
    assert_eq!(after.status, ItemStatus::Healthy);
    assert!(after.error.is_none());
    let queued = t.queue.requests();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].reason, SyncReason::Repaired, "the repaired item is caught up");
}

#[tokio::test]
async fn another_users_success_with_the_token_repairs_nothing() {
    let (t, item, token) = needs_login().await;
    record(&t.services, &user("mallory"), vec![success(&token, None)]).await.unwrap();
    assert_eq!(stored(&t, &item).await.status, ItemStatus::LoginRequired);
    assert!(t.queue.requests().is_empty());
}

#[tokio::test]
async fn a_far_future_client_time_does_not_outdate_a_later_error() {
    let (t, item, token) = needs_login().await;
    let next_year = TestServices::START + time::Duration::days(365);
    record(&t.services, &user("alice"), vec![success(&token, Some(next_year))]).await.unwrap();
    assert_eq!(stored(&t, &item).await.status, ItemStatus::Healthy);

    // Plaid reports the item in error again, signed now.
    assert_eq!(intake(&t.services, &item_error_webhook(&item.item_id, t.now())).await.unwrap(), Handled::Applied);
    let after = stored(&t, &item).await;
    assert_eq!(after.status, ItemStatus::LoginRequired, "client times never order state");
    assert!(after.event_times.error.unwrap() <= t.now());
}

/// A client's clock cannot file Link events ahead: a far-future timestamp is filed when weft received it
/// (a past one stands: clients may forward events late).
#[tokio::test]
async fn events_are_never_filed_ahead_of_when_weft_received_them() {
    let (t, _, token) = needs_login().await;
    let next_year = TestServices::START + time::Duration::days(365);
    record(&t.services, &user("alice"), vec![success(&token, Some(next_year))]).await.unwrap();
    let today = t.now().date();
    let filed = t.store.link_events_between(today, today).await.unwrap();
    assert_eq!(filed.len(), 1, "filed under the day weft received it");
    assert_eq!(filed[0].timestamp, t.now());
    let yesterday = t.now() - time::Duration::days(1);
    record(&t.services, &user("alice"), vec![success(&token, Some(yesterday))]).await.unwrap();
    let late = t.store.link_events_between(yesterday.date(), yesterday.date()).await.unwrap();
    assert_eq!(
        late.iter().map(|e| e.timestamp).collect::<Vec<_>>(),
        vec![yesterday],
        "forwarded late, filed when emitted"
    );
}

#[tokio::test]
async fn a_success_plaid_does_not_confirm_leaves_the_item_needing_login() {
    let (t, item, token) = needs_login().await;
    // Plaid still reports the login error: Link's "success" is only the app's word.
    t.plaid.set_item_error(&item.item_id, Some(weft::doubles::plaid::errors::login_required()));
    t.clock.advance(time::Duration::minutes(1));
    record(&t.services, &user("alice"), vec![success(&token, None)]).await.unwrap();
    assert_eq!(stored(&t, &item).await.status, ItemStatus::LoginRequired);
    assert_eq!(t.plaid.calls(weft::doubles::plaid::endpoints::ITEM_GET), 1, "confirmed with Plaid");
    assert!(t.queue.requests().is_empty(), "nothing repaired, nothing to catch up");
    // Once Plaid agrees, the same report repairs it.
    t.plaid.set_item_error(&item.item_id, None);
    t.clock.advance(time::Duration::minutes(1));
    record(&t.services, &user("alice"), vec![success(&token, None)]).await.unwrap();
    assert_eq!(stored(&t, &item).await.status, ItemStatus::Healthy);
}

#[tokio::test]
async fn update_mode_with_account_selection_brings_in_the_newly_shared_account() {
    use weft::doubles::plaid::account;
    let (t, item, token) = needs_login().await;
    // The user shared one more account in Link.
    t.plaid.add_account(&item.item_id, account("acc-new", "Plaid Money Market", "4444", "money market"));
    t.clock.advance(time::Duration::minutes(1));
    record(&t.services, &user("alice"), vec![success(&token, None)]).await.unwrap();
    let after = stored(&t, &item).await;
    assert_eq!(after.status, ItemStatus::Healthy);
    assert_eq!(after.accounts.len(), item.accounts.len() + 1, "{:?}", after.accounts);
    let added = after.accounts.iter().find(|a| a.account_id.as_str() == "acc-new").expect("the new account");
    assert!(added.balances.as_of.is_some(), "with Plaid's balances");
}
