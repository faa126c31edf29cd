//! Access-token rotation on the doubles: one item (new token works at Plaid, the old one is refused, the
//! stored token opens to the new one under a new wrapped key, transactions fetched again under it), storing
//! retried after Plaid rotated, a sync holding the item, every item across many short calls (each rotated
//! exactly once), rate limits, and an audit trail without tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{added, link_item, user};
use std::collections::BTreeMap;
use tokio::time::Instant;
use weft::domain::{AccessToken, ItemId, ItemRecord, SealedItem};
use weft::doubles::TestServices;
use weft::doubles::plaid::{endpoints, errors};
use weft::ports::{
    Actor, AuditAction, AuditOutcome, ItemStore, KeyVault, PlaidItems, RotationStore, SyncReason, SyncStore,
};
use weft::services::ServiceError;
use weft::services::items;
use weft::services::rotation::{RotateAllOptions, RotationSummary, RunStatus, rotate_all, rotate_item};
use weft::services::sync::sync_item;

fn operator() -> weft::domain::UserId {
    user("ops-1")
}

/// The item's sealed secrets as stored.
async fn sealed(t: &TestServices, item: &ItemRecord) -> SealedItem {
    t.store.get_item_sealed(&item.user_id, &item.item_id).await.unwrap().expect("stored").1
}

/// The access token the store holds for the item, opened as the services would.
async fn stored_token(t: &TestServices, item: &ItemRecord) -> AccessToken {
    let sealed = sealed(t, item).await;
    let key = t.vault.open_item_key(&item.item_id, &sealed.wrapped_key).await.unwrap();
    key.open_access_token(&sealed.access_token).unwrap()
}

fn plaid_token(t: &TestServices, item_id: &ItemId) -> AccessToken {
    t.plaid.access_token(item_id).expect("the item is at Plaid")
}

async fn works(t: &TestServices, token: &AccessToken) -> bool {
    t.plaid.item_get(token).await.is_ok()
}

async fn refused_as_invalid(t: &TestServices, token: &AccessToken) -> bool {
    t.plaid.item_get(token).await.is_err_and(|e| e.is_invalid_access_token())
}

/// An item with a synced transaction history of three.
async fn synced_item(t: &TestServices, user_name: &str, institution: &str) -> ItemRecord {
    let item = link_item(t, user_name, institution).await;
    t.plaid.push_changes(&item.item_id, added(&item, &format!("{}-t", item.item_id), 3));
    sync_item(&t.services, &item.item_id).await.unwrap();
    t.queue.take();
    item
}

/// No token of any kind in the audit trail.
fn assert_audit_has_no_token(t: &TestServices, tokens: &[&AccessToken]) {
    let dump = serde_json::to_string(&t.store.audit_records()).unwrap();
    assert!(!dump.contains("access-"), "an access token in the audit trail: {dump}");
    for token in tokens {
        assert!(!dump.contains(token.expose()), "a token in the audit trail");
    }
}

#[tokio::test]
async fn one_item_gets_a_new_token_under_a_new_key_and_the_old_one_is_dead() {
    let t = TestServices::new();
    let item = synced_item(&t, "alice", "ins_1").await;
    let old_token = plaid_token(&t, &item.item_id);
    let old_sealed = sealed(&t, &item).await;
    assert_eq!(
        items::transactions(&t.services, &item.user_id, &item.item_id, None, 50).await.unwrap().transactions.len(),
        3
    );

    rotate_item(&t.services, &operator(), &item.item_id).await.unwrap();

    // At Plaid: a new token that works, the old one refused.
    let new_token = plaid_token(&t, &item.item_id);
    assert_ne!(new_token.expose(), old_token.expose());
    assert!(works(&t, &new_token).await);
    assert!(refused_as_invalid(&t, &old_token).await, "the old token is dead");
    assert_eq!(t.plaid.calls(endpoints::ITEM_ACCESS_TOKEN_INVALIDATE), 1);
    // Here: the new token, sealed under a new data key; the old key opens nothing of it.
    let new_sealed = sealed(&t, &item).await;
    assert_ne!(new_sealed.wrapped_key, old_sealed.wrapped_key, "a new wrapped data key");
    assert_eq!(stored_token(&t, &item).await.expose(), new_token.expose());
    let old_key = t.vault.open_item_key(&item.item_id, &old_sealed.wrapped_key).await.unwrap();
    assert!(old_key.open_access_token(&new_sealed.access_token).is_err());
    assert_eq!(t.store.lease_owner(&item.item_id), None, "the sync lease is released");

    // The transactions sealed under the old key went with it; a sync fetches them again under the new one.
    assert!(t.store.transaction_ids(&item.item_id).is_empty());
    assert_eq!(t.store.sync_cursor(&item.item_id), None);
    let queued = t.queue.take();
    assert_eq!(queued.len(), 1);
    assert_eq!((&queued[0].item_id, &queued[0].reason), (&item.item_id, &SyncReason::TokenRotated));
    sync_item(&t.services, &item.item_id).await.unwrap();
    assert_eq!(t.plaid.sync_cursors(&item.item_id).last(), Some(&None), "synced from the start");
    let page = items::transactions(&t.services, &item.user_id, &item.item_id, None, 50).await.unwrap();
    assert_eq!(page.transactions.len(), 3, "readable under the new key");

    // Audited: the operator, the item, no token.
    let records = t.store.audit_records();
    let rotated: Vec<_> = records.iter().filter(|r| r.action == AuditAction::TokenRotated).collect();
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].outcome, AuditOutcome::Done);
    assert_eq!(rotated[0].item_id.as_ref(), Some(&item.item_id));
    assert_eq!(rotated[0].actor, Actor::operator(&t.services.pseudonyms, &operator()));
    assert_audit_has_no_token(&t, &[&old_token, &new_token]);
}

#[tokio::test(start_paused = true)]
async fn storing_is_retried_after_plaid_rotated() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    t.store.fail_next("replace_sealed", 1);
    rotate_item(&t.services, &operator(), &item.item_id).await.unwrap();
    assert_eq!(t.store.calls("replace_sealed"), 2, "stored on the second attempt");
    assert_eq!(t.plaid.calls(endpoints::ITEM_ACCESS_TOKEN_INVALIDATE), 1, "Plaid was asked once");
    let new_token = plaid_token(&t, &item.item_id);
    assert_eq!(stored_token(&t, &item).await.expose(), new_token.expose(), "the new token is kept");
    assert!(works(&t, &new_token).await);
}

#[tokio::test(start_paused = true)]
async fn a_token_that_cannot_be_stored_is_reported_and_audited_as_failed() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    let old_sealed = sealed(&t, &item).await;
    t.store.fail_next("replace_sealed", 100);
    let err = rotate_item(&t.services, &operator(), &item.item_id).await.unwrap_err();
    assert!(matches!(err, ServiceError::Store(_)), "{err:?}");
    assert!(t.store.calls("replace_sealed") > 3, "retried before giving up");
    assert_eq!(sealed(&t, &item).await, old_sealed, "nothing half-written");
    let failed: Vec<_> = t
        .store
        .audit_records()
        .into_iter()
        .filter(|r| r.action == AuditAction::TokenRotated && r.outcome == AuditOutcome::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].detail.as_deref(), Some("store"));
    assert_audit_has_no_token(&t, &[&plaid_token(&t, &item.item_id)]);
}

#[tokio::test(start_paused = true)]
async fn an_item_a_sync_holds_is_not_rotated_until_the_sync_is_done() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    let before = plaid_token(&t, &item.item_id);
    t.store
        .acquire_sync_lease(&item.user_id, &item.item_id, "sync-worker-1", t.now(), std::time::Duration::from_secs(900))
        .await
        .unwrap();
    let err = rotate_item(&t.services, &operator(), &item.item_id).await.unwrap_err();
    assert!(matches!(err, ServiceError::Conflict), "{err:?}");
    assert_eq!(plaid_token(&t, &item.item_id).expose(), before.expose(), "Plaid was not asked");
    assert_eq!(t.plaid.calls(endpoints::ITEM_ACCESS_TOKEN_INVALIDATE), 0);
    t.store.release_sync_lease(&item.user_id, &item.item_id, "sync-worker-1").await.unwrap();
    rotate_item(&t.services, &operator(), &item.item_id).await.unwrap();
    assert_ne!(plaid_token(&t, &item.item_id).expose(), before.expose());
}

#[tokio::test]
async fn unknown_items_and_runs() {
    let t = TestServices::new();
    let missing = ItemId::parse("item-none").unwrap();
    assert!(matches!(rotate_item(&t.services, &operator(), &missing).await, Err(ServiceError::NotFound(_))));
    let far = Instant::now() + std::time::Duration::from_secs(60);
    let opts = RotateAllOptions::default();
    let unknown = rotate_all(&t.services, &operator(), Some("rotation-1-abc"), far, opts).await;
    assert!(matches!(unknown, Err(ServiceError::NotFound(_))), "{unknown:?}");
    let churn_run = rotate_all(&t.services, &operator(), Some("1767000000-ab12cd34"), far, opts).await;
    assert!(matches!(churn_run, Err(ServiceError::Invalid(_))), "{churn_run:?}");
}

/// Calls `rotate_all` with a deadline already past (each call does one item or one page) until the run is
/// complete; returns the last summary and how many calls it took.
async fn run_to_completion(t: &TestServices, options: RotateAllOptions) -> (RotationSummary, usize) {
    let mut run_id: Option<String> = None;
    for calls in 1..=200 {
        let summary = rotate_all(&t.services, &operator(), run_id.as_deref(), Instant::now(), options).await.unwrap();
        if let Some(id) = &run_id {
            assert_eq!(&summary.run_id, id, "the same run continues");
        }
        run_id = Some(summary.run_id.clone());
        if summary.status == RunStatus::Complete {
            return (summary, calls);
        }
    }
    panic!("the run did not complete in 200 calls");
}

#[tokio::test(start_paused = true)]
async fn every_item_is_rotated_exactly_once_across_many_short_calls() {
    let t = TestServices::new();
    let mut items = Vec::new();
    for (u, n) in [("alice", 2), ("bob", 3), ("carol", 1)] {
        for i in 0..n {
            items.push(synced_item(&t, u, &format!("ins_{u}_{i}")).await);
        }
    }
    // One item removed at Plaid behind weft's back: nothing to rotate.
    let gone = link_item(&t, "dave", "ins_dave").await;
    t.plaid.item_remove(&plaid_token(&t, &gone.item_id)).await.unwrap();
    let before: BTreeMap<ItemId, AccessToken> =
        items.iter().map(|i| (i.item_id.clone(), plaid_token(&t, &i.item_id))).collect();

    let options = RotateAllOptions { per_minute: 60_000, scan_page: 2 };
    let (summary, calls) = run_to_completion(&t, options).await;
    assert!(calls > items.len(), "one item or page per call: {calls} calls");
    assert_eq!((summary.rotated, summary.skipped, summary.failed), (items.len() as u64, 1, 0), "{summary:?}");
    assert_eq!(
        t.plaid.calls(endpoints::ITEM_ACCESS_TOKEN_INVALIDATE),
        items.len() + 1,
        "each item asked for exactly once (the removed one refused)"
    );
    for item in &items {
        let new_token = plaid_token(&t, &item.item_id);
        assert_ne!(new_token.expose(), before[&item.item_id].expose(), "{} rotated", item.item_id);
        assert!(works(&t, &new_token).await);
        assert!(refused_as_invalid(&t, &before[&item.item_id]).await, "{}'s old token is dead", item.item_id);
        assert_eq!(stored_token(&t, item).await.expose(), new_token.expose());
    }
    let rotated = t.store.audit_records().into_iter().filter(|r| r.action == AuditAction::TokenRotated).count();
    assert_eq!(rotated, items.len(), "one audit record per rotated item");
    let mut all: Vec<&AccessToken> = before.values().collect();
    let after: Vec<AccessToken> = items.iter().map(|i| plaid_token(&t, &i.item_id)).collect();
    all.extend(after.iter());
    assert_audit_has_no_token(&t, &all);

    // A finished run answers complete again without doing anything.
    let again = rotate_all(&t.services, &operator(), Some(&summary.run_id), Instant::now(), options).await.unwrap();
    assert_eq!(again, summary);
    assert_eq!(t.plaid.calls(endpoints::ITEM_ACCESS_TOKEN_INVALIDATE), items.len() + 1);
}

#[tokio::test(start_paused = true)]
async fn a_run_with_time_to_spare_finishes_in_one_call_at_plaids_pace() {
    let t = TestServices::new();
    for i in 0..4 {
        link_item(&t, "alice", &format!("ins_{i}")).await;
    }
    let started = Instant::now();
    let far = started + std::time::Duration::from_secs(3600);
    let options = RotateAllOptions { per_minute: 60, scan_page: 3 };
    let summary = rotate_all(&t.services, &operator(), None, far, options).await.unwrap();
    assert_eq!((summary.status, summary.rotated), (RunStatus::Complete, 4));
    // 60 a minute: a second apart (virtual time).
    assert!(started.elapsed() >= std::time::Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_pauses_the_run_and_the_next_call_rotates_the_item() {
    let t = TestServices::new();
    let a = link_item(&t, "alice", "ins_1").await;
    let b = link_item(&t, "bob", "ins_2").await;
    let far = Instant::now() + std::time::Duration::from_secs(3600);
    let options = RotateAllOptions { per_minute: 60_000, scan_page: 10 };
    t.plaid.pass_next(endpoints::ITEM_ACCESS_TOKEN_INVALIDATE, 1);
    t.plaid.fail_next(
        endpoints::ITEM_ACCESS_TOKEN_INVALIDATE,
        errors::rate_limited(endpoints::ITEM_ACCESS_TOKEN_INVALIDATE),
    );
    let first = rotate_all(&t.services, &operator(), None, far, options).await.unwrap();
    assert_eq!((first.status, first.rotated, first.failed), (RunStatus::InProgress, 1, 0), "{first:?}");
    let second = rotate_all(&t.services, &operator(), Some(&first.run_id), far, options).await.unwrap();
    assert_eq!((second.status, second.rotated, second.failed), (RunStatus::Complete, 2, 0), "{second:?}");
    for item in [&a, &b] {
        assert_eq!(stored_token(&t, item).await.expose(), plaid_token(&t, &item.item_id).expose());
    }
}

#[tokio::test]
async fn the_item_scan_pages_through_every_item_once() {
    let t = TestServices::new();
    for i in 0..5 {
        link_item(&t, &format!("u{i}"), &format!("ins_{i}")).await;
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = t.store.scan_items(token.as_deref(), 2).await.unwrap();
        seen.extend(page.items.into_iter().map(|i| i.item_id));
        match page.next_page {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5));
    assert!(t.store.scan_items(Some("not-a-token"), 2).await.is_err());
}
