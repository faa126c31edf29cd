//! `/item/access_token/invalidate` through the Plaid client against the emulator: the new token works and
//! the old one is dead, and the call is retried only where it provably did not run (its answer is the only
//! copy of the new token).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use plaid_emulator::{CreateItem, Emulator, EmulatorConfig, FaultKind, FaultSpec, RunningEmulator};
use std::sync::Arc;
use std::time::Duration;
use weft::adapters::plaid_http::{PlaidClient, PlaidClientConfig};
use weft::domain::AccessToken;
use weft::ports::{PlaidCallError, PlaidItems, StaticCredentials};

const CLIENT_ID: &str = "weft-test-client";
const SECRET: &str = "weft-test-secret-9f8e7d";
const INVALIDATE: &str = "/item/access_token/invalidate";

async fn emulator() -> RunningEmulator {
    Emulator::spawn(EmulatorConfig::new(CLIENT_ID, SECRET)).await.unwrap()
}

fn client(emu: &RunningEmulator) -> PlaidClient {
    let mut cfg = PlaidClientConfig::new(emu.base_url());
    cfg.backoff_base = Duration::from_millis(5);
    cfg.backoff_max = Duration::from_millis(20);
    cfg.timeout = Duration::from_millis(400);
    cfg.single_use_timeout = Duration::from_millis(400);
    PlaidClient::with_config(cfg, Arc::new(StaticCredentials::new(CLIENT_ID, SECRET))).unwrap()
}

fn item(emu: &RunningEmulator) -> AccessToken {
    let created = emu.control().create_item(&CreateItem::default()).unwrap();
    AccessToken::parse(created.access_token).unwrap()
}

fn fault(kind: FaultKind) -> FaultSpec {
    FaultSpec {
        endpoint: INVALIDATE.into(),
        kind,
        count: 1,
        stall_ms: None,
        access_token: None,
        item_id: None,
        error: None,
    }
}

#[tokio::test]
async fn the_new_token_works_and_the_old_one_is_dead() {
    let emu = emulator().await;
    let plaid = client(&emu);
    let old = item(&emu);
    let rotated = plaid.item_access_token_invalidate(&old).await.unwrap();
    assert_ne!(rotated.new_access_token.expose(), old.expose());
    assert!(!rotated.request_id.is_empty());
    plaid.item_get(&rotated.new_access_token).await.unwrap();
    let e = plaid.item_get(&old).await.unwrap_err();
    assert!(e.is_invalid_access_token(), "{e:?}");
    // The dead token cannot be rotated again.
    let e = plaid.item_access_token_invalidate(&old).await.unwrap_err();
    assert!(e.is_invalid_access_token(), "{e:?}");
    assert_eq!(plaid.call_count(INVALIDATE), 2);
}

#[tokio::test]
async fn it_is_retried_only_when_it_provably_did_not_run() {
    let emu = emulator().await;
    let plaid = client(&emu);
    let token = item(&emu);

    // 500: maybe processed, so not retried.
    emu.control().inject_fault(fault(FaultKind::InternalServerError)).unwrap();
    let e = plaid.item_access_token_invalidate(&token).await.unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert_eq!(plaid.call_count(INVALIDATE), 1);

    // A timeout: the outcome is unknown, so not retried.
    let mut stall = fault(FaultKind::Stall);
    stall.stall_ms = Some(1500);
    emu.control().inject_fault(stall).unwrap();
    let e = plaid.item_access_token_invalidate(&token).await.unwrap_err();
    assert!(matches!(e, PlaidCallError::Timeout { .. }), "{e:?}");
    assert_eq!(plaid.call_count(INVALIDATE), 2);

    // 429: refused before processing, retried.
    emu.control().inject_fault(fault(FaultKind::RateLimit)).unwrap();
    let rotated = plaid.item_access_token_invalidate(&token).await.unwrap();
    assert_eq!(plaid.call_count(INVALIDATE), 4);
    plaid.item_get(&rotated.new_access_token).await.unwrap();
}
