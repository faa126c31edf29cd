//! Transactions against moto's DynamoDB: sealed upserts, removals, date-ordered pages with opaque cursors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use store_support::{item_id, store, transaction, upserts, vault};
use weft::domain::TransactionId;
use weft::ports::{KeyVault, StoreError, TransactionChange, TransactionStore};

#[tokio::test]
async fn pages_newest_first_until_the_last() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let item = item_id("item_p1");
    let (key, _) = vault.new_item_key(&item).await.unwrap();
    let txns: Vec<_> = (0..120)
        .map(|n| {
            transaction("item_p1", &format!("t{n:03}"), &format!("2026-{:02}-{:02}", 1 + n / 28, 1 + n % 28), n as f64)
        })
        .collect();
    store.apply_transaction_changes(&item, &key, &upserts(&txns)).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let page = store.list_transactions(&item, &key, cursor.as_deref(), 50).await.unwrap();
        pages.push(page.transactions.len());
        seen.extend(page.transactions);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, [50, 50, 20], "the last page has no cursor, and no empty page follows");
    let mut expected = txns.clone();
    expected.sort_by(|a, b| (&b.date, &b.transaction_id).cmp(&(&a.date, &a.transaction_id)));
    assert_eq!(seen, expected, "newest first, details opened");

    // An exact multiple of the page size ends without a dangling cursor.
    let page = store.list_transactions(&item, &key, None, 120).await.unwrap();
    assert_eq!((page.transactions.len(), page.next_cursor), (120, None));
}

#[tokio::test]
async fn cursors_are_validated() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let (a, b) = (item_id("item_ca"), item_id("item_cb"));
    let (key_a, _) = vault.new_item_key(&a).await.unwrap();
    let (key_b, _) = vault.new_item_key(&b).await.unwrap();
    let txns_a: Vec<_> = (0..3).map(|n| transaction("item_ca", &format!("a{n}"), "2026-03-01", 1.0)).collect();
    let txns_b: Vec<_> = (0..3).map(|n| transaction("item_cb", &format!("b{n}"), "2026-03-01", 1.0)).collect();
    store.apply_transaction_changes(&a, &key_a, &upserts(&txns_a)).await.unwrap();
    store.apply_transaction_changes(&b, &key_b, &upserts(&txns_b)).await.unwrap();
    let cursor_a = store.list_transactions(&a, &key_a, None, 1).await.unwrap().next_cursor.unwrap();

    // Another item's cursor, garbage, or a forged one: refused as a client error.
    for bad in [cursor_a.as_str(), "garbage!", "", "e30"] {
        let err = store.list_transactions(&b, &key_b, Some(bad), 10).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidCursor), "{bad:?}: {err:?}");
    }
    // A key of another item cannot list (nor write) this item's transactions.
    let err = store.list_transactions(&b, &key_a, None, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::Sealing(_)), "{err:?}");
    let err = store.apply_transaction_changes(&b, &key_a, &upserts(&txns_b)).await.unwrap_err();
    assert!(matches!(err, StoreError::Sealing(_)), "{err:?}");
    // A transaction of another item is refused.
    let err = store.apply_transaction_changes(&a, &key_a, &upserts(&txns_b)).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    // A date that would break the ordering is refused.
    let err = store
        .apply_transaction_changes(&a, &key_a, &upserts(&[transaction("item_ca", "bad", "03/01/2026", 1.0)]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn changes_apply_idempotently_last_change_wins() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let item = item_id("item_m1");
    let (key, _) = vault.new_item_key(&item).await.unwrap();
    let t1 = transaction("item_m1", "t1", "2026-02-01", 10.0);
    let t2 = transaction("item_m1", "t2", "2026-02-02", 20.0);
    let mut t1_modified = t1.clone();
    t1_modified.details.amount = 11.0;
    t1_modified.pending = true;
    let changes = vec![
        TransactionChange::Upsert(Box::new(t1.clone())),
        TransactionChange::Upsert(Box::new(t2.clone())),
        TransactionChange::Upsert(Box::new(t1_modified.clone())),
    ];
    store.apply_transaction_changes(&item, &key, &changes).await.unwrap();
    store.apply_transaction_changes(&item, &key, &changes).await.unwrap(); // a retried sync
    let listed = store.list_transactions(&item, &key, None, 10).await.unwrap().transactions;
    assert_eq!(listed, vec![t2.clone(), t1_modified]);

    // Upsert then remove in one batch: removed.
    let changes = vec![
        TransactionChange::Upsert(Box::new(t2.clone())),
        TransactionChange::Remove(TransactionId::parse("t2").unwrap()),
        TransactionChange::Remove(TransactionId::parse("never-existed").unwrap()),
    ];
    store.apply_transaction_changes(&item, &key, &changes).await.unwrap();
    store
        .apply_transaction_changes(&item, &key, &[TransactionChange::Remove(TransactionId::parse("t1").unwrap())])
        .await
        .unwrap();
    assert!(store.list_transactions(&item, &key, None, 10).await.unwrap().transactions.is_empty());
}

#[tokio::test]
async fn a_revoked_accounts_transactions_are_deleted_and_no_others() {
    let (sdk, _, store) = store().await;
    let vault = vault(&sdk).await;
    let item = item_id("item_r1");
    let (key, _) = vault.new_item_key(&item).await.unwrap();
    let mut txns: Vec<_> = (0..40)
        .map(|n| transaction("item_r1", &format!("t{n}"), &format!("2026-03-{:02}", 1 + n % 28), n as f64))
        .collect();
    for t in txns.iter_mut().filter(|t| (t.details.amount as u32).is_multiple_of(3)) {
        t.account_id = weft::domain::AccountId::parse("acc_card").unwrap();
    }
    store.apply_transaction_changes(&item, &key, &upserts(&txns)).await.unwrap();
    let card = weft::domain::AccountId::parse("acc_card").unwrap();
    assert_eq!(store.delete_account_transactions(&item, &card).await.unwrap(), 14);
    assert_eq!(store.delete_account_transactions(&item, &card).await.unwrap(), 0, "idempotent");
    let left = store.list_transactions(&item, &key, None, 100).await.unwrap().transactions;
    assert_eq!(left.len(), 26);
    assert!(left.iter().all(|t| t.account_id.as_str() == "acc_checking"));
}
