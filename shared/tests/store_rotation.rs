//! Access-token rotation's records against moto's DynamoDB: an item's sealed secrets replaced (conditional
//! on the old wrapped key, idempotent, the transactions and cursor sealed or fetched under the old key gone),
//! the item scan (items only, every one once, page by page) and rotation checkpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use std::collections::BTreeSet;
use std::time::Duration;
use store_support::{item_record, put_new_item, scan_all, seal, store, transaction, upserts, user, vault};
use time::OffsetDateTime;
use weft::domain::{SealedItem, WrappedKey};
use weft::ports::{
    ItemStore, LeaseError, RotationCheckpoint, RotationStore, StoreError, SyncStore, TransactionStore, UserStore,
};

const OLD: &str = "access-sandbox-11111111-2f44-4a53-9d0e-0d8c3a1f7b62";
const NEW: &str = "access-sandbox-22222222-2f44-4a53-9d0e-0d8c3a1f7b62";

#[tokio::test]
async fn sealed_secrets_are_replaced_only_over_the_old_key_and_take_the_old_keys_data_with_them() {
    let (sdk, table, store) = store().await;
    let vault = vault(&sdk).await;
    let record = item_record("rita", "item_r1");
    let (old_key, old) = seal(&vault, &record, OLD).await;
    put_new_item(&store, &record, &old).await.unwrap();
    let txns: Vec<_> = (0..40).map(|n| transaction("item_r1", &format!("t{n}"), "2026-01-02", n as f64)).collect();
    store.apply_transaction_changes(&record.item_id, &old_key, &upserts(&txns)).await.unwrap();
    let now = OffsetDateTime::now_utc();
    store.acquire_sync_lease(&record.user_id, &record.item_id, "w1", now, Duration::from_secs(60)).await.unwrap();
    store.save_sync_cursor(&record.user_id, &record.item_id, "w1", "cursor-1").await.unwrap();
    store.release_sync_lease(&record.user_id, &record.item_id, "w1").await.unwrap();

    let (new_key, new) = seal(&vault, &record, NEW).await;
    store.replace_sealed(&record.user_id, &record.item_id, &old.wrapped_key, &new).await.unwrap();

    let (stored, sealed) = store.get_item_sealed(&record.user_id, &record.item_id).await.unwrap().unwrap();
    assert_eq!(sealed, new);
    assert_eq!(new_key.open_access_token(&sealed.access_token).unwrap().expose(), NEW);
    assert_eq!(stored, record, "the item's own fields (and version) are untouched");
    let page = store.list_transactions(&record.item_id, &new_key, None, 500).await.unwrap();
    assert!(page.transactions.is_empty(), "the old key's transactions are gone");
    let cursor = store.acquire_sync_lease(&record.user_id, &record.item_id, "w2", now, Duration::from_secs(60)).await;
    assert_eq!(cursor.unwrap(), None, "the next sync starts from the beginning");
    store.release_sync_lease(&record.user_id, &record.item_id, "w2").await.unwrap();
    let rows = scan_all(&sdk, &table).await;
    assert!(!rows.iter().any(|r| r.get("SK").and_then(|v| v.as_s().ok()).is_some_and(|s| s.starts_with("TXN#"))));

    // A retry of the same replacement (its answer lost) is done already.
    store.replace_sealed(&record.user_id, &record.item_id, &old.wrapped_key, &new).await.unwrap();
    // Another replacement over a key that is no longer there is refused, and changes nothing.
    let (_, other) = seal(&vault, &record, OLD).await;
    let stale = store.replace_sealed(&record.user_id, &record.item_id, &old.wrapped_key, &other).await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    assert_eq!(store.get_item_sealed(&record.user_id, &record.item_id).await.unwrap().unwrap().1, new);
    let bogus = WrappedKey::from_bytes(vec![7; 32]);
    assert!(matches!(
        store.replace_sealed(&record.user_id, &record.item_id, &bogus, &other).await,
        Err(StoreError::Conflict)
    ));
    // An unknown item, and a token that is not sealed.
    let missing = item_record("rita", "item_none");
    assert!(matches!(
        store.replace_sealed(&missing.user_id, &missing.item_id, &new.wrapped_key, &other).await,
        Err(StoreError::NotFound(_))
    ));
    let plaintext = SealedItem { wrapped_key: other.wrapped_key.clone(), access_token: NEW.as_bytes().to_vec() };
    assert!(matches!(
        store.replace_sealed(&record.user_id, &record.item_id, &new.wrapped_key, &plaintext).await,
        Err(StoreError::Invalid(_))
    ));
    // The lease still works as before.
    let held = store.acquire_sync_lease(&record.user_id, &record.item_id, "w3", now, Duration::from_secs(60)).await;
    assert!(held.is_ok());
    let other_worker =
        store.acquire_sync_lease(&record.user_id, &record.item_id, "w4", now, Duration::from_secs(60)).await;
    assert!(matches!(other_worker, Err(LeaseError::Held)));
}

#[tokio::test]
async fn the_item_scan_reads_every_item_once_and_nothing_else() {
    let (sdk, _table, store) = store().await;
    let vault = vault(&sdk).await;
    let mut expected = BTreeSet::new();
    for (u, i) in [("sam", "item_s1"), ("sam", "item_s2"), ("tess", "item_t1"), ("uma", "item_u1"), ("uma", "item_u2")]
    {
        let record = item_record(u, i);
        let (key, sealed) = seal(&vault, &record, OLD).await;
        put_new_item(&store, &record, &sealed).await.unwrap();
        let txns: Vec<_> = (0..3).map(|n| transaction(i, &format!("t{n}"), "2026-01-02", 1.0)).collect();
        store.apply_transaction_changes(&record.item_id, &key, &upserts(&txns)).await.unwrap();
        store.touch_user(&user(u), OffsetDateTime::now_utc()).await.unwrap();
        expected.insert(i.to_owned());
    }
    // Small pages: most hold other records (transactions, profiles, exchange records), some hold none.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.scan_items(token.as_deref(), 3).await.unwrap();
        pages += 1;
        seen.extend(page.items.into_iter().map(|i| i.item_id.to_string()));
        match page.next_page {
            Some(next) => token = Some(next),
            None => break,
        }
        assert!(pages < 100, "the scan does not end");
    }
    assert!(pages > 3, "paged: {pages}");
    assert_eq!(seen.len(), expected.len(), "each item once: {seen:?}");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
    assert!(matches!(store.scan_items(Some("not-a-token"), 3).await, Err(StoreError::InvalidCursor)));
}

#[tokio::test]
async fn rotation_checkpoints_round_trip() {
    let (_sdk, _table, store) = store().await;
    assert_eq!(store.get_rotation_checkpoint("rotation-1-a").await.unwrap(), None);
    let cp = RotationCheckpoint {
        started_at: Some(OffsetDateTime::from_unix_timestamp(1_767_000_000).unwrap()),
        page_token: Some("abc".into()),
        page_done: vec!["item_1".into(), "item_2".into()],
        complete: false,
        rotated: 2,
        skipped: 1,
        failed: 1,
        failed_items: vec!["item_3".into()],
    };
    store.put_rotation_checkpoint("rotation-1-a", &cp).await.unwrap();
    assert_eq!(store.get_rotation_checkpoint("rotation-1-a").await.unwrap(), Some(cp));
    assert!(matches!(store.get_rotation_checkpoint("a#b").await, Err(StoreError::Invalid(_))));
}
