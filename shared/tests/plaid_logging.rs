//! The Plaid client's logs: one structured line per call with Plaid's request_id, and never an access
//! token, a public token or the secret. Alone in its binary: tracing's per-callsite interest cache is
//! process-wide, and a scoped subscriber must not race other tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod log_capture;

use log_capture::Captured;
use plaid_emulator::{Emulator, EmulatorConfig, FaultKind, FaultSpec, LinkCompletion, RunningEmulator};
use std::sync::Arc;
use std::time::Duration;
use weft::adapters::plaid_http::{PlaidClient, PlaidClientConfig};
use weft::domain::PublicToken;
use weft::ports::plaid::wire::{LinkTokenCreateRequest, LinkTokenUser};
use weft::ports::{PlaidItems, PlaidLink, PlaidTransactions, StaticCredentials};

const CLIENT_ID: &str = "weft-test-client";
const SECRET: &str = "weft-test-secret-9f8e7d";

fn client(emu: &RunningEmulator) -> PlaidClient {
    let mut cfg = PlaidClientConfig::new(emu.base_url());
    cfg.backoff_base = Duration::from_millis(5);
    PlaidClient::with_config(cfg, Arc::new(StaticCredentials::new(CLIENT_ID, SECRET))).unwrap()
}

fn fault(endpoint: &str, kind: FaultKind, count: u32) -> FaultSpec {
    FaultSpec { endpoint: endpoint.into(), kind, count, stall_ms: None, access_token: None, item_id: None, error: None }
}

#[test]
fn logs_carry_request_ids_and_never_a_token_or_secret() {
    let emu = Emulator::spawn_on_thread(EmulatorConfig::new(CLIENT_ID, SECRET)).unwrap();
    let captured = Captured::default();
    let subscriber = captured.subscriber();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (access, public) = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let plaid = client(&emu);
            let link = plaid
                .link_token_create(&LinkTokenCreateRequest {
                    client_name: "weft tests".into(),
                    language: "en".into(),
                    country_codes: vec!["US".into()],
                    user: LinkTokenUser::new("user-logs".into()),
                    products: Some(vec!["transactions".into()]),
                    webhook: None,
                    access_token: None,
                    redirect_uri: None,
                    android_package_name: None,
                    link_customization_name: None,
                    update: None,
                    account_filters: None,
                    transactions: None,
                    hosted_link: None,
                })
                .await
                .unwrap();
            let completion = LinkCompletion { link_token: link.link_token.to_string(), ..Default::default() };
            let public = emu.control().complete_link(&completion).unwrap().public_token.unwrap();
            let token = plaid
                .item_public_token_exchange(&PublicToken::parse(public.clone()).unwrap())
                .await
                .unwrap()
                .access_token;
            plaid.item_get(&token).await.unwrap();
            plaid.transactions_sync(&token, None, 50).await.unwrap();
            let _ = plaid.item_public_token_exchange(&PublicToken::parse(public.clone()).unwrap()).await;
            emu.control().inject_fault(fault("/item/get", FaultKind::InternalServerError, 1)).unwrap();
            plaid.item_get(&token).await.unwrap();
            plaid.item_remove(&token).await.unwrap();
            (token.expose().to_owned(), public)
        })
    });
    let logs = captured.text();
    assert!(logs.contains("plaid_call"), "the client logs every call:\n{logs}");
    assert!(logs.contains("\"request_id\""));
    assert!(logs.contains("/transactions/sync"), "{logs}");
    assert!(logs.contains("INVALID_PUBLIC_TOKEN"));
    assert!(logs.contains("\"duration_ms\""));
    for secret in [access.as_str(), public.as_str(), SECRET] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
    // Each successful call's request id is Plaid's 15 alphanumerics.
    let ids: Vec<String> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "plaid call ok")
        .map(|v| v["fields"]["request_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(ids.len() >= 6, "{ids:?}");
    assert!(ids.iter().all(|id| id.len() == 15 && id.chars().all(|c| c.is_ascii_alphanumeric())), "{ids:?}");
    emu.shutdown_blocking();
}
