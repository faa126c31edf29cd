//! The right to erasure on the doubles (`services::erasure`): every item removed at Plaid once, every record
//! of the user deleted, one audit record naming the user by pseudonym only; stopped half-way (out of time,
//! Plaid failing, rate limits, the store failing) and called again, it finishes without removing anything
//! twice; other users are untouched; an unknown or erased user is done at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{added, link_item, user};
use std::time::Duration;
use tokio::time::Instant;
use weft::domain::{ItemId, ItemRecord, LinkEventKind, LinkSessionId, UserId};
use weft::doubles::TestServices;
use weft::doubles::plaid::{endpoints::ITEM_REMOVE, errors};
use weft::ports::{Actor, AuditAction, AuditOutcome, AuditRecord, LimitStore, LinkStore, UserStore};
use weft::services::ServiceError;
use weft::services::erasure::{Erasure, erase};
use weft::services::link::{LinkTokenCommand, create};
use weft::services::link_events::{LinkEvent, record};
use weft::services::sync::sync_item;

/// A subject as an identity provider may give it: personal data.
const ALICE: &str = "auth0|alice.smith@example.com";
const BOB: &str = "auth0|bob.jones@example.com";

fn event(session: &str, kind: LinkEventKind, event_name: Option<&str>) -> LinkEvent {
    LinkEvent {
        kind,
        event_name: event_name.map(str::to_owned),
        link_session_id: LinkSessionId::parse(session).unwrap(),
        link_token: None,
        request_id: None,
        institution_id: Some("ins_1".into()),
        institution_name: Some("Bank ins_1".into()),
        error_type: None,
        error_code: None,
        error_message: None,
        exit_status: None,
        view_name: None,
        client_timestamp: None,
    }
}

/// A user with `items` items (synced, with transactions), a Link token, Link events of two sessions (the
/// second shared with whoever else reports it), limit counters and a block: every kind of record.
async fn active_user(t: &TestServices, name: &str, items: usize) -> Vec<ItemRecord> {
    let u = user(name);
    // What the edge does for every request: the profile (last activity).
    t.store.touch_user(&u, t.now()).await.unwrap();
    create(&t.services, &u, LinkTokenCommand::default()).await.unwrap();
    let mut linked = Vec::new();
    for i in 0..items {
        let item = link_item(t, name, &format!("ins_{}", i + 1)).await;
        t.plaid.push_changes(&item.item_id, added(&item, &format!("{}-t", item.item_id), 3));
        sync_item(&t.services, &item.item_id).await.unwrap();
        assert_eq!(t.store.transaction_ids(&item.item_id).len(), 3);
        linked.push(item);
    }
    let own_session = format!("session-{}", u.as_str().len() + items);
    let events = vec![
        event(&own_session, LinkEventKind::Event, Some("OPEN")),
        event(&own_session, LinkEventKind::Event, Some("SELECT_INSTITUTION")),
        event(&own_session, LinkEventKind::Success, None),
        event("session-shared", LinkEventKind::Exit, None),
    ];
    record(&t.services, &u, events).await.unwrap();
    t.store.block(&u, "link_tokens", t.now() + time::Duration::hours(1)).await.unwrap();
    linked
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn me(t: &TestServices, u: &UserId) -> Actor {
    Actor::user(&t.services.pseudonyms, u)
}

/// Every stored item was removed at Plaid exactly once, and never called again after that.
fn removed_once(t: &TestServices, items: &[ItemRecord]) {
    let log = t.plaid.remove_log();
    for item in items {
        assert!(t.plaid.is_removed(&item.item_id), "{} is still at Plaid", item.item_id);
        let calls: Vec<_> = log.iter().filter(|c| c.item_id == item.item_id).collect();
        assert_eq!(calls.iter().filter(|c| c.removed).count(), 1, "{}: {calls:?}", item.item_id);
        assert!(calls.last().unwrap().removed, "{} was called after its removal: {calls:?}", item.item_id);
    }
}

/// Nothing of the user is left in the store, and the audit trail names them by pseudonym only.
fn nothing_left(t: &TestServices, u: &UserId) {
    assert_eq!(t.store.user_footprint(u), Vec::<String>::new(), "records of the user left");
    for r in t.store.audit_records() {
        let json = serde_json::to_string(&r).unwrap();
        for needle in [u.as_str(), "@example.com", "access-sandbox", "public-sandbox"] {
            assert!(!json.contains(needle), "the audit record {json} holds {needle:?}");
        }
    }
}

fn erasures(t: &TestServices) -> Vec<AuditRecord> {
    t.store.audit_records().into_iter().filter(|r| r.action == AuditAction::UserErased).collect()
}

#[tokio::test]
async fn a_user_with_several_items_is_erased_and_only_a_pseudonymous_audit_record_remains() {
    let t = TestServices::new();
    let alice = user(ALICE);
    let bob = user(BOB);
    let items = active_user(&t, ALICE, 3).await;
    let bobs = active_user(&t, BOB, 1).await;
    let footprint = t.store.user_footprint(&alice);
    for kind in ["item ", "transactions ", "profile", "exchange ", "link token ", "link event ", "session ", "limit "] {
        assert!(footprint.iter().any(|r| r.starts_with(kind)), "no {kind:?} record to erase in {footprint:?}");
    }
    assert!(footprint.iter().any(|r| r.starts_with("block ")), "{footprint:?}");

    assert_eq!(erase(&t.services, &alice, me(&t, &alice), far()).await.unwrap(), Erasure::Done);

    removed_once(&t, &items);
    assert_eq!(t.plaid.calls(ITEM_REMOVE), 3, "one /item/remove per item");
    for item in &items {
        assert!(t.store.transaction_ids(&item.item_id).is_empty());
    }
    nothing_left(&t, &alice);
    // The audit trail: each item's removal for the erasure, then the erasure, about a pseudonym.
    let pseudonym = t.services.pseudonyms.client_user_id(&alice);
    let removals: Vec<AuditRecord> = t
        .store
        .audit_records()
        .into_iter()
        .filter(|r| r.action == AuditAction::ItemRemoved && r.detail.as_deref() == Some("erasure"))
        .collect();
    assert_eq!(removals.len(), 3);
    assert!(removals.iter().all(|r| r.outcome == AuditOutcome::Done && r.actor == Actor::User(pseudonym.clone())));
    let erased = erasures(&t);
    assert_eq!(erased.len(), 1);
    assert_eq!(
        (&erased[0].actor, erased[0].outcome, erased[0].subject.as_deref(), erased[0].item_id.as_ref()),
        (&Actor::User(pseudonym.clone()), AuditOutcome::Done, Some(pseudonym.as_str()), None)
    );

    // Bob is untouched: his item at Plaid and here, his records, his events of the session both reported.
    assert!(t.plaid.has_item(&bobs[0].item_id));
    assert_eq!(t.plaid.remove_calls(&bobs[0].item_id), 0);
    let bob_left = t.store.user_footprint(&bob);
    assert!(bob_left.iter().any(|r| r.starts_with("item ")) && bob_left.iter().any(|r| r.starts_with("block ")));
    let events = t.store.link_events_between(t.now().date(), t.now().date()).await.unwrap();
    assert!(!events.is_empty() && events.iter().all(|e| e.user_id == bob), "only Bob's events remain");
    assert!(events.iter().any(|e| e.link_session_id.as_str() == "session-shared"));
    assert!(t.store.blocked_until(&bob, "link_tokens", t.now()).await.unwrap().is_some());

    // Again: nothing to do, done at once.
    let before = t.plaid.calls(ITEM_REMOVE);
    assert_eq!(erase(&t.services, &alice, me(&t, &alice), far()).await.unwrap(), Erasure::Done);
    assert_eq!(t.plaid.calls(ITEM_REMOVE), before);
    nothing_left(&t, &alice);
}

#[tokio::test]
async fn out_of_time_it_removes_one_item_per_call_and_the_calls_finish_it() {
    let t = TestServices::new();
    let alice = user(ALICE);
    let items = active_user(&t, ALICE, 3).await;
    let mut answers = Vec::new();
    for _ in 0..5 {
        // A deadline already passed: each call still removes one item.
        let answer = erase(&t.services, &alice, me(&t, &alice), Instant::now()).await.unwrap();
        answers.push(answer);
        if answer == Erasure::Done {
            break;
        }
        // Stopped half-way: the records stay until no item is left.
        assert!(t.store.user_footprint(&alice).iter().any(|r| r.starts_with("profile")));
    }
    assert_eq!(answers, [Erasure::InProgress { items_left: 2 }, Erasure::InProgress { items_left: 1 }, Erasure::Done]);
    removed_once(&t, &items);
    assert_eq!(t.plaid.calls(ITEM_REMOVE), 3);
    nothing_left(&t, &alice);
    assert_eq!(erasures(&t).len(), 1, "one erasure, audited when done");
}

#[tokio::test]
async fn plaid_failing_after_the_first_removal_fails_the_call_and_the_next_call_finishes() {
    let t = TestServices::new();
    let alice = user(ALICE);
    let items = active_user(&t, ALICE, 3).await;
    t.plaid.pass_next(ITEM_REMOVE, 1);
    t.plaid.fail_next(ITEM_REMOVE, errors::api(ITEM_REMOVE, "INVALID_INPUT", "INVALID_FIELD", 400));
    t.plaid.fail_next(ITEM_REMOVE, errors::api(ITEM_REMOVE, "INVALID_INPUT", "INVALID_FIELD", 400));

    let failed = erase(&t.services, &alice, me(&t, &alice), far()).await.unwrap_err();
    assert!(matches!(failed, ServiceError::Plaid(_)), "{failed:?}");
    let left: Vec<&ItemId> = items.iter().map(|i| &i.item_id).filter(|id| t.plaid.has_item(id)).collect();
    assert_eq!(left.len(), 2, "the first removal happened, the two others failed");
    assert_eq!(t.store.item_count(), 2, "a failed item is left whole here");
    assert!(t.store.user_footprint(&alice).iter().any(|r| r.starts_with("profile")), "nothing else erased yet");
    let failed_audit = erasures(&t);
    assert_eq!((failed_audit.len(), failed_audit[0].outcome), (1, AuditOutcome::Failed));
    assert_eq!(failed_audit[0].detail.as_deref(), Some("plaid"));

    assert_eq!(erase(&t.services, &alice, me(&t, &alice), far()).await.unwrap(), Erasure::Done);
    removed_once(&t, &items);
    assert_eq!(t.plaid.calls(ITEM_REMOVE), 5, "three removals and two failed calls");
    nothing_left(&t, &alice);
    assert_eq!(erasures(&t).last().unwrap().outcome, AuditOutcome::Done);
}

#[tokio::test(start_paused = true)]
async fn rate_limits_are_waited_out_within_the_deadline_and_past_it_the_call_answers_in_progress() {
    let t = TestServices::new();
    let alice = user(ALICE);
    let items = active_user(&t, ALICE, 2).await;

    // Two 429s: backed off (in tokio's paused time) and retried; done in one call.
    t.plaid.fail_next(ITEM_REMOVE, errors::rate_limited(ITEM_REMOVE));
    t.plaid.fail_next(ITEM_REMOVE, errors::rate_limited(ITEM_REMOVE));
    let started = Instant::now();
    assert_eq!(erase(&t.services, &alice, me(&t, &alice), far()).await.unwrap(), Erasure::Done);
    assert!(started.elapsed() >= Duration::from_millis(250), "it waited: {:?}", started.elapsed());
    removed_once(&t, &items);
    nothing_left(&t, &alice);

    // Plaid keeps answering 429 past the deadline: nothing changes, the call says what is left.
    let bob = user(BOB);
    let bobs = active_user(&t, BOB, 2).await;
    // Six: within a second each item is tried at most three times (waits of at least 0.25 s, then 0.5 s).
    for _ in 0..6 {
        t.plaid.fail_next(ITEM_REMOVE, errors::rate_limited(ITEM_REMOVE));
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    assert_eq!(erase(&t.services, &bob, me(&t, &bob), deadline).await.unwrap(), Erasure::InProgress { items_left: 2 });
    assert!(Instant::now() <= deadline + Duration::from_millis(10), "no wait runs past the deadline");
    assert_eq!(t.store.item_count(), 2);
    // The next call, with time for Plaid's last 429s, finishes.
    assert_eq!(erase(&t.services, &bob, me(&t, &bob), far()).await.unwrap(), Erasure::Done);
    removed_once(&t, &bobs);
    nothing_left(&t, &bob);
}

#[tokio::test]
async fn a_store_failure_anywhere_is_finished_by_the_next_call() {
    let t = TestServices::new();
    let alice = user(ALICE);
    let items = active_user(&t, ALICE, 2).await;
    // Deleting an item after Plaid removed it fails: the item stays here, and the next call finds it gone
    // at Plaid (ITEM_NOT_FOUND) and deletes it.
    t.store.fail_next("delete_item", 1);
    assert!(matches!(erase(&t.services, &alice, me(&t, &alice), far()).await, Err(ServiceError::Store(_))));
    t.store.fail_next("erase_user_records", 1);
    assert!(matches!(erase(&t.services, &alice, me(&t, &alice), far()).await, Err(ServiceError::Store(_))));
    assert_eq!(t.store.item_count(), 0, "the items are gone, the other records not yet");
    assert!(!t.store.user_footprint(&alice).is_empty());
    assert_eq!(erase(&t.services, &alice, me(&t, &alice), far()).await.unwrap(), Erasure::Done);
    for item in &items {
        assert!(t.plaid.is_removed(&item.item_id));
    }
    nothing_left(&t, &alice);
}

#[tokio::test]
async fn an_unknown_user_and_an_operators_erasure() {
    let t = TestServices::new();
    let nobody = user("auth0|nobody@example.com");
    assert_eq!(erase(&t.services, &nobody, me(&t, &nobody), Instant::now()).await.unwrap(), Erasure::Done);
    assert_eq!(t.plaid.calls(ITEM_REMOVE), 0);

    let alice = user(ALICE);
    let items = active_user(&t, ALICE, 2).await;
    let operator = Actor::operator(&t.services.pseudonyms, &user("auth0|ops@example.com"));
    assert_eq!(erase(&t.services, &alice, operator.clone(), far()).await.unwrap(), Erasure::Done);
    removed_once(&t, &items);
    nothing_left(&t, &alice);
    let last = erasures(&t).pop().unwrap();
    assert_eq!(last.actor, operator);
    assert_eq!(last.subject, Some(t.services.pseudonyms.client_user_id(&alice)));
}
