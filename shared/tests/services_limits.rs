//! Abuse limits on the doubles: each limit hit from parallel requests lets exactly the limit's worth
//! through (the store counts atomically), past it 429 with a Retry-After and nothing else changes, what
//! did not happen is given back, and the audit trail names users only by pseudonym.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{command, institution, link_item, user};
use std::sync::Arc;
use std::time::Duration;
use weft::domain::{LinkEventKind, LinkSessionId};
use weft::doubles::TestServices;
use weft::doubles::plaid::errors::invalid_public_token;
use weft::ports::{Actor, AuditAction};
use weft::services::ServiceError;
use weft::services::exchange::exchange;
use weft::services::link::{self, LinkTokenCommand};
use weft::services::link_events::{self, LinkEvent};
use weft::services::{items, limits};

fn limited(result: &Result<impl std::fmt::Debug, ServiceError>) -> Option<(&'static str, Duration)> {
    match result {
        Err(ServiceError::RateLimited { limit, retry_after }) => Some((limit, *retry_after)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_tokens_per_hour_let_exactly_the_limit_through_in_parallel() {
    let t = Arc::new(TestServices::with_env(&[("WEFT_LIMIT_LINK_TOKENS_PER_HOUR", "3")]));
    let alice = user("alice");
    let results = futures::future::join_all((0..12).map(|_| {
        let (t, alice) = (t.clone(), alice.clone());
        tokio::spawn(async move { link::create(&t.services, &alice, LinkTokenCommand::default()).await })
    }))
    .await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3, "{results:?}");
    for refused in results.iter().filter(|r| r.is_err()) {
        let (limit, retry_after) = limited(refused).expect("429");
        assert_eq!(limit, limits::names::LINK_TOKENS);
        // The test clock stands at 06:00: the window ends at 07:00.
        assert_eq!(retry_after, Duration::from_secs(3600));
    }
    assert_eq!(t.plaid.calls("/link/token/create"), 3, "a refused request never reached Plaid");
    // Another user is not limited by alice's use; the next hour alice may again.
    assert!(link::create(&t.services, &user("bob"), LinkTokenCommand::default()).await.is_ok());
    t.clock.advance(time::Duration::HOUR);
    assert!(link::create(&t.services, &alice, LinkTokenCommand::default()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exchanges_per_day_let_exactly_the_limit_through_in_parallel() {
    let t = Arc::new(TestServices::with_env(&[("WEFT_LIMIT_EXCHANGES_PER_DAY", "2")]));
    let banks = ["ins_1", "ins_2", "ins_3", "ins_4", "ins_5", "ins_6"];
    let results = futures::future::join_all(banks.iter().map(|bank| {
        let t = t.clone();
        let bank = institution(bank);
        tokio::spawn(async move {
            let token = t.plaid.add_public_token(&bank);
            exchange(&t.services, &user("carol"), command(&t, token, &bank)).await
        })
    }))
    .await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| limited(r).is_some_and(|(l, _)| l == "exchanges")));
    assert_eq!(t.plaid.calls("/item/public_token/exchange"), 2, "refused exchanges never reached Plaid");
    assert_eq!(t.store.item_count(), 2);
}

#[tokio::test]
async fn an_exchange_that_makes_no_item_gives_its_uses_back() {
    let t = TestServices::with_env(&[("WEFT_LIMIT_EXCHANGES_PER_DAY", "1")]);
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    t.plaid.fail_next("/item/public_token/exchange", invalid_public_token());
    let failed = exchange(&t.services, &user("dora"), command(&t, token, &bank)).await;
    assert!(matches!(failed, Err(ServiceError::InvalidPublicToken(_))), "{failed:?}");
    // The day's one exchange is still there.
    link_item(&t, "dora", "ins_1").await;
}

#[tokio::test]
async fn items_per_user_count_live_items_and_a_removal_frees_a_slot() {
    let t = TestServices::with_env(&[("WEFT_LIMIT_ITEMS_PER_USER", "2")]);
    let first = link_item(&t, "erin", "ins_1").await;
    link_item(&t, "erin", "ins_2").await;
    let bank = institution("ins_3");
    let token = t.plaid.add_public_token(&bank);
    let refused = exchange(&t.services, &user("erin"), command(&t, token.clone(), &bank)).await;
    assert_eq!(limited(&refused).map(|(l, _)| l), Some("items"), "{refused:?}");
    items::remove(&t.services, &user("erin"), &first.item_id).await.unwrap();
    exchange(&t.services, &user("erin"), command(&t, token, &bank)).await.unwrap();
}

#[tokio::test]
async fn a_slot_held_by_an_exchange_in_flight_is_not_recounted_away() {
    let t = Arc::new(TestServices::with_env(&[("WEFT_LIMIT_ITEMS_PER_USER", "1")]));
    let first = institution("ins_1");
    let first_token = t.plaid.add_public_token(&first);
    // The first exchange took the one slot and is about to store its item.
    let mut gate = t.store.pause_next("insert_item_with_events");
    let in_flight = tokio::spawn({
        let t = t.clone();
        async move { exchange(&t.services, &user("gail"), command(&t, first_token, &first)).await }
    });
    gate.reached().await;
    // The items (none stored yet) undercount the slots; a second exchange must not recount them away.
    let second = institution("ins_2");
    let token = t.plaid.add_public_token(&second);
    let refused = exchange(&t.services, &user("gail"), command(&t, token, &second)).await;
    assert_eq!(limited(&refused).map(|(l, _)| l), Some("items"), "{refused:?}");
    gate.release();
    in_flight.await.unwrap().unwrap();
    assert_eq!(t.store.item_count(), 1);
}

#[tokio::test]
async fn a_drifted_items_counter_is_recounted_once_no_slot_can_be_in_flight() {
    let t = TestServices::with_env(&[("WEFT_LIMIT_ITEMS_PER_USER", "1")]);
    let linked = link_item(&t, "hal", "ins_1").await;
    // The removal's give-back fails: the counter stays at 1 with no item.
    t.store.fail_next("give_back", 1);
    items::remove(&t.services, &user("hal"), &linked.item_id).await.unwrap();
    assert_eq!(t.store.item_count(), 0);
    let bank = institution("ins_2");
    let token = t.plaid.add_public_token(&bank);
    let refused = exchange(&t.services, &user("hal"), command(&t, token.clone(), &bank)).await;
    assert_eq!(limited(&refused).map(|(l, _)| l), Some("items"), "a slot taken this recently may be in flight");
    t.clock.advance(limits::SLOT_HOLD_MAX + time::Duration::SECOND);
    exchange(&t.services, &user("hal"), command(&t, token, &bank)).await.expect("recounted: the slot is free");
}

#[tokio::test]
async fn relinking_one_institution_is_limited_per_month() {
    let t = TestServices::with_env(&[("WEFT_LIMIT_LINKS_PER_INSTITUTION_PER_MONTH", "2")]);
    for _ in 0..2 {
        let item = link_item(&t, "fred", "ins_1").await;
        items::remove(&t.services, &user("fred"), &item.item_id).await.unwrap();
    }
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    let refused = exchange(&t.services, &user("fred"), command(&t, token.clone(), &bank)).await;
    let (limit, retry_after) = limited(&refused).expect("429");
    assert_eq!(limit, "links_per_institution");
    // The test clock stands at 2026-11-30 06:00: the month ends in 18 hours.
    assert_eq!(retry_after, Duration::from_secs(18 * 3600));
    // Other institutions are not limited; next month the same one is not either.
    link_item(&t, "fred", "ins_2").await;
    t.clock.advance(time::Duration::days(1));
    exchange(&t.services, &user("fred"), command(&t, token, &bank)).await.unwrap();
}

fn exit(session: &str, institution: &str, error_code: &str) -> LinkEvent {
    LinkEvent {
        kind: LinkEventKind::Exit,
        event_name: None,
        link_session_id: LinkSessionId::parse(session).unwrap(),
        link_token: None,
        request_id: None,
        institution_id: Some(institution.to_owned()),
        institution_name: None,
        error_type: Some("ITEM_ERROR".into()),
        error_code: Some(error_code.into()),
        error_message: None,
        exit_status: Some("requires_credentials".into()),
        view_name: None,
        client_timestamp: None,
    }
}

#[tokio::test]
async fn credential_failures_at_several_institutions_block_new_link_tokens_for_a_while() {
    let t = TestServices::with_env(&[
        ("WEFT_LIMIT_CREDENTIAL_FAILURES", "4"),
        ("WEFT_LIMIT_CREDENTIAL_BLOCK_MINUTES", "30"),
    ]);
    let gina = user("gina");
    // Many failures at one institution (a user who forgot a password) do not block.
    let one_bank: Vec<_> = (0..6).map(|i| exit(&format!("s{i}"), "ins_1", "INVALID_CREDENTIALS")).collect();
    link_events::record(&t.services, &gina, one_bank).await.unwrap();
    assert!(link::create(&t.services, &gina, LinkTokenCommand::default()).await.is_ok());

    let hank = user("hank");
    let spread: Vec<_> =
        (0..4).map(|i| exit(&format!("h{i}"), ["ins_1", "ins_2"][i % 2], "INVALID_CREDENTIALS")).collect();
    link_events::record(&t.services, &hank, spread).await.unwrap();
    let refused = link::create(&t.services, &hank, LinkTokenCommand::default()).await;
    let (limit, retry_after) = limited(&refused).expect("429");
    assert_eq!(limit, limits::names::CREDENTIAL_FAILURES);
    assert_eq!(retry_after, Duration::from_secs(30 * 60));
    // Other exits do not count; the block ends.
    t.clock.advance(time::Duration::minutes(31));
    assert!(link::create(&t.services, &hank, LinkTokenCommand::default()).await.is_ok());
}

#[tokio::test]
async fn a_limit_hit_is_audited_by_pseudonym() {
    let t = TestServices::with_env(&[("WEFT_LIMIT_LINK_TOKENS_PER_HOUR", "1")]);
    let subject = user("ivy@example.com");
    link::create(&t.services, &subject, LinkTokenCommand::default()).await.unwrap();
    assert!(link::create(&t.services, &subject, LinkTokenCommand::default()).await.is_err());
    let records = t.store.audit_records();
    let hit = records.iter().find(|r| r.action == AuditAction::LimitHit).expect("the limit hit is audited");
    assert_eq!(hit.detail.as_deref(), Some("link_tokens"));
    assert_eq!(hit.actor, Actor::User(t.services.pseudonyms.client_user_id(&subject)));
    let json = serde_json::to_string(&records).unwrap();
    assert!(!json.contains("ivy"), "no personal data in the audit trail: {json}");
    assert!(records.iter().any(|r| r.action == AuditAction::LinkTokenCreated));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn items_per_user_let_exactly_the_limit_through_in_parallel() {
    let t = Arc::new(TestServices::with_env(&[("WEFT_LIMIT_ITEMS_PER_USER", "3")]));
    let banks = ["ins_1", "ins_2", "ins_3", "ins_4", "ins_5", "ins_6", "ins_7", "ins_8"];
    let results = futures::future::join_all(banks.iter().map(|bank| {
        let t = t.clone();
        let bank = institution(bank);
        tokio::spawn(async move {
            let token = t.plaid.add_public_token(&bank);
            exchange(&t.services, &user("kim"), command(&t, token, &bank)).await
        })
    }))
    .await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| limited(r).is_some_and(|(l, _)| l == "items")));
    assert_eq!(t.store.item_count(), 3);
    assert_eq!(t.plaid.calls("/item/public_token/exchange"), 3, "refused exchanges never reached Plaid");
}
