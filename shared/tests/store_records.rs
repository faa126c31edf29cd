//! The other records against moto's DynamoDB: webhook dedup, exchange idempotency, Link tokens and events,
//! user activity and prompts, the churn indexes and checkpoints, the sweep's quiet index and checkpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use std::collections::{BTreeMap, BTreeSet};
use store_support::{exchange_key, item_id, item_record, put_new_item, seal, store, user, vault};
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};
use weft::adapters::dynamodb::{DynamoStore, churn_shard};
use weft::domain::{CHURN_SHARDS, ChurnCheckpoint, ChurnIndex, LinkEventKind, LinkEventRecord, LinkTokenRecord};
use weft::domain::{ItemError, ItemStatus, LinkSessionId, LinkToken, SweepCheckpoint, SweepPass};
use weft::ports::{
    ChurnStore, ExchangeRecords, IdleUser, ItemStore, LinkStore, StoreError, SweepClaim, SweepStore, UserStore,
    WebhookDedup,
};

#[tokio::test]
async fn webhook_dedup() {
    let (_, _, store) = store().await;
    let key = "3f2a9c0d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f";
    assert!(!store.webhook_seen(key).await.unwrap());
    assert!(store.mark_webhook_seen(key).await.unwrap(), "first mark is new");
    assert!(store.webhook_seen(key).await.unwrap());
    assert!(!store.mark_webhook_seen(key).await.unwrap(), "second mark is a duplicate");
    // (Concurrent deliveries rely on DynamoDB's conditional write being atomic; moto does not serialise
    // concurrent requests, so the concurrency tests run on the memory double.)
    assert!(matches!(store.mark_webhook_seen("a#b").await, Err(StoreError::Invalid(_))));
    // Forgotten (its sync started): the same key is new again; forgetting an unknown key is fine.
    store.forget_webhook(key).await.unwrap();
    assert!(!store.webhook_seen(key).await.unwrap());
    assert!(store.mark_webhook_seen(key).await.unwrap());
    store.forget_webhook(&"bb".repeat(32)).await.unwrap();
}

#[tokio::test]
async fn exchange_idempotency() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let key = exchange_key("item_x1");
    assert_eq!(store.exchange_result(&alice, &key).await.unwrap(), None);
    let record = item_record("alice", "item_x1");
    let (_, sealed) = seal(&vault, &record, "access-sandbox-x1").await;
    put_new_item(&store, &record, &sealed).await.unwrap();
    assert_eq!(store.exchange_result(&alice, &key).await.unwrap(), Some(item_id("item_x1")));
    assert_eq!(store.exchange_result(&bob, &key).await.unwrap(), None, "per user");
}

fn link_token(s: &str, created_at: OffsetDateTime, expiration: OffsetDateTime, item: Option<&str>) -> LinkTokenRecord {
    LinkTokenRecord {
        link_token: LinkToken::parse(s).unwrap(),
        expiration,
        created_at,
        item_id: item.map(item_id),
        oauth: true,
        closed_at: None,
        asked_at: None,
    }
}

#[tokio::test]
async fn link_tokens_for_oauth_resume() {
    let (_, _, store) = store().await;
    let u = user("alice");
    let now = OffsetDateTime::now_utc();
    assert_eq!(store.latest_link_token(&u, now).await.unwrap(), None);
    let old = link_token("link-sandbox-old", now - Duration::hours(5), now - Duration::hours(1), None);
    let current =
        link_token("link-sandbox-current", now - Duration::minutes(10), now + Duration::hours(4), Some("item_l1"));
    let older_valid = link_token("link-sandbox-older", now - Duration::minutes(30), now + Duration::hours(3), None);
    for t in [&old, &current, &older_valid] {
        store.put_link_token(&u, t).await.unwrap();
    }
    assert_eq!(store.latest_link_token(&u, now).await.unwrap(), Some(current.clone()));
    assert_eq!(store.latest_link_token(&u, now + Duration::hours(5)).await.unwrap(), None, "all expired by then");
    assert_eq!(store.get_link_token(&u, "link-sandbox-current").await.unwrap(), Some(current));
    assert_eq!(store.get_link_token(&u, "link-sandbox-unknown").await.unwrap(), None);
    assert_eq!(store.get_link_token(&user("bob"), "link-sandbox-current").await.unwrap(), None);
}

fn event(session: &str, kind: LinkEventKind, name: Option<&str>, at: OffsetDateTime, seq: u32) -> LinkEventRecord {
    LinkEventRecord {
        user_id: user("alice"),
        link_session_id: LinkSessionId::parse(session).unwrap(),
        kind,
        event_name: name.map(Into::into),
        link_token: Some("link-sandbox-1".into()),
        request_id: None,
        institution_id: Some("ins_109508".into()),
        institution_name: Some("First Platypus Bank".into()),
        error_type: None,
        error_code: None,
        error_message: None,
        exit_status: None,
        view_name: None,
        timestamp: at,
        seq,
        event_id: None,
        source: Default::default(),
    }
}

#[tokio::test]
async fn link_events_by_day() {
    let (_, _, store) = store().await;
    let d1 = datetime!(2026-03-01 23:59:59.5 UTC);
    let d2 = datetime!(2026-03-02 08:00 UTC);
    let events = vec![
        event("sess1", LinkEventKind::Event, Some("OPEN"), d1, 0),
        event("sess1", LinkEventKind::Event, Some("SELECT_INSTITUTION"), d1, 1),
        event("sess1", LinkEventKind::Success, None, d2, 0),
        event("sess2", LinkEventKind::Exit, None, d2 + Duration::hours(1), 0),
    ];
    store.put_link_events(&events).await.unwrap();
    store.put_link_events(&events[..2]).await.unwrap(); // the app resent a batch: still one record each

    let both = store.link_events_between(date!(2026 - 03 - 01), date!(2026 - 03 - 02)).await.unwrap();
    assert_eq!(both, events, "by day, then time");
    let day2 = store.link_events_between(date!(2026 - 03 - 02), date!(2026 - 03 - 02)).await.unwrap();
    assert_eq!(day2, events[2..].to_vec());
    assert!(store.link_events_between(date!(2026 - 03 - 03), date!(2026 - 03 - 31)).await.unwrap().is_empty());
    assert!(store.link_events_between(date!(2026 - 03 - 02), date!(2026 - 03 - 01)).await.unwrap().is_empty());
    assert!(matches!(
        store.link_events_between(date!(2024 - 01 - 01), date!(2026 - 01 - 01)).await,
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test]
async fn link_tokens_by_value_marked_once_and_the_open_index() {
    let (_, _, store) = store().await;
    let now = OffsetDateTime::now_utc();
    let (alice, bob) = (user("alice"), user("bob"));
    let old = link_token("link-sandbox-open-old", now - Duration::minutes(50), now + Duration::hours(3), None);
    let closed = link_token("link-sandbox-open-closed", now - Duration::minutes(40), now + Duration::hours(3), None);
    let young = link_token("link-sandbox-open-young", now - Duration::minutes(5), now + Duration::hours(4), None);
    store.put_link_token(&alice, &old).await.unwrap();
    store.put_link_token(&bob, &closed).await.unwrap();
    store.put_link_token(&alice, &young).await.unwrap();

    // By value alone, with its user (a LINK webhook names the token, not the user).
    assert_eq!(store.find_link_token("link-sandbox-open-closed").await.unwrap(), Some((bob.clone(), closed.clone())));
    assert_eq!(store.find_link_token("link-sandbox-unknown").await.unwrap(), None);

    // Marked once: the second caller is told it was marked already.
    let at = now.replace_nanosecond(0).unwrap();
    assert!(store.mark_link_token(&bob, &closed, weft::domain::LinkTokenMark::Closed, at).await.unwrap());
    assert!(!store.mark_link_token(&bob, &closed, weft::domain::LinkTokenMark::Closed, at).await.unwrap());
    let (_, marked) = store.find_link_token("link-sandbox-open-closed").await.unwrap().unwrap();
    assert_eq!(marked.closed_at, Some(at));

    // The open index: made before the cutoff, neither closed nor asked, oldest first.
    let cutoff = now - Duration::minutes(30);
    let open = store.open_link_tokens(cutoff, 10).await.unwrap();
    assert_eq!(open, vec![(alice.clone(), old.clone())]);
    assert!(store.mark_link_token(&alice, &old, weft::domain::LinkTokenMark::Asked, at).await.unwrap());
    assert!(store.open_link_tokens(cutoff, 10).await.unwrap().is_empty(), "asked: out of the index");
    assert_eq!(store.open_link_tokens(now, 10).await.unwrap(), vec![(alice, young)]);
}

#[tokio::test]
async fn plaid_link_events_are_one_record_per_session_and_event_id() {
    let (_, _, store) = store().await;
    let at = datetime!(2026-03-05 10:00 UTC);
    let mut first = event("sess9", LinkEventKind::Event, Some("OPEN"), at, 0);
    first.event_id = Some("9469937a-6fac-40be-9322-f86e8c0b94ed".into());
    let mut second = event("sess9", LinkEventKind::Event, Some("HANDOFF"), at, 0);
    second.event_id = Some("4b2390cf-33a2-4078-b933-62468b9e53a5".into());
    store.put_link_events(&[first.clone()]).await.unwrap();
    store.put_link_events(&[first.clone(), second.clone()]).await.unwrap(); // Plaid resends cumulatively
    let day = date!(2026 - 03 - 05);
    let stored = store.link_events_between(day, day).await.unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.contains(&first) && stored.contains(&second));
}

#[tokio::test]
async fn user_activity() {
    let (_, _, store) = store().await;
    let store = store.with_touch_interval(std::time::Duration::ZERO);
    let u = user("auth0|alice");
    assert_eq!(store.get_user(&u).await.unwrap(), None);
    let t1 = datetime!(2026-05-01 12:00 UTC);
    store.touch_user(&u, t1).await.unwrap();
    store.touch_user(&u, t1 - Duration::days(3)).await.unwrap(); // a late, older request does not move it back
    let profile = store.get_user(&u).await.unwrap().unwrap();
    assert_eq!(profile.last_active_at, Some(t1));
    store.touch_user(&u, t1 + Duration::days(1)).await.unwrap();
    assert_eq!(store.get_user(&u).await.unwrap().unwrap().last_active_at, Some(t1 + Duration::days(1)));
    assert_eq!(store.get_user(&user("nobody")).await.unwrap(), None);
}

#[tokio::test]
async fn touch_is_throttled_per_container() {
    let (_, _, store) = store().await;
    let u = user("throttled");
    let t = OffsetDateTime::now_utc();
    store.touch_user(&u, t).await.unwrap();
    let calls = store.calls();
    store.touch_user(&u, t + Duration::minutes(1)).await.unwrap();
    assert_eq!(store.calls(), calls, "a second touch within the interval costs no call");
    store.touch_user(&u, t + Duration::minutes(16)).await.unwrap();
    assert_eq!(store.calls(), calls + 1);
}

async fn put_item(
    store: &DynamoStore,
    vault: &weft::adapters::kms::KmsEnvelope,
    user_id: &str,
    item: &str,
) -> weft::domain::ItemRecord {
    let record = item_record(user_id, item);
    let (_, sealed) = seal(vault, &record, "access-sandbox-churn").await;
    put_new_item(store, &record, &sealed).await.unwrap();
    record
}

/// Every candidate of `index` before `cutoff`, all shards and pages; (item id, user's last activity).
async fn all_candidates(
    store: &DynamoStore,
    index: ChurnIndex,
    cutoff: OffsetDateTime,
) -> (BTreeMap<String, Option<OffsetDateTime>>, usize) {
    let mut found = BTreeMap::new();
    let mut pages = 0;
    for shard in 0..CHURN_SHARDS {
        let mut token: Option<String> = None;
        loop {
            let page = store.churn_candidates(index, shard, cutoff, token.as_deref()).await.unwrap();
            pages += 1;
            for c in page.candidates {
                assert!(found.insert(c.item.item_id.to_string(), c.user_last_active).is_none(), "no duplicates");
            }
            match page.next_page {
                Some(t) => token = Some(t),
                None => break,
            }
        }
    }
    (found, pages)
}

#[tokio::test]
async fn churn_candidates_from_both_indexes() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let now = OffsetDateTime::now_utc();
    let cutoff = now - Duration::days(60);

    // Inactive users: 27 users in one shard (more than a page), plus one elsewhere, one active.
    let target = churn_shard("user-0");
    let same_shard: Vec<String> =
        (0..).map(|n| format!("user-{n}")).filter(|u| churn_shard(u) == target).take(27).collect();
    let mut expected = BTreeSet::new();
    for (n, u) in same_shard.iter().enumerate() {
        store.touch_user(&user(u), now - Duration::days(90) - Duration::minutes(n as i64)).await.unwrap();
        let item = format!("item-{u}");
        put_item(&store, &vault, u, &item).await;
        expected.insert(item);
    }
    let elsewhere = (0..).map(|n| format!("other-{n}")).find(|u| churn_shard(u) != target).unwrap();
    store.touch_user(&user(&elsewhere), now - Duration::days(61)).await.unwrap();
    put_item(&store, &vault, &elsewhere, "item-elsewhere-1").await;
    put_item(&store, &vault, &elsewhere, "item-elsewhere-2").await;
    expected.extend(["item-elsewhere-1".to_owned(), "item-elsewhere-2".to_owned()]);
    store.touch_user(&user("active"), now - Duration::days(1)).await.unwrap();
    put_item(&store, &vault, "active", "item-active").await;

    let (found, pages) = all_candidates(&store, ChurnIndex::Inactive, cutoff).await;
    assert_eq!(found.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(pages > CHURN_SHARDS as usize, "the full shard took more than one page");
    assert!(found.values().all(|last| last.is_some_and(|t| t < cutoff)));

    // Items in error: one for 40 days, one for 10 days, one healthy.
    let mut old_error = put_item(&store, &vault, "active", "item-err-old").await;
    let mut new_error = put_item(&store, &vault, "active", "item-err-new").await;
    for (record, days) in [(&mut old_error, 40), (&mut new_error, 10)] {
        record.status = ItemStatus::Error;
        record.error = Some(ItemError {
            error_type: "INSTITUTION_ERROR".into(),
            error_code: "INSTITUTION_DOWN".into(),
            since: now - Duration::days(days),
        });
        store.update_item(record).await.unwrap();
    }
    let (found, _) = all_candidates(&store, ChurnIndex::InError, now - Duration::days(30)).await;
    assert_eq!(found.keys().cloned().collect::<Vec<_>>(), ["item-err-old"]);
    assert_eq!(found["item-err-old"], None);
    let (found, _) = all_candidates(&store, ChurnIndex::InError, now).await;
    assert_eq!(found.len(), 2);

    // An inactive user with no items is not a candidate but an idle user, dropped from the index only if
    // not active since it was read.
    let idle_at = (now - Duration::days(70)).replace_nanosecond(0).unwrap();
    store.touch_user(&user("idle"), idle_at).await.unwrap();
    let idle_shard = churn_shard("idle");
    let mut idle = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store.churn_candidates(ChurnIndex::Inactive, idle_shard, cutoff, token.as_deref()).await.unwrap();
        assert!(page.candidates.iter().all(|c| c.item.user_id.as_str() != "idle"));
        idle.extend(page.idle_users);
        token = page.next_page;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(idle, [IdleUser { user_id: user("idle"), last_active_at: idle_at }]);
    let stale = IdleUser { user_id: user("idle"), last_active_at: idle_at - Duration::days(1) };
    assert!(!store.forget_idle_user(&stale).await.unwrap(), "activity since the read keeps the profile");
    assert!(store.get_user(&user("idle")).await.unwrap().is_some());
    assert!(store.forget_idle_user(&idle[0]).await.unwrap());
    assert!(store.get_user(&user("idle")).await.unwrap().is_none());
    assert!(!store.forget_idle_user(&idle[0]).await.unwrap(), "already gone");
    let page = store.churn_candidates(ChurnIndex::Inactive, idle_shard, cutoff, None).await.unwrap();
    assert!(page.idle_users.is_empty());

    // A page token only continues the shard it came from.
    let first = store.churn_candidates(ChurnIndex::Inactive, target, cutoff, None).await.unwrap();
    let token = first.next_page.unwrap();
    let other_shard = (target + 1) % CHURN_SHARDS;
    let err = store.churn_candidates(ChurnIndex::Inactive, other_shard, cutoff, Some(&token)).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidCursor));
    assert!(matches!(store.churn_candidates(ChurnIndex::InError, 16, now, None).await, Err(StoreError::Invalid(_))));
}

#[tokio::test]
async fn churn_checkpoints() {
    let (_, _, store) = store().await;
    assert_eq!(store.get_churn_checkpoint("run-1").await.unwrap(), None);
    let checkpoint = ChurnCheckpoint {
        index: ChurnIndex::InError,
        shard: 7,
        page_token: Some("opaque".into()),
        scanned: 120,
        removed: 30,
        skipped: 88,
        failed: 2,
        by_reason: BTreeMap::from([
            ("user_inactive.removed".to_owned(), 20),
            ("error_unresolved.removed".to_owned(), 10),
        ]),
        started_at: Some(datetime!(2026-11-30 06:00 UTC)),
        dry_run: false,
        page_done: vec!["item-1".into(), "item-2".into()],
        idle_users: 3,
    };
    store.put_churn_checkpoint("run-1", &checkpoint).await.unwrap();
    assert_eq!(store.get_churn_checkpoint("run-1").await.unwrap(), Some(checkpoint));
    let fresh = ChurnCheckpoint::default();
    store.put_churn_checkpoint("run-1", &fresh).await.unwrap();
    assert_eq!(store.get_churn_checkpoint("run-1").await.unwrap(), Some(fresh));
    assert!(matches!(store.get_churn_checkpoint("CHURN#x").await, Err(StoreError::Invalid(_))));
}

#[tokio::test]
async fn limit_counters_blocks_and_the_audit_trail() {
    use weft::ports::{Actor, AuditAction, AuditLog, AuditOutcome, AuditRecord, LimitStore, LimitWindow};
    let (_, _, store) = store().await;
    let u = user("limited");
    let start = datetime!(2026-11-30 06:00 UTC);
    let hour =
        LimitWindow { user: u.clone(), name: "link_tokens".into(), start, expires_at: Some(start + Duration::HOUR) };
    for _ in 0..3 {
        assert!(store.take(&hour, 3, start).await.unwrap());
    }
    assert!(!store.take(&hour, 3, start).await.unwrap(), "the fourth use is refused");
    store.give_back(&hour).await.unwrap();
    assert!(store.take(&hour, 3, start).await.unwrap(), "a use given back can be taken again");
    let next_hour = LimitWindow { start: start + Duration::HOUR, ..hour.clone() };
    assert!(store.take(&next_hour, 3, start).await.unwrap(), "another window counts apart");
    // A counter without a window, reset to what it counts.
    let items =
        LimitWindow { user: u.clone(), name: "items".into(), start: OffsetDateTime::UNIX_EPOCH, expires_at: None };
    assert!(store.take(&items, 1, start).await.unwrap());
    assert!(!store.take(&items, 1, start).await.unwrap());
    assert!(
        !store.reset(&items, 0, start).await.unwrap(),
        "not while a use taken at or after `start` may be in flight"
    );
    assert!(!store.take(&items, 1, start).await.unwrap());
    assert!(store.reset(&items, 0, start + Duration::SECOND).await.unwrap(), "quiet since");
    assert!(store.take(&items, 1, start).await.unwrap());
    store.give_back(&items).await.unwrap();
    store.give_back(&items).await.unwrap(); // never below zero
    assert!(store.take(&items, 1, start).await.unwrap());
    assert!(!store.take(&items, 1, start).await.unwrap());
    // Credential failures by institution.
    let failures = LimitWindow { name: "credential_failures".into(), ..hour.clone() };
    assert_eq!(store.record_failure(&failures, "ins_1").await.unwrap(), (1, 1));
    assert_eq!(store.record_failure(&failures, "ins_1").await.unwrap(), (2, 1));
    assert_eq!(store.record_failure(&failures, "ins_2").await.unwrap(), (3, 2));
    // Blocks: the later end stands.
    assert_eq!(store.blocked_until(&u, "link_tokens", start).await.unwrap(), None);
    store.block(&u, "link_tokens", start + Duration::minutes(30)).await.unwrap();
    store.block(&u, "link_tokens", start + Duration::minutes(10)).await.unwrap();
    assert_eq!(store.blocked_until(&u, "link_tokens", start).await.unwrap(), Some(start + Duration::minutes(30)));
    assert_eq!(store.blocked_until(&u, "link_tokens", start + Duration::hours(1)).await.unwrap(), None);
    assert!(matches!(
        store.take(&LimitWindow { name: "a#b".into(), ..hour.clone() }, 1, start).await,
        Err(StoreError::Invalid(_))
    ));

    // The audit trail, by day.
    let record = AuditRecord {
        at: start,
        actor: Actor::User("pseudonym-1".into()),
        action: AuditAction::ItemRemoved,
        outcome: AuditOutcome::Done,
        item_id: Some(item_id("item_audit")),
        subject: None,
        detail: Some("user".into()),
    };
    store.record(&record).await.unwrap();
    store.record(&AuditRecord { at: start + Duration::days(1), ..record.clone() }).await.unwrap();
    assert_eq!(store.records_of(start.date()).await.unwrap(), vec![record]);
}

/// Every item of the quiet index before `cutoff` in `shard`, in the order listed.
async fn quiet_items_of(store: &DynamoStore, shard: u8, cutoff: OffsetDateTime) -> Vec<String> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store.quiet_items(shard, cutoff, token.as_deref()).await.unwrap();
        found.extend(page.items.into_iter().map(|i| i.item_id.to_string()));
        match page.next_page {
            Some(t) => token = Some(t),
            None => return found,
        }
    }
}

#[tokio::test]
async fn the_quiet_index_lists_items_not_heard_of_oldest_first() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    // Four items of one shard: heard of 5, 3 and 1 days ago, and one in error (the churn index's, not here).
    let shard = churn_shard("quiet-0");
    let ids: Vec<String> = (0..).map(|n| format!("quiet-{n}")).filter(|i| churn_shard(i) == shard).take(4).collect();
    for (id, days) in ids.iter().zip([3, 5, 1, 9]) {
        let mut record = put_item(&store, &vault, "sweeper", id).await;
        record.checked_at = Some(now - Duration::days(days));
        if days == 9 {
            record.status = ItemStatus::LoginRequired;
            record.error = Some(ItemError {
                error_type: "ITEM_ERROR".into(),
                error_code: "ITEM_LOGIN_REQUIRED".into(),
                since: now - Duration::days(9),
            });
        }
        store.update_item(&mut record).await.unwrap();
    }
    let listed = quiet_items_of(&store, shard, now).await;
    assert_eq!(listed, [ids[1].clone(), ids[0].clone(), ids[2].clone()], "oldest first");
    let listed = quiet_items_of(&store, shard, now - Duration::days(2)).await;
    assert_eq!(listed, [ids[1].clone(), ids[0].clone()], "before the cutoff");
    let other = (shard + 1) % CHURN_SHARDS;
    assert!(quiet_items_of(&store, other, now).await.iter().all(|i| !ids.contains(i)));
    // Heard of now: out of the listing; revoked: out of the index.
    let mut heard = store.get_item(&user("sweeper"), &item_id(&ids[1])).await.unwrap().unwrap();
    heard.checked_at = Some(now);
    store.update_item(&mut heard).await.unwrap();
    let mut revoked = store.get_item(&user("sweeper"), &item_id(&ids[0])).await.unwrap().unwrap();
    revoked.status = ItemStatus::Revoked;
    store.update_item(&mut revoked).await.unwrap();
    assert_eq!(quiet_items_of(&store, shard, now).await, [ids[2].clone()]);
    // A shard past the last, and a token this store did not issue, are refused.
    assert!(matches!(store.quiet_items(CHURN_SHARDS, now, None).await, Err(StoreError::Invalid(_))));
    assert!(matches!(store.quiet_items(shard, now, Some("not-a-token")).await, Err(StoreError::InvalidCursor)));
}

#[tokio::test]
async fn sweep_checkpoints() {
    let (_, _, store) = store().await;
    assert_eq!(store.get_sweep_checkpoint("sweep-1").await.unwrap(), None);
    let checkpoint = SweepCheckpoint {
        pass: SweepPass::Quiet,
        shard: 5,
        started_at: Some(datetime!(2026-11-30 05:00 UTC)),
        dry_run: true,
        stale_after_hours: 72,
        page_token: Some("opaque".into()),
        page_done: vec!["item-1".into()],
        complete: false,
        scanned: 40,
        checked: 12,
        findings: BTreeMap::from([("error_found".to_owned(), 2), ("unchanged".to_owned(), 10)]),
    };
    store.put_sweep_checkpoint("sweep-1", &checkpoint).await.unwrap();
    assert_eq!(store.get_sweep_checkpoint("sweep-1").await.unwrap(), Some(checkpoint));
    assert!(matches!(store.get_sweep_checkpoint("SWEEP#x").await, Err(StoreError::Invalid(_))));
}

#[tokio::test]
async fn one_sweep_holds_the_lease_at_a_time() {
    let (_, _, store) = store().await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let until = now + Duration::minutes(20);
    assert_eq!(store.claim_sweep("sweep-a", now, until).await.unwrap(), SweepClaim::Claimed);
    assert_eq!(store.claim_sweep("sweep-b", now, until).await.unwrap(), SweepClaim::HeldBy("sweep-a".into()));
    assert_eq!(store.claim_sweep("sweep-a", now, until).await.unwrap(), SweepClaim::Claimed, "renewed");
    store.release_sweep("sweep-b").await.unwrap();
    assert!(matches!(store.claim_sweep("sweep-b", now, until).await.unwrap(), SweepClaim::HeldBy(_)), "not b's");
    // Expired: taken over.
    let later = until + Duration::seconds(1);
    assert_eq!(store.claim_sweep("sweep-b", later, later + Duration::minutes(20)).await.unwrap(), SweepClaim::Claimed);
    store.release_sweep("sweep-b").await.unwrap();
    assert_eq!(store.claim_sweep("sweep-c", now, until).await.unwrap(), SweepClaim::Claimed, "given up");
    assert!(matches!(store.claim_sweep("SWEEP#x", now, until).await, Err(StoreError::Invalid(_))));
}
