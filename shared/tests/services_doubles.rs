//! The doubles keep the contracts the service tests rely on: `MemoryStore` the DynamoDB adapter's (the
//! same cases as `store_items.rs` / `store_records.rs` run against moto), `ScriptedPlaid` Plaid's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{added, days_ago, institution, link_item, txn, user};
use std::time::Duration;
use weft::adapters::dynamodb::churn_shard;
use weft::domain::{CHURN_SHARDS, ChurnIndex, SealError, SealedItem, TransactionId};
use weft::doubles::plaid::{endpoints, errors};
use weft::doubles::{SyncChange, TestServices};
use weft::ports::{
    ChurnStore, ExchangeRecords, ItemStore, KeyVault, LeaseError, PlaidLink, PlaidTransactions, StoreError, SyncStore,
    TransactionChange, TransactionStore, UserStore, WebhookDedup,
};

#[tokio::test]
async fn items_optimistic_lock_prompt_counts_and_deletion() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    let (_, sealed) = t.store.get_item_sealed(&item.user_id, &item.item_id).await.unwrap().unwrap();
    let again = t.store.insert_item(&item, &sealed, "key-2").await.unwrap_err();
    assert!(matches!(again, StoreError::AlreadyExists("item")));
    let plaintext = SealedItem {
        wrapped_key: sealed.wrapped_key.clone(),
        access_token: b"access-sandbox-x-plaintext-token".to_vec(),
    };
    let mut other = item.clone();
    other.item_id = weft::domain::ItemId::parse("item-other").unwrap();
    assert!(matches!(t.store.insert_item(&other, &plaintext, "key-3").await, Err(StoreError::Invalid(_))));
    assert_eq!(t.store.get_item(&user("bob"), &item.item_id).await.unwrap(), None, "keyed by user");

    let mut first = item.clone();
    let mut stale = item.clone();
    first.webhook_url = Some("https://a.example".into());
    t.store.update_item(&mut first).await.unwrap();
    assert_eq!(first.version, item.version + 1);
    assert!(matches!(t.store.update_item(&mut stale).await, Err(StoreError::Conflict)));
    // Prompt counts are their own writes: the version is untouched, and a state write keeps the count.
    t.store.count_relink_prompt(&item.user_id, &item.item_id).await.unwrap();
    first.ignored_prompts = 99;
    t.store.update_item(&mut first).await.unwrap();
    let now = t.store.get_item(&item.user_id, &item.item_id).await.unwrap().unwrap();
    assert_eq!((now.ignored_prompts, now.version), (1, item.version + 2));
    t.store.reset_relink_prompts(&item.user_id, &item.item_id).await.unwrap();

    // Deletion takes the transactions and the exchange record with it; idempotent.
    t.plaid.push_changes(&item.item_id, added(&item, "t", 2));
    weft::services::sync::sync_item(&t.services, &item.item_id).await.unwrap();
    assert_eq!(t.store.transaction_ids(&item.item_id).len(), 2);
    t.store.delete_item(&item.user_id, &item.item_id).await.unwrap();
    t.store.delete_item(&item.user_id, &item.item_id).await.unwrap();
    assert!(t.store.transaction_ids(&item.item_id).is_empty());
    assert!(matches!(t.store.update_item(&mut first).await, Err(StoreError::NotFound(_))));
    assert!(matches!(t.store.count_relink_prompt(&item.user_id, &item.item_id).await, Err(StoreError::NotFound(_))));

    // Injected faults fail the next calls without effect, and calls are counted.
    let calls = t.store.calls("get_item");
    t.store.fail_next("get_item", 2);
    assert!(t.store.get_item(&item.user_id, &item.item_id).await.is_err());
    assert!(t.store.get_item(&item.user_id, &item.item_id).await.is_err());
    assert!(t.store.get_item(&item.user_id, &item.item_id).await.is_ok());
    assert_eq!(t.store.calls("get_item"), calls + 3);
}

#[tokio::test]
async fn the_sync_lease_and_cursor() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    let (u, i, ttl) = (&item.user_id, &item.item_id, Duration::from_secs(60));
    assert_eq!(t.store.acquire_sync_lease(u, i, "w1", t.now(), ttl).await.unwrap(), None);
    assert!(matches!(t.store.acquire_sync_lease(u, i, "w2", t.now(), ttl).await, Err(LeaseError::Held)));
    t.store.acquire_sync_lease(u, i, "w1", t.now(), ttl).await.unwrap(); // its own again
    assert!(matches!(t.store.save_sync_cursor(u, i, "w2", "c").await, Err(LeaseError::Held)));
    t.store.save_sync_cursor(u, i, "w1", "c1").await.unwrap();
    t.store.release_sync_lease(u, i, "w2").await.unwrap(); // not theirs: nothing happens
    assert_eq!(t.store.lease_owner(i).as_deref(), Some("w1"));
    let later = t.now() + time::Duration::seconds(61);
    assert_eq!(t.store.acquire_sync_lease(u, i, "w2", later, ttl).await.unwrap().as_deref(), Some("c1"), "expired");
    let gone = weft::domain::ItemId::parse("gone").unwrap();
    let err = t.store.acquire_sync_lease(u, &gone, "w1", t.now(), ttl).await.unwrap_err();
    assert!(matches!(err, LeaseError::Store(StoreError::NotFound(_))));
}

#[tokio::test]
async fn transactions_are_sealed_with_the_item_key_and_listed_newest_first() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    let other = link_item(&t, "alice", "ins_2").await;
    let (key, _) = t.vault.new_item_key(&item.item_id).await.unwrap();
    let changes: Vec<TransactionChange> = (1..=3)
        .map(|d| {
            TransactionChange::Upsert(Box::new(
                txn(&item, &format!("t{d}"), d, 1.0).into_domain(&item.item_id).unwrap(),
            ))
        })
        .collect();
    t.store.apply_transaction_changes(&item.item_id, &key, &changes).await.unwrap();
    let sealed = t.store.sealed_transaction(&item.item_id, &TransactionId::parse("t1").unwrap()).unwrap();
    assert!(!sealed.windows(b"Purchase".len()).any(|w| w == b"Purchase"), "details sealed at rest");

    let page = t.store.list_transactions(&item.item_id, &key, None, 2).await.unwrap();
    let ids: Vec<_> = page.transactions.iter().map(|t| t.transaction_id.to_string()).collect();
    assert_eq!(ids, ["t3", "t2"]);
    let rest = t.store.list_transactions(&item.item_id, &key, page.next_cursor.as_deref(), 2).await.unwrap();
    assert_eq!((rest.transactions.len(), rest.next_cursor), (1, None));
    assert!(matches!(
        t.store.list_transactions(&item.item_id, &key, Some("garbage"), 2).await,
        Err(StoreError::InvalidCursor)
    ));
    // Another item's key is refused; another key of the same item does not open the details.
    let (other_key, _) = t.vault.new_item_key(&other.item_id).await.unwrap();
    let err = t.store.list_transactions(&item.item_id, &other_key, None, 2).await.unwrap_err();
    assert!(matches!(err, StoreError::Sealing(SealError::WrongItem { .. })), "{err:?}");
    let (second_key, _) = t.vault.new_item_key(&item.item_id).await.unwrap();
    let err = t.store.list_transactions(&item.item_id, &second_key, None, 2).await.unwrap_err();
    assert!(matches!(err, StoreError::Sealing(SealError::Decrypt)), "{err:?}");
}

#[tokio::test]
async fn expiring_records_age_with_the_clock() {
    let t = TestServices::new();
    assert!(t.store.mark_webhook_seen("hook-1").await.unwrap());
    assert!(!t.store.mark_webhook_seen("hook-1").await.unwrap());
    t.clock.advance(time::Duration::days(3));
    assert!(!t.store.webhook_seen("hook-1").await.unwrap(), "kept three days");
    assert!(t.store.mark_webhook_seen("hook-1").await.unwrap());
    assert!(matches!(t.store.webhook_seen("a#b").await, Err(StoreError::Invalid(_))));

    // The exchange record lasts a day.
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.expose().as_bytes()));
    let cmd = services_support::command(&t, token, &bank);
    let item = weft::services::exchange::exchange(&t.services, &user("alice"), cmd).await.unwrap();
    assert_eq!(t.store.exchange_result(&item.user_id, &key).await.unwrap(), Some(item.item_id.clone()));
    t.clock.advance(time::Duration::days(1));
    assert_eq!(t.store.exchange_result(&item.user_id, &key).await.unwrap(), None);
}

#[tokio::test]
async fn the_churn_index_pages_each_shard_oldest_first() {
    let t = TestServices::new();
    t.store.set_churn_page_size(2);
    let target = churn_shard("user-0");
    let same_shard: Vec<String> =
        (0..).map(|n| format!("user-{n}")).filter(|u| churn_shard(u) == target).take(5).collect();
    for (n, u) in same_shard.iter().enumerate() {
        t.store.touch_user(&user(u), days_ago(90 - n as i64)).await.unwrap();
    }
    t.store.touch_user(&user(&same_shard[0]), days_ago(95)).await.unwrap(); // never backwards
    let cutoff = days_ago(60);
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = t.store.churn_candidates(ChurnIndex::Inactive, target, cutoff, token.as_deref()).await.unwrap();
        pages += 1;
        seen.extend(page.idle_users.iter().map(|i| i.user_id.to_string()));
        token = page.next_page;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, same_shard, "oldest first, every user once");
    assert_eq!(pages, 3);
    let first = t.store.churn_candidates(ChurnIndex::Inactive, target, cutoff, None).await.unwrap();
    let other_shard = (target + 1) % CHURN_SHARDS;
    let err = t.store.churn_candidates(ChurnIndex::Inactive, other_shard, cutoff, first.next_page.as_deref()).await;
    assert!(matches!(err, Err(StoreError::InvalidCursor)));
    let stale = weft::ports::IdleUser { last_active_at: days_ago(200), ..first.idle_users[0].clone() };
    assert!(!t.store.forget_idle_user(&stale).await.unwrap());
    assert!(t.store.forget_idle_user(&first.idle_users[0]).await.unwrap());
}

#[tokio::test]
async fn plaid_sync_cursors_behave_like_plaids() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    let token = t.plaid.access_token(&item.item_id).unwrap();
    t.plaid.push_changes(&item.item_id, added(&item, "t", 3));
    t.plaid.push_changes(&item.item_id, vec![SyncChange::Removed("t1".into())]);
    // A null cursor: the current transactions as added, never removals.
    let first = t.plaid.transactions_sync(&token, None, 10).await.unwrap();
    assert_eq!(first.added.iter().map(|t| t.transaction_id.as_str()).collect::<Vec<_>>(), ["t2", "t3"]);
    assert!(first.removed.is_empty() && !first.has_more);
    t.plaid.push_changes(&item.item_id, vec![SyncChange::Removed("t2".into())]);
    let next = t.plaid.transactions_sync(&token, Some(&first.next_cursor), 10).await.unwrap();
    assert_eq!(next.removed.len(), 1);
    // Data changing mid-pagination.
    t.plaid.push_changes(&item.item_id, added(&item, "n", 4));
    let page = t.plaid.transactions_sync(&token, Some(&next.next_cursor), 2).await.unwrap();
    assert!(page.has_more);
    t.plaid.push_changes(&item.item_id, added(&item, "m", 1));
    let err = t.plaid.transactions_sync(&token, Some(&page.next_cursor), 2).await.unwrap_err();
    assert!(err.is_mutation_during_pagination());
    // Scripted failures come in order; the counter counts every call.
    t.plaid.pass_next(endpoints::TRANSACTIONS_SYNC, 1);
    t.plaid.fail_next(endpoints::TRANSACTIONS_SYNC, errors::rate_limited(endpoints::TRANSACTIONS_SYNC));
    assert!(t.plaid.transactions_sync(&token, None, 10).await.is_ok());
    assert!(t.plaid.transactions_sync(&token, None, 10).await.unwrap_err().is_rate_limited());
    assert_eq!(t.plaid.calls(endpoints::TRANSACTIONS_SYNC), 6);

    // A public token exchanges once.
    let public = t.plaid.add_public_token(&institution("ins_2"));
    t.plaid.item_public_token_exchange(&public).await.unwrap();
    let err = t.plaid.item_public_token_exchange(&public).await.unwrap_err();
    let e = err.api_error().unwrap();
    assert_eq!(
        (e.error_type.as_str(), e.error_code.as_str(), e.status),
        ("INVALID_INPUT", "INVALID_PUBLIC_TOKEN", Some(400))
    );
}
