//! Item records against moto's DynamoDB: creation, optimistic locking, sealed secrets at rest, sync
//! leases, deletion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use std::time::Duration;
use store_support::{
    attribute_contains, item_id, item_record, put_new_item, scan_all, seal, store, transaction, upserts, user, vault,
};
use time::OffsetDateTime;
use weft::domain::{AccessToken, ItemError, ItemStatus};
use weft::domain::{CHURN_SHARDS, ChurnIndex, SealedItem};
use weft::ports::{
    ChurnStore, ExchangeRecords, ItemStore, KeyVault, LeaseError, LinkStore, StoreError, SyncStore, TransactionStore,
};

const TOKEN: &str = "access-sandbox-5c0b7e0e-2f44-4a53-9d0e-0d8c3a1f7b62";

#[tokio::test]
async fn items_are_created_once_and_found_by_every_path() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let record = item_record("alice", "item_a1");
    let (_, sealed) = seal(&vault, &record, TOKEN).await;
    put_new_item(&store, &record, &sealed).await.unwrap();

    let again = put_new_item(&store, &record, &sealed).await.unwrap_err();
    assert!(matches!(again, StoreError::AlreadyExists("item")), "{again:?}");

    assert_eq!(store.get_item(&user("alice"), &record.item_id).await.unwrap(), Some(record.clone()));
    assert_eq!(store.get_item(&user("bob"), &record.item_id).await.unwrap(), None, "another user's item is not found");
    assert_eq!(store.find_item(&record.item_id).await.unwrap(), Some(record.clone()));
    assert_eq!(store.find_item(&item_id("nope")).await.unwrap(), None);
    assert!(store.item_exists(&record.item_id).await.unwrap());
    assert!(!store.item_exists(&item_id("nope")).await.unwrap());

    let second = item_record("alice", "item_a2");
    let (_, sealed2) = seal(&vault, &second, TOKEN).await;
    put_new_item(&store, &second, &sealed2).await.unwrap();
    let mut listed = store.list_items(&user("alice")).await.unwrap();
    listed.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    assert_eq!(listed, vec![record.clone(), second]);
    assert!(store.list_items(&user("bob")).await.unwrap().is_empty());

    // The secrets come back sealed, and open with the vault.
    let (_, loaded) = store.get_item_sealed(&user("alice"), &record.item_id).await.unwrap().unwrap();
    assert_eq!(loaded, sealed);
    let key = vault.open_item_key(&record.item_id, &loaded.wrapped_key).await.unwrap();
    assert_eq!(key.open_access_token(&loaded.access_token).unwrap().expose(), TOKEN);
    // The item and its secrets in one read, by user or by id alone.
    let calls = store.calls();
    let both = store.get_item_sealed(&user("alice"), &record.item_id).await.unwrap();
    assert_eq!(both, Some((record.clone(), sealed.clone())));
    assert_eq!(store.find_item_sealed(&record.item_id).await.unwrap(), Some((record.clone(), sealed.clone())));
    assert_eq!(store.calls() - calls, 2);
    assert_eq!(store.get_item_sealed(&user("bob"), &record.item_id).await.unwrap(), None);
    assert_eq!(store.find_item_sealed(&item_id("nope")).await.unwrap(), None);
}

#[tokio::test]
async fn an_exchanged_item_and_its_idempotency_record_are_stored_together() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let record = item_record("dora", "item_d1");
    let (_, sealed) = seal(&vault, &record, TOKEN).await;
    let exchange_key = "ab".repeat(32);
    let calls = store.calls();
    store.insert_item(&record, &sealed, &exchange_key).await.unwrap();
    assert_eq!(store.calls() - calls, 1, "one transaction");
    assert_eq!(store.get_item(&user("dora"), &record.item_id).await.unwrap(), Some(record.clone()));
    assert_eq!(store.exchange_result(&user("dora"), &exchange_key).await.unwrap(), Some(record.item_id.clone()));
    assert_eq!(
        store.get_item_sealed(&user("dora"), &record.item_id).await.unwrap().map(|(_, s)| s),
        Some(sealed.clone())
    );

    // A second write of the item (an attempt whose first answer was lost) changes nothing.
    let err = store.insert_item(&record, &sealed, &"cd".repeat(32)).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists("item")), "{err:?}");
    assert_eq!(store.exchange_result(&user("dora"), &"cd".repeat(32)).await.unwrap(), None, "neither write happened");

    // Neither is written when the item is refused (a plaintext token).
    let other = item_record("dora", "item_d2");
    let plain = SealedItem { wrapped_key: sealed.wrapped_key.clone(), access_token: TOKEN.as_bytes().to_vec() };
    let err = store.insert_item(&other, &plain, &"ef".repeat(32)).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(store.get_item(&user("dora"), &other.item_id).await.unwrap(), None);
    assert_eq!(store.exchange_result(&user("dora"), &"ef".repeat(32)).await.unwrap(), None);
}

#[tokio::test]
async fn an_exchange_is_claimed_by_one_request_until_its_deadline_then_done() {
    use weft::ports::ExchangeClaim;
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let (u, key) = (user("erin"), "ab".repeat(32));
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let until = now + time::Duration::seconds(25);
    // (Concurrent claims are DynamoDB's conditional write; moto serialises nothing, so they are tested on
    // the memory double, services_exchange.rs.)
    assert_eq!(store.claim_exchange(&u, &key, now, until).await.unwrap(), ExchangeClaim::Claimed);
    for _ in 0..2 {
        assert_eq!(store.claim_exchange(&u, &key, now, until).await.unwrap(), ExchangeClaim::InProgress { until });
    }
    assert_eq!(store.exchange_result(&u, &key).await.unwrap(), None, "in progress is not done");
    // Its holder's time ran out: another request may claim it.
    let later = until + time::Duration::seconds(1);
    assert_eq!(
        store.claim_exchange(&u, &key, later, later + time::Duration::seconds(25)).await.unwrap(),
        ExchangeClaim::Claimed
    );
    // Released (no item came of it): free again.
    store.release_exchange(&u, &key).await.unwrap();
    assert_eq!(store.claim_exchange(&u, &key, now, until).await.unwrap(), ExchangeClaim::Claimed);
    // Done: the item, to every later request; a release leaves it.
    let record = item_record("erin", "item_e1");
    let (_, sealed) = seal(&vault, &record, TOKEN).await;
    store.insert_item(&record, &sealed, &key).await.unwrap();
    store.release_exchange(&u, &key).await.unwrap();
    assert_eq!(store.claim_exchange(&u, &key, now, until).await.unwrap(), ExchangeClaim::Done(record.item_id.clone()));
    assert_eq!(store.exchange_result(&u, &key).await.unwrap(), Some(record.item_id));
    assert!(matches!(store.claim_exchange(&u, "a#b", now, until).await, Err(StoreError::Invalid(_))));
}

#[tokio::test]
async fn a_plaintext_token_is_refused_and_nothing_at_rest_contains_one() {
    let (sdk, table, store) = store().await;
    let vault = vault(&sdk).await;
    let record = item_record("carol", "item_c1");
    let (key, wrapped_key) = vault.new_item_key(&record.item_id).await.unwrap();

    // Handing the store a plaintext token by mistake fails instead of storing it.
    let plaintext = SealedItem { wrapped_key: wrapped_key.clone(), access_token: TOKEN.as_bytes().to_vec() };
    assert!(matches!(put_new_item(&store, &record, &plaintext).await, Err(StoreError::Invalid(_))));

    let sealed =
        SealedItem { wrapped_key, access_token: key.seal_access_token(&AccessToken::parse(TOKEN).unwrap()).unwrap() };
    put_new_item(&store, &record, &sealed).await.unwrap();
    store
        .apply_transaction_changes(
            &record.item_id,
            &key,
            &upserts(&[transaction("item_c1", "txn_1", "2026-01-02", 12.5)]),
        )
        .await
        .unwrap();
    store
        .acquire_sync_lease(&record.user_id, &record.item_id, "w1", OffsetDateTime::now_utc(), Duration::from_secs(60))
        .await
        .unwrap();

    let rows = scan_all(&sdk, &table).await;
    assert!(rows.len() >= 2);
    let uuid_part = &TOKEN["access-sandbox-".len()..];
    for needle in [TOKEN.as_bytes(), uuid_part.as_bytes(), b"access-".as_slice(), b"Secret Merchant", b"Zyxwv Coffee"] {
        for row in &rows {
            assert!(
                !row.values().any(|v| attribute_contains(v, needle)),
                "{:?} found at rest in {:?}",
                String::from_utf8_lossy(needle),
                row.keys().collect::<Vec<_>>()
            );
        }
    }
}

#[tokio::test]
async fn optimistic_locking_on_version() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let record = item_record("dave", "item_d1");
    let (_, sealed) = seal(&vault, &record, TOKEN).await;
    put_new_item(&store, &record, &sealed).await.unwrap();

    let mut first = store.get_item(&record.user_id, &record.item_id).await.unwrap().unwrap();
    let mut second = first.clone();
    first.consent_expiration_time = Some(OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000));
    store.update_item(&mut first).await.unwrap();
    assert_eq!(first.version, 1);
    second.new_accounts_available = true;
    let err = store.update_item(&mut second).await.unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(second.version, 0, "a failed update leaves the caller's version alone");

    // Read again, apply, save: the second writer's change lands on top of the first's.
    let mut second = store.get_item(&record.user_id, &record.item_id).await.unwrap().unwrap();
    second.new_accounts_available = true;
    store.update_item(&mut second).await.unwrap();
    let stored = store.get_item(&record.user_id, &record.item_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.consent_expiration_time.is_some(), stored.new_accounts_available),
        (2, true, true)
    );

    // Updates keep the secrets.
    let (_, kept) = store.get_item_sealed(&record.user_id, &record.item_id).await.unwrap().unwrap();
    assert_eq!(kept, sealed);

    // An item deleted meanwhile is NotFound, not a conflict.
    store.delete_item(&record.user_id, &record.item_id).await.unwrap();
    let mut gone = stored;
    let err = store.update_item(&mut gone).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

/// Every entry of the error index (all shards) before `cutoff`.
async fn error_index(store: &weft::adapters::dynamodb::DynamoStore, cutoff: OffsetDateTime) -> Vec<(u8, String)> {
    let mut all = Vec::new();
    for shard in 0..CHURN_SHARDS {
        let page = store.churn_candidates(ChurnIndex::InError, shard, cutoff, None).await.unwrap();
        all.extend(page.candidates.into_iter().map(|c| (shard, c.item.item_id.to_string())));
    }
    all
}

#[tokio::test]
async fn items_enter_and_leave_the_churn_error_index_with_their_error() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let mut record = item_record("erin", "item_e1");
    let (_, sealed) = seal(&vault, &record, TOKEN).await;
    put_new_item(&store, &record, &sealed).await.unwrap();
    let shard = weft::adapters::dynamodb::churn_shard("item_e1");
    let now = OffsetDateTime::now_utc();

    assert!(error_index(&store, now).await.is_empty());

    record.error = Some(ItemError {
        error_type: "ITEM_ERROR".into(),
        error_code: "ITEM_LOGIN_REQUIRED".into(),
        since: now - time::Duration::days(40),
    });
    record.status = ItemStatus::LoginRequired;
    store.update_item(&mut record).await.unwrap();
    assert_eq!(error_index(&store, now).await, vec![(shard, "item_e1".to_owned())]);

    record.error = None;
    record.status = ItemStatus::Healthy;
    store.update_item(&mut record).await.unwrap();
    assert!(error_index(&store, now).await.is_empty(), "a repaired item leaves the index");
}

#[tokio::test]
async fn sync_lease_is_exclusive_and_guards_the_cursor() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let record = item_record("frank", "item_f1");
    let (_, sealed) = seal(&vault, &record, TOKEN).await;
    put_new_item(&store, &record, &sealed).await.unwrap();
    let (u, i) = (&record.user_id, &record.item_id);
    let t0 = OffsetDateTime::now_utc();
    let lease = Duration::from_secs(900);

    assert_eq!(store.acquire_sync_lease(u, i, "A", t0, lease).await.unwrap(), None, "no cursor before the first sync");
    assert!(matches!(store.acquire_sync_lease(u, i, "B", t0, lease).await, Err(LeaseError::Held)));
    assert_eq!(store.acquire_sync_lease(u, i, "A", t0, lease).await.unwrap(), None, "the holder may renew");
    assert!(matches!(store.save_sync_cursor(u, i, "B", "cursor-by-B").await, Err(LeaseError::Held)));
    store.save_sync_cursor(u, i, "A", "cursor-1").await.unwrap();
    store.release_sync_lease(u, i, "B").await.unwrap(); // not B's: nothing happens
    assert!(matches!(store.acquire_sync_lease(u, i, "B", t0, lease).await, Err(LeaseError::Held)));
    store.release_sync_lease(u, i, "A").await.unwrap();
    assert_eq!(store.acquire_sync_lease(u, i, "B", t0, lease).await.unwrap().as_deref(), Some("cursor-1"));

    // An expired lease is taken over, and the old holder can no longer save.
    let later = t0 + time::Duration::seconds(901);
    assert_eq!(store.acquire_sync_lease(u, i, "C", later, lease).await.unwrap().as_deref(), Some("cursor-1"));
    assert!(matches!(store.save_sync_cursor(u, i, "B", "stale").await, Err(LeaseError::Held)));
    store.save_sync_cursor(u, i, "C", "cursor-2").await.unwrap();

    // Lease operations do not bump the item's version (webhook updates do not conflict with syncs).
    assert_eq!(store.get_item(u, i).await.unwrap().unwrap().version, 0);

    // Takers one after another: the first wins, the rest find it held. (Concurrent takers rely on
    // DynamoDB's conditional write being atomic; moto does not serialise concurrent requests, so that is
    // not something a test against it can show: the services' concurrency tests run on the memory double.)
    let other = item_record("frank", "item_f2");
    put_new_item(&store, &other, &sealed).await.unwrap();
    assert_eq!(store.acquire_sync_lease(u, &other.item_id, "w0", t0, lease).await.unwrap(), None);
    for owner in ["w1", "w2"] {
        let taken = store.acquire_sync_lease(u, &other.item_id, owner, t0, lease).await;
        assert!(matches!(taken, Err(LeaseError::Held)), "{taken:?}");
    }

    let missing = store.acquire_sync_lease(u, &item_id("nope"), "A", t0, lease).await;
    assert!(matches!(missing, Err(LeaseError::Store(StoreError::NotFound(_)))), "{missing:?}");
}

#[tokio::test]
async fn deleting_an_item_removes_all_its_data() {
    let (sdk, table, store) = store().await;
    let vault = vault(&sdk).await;
    let record = item_record("gina", "item_g1");
    let keep = item_record("gina", "item_g2");
    for r in [&record, &keep] {
        let (key, sealed) = seal(&vault, r, TOKEN).await;
        put_new_item(&store, r, &sealed).await.unwrap();
        let txns: Vec<_> = (0..60)
            .map(|n| transaction(r.item_id.as_str(), &format!("t{n}"), &format!("2026-01-{:02}", 1 + n % 28), n as f64))
            .collect();
        store.apply_transaction_changes(&r.item_id, &key, &upserts(&txns)).await.unwrap();
    }

    // Records of the user's that name the item: an update-mode Link token and the exchange record.
    let now = OffsetDateTime::now_utc();
    let link = weft::domain::LinkTokenRecord {
        link_token: weft::domain::LinkToken::parse("link-sandbox-6f1a2b3c-0000-4000-8000-000000000001").unwrap(),
        expiration: now + time::Duration::minutes(30),
        created_at: now,
        item_id: Some(record.item_id.clone()),
        oauth: false,
        closed_at: None,
        asked_at: None,
    };
    store.put_link_token(&record.user_id, &link).await.unwrap();
    // (Each item's exchange record was written with it.)

    store.delete_item(&record.user_id, &record.item_id).await.unwrap();
    store.delete_item(&record.user_id, &record.item_id).await.unwrap(); // idempotent

    let rows = scan_all(&sdk, &table).await;
    let leftovers: Vec<_> = rows.iter().filter(|row| row.values().any(|v| attribute_contains(v, b"item_g1"))).collect();
    assert!(leftovers.is_empty(), "{} records of the deleted item remain", leftovers.len());
    assert_eq!(store.get_item(&record.user_id, &record.item_id).await.unwrap(), None);
    assert_eq!(store.get_item_sealed(&record.user_id, &record.item_id).await.unwrap(), None);
    // The other item is untouched.
    let others = rows.iter().filter(|row| row.values().any(|v| attribute_contains(v, b"item_g2"))).count();
    assert_eq!(others, 63, "the other item, its transactions, its exchange record and its institution guard");
}

#[tokio::test]
async fn relink_prompts_are_counted_apart_from_the_items_state() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let record = item_record("erin", "item_e1");
    let (_, sealed) = seal(&vault, &record, TOKEN).await;
    put_new_item(&store, &record, &sealed).await.unwrap();
    let (u, i) = (&record.user_id, &record.item_id);

    // A state write that read the item before the prompts were counted does not undo the count, and the
    // count does not make it conflict (GET /items racing a webhook).
    let mut read_before = store.get_item(u, i).await.unwrap().unwrap();
    store.count_relink_prompt(u, i).await.unwrap();
    store.count_relink_prompt(u, i).await.unwrap();
    read_before.new_accounts_available = true;
    store.update_item(&mut read_before).await.unwrap();
    let stored = store.get_item(u, i).await.unwrap().unwrap();
    assert_eq!((stored.ignored_prompts, stored.new_accounts_available, stored.version), (2, true, 1));

    store.reset_relink_prompts(u, i).await.unwrap();
    assert_eq!(store.get_item(u, i).await.unwrap().unwrap().ignored_prompts, 0);
    let gone = item_id("item_none");
    assert!(matches!(store.count_relink_prompt(u, &gone).await, Err(StoreError::NotFound(_))));
}
