//! What the service tests share: ids, linking an item through the exchange service, verified webhooks,
//! Plaid transactions.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use weft::domain::{Institution, InstitutionId, ItemEvent, ItemId, ItemRecord, UserId};
use weft::doubles::plaid;
use weft::doubles::{SyncChange, TestServices};
use weft::ports::plaid::wire;
use weft::ports::{ItemStore, PlaidError, VerifiedWebhook, WebhookEvent};
use weft::services::exchange::{ExchangeCommand, LinkMetadata, exchange};

pub fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

pub fn item_id(s: &str) -> ItemId {
    ItemId::parse(s).unwrap()
}

pub fn institution(id: &str) -> Institution {
    Institution { institution_id: InstitutionId::parse(id).unwrap(), name: format!("Bank {id}") }
}

/// Seconds after [`TestServices::START`] (whole seconds, as a webhook's `iat`).
pub fn at(secs: i64) -> OffsetDateTime {
    TestServices::START + time::Duration::seconds(secs)
}

pub fn days_ago(days: i64) -> OffsetDateTime {
    TestServices::START - time::Duration::days(days)
}

/// The exchange command the app sends after Link gave it `public_token` for `institution`.
pub fn command(
    t: &TestServices,
    public_token: weft::domain::PublicToken,
    institution: &Institution,
) -> ExchangeCommand {
    let accounts = t.plaid.link_accounts(&public_token);
    ExchangeCommand {
        public_token,
        claimed: Some(LinkMetadata { institution: institution.clone(), accounts }),
        link_session_id: None,
        deadline: Default::default(),
    }
}

/// Links an item at `institution_id` for `user` through Link and the exchange service.
pub async fn link_item(t: &TestServices, user_name: &str, institution_id: &str) -> ItemRecord {
    let institution = institution(institution_id);
    let token = t.plaid.add_public_token(&institution);
    exchange(&t.services, &user(user_name), command(t, token, &institution)).await.unwrap()
}

/// The stored item.
pub async fn stored(t: &TestServices, item: &ItemRecord) -> ItemRecord {
    t.store.get_item(&item.user_id, &item.item_id).await.unwrap().expect("the item is stored")
}

/// Applies `event` at `at` to the stored item directly (setting up a state; not through a service).
pub async fn set_state(t: &TestServices, item: &ItemRecord, event: ItemEvent, at: OffsetDateTime) -> ItemRecord {
    let mut current = stored(t, item).await;
    current.apply(&event, at);
    t.store.update_item(&mut current).await.unwrap();
    stored(t, item).await
}

pub fn login_required_event() -> ItemEvent {
    ItemEvent::Error { error_type: "ITEM_ERROR".into(), error_code: "ITEM_LOGIN_REQUIRED".into() }
}

/// A webhook as the verifier hands it over: `body` stands for its JSON body (only its hash is kept).
pub fn webhook(item_id: &ItemId, event: WebhookEvent, issued_at: OffsetDateTime, body: &str) -> VerifiedWebhook {
    VerifiedWebhook {
        item_id: Some(item_id.clone()),
        environment: Some("sandbox".into()),
        event,
        issued_at,
        key_id: "key-1".into(),
        body_sha256: hex::encode(Sha256::digest(body.as_bytes())),
    }
}

/// ITEM / ERROR with ITEM_LOGIN_REQUIRED.
pub fn item_error_webhook(item_id: &ItemId, issued_at: OffsetDateTime) -> VerifiedWebhook {
    let error = PlaidError {
        error_type: "ITEM_ERROR".into(),
        error_code: "ITEM_LOGIN_REQUIRED".into(),
        status: Some(400),
        ..Default::default()
    };
    let body = format!(
        r#"{{"webhook_type":"ITEM","webhook_code":"ERROR","item_id":"{item_id}","error":{{"error_code":"ITEM_LOGIN_REQUIRED"}}}}"#
    );
    webhook(item_id, WebhookEvent::ItemError { error: Some(error) }, issued_at, &body)
}

/// TRANSACTIONS / SYNC_UPDATES_AVAILABLE (byte-identical for every change of the item, as Plaid sends it).
pub fn sync_webhook(item_id: &ItemId, issued_at: OffsetDateTime) -> VerifiedWebhook {
    let body = format!(
        r#"{{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"{item_id}","initial_update_complete":true,"historical_update_complete":true}}"#
    );
    let event = WebhookEvent::SyncUpdatesAvailable { initial_update_complete: true, historical_update_complete: true };
    webhook(item_id, event, issued_at, &body)
}

/// The item's first account at Plaid (the one transactions are made on).
pub fn first_account(item: &ItemRecord) -> String {
    item.accounts[0].account_id.to_string()
}

/// `n` transactions `<prefix>1..=<prefix>n` on the item's first account, one day apart.
pub fn added(item: &ItemRecord, prefix: &str, n: u32) -> Vec<SyncChange> {
    (1..=n).map(|i| SyncChange::Added(txn(item, &format!("{prefix}{i}"), i, 10.0 * f64::from(i)))).collect()
}

/// A transaction on the item's first account on day `day` of January 2026.
pub fn txn(item: &ItemRecord, id: &str, day: u32, amount: f64) -> wire::Transaction {
    plaid::transaction(id, &first_account(item), &format!("2026-01-{:02}", day.clamp(1, 28)), amount)
}
