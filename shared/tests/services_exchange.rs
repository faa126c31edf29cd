//! Public-token exchange on the doubles: stored sealed, idempotent retries, duplicates refused before
//! Plaid makes (and bills) an item, never an orphaned item at Plaid.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod services_support;

use services_support::{command, institution, link_item, user};
use std::sync::Arc;
use std::time::Duration;
use weft::domain::{ItemStatus, PublicToken};
use weft::doubles::TestServices;
use weft::doubles::plaid::{endpoints, errors};
use weft::ports::{ExchangeRecords, ItemStore, KeyVault, StoreError, SyncReason, SyncRequest};
use weft::services::exchange::{COMPENSATION_RESERVE, exchange};
use weft::services::{Deadline, ServiceError};

#[tokio::test]
async fn the_item_is_stored_sealed_and_its_first_sync_queued() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    let cmd = command(&t, token, &bank);
    let accounts = cmd.claimed.as_ref().unwrap().accounts.clone();
    assert_eq!(accounts.len(), 2, "Link reported the item's accounts");

    let item = exchange(&t.services, &user("alice"), cmd).await.unwrap();
    assert_eq!(item.status, ItemStatus::Healthy);
    // The accounts are Plaid's (`/accounts/get`), with their balances and when they were taken.
    let as_of = item.accounts.iter().map(|a| a.balances.as_of).collect::<Vec<_>>();
    let now = Some(t.now());
    assert!(as_of.iter().all(|at| *at == now), "{as_of:?}");
    let without_time: Vec<_> = item
        .accounts
        .iter()
        .cloned()
        .map(|mut a| {
            a.balances.as_of = None;
            a
        })
        .collect();
    assert_eq!(without_time, accounts);
    assert!(item.accounts[0].balances.current.is_some());
    assert_eq!(item.institution, bank);
    assert_eq!(t.plaid.calls(endpoints::PUBLIC_TOKEN_EXCHANGE), 1);
    assert_eq!(t.plaid.calls(endpoints::ACCOUNTS_GET), 1);

    let (stored, sealed) = t.store.get_item_sealed(&user("alice"), &item.item_id).await.unwrap().unwrap();
    assert_eq!(stored, item);
    let access_token = t.plaid.access_token(&item.item_id).unwrap();
    let plaintext = access_token.expose().as_bytes();
    assert!(!sealed.access_token.windows(plaintext.len()).any(|w| w == plaintext), "stored sealed, not in the clear");
    let key = t.vault.open_item_key(&item.item_id, &sealed.wrapped_key).await.unwrap();
    assert_eq!(key.open_access_token(&sealed.access_token).unwrap().expose(), access_token.expose());

    assert_eq!(
        t.queue.requests(),
        vec![SyncRequest {
            item_id: item.item_id.clone(),
            reason: SyncReason::Exchange,
            dedup_key: format!("exchange-{}", item.item_id),
            webhook_key: None,
        }]
    );
}

#[tokio::test]
async fn a_retried_request_gets_the_same_item_without_a_second_exchange() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    let first = exchange(&t.services, &user("alice"), command(&t, token.clone(), &bank)).await.unwrap();
    // The app did not get the answer and sends the same request again.
    let again = exchange(&t.services, &user("alice"), command(&t, token, &bank)).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(t.plaid.calls(endpoints::PUBLIC_TOKEN_EXCHANGE), 1, "the public token was exchanged once");
    assert_eq!(t.plaid.item_ids(), vec![first.item_id.clone()]);
    assert_eq!(t.store.item_count(), 1);
}

#[tokio::test]
async fn duplicates_are_refused_before_the_public_token_is_exchanged() {
    let t = TestServices::new();
    let first = link_item(&t, "alice", "ins_1").await;
    assert_eq!(t.plaid.calls(endpoints::PUBLIC_TOKEN_EXCHANGE), 1);

    // The same institution again.
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    let err = exchange(&t.services, &user("alice"), command(&t, token, &bank)).await.unwrap_err();
    assert!(
        matches!(&err, ServiceError::Duplicate { existing, reason: "same institution" } if *existing == first.item_id),
        "{err:?}"
    );

    // Another institution, but the same accounts (name and mask) as the first item.
    let other = institution("ins_2");
    let token = t.plaid.add_public_token(&other);
    let mut cmd = command(&t, token, &other);
    cmd.claimed.as_mut().unwrap().accounts = first.accounts.clone();
    let err = exchange(&t.services, &user("alice"), cmd).await.unwrap_err();
    assert!(
        matches!(&err, ServiceError::Duplicate { existing, reason: "same accounts" } if *existing == first.item_id),
        "{err:?}"
    );

    assert_eq!(t.plaid.calls(endpoints::PUBLIC_TOKEN_EXCHANGE), 1, "no exchange for a duplicate");
    assert_eq!(t.plaid.item_ids(), vec![first.item_id], "Plaid made no item for them");
    // Another user may link the same institution.
    let token = t.plaid.add_public_token(&bank);
    exchange(&t.services, &user("bob"), command(&t, token, &bank)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_item_that_cannot_be_stored_is_removed_at_plaid() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    t.store.fail_next("insert_item_with_events", 3); // every attempt
    let err = exchange(&t.services, &user("alice"), command(&t, token, &bank)).await.unwrap_err();
    assert!(
        matches!(&err, ServiceError::ExchangeUndone(e) if matches!(**e, ServiceError::Store(StoreError::Backend { op: "insert_item_with_events", .. }))),
        "the answer says link again: {err:?}"
    );
    assert_eq!(t.store.calls("insert_item_with_events"), 3);

    let made = t.plaid.item_ids();
    assert_eq!(made.len(), 1, "Plaid made the item");
    assert_eq!(t.plaid.remove_calls(&made[0]), 1);
    assert!(t.plaid.is_removed(&made[0]), "and it was removed there: neither orphaned nor billed");
    assert_eq!(t.store.item_count(), 0);
    assert!(t.queue.requests().is_empty(), "no sync for an item that is not kept");
}

#[tokio::test(start_paused = true)]
async fn a_store_failure_on_the_first_attempt_only_is_retried_and_the_item_kept() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    t.store.fail_next("insert_item_with_events", 1);
    let item = exchange(&t.services, &user("alice"), command(&t, token, &bank)).await.unwrap();
    assert_eq!(t.store.calls("insert_item_with_events"), 2);
    assert_eq!(t.plaid.remove_calls(&item.item_id), 0);
    assert!(t.plaid.has_item(&item.item_id));
    assert_eq!(t.vault.calls().generate_data_key, 1, "sealed once, the retry reuses it");
    let (_, sealed) = t.store.get_item_sealed(&user("alice"), &item.item_id).await.unwrap().unwrap();
    let key = t.vault.open_item_key(&item.item_id, &sealed.wrapped_key).await.unwrap();
    assert_eq!(
        key.open_access_token(&sealed.access_token).unwrap().expose(),
        t.plaid.access_token(&item.item_id).unwrap().expose()
    );
    assert_eq!(t.queue.requests().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_data_key_failure_while_plaid_describes_the_item_is_retried_by_the_store() {
    // The access token is sealed while `/accounts/get` answers; a KMS failure there is the store's to retry.
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    t.vault.fail_next_data_keys(1);
    let item = exchange(&t.services, &user("alice"), command(&t, token, &bank)).await.unwrap();
    assert_eq!(t.vault.calls().generate_data_key, 2, "the failed data key, then the store's");
    assert_eq!(t.store.calls("insert_item_with_events"), 1);
    assert_eq!(t.plaid.remove_calls(&item.item_id), 0);
    let (_, sealed) = t.store.get_item_sealed(&user("alice"), &item.item_id).await.unwrap().unwrap();
    let key = t.vault.open_item_key(&item.item_id, &sealed.wrapped_key).await.unwrap();
    assert_eq!(
        key.open_access_token(&sealed.access_token).unwrap().expose(),
        t.plaid.access_token(&item.item_id).unwrap().expose()
    );
    assert_eq!(t.queue.requests().len(), 1);
}

#[tokio::test]
async fn a_used_or_unknown_public_token_is_invalid() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    exchange(&t.services, &user("alice"), command(&t, token.clone(), &bank)).await.unwrap();

    // Bob has no exchange record for it: the exchange reaches Plaid, which refuses a used token.
    let err = exchange(&t.services, &user("bob"), command(&t, token, &bank)).await.unwrap_err();
    assert!(matches!(&err, ServiceError::InvalidPublicToken(e) if e.is_invalid_public_token()), "{err:?}");
    let never_issued = PublicToken::parse("public-sandbox-never-issued").unwrap();
    let err = exchange(&t.services, &user("bob"), command(&t, never_issued, &bank)).await.unwrap_err();
    assert!(matches!(err, ServiceError::InvalidPublicToken(_)), "{err:?}");

    assert_eq!(t.plaid.calls(endpoints::PUBLIC_TOKEN_EXCHANGE), 3);
    assert!(t.store.list_items(&user("bob")).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_plaid_failure_stores_nothing_and_a_retry_succeeds() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    t.plaid.fail_next(endpoints::PUBLIC_TOKEN_EXCHANGE, errors::server_error(endpoints::PUBLIC_TOKEN_EXCHANGE));
    let err = exchange(&t.services, &user("alice"), command(&t, token.clone(), &bank)).await.unwrap_err();
    assert!(matches!(&err, ServiceError::Plaid(e) if e.is_server_error()), "{err:?}");
    assert_eq!(t.store.item_count(), 0);
    assert!(t.queue.requests().is_empty());

    // The scripted failure spent nothing at Plaid: the public token still exchanges.
    let item = exchange(&t.services, &user("alice"), command(&t, token.clone(), &bank)).await.unwrap();
    let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.expose().as_bytes()));
    assert_eq!(t.store.exchange_result(&user("alice"), &key).await.unwrap(), Some(item.item_id));
}

#[tokio::test(start_paused = true)]
async fn a_late_answer_within_the_deadline_is_used() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    t.plaid.answer_late(endpoints::PUBLIC_TOKEN_EXCHANGE, Duration::from_secs(20));
    let cmd = command(&t, token, &bank).within(Deadline::after(Duration::from_secs(29)));
    let item = exchange(&t.services, &user("alice"), cmd).await.expect("20 s is within the deadline less the reserve");
    assert!(t.store.get_item(&user("alice"), &item.item_id).await.unwrap().is_some());
    assert_eq!(t.plaid.remove_calls(&item.item_id), 0);
}

#[tokio::test(start_paused = true)]
async fn no_answer_by_the_deadline_is_an_unknown_outcome_and_the_retry_learns_the_truth() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    t.plaid.answer_late(endpoints::PUBLIC_TOKEN_EXCHANGE, Duration::from_secs(60));
    let started = tokio::time::Instant::now();
    let cmd = command(&t, token.clone(), &bank).within(Deadline::after(Duration::from_secs(25)));
    let err = exchange(&t.services, &user("alice"), cmd).await.unwrap_err();
    assert!(matches!(err, ServiceError::ExchangeOutcomeUnknown(None)), "not 'retry later': {err:?}");
    let waited = started.elapsed();
    assert!(waited <= Duration::from_secs(25) - COMPENSATION_RESERVE, "answered before the deadline: {waited:?}");
    // The claim was let go: the retry reaches Plaid, which spent the token: link again.
    let retry = exchange(&t.services, &user("alice"), command(&t, token, &bank)).await.unwrap_err();
    assert!(matches!(retry, ServiceError::InvalidPublicToken(_)), "{retry:?}");
    assert_eq!(t.plaid.calls(endpoints::PUBLIC_TOKEN_EXCHANGE), 2);
    assert_eq!(t.store.item_count(), 0);
    // Plaid's answer comes after all: the item it made is nobody's, and is removed there.
    let made = t.plaid.item_ids();
    assert_eq!(made.len(), 1);
    assert!(!t.plaid.is_removed(&made[0]), "not yet answered");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(t.plaid.is_removed(&made[0]), "the late-answered item is not left billed at Plaid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_parallel_copies_of_one_request_make_one_exchange_and_name_one_item() {
    let t = Arc::new(TestServices::new());
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    // Plaid is slow enough that every copy arrives while the first is still exchanging.
    t.plaid.answer_late(endpoints::PUBLIC_TOKEN_EXCHANGE, Duration::from_millis(300));
    let copies = futures::future::join_all((0..6).map(|_| {
        let (t, token, bank) = (t.clone(), token.clone(), bank.clone());
        tokio::spawn(async move { exchange(&t.services, &user("alice"), command(&t, token, &bank)).await })
    }))
    .await;
    let items: Vec<_> = copies.into_iter().map(|r| r.unwrap().expect("every copy gets the item")).collect();
    assert!(items.iter().all(|i| i.item_id == items[0].item_id), "{items:?}");
    assert_eq!(t.plaid.calls(endpoints::PUBLIC_TOKEN_EXCHANGE), 1, "one exchange at Plaid");
    assert_eq!(t.plaid.item_ids().len(), 1);
    assert_eq!(t.store.item_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_copy_that_runs_out_of_time_waiting_is_told_the_exchange_is_in_progress() {
    let t = Arc::new(TestServices::new());
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    t.plaid.answer_late(endpoints::PUBLIC_TOKEN_EXCHANGE, Duration::from_secs(10));
    let first = tokio::spawn({
        let (t, token, bank) = (t.clone(), token.clone(), bank.clone());
        async move { exchange(&t.services, &user("alice"), command(&t, token, &bank)).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let hurried = command(&t, token.clone(), &bank).within(Deadline::after(Duration::from_secs(2)));
    let err = exchange(&t.services, &user("alice"), hurried).await.unwrap_err();
    assert!(matches!(err, ServiceError::ExchangeInProgress), "{err:?}");
    let item = first.await.unwrap().unwrap();
    // Its retry gets the first one's item.
    let again = exchange(&t.services, &user("alice"), command(&t, token, &bank)).await.unwrap();
    assert_eq!(again.item_id, item.item_id);
    assert_eq!(t.plaid.calls(endpoints::PUBLIC_TOKEN_EXCHANGE), 1);
}

#[tokio::test]
async fn a_retry_after_the_item_was_removed_is_told_to_link_again() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    let item = exchange(&t.services, &user("alice"), command(&t, token.clone(), &bank)).await.unwrap();
    weft::services::items::remove(&t.services, &user("alice"), &item.item_id).await.unwrap();
    let err = exchange(&t.services, &user("alice"), command(&t, token, &bank)).await.unwrap_err();
    assert!(matches!(err, ServiceError::PublicTokenUsed | ServiceError::InvalidPublicToken(_)), "{err:?}");
}

#[tokio::test]
async fn plaid_decides_the_institution_and_a_false_claim_is_refused_as_a_duplicate_after_the_exchange() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let first = link_item(&t, "alice", "ins_1").await;
    // Link the same bank again, but the front end claims another bank (and the accounts renamed).
    let token = t.plaid.add_public_token(&bank);
    let mut claim = command(&t, token, &institution("ins_999"));
    let claimed = claim.claimed.as_mut().unwrap();
    claimed.institution.name = "Claimed Other Bank".into();
    for a in &mut claimed.accounts {
        a.name = format!("Renamed {}", a.name);
    }
    let err = exchange(&t.services, &user("alice"), claim).await.unwrap_err();
    assert!(
        matches!(&err, ServiceError::Duplicate { existing, reason: "same institution" } if *existing == first.item_id),
        "{err:?}"
    );
    // Plaid made the second item; it is removed there at once, nothing stored, nothing left billed.
    let made: Vec<_> = t.plaid.item_ids().into_iter().filter(|i| *i != first.item_id).collect();
    assert_eq!(made.len(), 1);
    assert!(t.plaid.is_removed(&made[0]), "the duplicate is removed at Plaid");
    assert_eq!(t.store.item_count(), 1);

    // Without a duplicate, the claim is still not what is stored: Plaid's institution is.
    let other = institution("ins_2");
    let token = t.plaid.add_public_token(&other);
    let mut claim = command(&t, token, &institution("ins_999"));
    claim.claimed.as_mut().unwrap().institution.name = "Claimed Other Bank".into();
    let item = exchange(&t.services, &user("bob"), claim).await.unwrap();
    assert_eq!(item.institution, other, "Plaid's institution and name, not the claim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_exchanges_of_one_bank_end_with_one_item_and_no_orphan() {
    let t = Arc::new(TestServices::with_env(&[("WEFT_LIMIT_LINKS_PER_INSTITUTION_PER_MONTH", "10")]));
    let bank = institution("ins_1");
    let tokens: Vec<_> = (0..4).map(|_| t.plaid.add_public_token(&bank)).collect();
    // Every exchange passes the check before the others stored anything (Plaid answers slowly).
    for _ in 0..4 {
        t.plaid.answer_late(endpoints::PUBLIC_TOKEN_EXCHANGE, Duration::from_millis(200));
    }
    let results = futures::future::join_all(tokens.into_iter().map(|token| {
        let (t, bank) = (t.clone(), bank.clone());
        tokio::spawn(async move { exchange(&t.services, &user("alice"), command(&t, token, &bank)).await })
    }))
    .await;
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    let kept: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(kept.len(), 1, "{results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(refused, ServiceError::Duplicate { existing, .. } if *existing == kept[0].item_id),
            "{refused:?}"
        );
    }
    assert_eq!(t.plaid.calls(endpoints::PUBLIC_TOKEN_EXCHANGE), 4, "all four passed the check");
    let live: Vec<_> = t.plaid.item_ids().into_iter().filter(|i| !t.plaid.is_removed(i)).collect();
    assert_eq!(live, vec![kept[0].item_id.clone()], "no orphan at Plaid");
    assert_eq!(t.store.item_count(), 1);
}

#[tokio::test]
async fn an_item_plaid_cannot_describe_is_removed_at_plaid_and_not_stored() {
    let t = TestServices::new();
    let bank = institution("ins_1");
    let token = t.plaid.add_public_token(&bank);
    t.plaid.fail_next(endpoints::ACCOUNTS_GET, errors::server_error(endpoints::ACCOUNTS_GET));
    let err = exchange(&t.services, &user("alice"), command(&t, token, &bank)).await.unwrap_err();
    assert!(matches!(&err, ServiceError::Plaid(e) if e.is_server_error()), "{err:?}");
    let made = t.plaid.item_ids();
    assert!(t.plaid.is_removed(&made[0]));
    assert_eq!(t.store.item_count(), 0);
}
