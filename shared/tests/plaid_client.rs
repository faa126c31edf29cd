//! The Plaid client against the offline emulator: every endpoint, retries only where safe, credential
//! refresh on INVALID_API_KEYS, timeouts, and no secret in any log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use plaid_emulator::{
    CreateItem, CustomError, Emulator, EmulatorConfig, FaultKind, FaultSpec, LinkCompletion, RunningEmulator,
};
use secrecy::SecretString;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use weft::adapters::plaid_http::{PlaidClient, PlaidClientConfig};
use weft::auth::webhook::WebhookVerifier;
use weft::domain::{AccessToken, InstitutionId, PublicToken};
use weft::ports::PlaidCallError;
use weft::ports::plaid::wire::{
    InstitutionsGetByIdOptions, ItemRemoveReasonCode, ItemRemoveRequestOptions, LinkTokenCreateRequest, LinkTokenUser,
};
use weft::ports::{
    CredentialError, CredentialSource, PlaidCredentials, PlaidInstitutions, PlaidItems, PlaidLink, PlaidTransactions,
    PlaidWebhookKeys, StaticCredentials,
};

struct Delivery {
    body: String,
}

const CLIENT_ID: &str = "weft-test-client";
const SECRET: &str = "weft-test-secret-9f8e7d";

async fn emulator() -> RunningEmulator {
    Emulator::spawn(EmulatorConfig::new(CLIENT_ID, SECRET)).await.unwrap()
}

fn config(emu: &RunningEmulator) -> PlaidClientConfig {
    let mut cfg = PlaidClientConfig::new(emu.base_url());
    cfg.backoff_base = Duration::from_millis(5);
    cfg.backoff_max = Duration::from_millis(20);
    cfg
}

fn client(emu: &RunningEmulator) -> PlaidClient {
    PlaidClient::with_config(config(emu), Arc::new(StaticCredentials::new(CLIENT_ID, SECRET))).unwrap()
}

/// A public token for a new Link session of `user` at the emulator's default institution.
async fn public_token(plaid: &PlaidClient, emu: &RunningEmulator, user: &str) -> PublicToken {
    let link = plaid.link_token_create(&link_request(user)).await.unwrap();
    let completion = LinkCompletion { link_token: link.link_token.to_string(), ..Default::default() };
    PublicToken::parse(emu.control().complete_link(&completion).unwrap().public_token.unwrap()).unwrap()
}

fn item(emu: &RunningEmulator) -> (String, AccessToken) {
    let created = emu.control().create_item(&CreateItem::default()).unwrap();
    (created.item_id, AccessToken::parse(created.access_token).unwrap())
}

fn fault(endpoint: &str, kind: FaultKind, count: u32) -> FaultSpec {
    FaultSpec { endpoint: endpoint.into(), kind, count, stall_ms: None, access_token: None, item_id: None, error: None }
}

fn link_request(user: &str) -> LinkTokenCreateRequest {
    LinkTokenCreateRequest {
        client_name: "weft tests".into(),
        language: "en".into(),
        country_codes: vec!["US".into()],
        user: LinkTokenUser::new(user.into()),
        products: Some(vec!["transactions".into()]),
        webhook: Some("http://127.0.0.1:9/webhook".into()),
        access_token: None,
        redirect_uri: None,
        android_package_name: None,
        link_customization_name: None,
        update: None,
        account_filters: None,
        transactions: None,
        hosted_link: None,
    }
}

/// Link end to end: link token, the user's Link session (simulated), the exchange.
async fn linked_item(emu: &RunningEmulator, plaid: &PlaidClient) -> (String, AccessToken, String) {
    let link = plaid.link_token_create(&link_request("user-1")).await.unwrap();
    assert!(link.link_token.as_str().starts_with("link-sandbox-"));
    assert!(link.expiration > time::OffsetDateTime::now_utc());
    let outcome = emu
        .control()
        .complete_link(&LinkCompletion {
            link_token: link.link_token.to_string(),
            institution_id: Some("ins_109508".into()),
            username: None,
            password: None,
            account_ids: None,
            account_masks: None,
            account_subtypes: None,
            link_session_id: None,
        })
        .unwrap();
    let public = outcome.public_token.unwrap();
    let exchanged = plaid.item_public_token_exchange(&PublicToken::parse(public.clone()).unwrap()).await.unwrap();
    assert_eq!(exchanged.request_id.len(), 15);
    (exchanged.item_id.to_string(), exchanged.access_token, public)
}

#[tokio::test]
async fn every_endpoint_against_the_emulator() {
    let emu = emulator().await;
    let plaid = client(&emu);
    let (item_id, token, public) = linked_item(&emu, &plaid).await;

    // Single use: the same public token again is INVALID_PUBLIC_TOKEN, not retried.
    let again = plaid.item_public_token_exchange(&PublicToken::parse(public).unwrap()).await.unwrap_err();
    assert!(again.is_invalid_public_token(), "{again:?}");
    assert_eq!(again.status(), Some(400));
    assert!(again.request_id().is_some());

    let item = plaid.item_get(&token).await.unwrap();
    assert_eq!(item.item.item_id.as_str(), item_id);
    assert_eq!(item.item.institution_id.as_deref(), Some("ins_109508"));

    let accounts = plaid.accounts_get(&token, None).await.unwrap();
    assert!(!accounts.accounts.is_empty());
    let checking = accounts.accounts.iter().find(|a| a.mask.as_deref() == Some("0000")).unwrap();
    assert_eq!(checking.balances.available, Some(100.0));
    let one = plaid.accounts_get(&token, Some(std::slice::from_ref(&checking.account_id))).await.unwrap();
    assert_eq!(one.accounts.len(), 1);

    let ins = plaid
        .institutions_get_by_id(&InstitutionId::parse("ins_109508").unwrap(), &["US".to_owned()], true)
        .await
        .unwrap();
    assert_eq!(ins.name, "First Platypus Bank");
    assert!(ins.status.is_some());
    let opts = InstitutionsGetByIdOptions { include_status: Some(false), include_optional_metadata: Some(true) };
    let ins = plaid
        .institutions_get_by_id_with(&InstitutionId::parse("ins_132361").unwrap(), &["US".to_owned()], &opts)
        .await
        .unwrap();
    assert!(ins.institution.status.is_none());

    // The whole history, page by page.
    let mut cursor: Option<String> = None;
    let mut added = 0;
    let mut pages = 0;
    loop {
        let page = plaid.transactions_sync(&token, cursor.as_deref(), 100).await.unwrap();
        pages += 1;
        added += page.added.len();
        for t in page.added {
            t.into_domain(&weft::domain::ItemId::parse(item_id.clone()).unwrap()).unwrap();
        }
        cursor = Some(page.next_cursor);
        if !page.has_more {
            break;
        }
    }
    assert!(added > 100, "a seeded history of more than one page ({added} in {pages} pages)");
    let empty = plaid.transactions_sync(&token, cursor.as_deref(), 100).await.unwrap();
    assert!(empty.added.is_empty() && !empty.has_more);

    let updated = plaid.item_webhook_update(&token, "http://127.0.0.1:9/new-hook").await.unwrap();
    assert_eq!(updated.item.webhook.as_deref(), Some("http://127.0.0.1:9/new-hook"));

    let kid = emu.control().webhook_keys()[0]["kid"].as_str().unwrap().to_owned();
    let key = plaid.webhook_verification_key_get(&kid).await.unwrap();
    assert_eq!((key.key.alg.as_str(), key.key.crv.as_str(), key.key.kid.as_str()), ("ES256", "P-256", kid.as_str()));
    let unknown = plaid.webhook_verification_key_get("no-such-kid").await.unwrap_err();
    assert_eq!(unknown.error_code(), Some("INVALID_WEBHOOK_VERIFICATION_KEY_ID"));

    let options =
        ItemRemoveRequestOptions { reason_code: Some(ItemRemoveReasonCode::Other), reason_note: Some("test".into()) };
    plaid.item_remove_with(&token, &options).await.unwrap();
    let gone = plaid.item_get(&token).await.unwrap_err();
    assert!(gone.is_item_not_found(), "{gone:?}");
    assert!(plaid.item_remove(&token).await.unwrap_err().is_item_not_found());

    let counts = plaid.call_counts();
    assert_eq!(counts["/transactions/sync"], pages + 1);
    assert_eq!(counts["/item/public_token/exchange"], 2);
    assert_eq!(plaid.total_calls(), counts.values().sum::<u64>());
}

#[tokio::test]
async fn the_emulators_signed_webhooks_verify_with_keys_fetched_through_the_client() {
    let emu = emulator().await;
    let plaid = Arc::new(client(&emu));
    let (item_id, token, _) = linked_item(&emu, &plaid).await;
    let verifier = WebhookVerifier::new(plaid.clone());
    plaid.item_webhook_update(&token, "http://127.0.0.1:9/hook").await.unwrap();
    let mut attempt = None;
    for _ in 0..500 {
        let deliveries = emu.control().deliveries(Some(&item_id), Some("WEBHOOK_UPDATE_ACKNOWLEDGED"));
        if let Some(d) = deliveries.into_iter().find(|d| !d.attempts.is_empty()) {
            attempt = Some((d.body.clone(), d.attempts[0].clone()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (body, attempt) = attempt.expect("a WEBHOOK_UPDATE_ACKNOWLEDGED delivery attempt");
    let delivery = Delivery { body };
    let verified = verifier.verify(Some(&attempt.plaid_verification), delivery.body.as_bytes()).await.unwrap();
    assert_eq!(verified.item_id.unwrap().as_str(), item_id);
    assert_eq!(verified.event.code(), "WEBHOOK_UPDATE_ACKNOWLEDGED");
    assert_eq!(plaid.call_count("/webhook_verification_key/get"), 1);
    // Cached: a second verification does not fetch the key again.
    verifier.verify(Some(&attempt.plaid_verification), delivery.body.as_bytes()).await.unwrap();
    assert_eq!(plaid.call_count("/webhook_verification_key/get"), 1);
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried_then_given_up() {
    let emu = emulator().await;
    let plaid = client(&emu);
    let (_, token) = item(&emu);

    emu.control().inject_fault(fault("/item/get", FaultKind::InternalServerError, 2)).unwrap();
    plaid.item_get(&token).await.unwrap();
    assert_eq!(plaid.call_count("/item/get"), 3);

    emu.control().inject_fault(fault("/accounts/get", FaultKind::RateLimit, 1)).unwrap();
    plaid.accounts_get(&token, None).await.unwrap();
    assert_eq!(plaid.call_count("/accounts/get"), 2);

    emu.control().inject_fault(fault("/transactions/sync", FaultKind::PlannedMaintenance, 5)).unwrap();
    let e = plaid.transactions_sync(&token, None, 10).await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert!(e.is_transient());
    assert_eq!(plaid.call_count("/transactions/sync"), 3, "max_attempts = 3 by default");
    emu.control().clear_faults();

    let e = {
        emu.control().inject_fault(fault("/item/get", FaultKind::RateLimit, 5)).unwrap();
        plaid.item_get(&token).await.unwrap_err()
    };
    assert!(e.is_rate_limited(), "{e:?}");
    assert_eq!(e.api_error().unwrap().error_type, "RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let emu = emulator().await;
    let plaid = client(&emu);
    let (_, token) = item(&emu);
    let mut spec = fault("/transactions/sync", FaultKind::Error, 1);
    spec.error = Some(CustomError {
        status: 400,
        error_type: "ITEM_ERROR".into(),
        error_code: "ITEM_LOGIN_REQUIRED".into(),
        error_message: None,
    });
    emu.control().inject_fault(spec).unwrap();
    let e = plaid.transactions_sync(&token, None, 10).await.unwrap_err();
    assert!(e.is_item_login_required() && e.is_item_error(), "{e:?}");
    assert!(!e.is_transient());
    assert_eq!(plaid.call_count("/transactions/sync"), 1);

    let bad = AccessToken::parse("access-sandbox-00000000-0000-4000-8000-000000000000").unwrap();
    let e = plaid.item_get(&bad).await.unwrap_err();
    assert!(matches!(e, PlaidCallError::Api { .. }));
    assert_eq!(plaid.call_count("/item/get"), 1);
}

#[tokio::test]
async fn the_exchange_is_retried_only_when_it_provably_did_not_run() {
    let emu = emulator().await;
    let mut cfg = config(&emu);
    cfg.timeout = Duration::from_millis(400);
    cfg.single_use_timeout = Duration::from_millis(400);
    let plaid = PlaidClient::with_config(cfg, Arc::new(StaticCredentials::new(CLIENT_ID, SECRET))).unwrap();

    // 500: maybe processed, so not retried.
    let public = public_token(&plaid, &emu, "u2").await;
    emu.control().inject_fault(fault("/item/public_token/exchange", FaultKind::InternalServerError, 1)).unwrap();
    let e = plaid.item_public_token_exchange(&public).await.unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert_eq!(plaid.call_count("/item/public_token/exchange"), 1);

    // 429: refused before processing, retried.
    emu.control().inject_fault(fault("/item/public_token/exchange", FaultKind::RateLimit, 1)).unwrap();
    plaid.item_public_token_exchange(&public).await.unwrap();
    assert_eq!(plaid.call_count("/item/public_token/exchange"), 3);

    // A timeout: the outcome is unknown, so it is not retried...
    let public = public_token(&plaid, &emu, "u3").await;
    let mut stall = fault("/item/public_token/exchange", FaultKind::Stall, 1);
    stall.stall_ms = Some(1500);
    emu.control().inject_fault(stall.clone()).unwrap();
    let e = plaid.item_public_token_exchange(&public).await.unwrap_err();
    assert!(matches!(e, PlaidCallError::Timeout { .. }), "{e:?}");
    assert_eq!(plaid.call_count("/item/public_token/exchange"), 4);

    // ...while an idempotent read is.
    let (_, token) = item(&emu);
    stall.endpoint = "/item/get".into();
    emu.control().inject_fault(stall).unwrap();
    plaid.item_get(&token).await.unwrap();
    assert_eq!(plaid.call_count("/item/get"), 2);
}

#[tokio::test]
async fn a_slow_exchange_answer_is_waited_for_longer_than_other_calls() {
    let emu = emulator().await;
    let mut cfg = config(&emu);
    cfg.timeout = Duration::from_millis(300);
    cfg.single_use_timeout = Duration::from_secs(30);
    let plaid = PlaidClient::with_config(cfg, Arc::new(StaticCredentials::new(CLIENT_ID, SECRET))).unwrap();
    let public = public_token(&plaid, &emu, "u4").await;
    let mut stall = fault("/item/public_token/exchange", FaultKind::Stall, 1);
    stall.stall_ms = Some(1000);
    emu.control().inject_fault(stall).unwrap();
    // An answer three times the ordinary per-attempt timeout away is still received.
    plaid.item_public_token_exchange(&public).await.unwrap();
    assert_eq!(plaid.call_count("/item/public_token/exchange"), 1);
}

#[tokio::test]
async fn connection_refused_is_a_connect_error_retried_then_returned() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut cfg = PlaidClientConfig::new(base);
    cfg.backoff_base = Duration::from_millis(1);
    let plaid = PlaidClient::with_config(cfg, Arc::new(StaticCredentials::new("c", "s"))).unwrap();
    let e = plaid.item_get(&AccessToken::parse("access-sandbox-x").unwrap()).await.unwrap_err();
    assert!(matches!(e, PlaidCallError::Connect { .. }), "{e:?}");
    assert!(e.is_transient());
    assert_eq!(plaid.call_count("/item/get"), 3);
    // Nothing was sent, so even the exchange is retried.
    let e = plaid.item_public_token_exchange(&PublicToken::parse("public-sandbox-x").unwrap()).await.unwrap_err();
    assert!(matches!(e, PlaidCallError::Connect { .. }));
    assert_eq!(plaid.call_count("/item/public_token/exchange"), 3);
}

/// Serves a stale secret until refreshed.
struct RotatedSecret {
    refreshed: AtomicUsize,
    new_secret: String,
}

#[async_trait::async_trait]
impl CredentialSource for RotatedSecret {
    async fn current(&self) -> Result<Arc<PlaidCredentials>, CredentialError> {
        let secret =
            if self.refreshed.load(Ordering::SeqCst) > 0 { self.new_secret.clone() } else { "old-secret".into() };
        Ok(Arc::new(PlaidCredentials { client_id: CLIENT_ID.into(), secret: SecretString::from(secret) }))
    }
    async fn refresh(&self) -> Result<Arc<PlaidCredentials>, CredentialError> {
        self.refreshed.fetch_add(1, Ordering::SeqCst);
        self.current().await
    }
}

#[tokio::test]
async fn invalid_api_keys_refreshes_the_credentials_once() {
    let emu = emulator().await;
    let (_, token) = item(&emu);

    let rotated = Arc::new(RotatedSecret { refreshed: AtomicUsize::new(0), new_secret: SECRET.into() });
    let plaid = PlaidClient::with_config(config(&emu), rotated.clone()).unwrap();
    plaid.item_get(&token).await.unwrap();
    assert_eq!(rotated.refreshed.load(Ordering::SeqCst), 1);
    assert_eq!(plaid.call_count("/item/get"), 2);
    plaid.item_get(&token).await.unwrap();
    assert_eq!(rotated.refreshed.load(Ordering::SeqCst), 1, "fresh credentials are kept");

    // Still wrong after the refresh: the error comes back, no loop.
    let wrong = Arc::new(RotatedSecret { refreshed: AtomicUsize::new(0), new_secret: "also-wrong".into() });
    let plaid = PlaidClient::with_config(config(&emu), wrong.clone()).unwrap();
    let e = plaid.item_get(&token).await.unwrap_err();
    assert!(e.is_invalid_api_keys(), "{e:?}");
    assert_eq!(wrong.refreshed.load(Ordering::SeqCst), 1);
    assert_eq!(plaid.call_count("/item/get"), 2);
}

#[tokio::test]
async fn mutation_during_pagination_is_reported_typed() {
    let emu = emulator().await;
    let plaid = client(&emu);
    let (item_id, token) = item(&emu);
    let first = plaid.transactions_sync(&token, None, 5).await.unwrap();
    assert!(first.has_more);
    emu.control().fail_next_paginated_sync(&item_id).unwrap();
    let e = plaid.transactions_sync(&token, Some(&first.next_cursor), 5).await.unwrap_err();
    assert!(e.is_mutation_during_pagination(), "{e:?}");
    assert_eq!(plaid.call_count("/transactions/sync"), 2, "a 400 is not retried");
}
