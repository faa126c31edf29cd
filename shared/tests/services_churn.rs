//! The churn remover on the doubles: exactly the churned items (dry run and real), checkpoints and resume,
//! pacing under Plaid's limit (virtual time), 429s, and continuation when the deadline stops a run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{days_ago, link_item, login_required_event, set_state, user};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use weft::domain::{ChurnInput, ItemEvent, ItemId, ItemRecord, Reason, UserId};
use weft::doubles::TestServices;
use weft::doubles::plaid::{endpoints, errors};
use weft::ports::{ChurnStore, ItemStore, UserStore};
use weft::services::churn::{ChurnSummary, ItemOutcome, PauseReason, RunStatus, invoke, run};

/// The seeded population: which items are churned and why, which are kept.
struct Population {
    churned: BTreeMap<ItemId, Reason>,
    kept: Vec<ItemRecord>,
    items: Vec<ItemRecord>,
    idle_user: UserId,
}

impl Population {
    fn churned_items(&self) -> Vec<&ItemRecord> {
        self.items.iter().filter(|i| self.churned.contains_key(&i.item_id)).collect()
    }
}

/// Links an item for `user` at a fresh institution.
async fn item(t: &TestServices, user: &str, n: &mut u32) -> ItemRecord {
    *n += 1;
    link_item(t, user, &format!("ins_{n}")).await
}

/// Users inactive for 90 and 61 days (60 is the limit), one without items; active users with items in
/// error for 40 days (30 is the limit) and 10 days, an item whose prompt was ignored 10 times (the limit)
/// and a healthy one ignored 12 times (no prompt shown any more); a user without a profile.
async fn seed(t: &TestServices) -> Population {
    let mut n = 0;
    let mut churned = BTreeMap::new();
    let mut kept = Vec::new();
    let mut items = Vec::new();
    let store = &t.store;

    store.touch_user(&user("inactive-1"), days_ago(90)).await.unwrap();
    for _ in 0..2 {
        let i = item(t, "inactive-1", &mut n).await;
        churned.insert(i.item_id.clone(), Reason::UserInactive);
        items.push(i);
    }
    store.touch_user(&user("inactive-2"), days_ago(61)).await.unwrap();
    let i = item(t, "inactive-2", &mut n).await;
    let i = set_state(t, &i, login_required_event(), days_ago(5)).await;
    churned.insert(i.item_id.clone(), Reason::UserInactive);
    items.push(i);
    store.touch_user(&user("idle-1"), days_ago(100)).await.unwrap();

    store.touch_user(&user("active-1"), days_ago(1)).await.unwrap();
    let healthy = item(t, "active-1", &mut n).await;
    kept.push(healthy.clone());
    let old_error = item(t, "active-1", &mut n).await;
    let old_error = set_state(t, &old_error, login_required_event(), days_ago(40)).await;
    churned.insert(old_error.item_id.clone(), Reason::ErrorUnresolved);
    let young_error = item(t, "active-1", &mut n).await;
    let young_error = set_state(t, &young_error, login_required_event(), days_ago(10)).await;
    kept.push(young_error.clone());
    let ignored = item(t, "active-1", &mut n).await;
    let expiring = ItemEvent::PendingExpiration { consent_expiration_time: Some(days_ago(-5)) };
    let ignored = set_state(t, &ignored, expiring, days_ago(2)).await;
    for _ in 0..10 {
        store.count_relink_prompt(&ignored.user_id, &ignored.item_id).await.unwrap();
    }
    churned.insert(ignored.item_id.clone(), Reason::IgnoredPrompts);
    let stale_count = item(t, "active-1", &mut n).await;
    for _ in 0..12 {
        store.count_relink_prompt(&stale_count.user_id, &stale_count.item_id).await.unwrap();
    }
    kept.push(stale_count.clone());
    items.extend([healthy, old_error, young_error, ignored, stale_count]);

    let no_profile_error = item(t, "no-profile", &mut n).await;
    let no_profile_error = set_state(t, &no_profile_error, login_required_event(), days_ago(45)).await;
    churned.insert(no_profile_error.item_id.clone(), Reason::ErrorUnresolved);
    let no_profile_healthy = item(t, "no-profile", &mut n).await;
    kept.push(no_profile_healthy.clone());
    items.extend([no_profile_error, no_profile_healthy]);

    store.touch_user(&user("active-2"), days_ago(59)).await.unwrap();
    let recent = item(t, "active-2", &mut n).await;
    kept.push(recent.clone());
    items.push(recent);

    t.queue.take();
    Population { churned, kept, items, idle_user: user("idle-1") }
}

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

fn listed(summary: &ChurnSummary, outcome: ItemOutcome) -> BTreeMap<ItemId, Reason> {
    summary
        .items
        .iter()
        .filter(|i| i.outcome == outcome)
        .map(|i| (ItemId::parse(i.item_id.clone()).unwrap(), i.reason))
        .collect()
}

async fn assert_removed_once_and_rest_kept(t: &TestServices, pop: &Population) {
    for item in pop.churned_items() {
        assert!(t.plaid.is_removed(&item.item_id), "{} removed at Plaid", item.item_id);
        assert_eq!(t.plaid.remove_calls(&item.item_id), 1, "{} removed exactly once", item.item_id);
        assert_eq!(t.store.get_item(&item.user_id, &item.item_id).await.unwrap(), None, "{} deleted", item.item_id);
    }
    for item in &pop.kept {
        assert!(t.plaid.has_item(&item.item_id), "{} kept at Plaid", item.item_id);
        assert_eq!(t.plaid.remove_calls(&item.item_id), 0);
        assert!(t.store.get_item(&item.user_id, &item.item_id).await.unwrap().is_some(), "{} kept", item.item_id);
    }
}

#[tokio::test]
async fn a_dry_run_lists_exactly_the_churned_items_and_removes_nothing() {
    let t = TestServices::new();
    let pop = seed(&t).await;
    let stored_before = t.store.item_count();
    let input = ChurnInput { dry_run: true, ..Default::default() };
    let summary = run(&t.services, input, far_deadline()).await.unwrap();
    assert_eq!(summary.status, RunStatus::Complete);
    assert_eq!(listed(&summary, ItemOutcome::WouldRemove), pop.churned);
    assert_eq!(summary.items.len(), pop.churned.len());
    assert_eq!((summary.totals.candidates, summary.totals.removed), (pop.churned.len() as u64, 0));
    assert_eq!(summary.totals.idle_users, 1, "the idle user is found");
    assert_eq!(t.plaid.calls(endpoints::ITEM_REMOVE), 0);
    assert_eq!(t.store.item_count(), stored_before);
    assert!(t.store.get_user(&pop.idle_user).await.unwrap().is_some(), "a dry run forgets nobody");
}

#[tokio::test(start_paused = true)]
async fn a_real_run_removes_the_churned_items_at_plaid_and_here_and_keeps_the_rest() {
    let t = TestServices::new();
    let pop = seed(&t).await;
    let summary = run(&t.services, ChurnInput::default(), far_deadline()).await.unwrap();
    assert_eq!(summary.status, RunStatus::Complete);
    assert_eq!(listed(&summary, ItemOutcome::Removed), pop.churned);
    assert_eq!((summary.totals.removed, summary.totals.failed), (pop.churned.len() as u64, 0));
    assert_removed_once_and_rest_kept(&t, &pop).await;
    assert_eq!(t.store.get_user(&pop.idle_user).await.unwrap(), None, "the idle user is forgotten");
    assert_eq!(t.store.get_user(&user("inactive-1")).await.unwrap().map(|p| p.user_id), Some(user("inactive-1")));

    // A second run finds nothing more to do.
    let again = run(&t.services, ChurnInput::default(), far_deadline()).await.unwrap();
    assert_eq!((again.totals.candidates, again.totals.removed), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn max_items_stops_with_a_checkpoint_and_the_run_continues_where_it_stopped() {
    let t = TestServices::new();
    let pop = seed(&t).await;
    let input = ChurnInput { run_id: Some("run-1".into()), max_items: Some(2), ..Default::default() };
    let first = run(&t.services, input.clone(), far_deadline()).await.unwrap();
    assert_eq!((first.status, first.paused_by), (RunStatus::Paused, Some(PauseReason::MaxItems)));
    assert_eq!(first.invocation.removed, 2);
    let checkpoint = t.store.get_churn_checkpoint("run-1").await.unwrap().unwrap();
    assert_eq!(checkpoint.removed, 2);

    let mut summary = first;
    let mut invocations = 1;
    while summary.status == RunStatus::Paused {
        summary = run(&t.services, input.clone(), far_deadline()).await.unwrap();
        assert!(summary.invocation.removed <= 2);
        invocations += 1;
        assert!(invocations < 20, "the run does not end");
    }
    assert!(invocations >= pop.churned.len() / 2);
    assert_eq!(summary.run_id, "run-1");
    assert_eq!((summary.totals.removed, summary.totals.failed), (pop.churned.len() as u64, 0));
    assert_eq!(t.plaid.calls(endpoints::ITEM_REMOVE), pop.churned.len());
    assert_removed_once_and_rest_kept(&t, &pop).await;
}

#[tokio::test(start_paused = true)]
async fn removals_are_paced_under_the_rate() {
    let t = TestServices::new();
    t.store.touch_user(&user("gone"), days_ago(90)).await.unwrap();
    let mut n = 0;
    for _ in 0..5 {
        item(&t, "gone", &mut n).await;
    }
    let started = tokio::time::Instant::now();
    let input = ChurnInput { removals_per_minute: Some(60), ..Default::default() }; // one a second
    let summary = run(&t.services, input, far_deadline()).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(summary.totals.removed, 5);

    let log = t.plaid.remove_log();
    assert_eq!(log.len(), 5);
    for pair in log.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_secs(1), "calls {:?} apart", pair[1].at - pair[0].at);
    }
    assert!(log[4].at - log[0].at >= Duration::from_secs(4));
    assert!(elapsed >= Duration::from_secs(4), "5 removals at 60/min take at least 4 s, took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "and not much more: {elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn rate_limited_removals_are_retried_and_nothing_is_lost() {
    let t = TestServices::new();
    let pop = seed(&t).await;
    for _ in 0..3 {
        t.plaid.fail_next(endpoints::ITEM_REMOVE, errors::rate_limited(endpoints::ITEM_REMOVE));
    }
    let summary = run(&t.services, ChurnInput::default(), far_deadline()).await.unwrap();
    assert_eq!(summary.status, RunStatus::Complete);
    assert_eq!((summary.totals.removed, summary.totals.failed), (pop.churned.len() as u64, 0));
    assert_eq!(t.plaid.calls(endpoints::ITEM_REMOVE), pop.churned.len() + 3);
    for item in pop.churned_items() {
        assert!(t.plaid.is_removed(&item.item_id));
        assert_eq!(t.store.get_item(&item.user_id, &item.item_id).await.unwrap(), None);
    }
    assert_eq!(t.plaid.remove_log().iter().filter(|c| c.removed).count(), pop.churned.len());
}

#[tokio::test(start_paused = true)]
async fn an_item_plaid_fails_to_remove_is_left_whole_for_the_next_run() {
    let t = TestServices::new();
    t.store.touch_user(&user("gone"), days_ago(90)).await.unwrap();
    let mut n = 0;
    let doomed = item(&t, "gone", &mut n).await;
    t.plaid.fail_next(endpoints::ITEM_REMOVE, errors::item_login_required(endpoints::ITEM_REMOVE));
    let summary = run(&t.services, ChurnInput::default(), far_deadline()).await.unwrap();
    assert_eq!((summary.totals.removed, summary.totals.failed), (0, 1));
    assert!(t.store.get_item(&doomed.user_id, &doomed.item_id).await.unwrap().is_some(), "not deleted here");
    let next = run(&t.services, ChurnInput::default(), far_deadline()).await.unwrap();
    assert_eq!(next.totals.removed, 1);
    assert!(t.plaid.is_removed(&doomed.item_id));
}

#[tokio::test]
async fn a_run_the_deadline_stops_continues_in_a_new_invocation_with_the_same_run_id() {
    let t = TestServices::new();
    let pop = seed(&t).await;
    // One removal a minute and ten seconds per invocation: each invocation removes one item, then the
    // next slot falls after its deadline.
    let input = ChurnInput { concurrency: Some(1), removals_per_minute: Some(1), ..Default::default() };
    let first = invoke(&t.services, input, Some(Duration::from_secs(10))).await.unwrap();
    assert_eq!(first.paused_by, Some(PauseReason::Deadline));
    assert_eq!(first.invocation.removed, 1);
    let continued = t.continuation.take();
    assert_eq!(continued.len(), 1);
    assert_eq!(continued[0].run_id.as_deref(), Some(first.run_id.as_str()));
    assert_eq!((continued[0].concurrency, continued[0].removals_per_minute), (Some(1), Some(1)));
    assert!(!continued[0].dry_run);

    // The continuations carry the run to its end.
    let mut next = continued.into_iter().next();
    let mut invocations = 1;
    while let Some(input) = next {
        let summary = invoke(&t.services, input, Some(Duration::from_secs(10))).await.unwrap();
        assert_eq!(summary.run_id, first.run_id);
        invocations += 1;
        assert!(invocations <= pop.churned.len() + 1, "one removal per invocation");
        let mut more = t.continuation.take();
        assert!(more.len() <= 1);
        next = more.pop();
        if next.is_none() {
            assert_eq!(summary.status, RunStatus::Complete);
            assert_eq!(summary.totals.removed, pop.churned.len() as u64);
        }
    }
    assert_removed_once_and_rest_kept(&t, &pop).await;
}
