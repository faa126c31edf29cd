//! Plaid's endpoints. Each handler gets a body that already passed credential and schema checks,
//! and returns the response object (the pipeline in `server` adds `request_id`).

mod items;
mod sandbox;
mod tokens;
mod transactions;

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::app::App;
use crate::wire::PlaidError;

/// The Plaid endpoints the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/link/token/create`.
    LinkTokenCreate,
    /// `/link/token/get`.
    LinkTokenGet,
    /// `/item/public_token/exchange`.
    ItemPublicTokenExchange,
    /// `/item/get`.
    ItemGet,
    /// `/item/remove`.
    ItemRemove,
    /// `/item/access_token/invalidate`.
    ItemAccessTokenInvalidate,
    /// `/accounts/get`.
    AccountsGet,
    /// `/accounts/balance/get`.
    AccountsBalanceGet,
    /// `/institutions/get_by_id`.
    InstitutionsGetById,
    /// `/transactions/sync`.
    TransactionsSync,
    /// `/webhook_verification_key/get`.
    WebhookVerificationKeyGet,
    /// `/item/webhook/update`.
    ItemWebhookUpdate,
    /// `/sandbox/public_token/create`.
    SandboxPublicTokenCreate,
    /// `/sandbox/item/reset_login`.
    SandboxItemResetLogin,
    /// `/sandbox/item/fire_webhook`.
    SandboxItemFireWebhook,
}

impl Endpoint {
    /// Every endpoint, in the order of the emulator's documentation.
    pub const ALL: [Endpoint; 15] = [
        Endpoint::LinkTokenCreate,
        Endpoint::LinkTokenGet,
        Endpoint::ItemPublicTokenExchange,
        Endpoint::ItemGet,
        Endpoint::ItemRemove,
        Endpoint::ItemAccessTokenInvalidate,
        Endpoint::AccountsGet,
        Endpoint::AccountsBalanceGet,
        Endpoint::InstitutionsGetById,
        Endpoint::TransactionsSync,
        Endpoint::WebhookVerificationKeyGet,
        Endpoint::ItemWebhookUpdate,
        Endpoint::SandboxPublicTokenCreate,
        Endpoint::SandboxItemResetLogin,
        Endpoint::SandboxItemFireWebhook,
    ];

    /// The endpoint's path, e.g. `/transactions/sync`.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::LinkTokenCreate => "/link/token/create",
            Endpoint::LinkTokenGet => "/link/token/get",
            Endpoint::ItemPublicTokenExchange => "/item/public_token/exchange",
            Endpoint::ItemGet => "/item/get",
            Endpoint::ItemRemove => "/item/remove",
            Endpoint::ItemAccessTokenInvalidate => "/item/access_token/invalidate",
            Endpoint::AccountsGet => "/accounts/get",
            Endpoint::AccountsBalanceGet => "/accounts/balance/get",
            Endpoint::InstitutionsGetById => "/institutions/get_by_id",
            Endpoint::TransactionsSync => "/transactions/sync",
            Endpoint::WebhookVerificationKeyGet => "/webhook_verification_key/get",
            Endpoint::ItemWebhookUpdate => "/item/webhook/update",
            Endpoint::SandboxPublicTokenCreate => "/sandbox/public_token/create",
            Endpoint::SandboxItemResetLogin => "/sandbox/item/reset_login",
            Endpoint::SandboxItemFireWebhook => "/sandbox/item/fire_webhook",
        }
    }

    /// The endpoint served at `path`, if the emulator serves one there.
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.path() == path)
    }
}

/// A handler's answer.
pub enum Reply {
    /// A JSON object; `request_id` is added by the pipeline.
    Json(Value),
    /// Already-serialised JSON (includes `request_id`).
    Raw(Vec<u8>),
}

/// Runs the handler of `endpoint`.
pub async fn handle(app: &Arc<App>, endpoint: Endpoint, body: &Value, request_id: &str) -> Result<Reply, PlaidError> {
    match endpoint {
        Endpoint::LinkTokenCreate => tokens::link_token_create(app, body).map(Reply::Json),
        Endpoint::LinkTokenGet => tokens::link_token_get(app, body).map(Reply::Json),
        Endpoint::ItemPublicTokenExchange => tokens::public_token_exchange(app, body).map(Reply::Json),
        Endpoint::ItemGet => items::item_get(app, body).map(Reply::Json),
        Endpoint::ItemRemove => items::item_remove(app, body).map(Reply::Json),
        Endpoint::ItemAccessTokenInvalidate => tokens::access_token_invalidate(app, body).map(Reply::Json),
        Endpoint::AccountsGet => items::accounts_get(app, body, false).map(Reply::Json),
        Endpoint::AccountsBalanceGet => items::accounts_get(app, body, true).map(Reply::Json),
        Endpoint::InstitutionsGetById => items::institutions_get_by_id(app, body).map(Reply::Json),
        Endpoint::TransactionsSync => transactions::sync(app, body, request_id).map(Reply::Raw),
        Endpoint::WebhookVerificationKeyGet => items::webhook_key_get(app, body).map(Reply::Json),
        Endpoint::ItemWebhookUpdate => items::item_webhook_update(app, body).map(Reply::Json),
        Endpoint::SandboxPublicTokenCreate => sandbox::public_token_create(app, body).map(Reply::Json),
        Endpoint::SandboxItemResetLogin => sandbox::reset_login(app, body).map(Reply::Json),
        Endpoint::SandboxItemFireWebhook => sandbox::fire_webhook(app, body).map(Reply::Json),
    }
}

/// Deserialises a validated body into a request type.
pub fn parse<T: for<'de> Deserialize<'de>>(body: &Value) -> Result<T, PlaidError> {
    T::deserialize(body).map_err(|e| PlaidError::invalid_field(e.to_string()))
}

/// The body's `access_token` (empty if missing).
pub fn access_token(body: &Value) -> &str {
    body.get("access_token").and_then(Value::as_str).unwrap_or_default()
}
