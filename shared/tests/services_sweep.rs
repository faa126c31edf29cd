//! The reconciliation sweep on the doubles: lost webhooks found and applied through the item state machine,
//! recently heard-of items left alone, dry runs, webhook URL drift, items Plaid no longer knows, 429s, and
//! runs stopped by `max_items` or the deadline continuing where they stopped, asking about nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{link_item, login_required_event, set_state, stored};
use std::time::{Duration, Instant};
use weft::domain::{Finding, ItemRecord, ItemStatus, SweepInput};
use weft::doubles::TestServices;
use weft::doubles::plaid::{endpoints, errors};
use weft::ports::{PlaidItems, SweepStore};
use weft::services::churn::PauseReason;
use weft::services::sweep::{SweepStatus, SweepSummary, invoke, run};

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

fn found(summary: &SweepSummary, finding: Finding) -> u64 {
    summary.invocation.findings.get(finding.as_str()).copied().unwrap_or(0)
}

/// `n` items of one user at distinct institutions, then four days of silence from Plaid.
async fn quiet_items(t: &TestServices, n: u32) -> Vec<ItemRecord> {
    let mut items = Vec::new();
    for i in 0..n {
        items.push(link_item(t, "ada", &format!("ins_{}", 100 + i)).await);
    }
    t.clock.advance(time::Duration::days(4));
    t.queue.take(); // the exchanges' first syncs
    items
}

#[tokio::test(start_paused = true)]
async fn a_lost_error_and_a_lost_repair_are_found_and_applied() {
    let t = TestServices::new();
    let items = quiet_items(&t, 3).await;
    let (lost_error, lost_repair, fine) = (&items[0], &items[1], &items[2]);
    // Plaid reports an error weft never heard of (the ERROR webhook was lost).
    t.plaid.set_item_error(&lost_error.item_id, Some(errors::login_required()));
    // Weft has an error Plaid has since cleared (the LOGIN_REPAIRED webhook was lost).
    let at = TestServices::START - time::Duration::days(1);
    set_state(&t, lost_repair, login_required_event(), at).await;

    let summary = run(&t.services, SweepInput::default(), far_deadline()).await.unwrap();
    assert_eq!(summary.status, SweepStatus::Complete);
    assert_eq!((summary.invocation.scanned, summary.invocation.checked), (3, 3));
    assert_eq!((found(&summary, Finding::ErrorFound), found(&summary, Finding::Repaired)), (1, 1));
    assert_eq!(found(&summary, Finding::Unchanged), 1);
    assert_eq!(t.plaid.calls(endpoints::ITEM_GET), 3, "one /item/get per item");
    assert_eq!(summary.plaid_calls, 3);

    assert_eq!(stored(&t, lost_error).await.status, ItemStatus::LoginRequired);
    assert_eq!(stored(&t, lost_repair).await.status, ItemStatus::Healthy);
    assert_eq!(stored(&t, fine).await.status, ItemStatus::Healthy);
    let queued: Vec<_> = t.queue.take().into_iter().map(|r| r.item_id).collect();
    assert_eq!(queued, vec![lost_repair.item_id.clone()], "the repaired item catches up");
    let mut listed: Vec<_> = summary.items.iter().map(|i| (i.item_id.clone(), i.findings.clone())).collect();
    listed.sort();
    let mut expected = vec![
        (lost_error.item_id.to_string(), vec![Finding::ErrorFound]),
        (lost_repair.item_id.to_string(), vec![Finding::Repaired]),
    ];
    expected.sort();
    assert_eq!(listed, expected);

    // Every item was just heard of: the next sweep asks about none.
    let again = run(&t.services, SweepInput::default(), far_deadline()).await.unwrap();
    assert_eq!((again.invocation.checked, t.plaid.calls(endpoints::ITEM_GET)), (0, 3));
}

#[tokio::test(start_paused = true)]
async fn items_heard_of_within_the_window_are_not_asked_about() {
    let t = TestServices::new();
    let item = link_item(&t, "ada", "ins_1").await;
    t.clock.advance(time::Duration::days(2));
    let summary = run(&t.services, SweepInput::default(), far_deadline()).await.unwrap();
    assert_eq!((summary.invocation.checked, t.plaid.calls(endpoints::ITEM_GET)), (0, 0), "72 h by default");
    // An ITEM webhook counts as hearing of the item: one a day ago keeps it out of a 36 h sweep.
    set_state(&t, &item, weft::domain::ItemEvent::NewAccountsAvailable, t.now() - time::Duration::days(1)).await;
    let input = SweepInput { stale_after_hours: Some(36), ..Default::default() };
    let summary = run(&t.services, input, far_deadline()).await.unwrap();
    assert_eq!(summary.invocation.checked, 0);
    let input = SweepInput { stale_after_hours: Some(0), ..Default::default() };
    let summary = run(&t.services, input, far_deadline()).await.unwrap();
    assert_eq!(summary.invocation.checked, 1, "0 h: every item");
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_asks_and_reports_but_changes_nothing() {
    let t = TestServices::new();
    let items = quiet_items(&t, 2).await;
    t.plaid.set_item_error(&items[0].item_id, Some(errors::login_required()));
    let before = stored(&t, &items[0]).await;
    let summary = run(&t.services, SweepInput { dry_run: true, ..Default::default() }, far_deadline()).await.unwrap();
    assert!(summary.dry_run);
    assert_eq!(found(&summary, Finding::ErrorFound), 1);
    assert_eq!(stored(&t, &items[0]).await, before, "nothing written");
    assert!(t.queue.take().is_empty());
    // Not heard of, still: a real run finds the same.
    let summary = run(&t.services, SweepInput::default(), far_deadline()).await.unwrap();
    assert_eq!(found(&summary, Finding::ErrorFound), 1);
}

#[tokio::test(start_paused = true)]
async fn a_webhook_url_that_drifted_is_set_again() {
    let ours = "https://api.example/webhooks/plaid";
    let t = TestServices::with_env(&[("WEFT_PLAID_WEBHOOK_URL", ours)]);
    let items = quiet_items(&t, 2).await;
    t.plaid.set_webhook(&items[0].item_id, Some("https://old.example/hook"));
    t.plaid.set_webhook(&items[1].item_id, Some(ours));
    let summary = run(&t.services, SweepInput::default(), far_deadline()).await.unwrap();
    assert_eq!(found(&summary, Finding::WebhookFixed), 1);
    assert_eq!(t.plaid.webhook(&items[0].item_id).as_deref(), Some(ours));
    assert_eq!(t.plaid.calls(endpoints::ITEM_WEBHOOK_UPDATE), 1);
    assert_eq!(summary.plaid_calls, 3);
}

#[tokio::test(start_paused = true)]
async fn an_item_plaid_no_longer_knows_is_marked_for_the_churn_remover() {
    let t = TestServices::new();
    let items = quiet_items(&t, 1).await;
    let token = t.plaid.access_token(&items[0].item_id).unwrap();
    t.plaid.item_remove(&token).await.unwrap();
    let summary = run(&t.services, SweepInput::default(), far_deadline()).await.unwrap();
    assert_eq!(found(&summary, Finding::GoneAtPlaid), 1);
    let item = stored(&t, &items[0]).await;
    assert_eq!(item.status, ItemStatus::Error);
    assert_eq!(item.error.map(|e| e.error_code).as_deref(), Some("ITEM_NOT_FOUND"));
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_check_slows_down_and_is_tried_again() {
    let t = TestServices::new();
    let items = quiet_items(&t, 2).await;
    t.plaid.fail_next(endpoints::ITEM_GET, errors::rate_limited(endpoints::ITEM_GET));
    let summary = run(&t.services, SweepInput::default(), far_deadline()).await.unwrap();
    assert_eq!((summary.invocation.checked, found(&summary, Finding::Failed)), (2, 0));
    assert_eq!(t.plaid.calls(endpoints::ITEM_GET), 3, "the refused call is made again");
    // A failure other than a rate limit: counted, left for the next run.
    t.clock.advance(time::Duration::days(4));
    t.plaid.fail_next(endpoints::ITEM_GET, errors::server_error(endpoints::ITEM_GET));
    let summary = run(&t.services, SweepInput::default(), far_deadline()).await.unwrap();
    assert_eq!((found(&summary, Finding::Failed), found(&summary, Finding::Unchanged)), (1, 1));
    let failed = items.iter().filter(|i| summary.items.iter().any(|l| l.item_id == i.item_id.as_str())).count();
    assert_eq!(failed, 1, "the failed item is listed");
}

#[tokio::test(start_paused = true)]
async fn max_items_stops_with_a_checkpoint_and_the_run_continues_asking_nothing_twice() {
    let t = TestServices::new();
    quiet_items(&t, 7).await;
    let first =
        run(&t.services, SweepInput { max_items: Some(3), ..Default::default() }, far_deadline()).await.unwrap();
    assert_eq!(
        (first.status, first.paused_by, first.invocation.checked),
        (SweepStatus::Paused, Some(PauseReason::MaxItems), 3)
    );
    let mut total = first.invocation.checked;
    let mut last = first.clone();
    while last.status == SweepStatus::Paused {
        let input = SweepInput { run_id: Some(first.run_id.clone()), max_items: Some(3), ..Default::default() };
        last = run(&t.services, input, far_deadline()).await.unwrap();
        total += last.invocation.checked;
    }
    assert_eq!((total, last.run.checked), (7, 7));
    assert_eq!(t.plaid.calls(endpoints::ITEM_GET), 7, "no item asked about twice");
    // A run id that is not a sweep's, or unknown, is refused.
    for run_id in ["churn-1", "sweep-unknown"] {
        let input = SweepInput { run_id: Some(run_id.into()), ..Default::default() };
        assert!(run(&t.services, input, far_deadline()).await.is_err(), "{run_id}");
    }
}

#[tokio::test(start_paused = true)]
async fn with_no_window_every_item_is_asked_about_once() {
    let t = TestServices::new();
    quiet_items(&t, 8).await;
    let input = SweepInput { stale_after_hours: Some(0), ..Default::default() };
    let summary = run(&t.services, input, far_deadline()).await.unwrap();
    assert_eq!((summary.status, summary.invocation.checked), (SweepStatus::Complete, 8));
    assert_eq!(t.plaid.calls(endpoints::ITEM_GET), 8, "an item checked moves in the index, and is not listed again");
}

#[tokio::test(start_paused = true)]
async fn the_deadline_stops_a_run_which_continues_in_a_new_invocation() {
    let t = TestServices::new();
    quiet_items(&t, 2).await;
    let input = SweepInput { time_budget_secs: Some(0), ..Default::default() };
    let summary = invoke(&t.services, input, Some(Duration::from_secs(900))).await.unwrap();
    assert_eq!((summary.status, summary.paused_by), (SweepStatus::Paused, Some(PauseReason::Deadline)));
    let next = t.continuation.take_sweeps();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].run_id.as_deref(), Some(summary.run_id.as_str()));
    let done =
        invoke(&t.services, SweepInput { time_budget_secs: None, ..next[0].clone() }, Some(Duration::from_secs(900)))
            .await
            .unwrap();
    assert_eq!((done.status, done.run.checked), (SweepStatus::Complete, 2));
    assert!(t.continuation.take_sweeps().is_empty());
}

#[tokio::test(start_paused = true)]
async fn one_run_sweeps_at_a_time() {
    let t = TestServices::new();
    quiet_items(&t, 4).await;
    // A run paused by max_items holds the sweep: a second run is refused, naming it, and does nothing.
    let first =
        run(&t.services, SweepInput { max_items: Some(2), ..Default::default() }, far_deadline()).await.unwrap();
    assert_eq!(first.status, SweepStatus::Paused);
    let second = run(&t.services, SweepInput::default(), far_deadline()).await.unwrap();
    assert_eq!((second.status, second.held_by.as_deref()), (SweepStatus::AlreadyRunning, Some(first.run_id.as_str())));
    assert_eq!((second.invocation.checked, t.plaid.calls(endpoints::ITEM_GET)), (0, 2));
    assert_eq!(t.store.get_sweep_checkpoint(&second.run_id).await.unwrap(), None, "the refused run left nothing");
    // The holder continues and completes, giving the sweep up.
    let input = SweepInput { run_id: Some(first.run_id.clone()), ..Default::default() };
    assert_eq!(run(&t.services, input, far_deadline()).await.unwrap().status, SweepStatus::Complete);
    t.clock.advance(time::Duration::days(4));
    let third =
        run(&t.services, SweepInput { max_items: Some(1), ..Default::default() }, far_deadline()).await.unwrap();
    assert_eq!(third.status, SweepStatus::Paused, "a new run may start");
    // A holder that stopped without continuing loses the sweep once its lease runs out (20 minutes).
    t.clock.advance(time::Duration::minutes(21));
    let fourth = run(&t.services, SweepInput::default(), far_deadline()).await.unwrap();
    assert_eq!(fourth.status, SweepStatus::Complete);
}
