//! Erasing a user's records against moto's DynamoDB (`UserRecords`): the Link-session markers written with
//! the events (never shortened), every record of the user's partition but items deleted, only the user's own
//! events of a session, idempotent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use store_support::{item_record, put_new_item, scan_all, seal, store, user, vault};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use weft::domain::{LinkEventKind, LinkEventRecord, LinkSessionId, LinkToken, LinkTokenRecord};
use weft::ports::{ItemStore, LimitStore, LimitWindow, LinkStore, UserRecords, UserStore};

fn event(who: &str, session: &str, at: OffsetDateTime, seq: u32) -> LinkEventRecord {
    LinkEventRecord {
        user_id: user(who),
        link_session_id: LinkSessionId::parse(session).unwrap(),
        kind: LinkEventKind::Event,
        event_name: Some("OPEN".into()),
        link_token: None,
        request_id: None,
        institution_id: None,
        institution_name: None,
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

/// `(PK, SK, ttl)` of every record whose attributes mention `needle`.
async fn records_with(sdk: &aws_config::SdkConfig, table: &str, needle: &str) -> Vec<(String, String, Option<i64>)> {
    let mut found: Vec<(String, String, Option<i64>)> = scan_all(sdk, table)
        .await
        .into_iter()
        .filter(|r| format!("{r:?}").contains(needle))
        .map(|r| {
            let s = |k: &str| r.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let ttl = r.get("ttl").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
            (s("PK"), s("SK"), ttl)
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn a_users_records_are_erased_but_items_and_other_users_events_stay() {
    let (sdk, table, store) = store().await;
    let vault = vault(&sdk).await;
    let alice = user("alice@example.com");
    let t0 = datetime!(2026-03-01 10:00 UTC);

    // Alice: a profile, a Link token, an item (with its exchange record), a limit counter, a block, and events
    // of two sessions, the second also reported by Bob.
    store.touch_user(&alice, t0).await.unwrap();
    let token = LinkTokenRecord {
        link_token: LinkToken::parse("link-sandbox-erase").unwrap(),
        expiration: OffsetDateTime::now_utc() + Duration::hours(4),
        created_at: t0,
        item_id: None,
        oauth: false,
        closed_at: None,
        asked_at: None,
    };
    store.put_link_token(&alice, &token).await.unwrap();
    let record = item_record("alice@example.com", "item_erase1");
    let (_, sealed) = seal(&vault, &record, "access-sandbox-erase1").await;
    put_new_item(&store, &record, &sealed).await.unwrap();
    let window = LimitWindow { user: alice.clone(), name: "exchanges".into(), start: t0, expires_at: None };
    assert!(store.take(&window, 10, OffsetDateTime::UNIX_EPOCH).await.unwrap());
    store.block(&alice, "link_tokens", OffsetDateTime::now_utc() + Duration::hours(1)).await.unwrap();
    let later = t0 + Duration::days(2);
    store
        .put_link_events(&[
            event("alice@example.com", "sess-a", later, 0),
            event("alice@example.com", "sess-a", later, 1),
        ])
        .await
        .unwrap();
    // An older batch of the same session does not shorten its marker.
    store.put_link_events(&[event("alice@example.com", "sess-a", t0, 0)]).await.unwrap();
    store.put_link_events(&[event("alice@example.com", "sess-shared", t0, 0)]).await.unwrap();
    store.put_link_events(&[event("bob@example.com", "sess-shared", t0, 1)]).await.unwrap();

    let before = records_with(&sdk, &table, "alice@example.com").await;
    let marker =
        before.iter().find(|(pk, sk, _)| pk == "USER#alice@example.com" && sk == "LINKSESSION#sess-a").unwrap();
    assert_eq!(marker.2, Some((later + Duration::days(400)).unix_timestamp()), "the latest event's expiry");
    let bob = records_with(&sdk, &table, "bob@example.com").await;
    assert_eq!(bob.len(), 2, "Bob's event of the shared session and his marker: {bob:?}");
    let kinds = ["PROFILE", "LINK#", "ITEM#", "EXCHANGE#", "LIMIT#", "BLOCK#", "LINKSESSION#"];
    for kind in kinds {
        assert!(before.iter().any(|(pk, sk, _)| pk == "USER#alice@example.com" && sk.starts_with(kind)), "{kind}");
    }

    let deleted = store.erase_user_records(&alice).await.unwrap();
    // Alice's events (three of sess-a, one of sess-shared), her two markers, then the profile, the Link token,
    // the exchange record, the limit counter and the block.
    assert_eq!(deleted, 3 + 1 + 2 + 5, "{before:?}");
    let left = records_with(&sdk, &table, "alice@example.com").await;
    assert_eq!(
        left.iter().map(|(pk, sk, _)| format!("{pk} / {sk}")).collect::<Vec<_>>(),
        ["USER#alice@example.com / INSTITUTION#ins_item_erase1", "USER#alice@example.com / ITEM#item_erase1"],
        "only the item and its institution guard stay (they go through delete_item, after Plaid)"
    );
    assert_eq!(records_with(&sdk, &table, "bob@example.com").await, bob, "Bob's records stay");

    // Idempotent; and with the item deleted nothing of Alice is left.
    assert_eq!(store.erase_user_records(&alice).await.unwrap(), 0);
    store.delete_item(&alice, &record.item_id).await.unwrap();
    assert!(records_with(&sdk, &table, "alice@example.com").await.is_empty());
    assert!(records_with(&sdk, &table, "item_erase1").await.is_empty());
    assert_eq!(store.erase_user_records(&user("nobody@example.com")).await.unwrap(), 0);
}
