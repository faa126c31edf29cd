//! The item event outbox against moto's DynamoDB: events written in the same transaction as the item change
//! (a conflicting change writes neither), read oldest first up to a time, removed once published; a
//! reminder counted on the item with its event, only from the count read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use store_support::{exchange_key, item_record, seal, store, vault};
use time::OffsetDateTime;
use weft::domain::{AppEvent, AppEventKind};
use weft::ports::{ItemStore, Outbox, StoreError};

fn event(record: &weft::domain::ItemRecord, kind: AppEventKind, at: OffsetDateTime) -> AppEvent {
    AppEvent::new(record, kind, at)
}

#[tokio::test]
async fn events_are_written_with_the_change_and_only_with_it() {
    let (sdk, _table, store) = store().await;
    let vault = vault(&sdk).await;
    let record = item_record("olga", "item_o1");
    let (_, sealed) = seal(&vault, &record, "access-sandbox-31111111-2f44-4a53-9d0e-0d8c3a1f7b62").await;
    let t0 = OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let linked =
        event(&record, AppEventKind::Linked { institution_id: "ins_1".into(), institution_name: "B".into() }, t0);
    store
        .insert_item_with_events(&record, &sealed, &exchange_key("item_o1"), std::slice::from_ref(&linked))
        .await
        .unwrap();

    let mut item = store.get_item(&record.user_id, &record.item_id).await.unwrap().unwrap();
    let stale = item.clone();
    let needs_login = event(
        &item,
        AppEventKind::NeedsLogin { error_code: Some("ITEM_LOGIN_REQUIRED".into()) },
        t0 + time::Duration::minutes(1),
    );
    item.new_accounts_available = true;
    store.update_item_with_events(&mut item, std::slice::from_ref(&needs_login)).await.unwrap();
    let saved = store.get_item(&record.user_id, &record.item_id).await.unwrap().unwrap();
    assert!(saved.new_accounts_available, "the change itself is saved");
    assert_eq!(saved.version, item.version);
    // A write from the version read before: a conflict, and its event is not written either.
    let mut stale = stale;
    let lost = event(&stale, AppEventKind::Repaired, t0 + time::Duration::minutes(2));
    let err = store.update_item_with_events(&mut stale, std::slice::from_ref(&lost)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    // A plain write from that version too (a sync saving balances): a conflict, the change above kept.
    let err = store.update_item(&mut stale).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert!(store.get_item(&record.user_id, &record.item_id).await.unwrap().unwrap().new_accounts_available);
    // An item that is gone: not found, and no event.
    let mut ghost = item_record("olga", "item_gone");
    let orphan = event(&ghost, AppEventKind::Repaired, t0 + time::Duration::minutes(3));
    let err = store.update_item_with_events(&mut ghost, std::slice::from_ref(&orphan)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    let pending = store.pending_events(OffsetDateTime::now_utc(), 100).await.unwrap();
    let mine: Vec<&AppEvent> = pending.iter().filter(|e| e.item_id == record.item_id).collect();
    assert_eq!(mine, vec![&linked, &needs_login], "oldest first, the conflicting write's event absent");
    // Up to a time: only what occurred by then.
    let early = store.pending_events(t0 + time::Duration::seconds(30), 100).await.unwrap();
    assert!(early.iter().any(|e| e.event_id == linked.event_id));
    assert!(!early.iter().any(|e| e.event_id == needs_login.event_id));

    store.remove_events(&[linked.clone(), needs_login.clone()]).await.unwrap();
    store.remove_events(&[linked]).await.unwrap(); // already gone: no error
    let left = store.pending_events(OffsetDateTime::now_utc(), 100).await.unwrap();
    assert!(!left.iter().any(|e| e.item_id == record.item_id));
}

#[tokio::test]
async fn a_reminder_moves_the_count_from_the_one_read_only() {
    let (sdk, _table, store) = store().await;
    let vault = vault(&sdk).await;
    let record = item_record("rick", "item_r9");
    let (_, sealed) = seal(&vault, &record, "access-sandbox-41111111-2f44-4a53-9d0e-0d8c3a1f7b62").await;
    store.insert_item(&record, &sealed, &exchange_key("item_r9")).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let first = event(&record, AppEventKind::Reminder { action: "needs_login".into(), number: 1 }, now);
    assert!(store.add_reminder(&record.user_id, &record.item_id, 0, 1, &first).await.unwrap());
    // Another run that read count 0 too: nothing written.
    let twin = event(&record, AppEventKind::Reminder { action: "needs_login".into(), number: 1 }, now);
    assert!(!store.add_reminder(&record.user_id, &record.item_id, 0, 1, &twin).await.unwrap());
    let third = event(&record, AppEventKind::Reminder { action: "needs_login".into(), number: 3 }, now);
    assert!(store.add_reminder(&record.user_id, &record.item_id, 1, 3, &third).await.unwrap());
    assert_eq!(store.get_item(&record.user_id, &record.item_id).await.unwrap().unwrap().ignored_prompts, 3);
    let pending = store.pending_events(OffsetDateTime::now_utc(), 100).await.unwrap();
    let ids: Vec<&str> = pending.iter().filter(|e| e.item_id == record.item_id).map(|e| e.event_id.as_str()).collect();
    assert!(ids.contains(&first.event_id.as_str()) && ids.contains(&third.event_id.as_str()));
    assert!(!ids.contains(&twin.event_id.as_str()));
    // An item that is gone: nothing.
    let gone = item_record("rick", "item_gone");
    let ghost = event(&gone, AppEventKind::Repaired, now);
    assert!(!store.add_reminder(&gone.user_id, &gone.item_id, 0, 1, &ghost).await.unwrap());
}
