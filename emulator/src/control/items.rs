//! Items: create one without Link, look at them, put them in conditions, hold their webhooks,
//! make a delayed history ready.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Control, Shared, body_of, control, not_found, reply};
use crate::http::is_http_url;
use crate::ids::{self, TokenKind};
use crate::items::{self, Condition, NewItem};
use crate::sandbox::{self, Account};
use crate::state::{Item, State as EmuState, unix_rfc3339};
use crate::wire::{ErrorType, PlaidError};

/// Shortcut to create an Item without Link (like `/sandbox/public_token/create` followed by
/// `/item/public_token/exchange`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateItem {
    /// Default `ins_109508` (First Platypus Bank).
    #[serde(default)]
    pub institution_id: Option<String>,
    /// Default `["transactions"]`.
    #[serde(default)]
    pub products: Option<Vec<String>>,
    /// The Item's webhook URL (default: none).
    #[serde(default)]
    pub webhook: Option<String>,
    /// Default `user_good`.
    #[serde(default)]
    pub username: Option<String>,
    /// Default `pass_good`; `error_<CODE>` fails with that code.
    #[serde(default)]
    pub password: Option<String>,
}

/// A created Item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreatedItem {
    /// The new Item's id.
    pub item_id: String,
    /// Its access token (already exchanged).
    pub access_token: String,
}

/// Body of `POST /__emulator/items/{id}/condition`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetCondition {
    condition: Condition,
    /// For USER_ACCOUNT_REVOKED (default: the first visible account).
    #[serde(default)]
    account_id: Option<String>,
}

/// Body of `POST /__emulator/items/{id}/webhooks/hold`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldWebhooks {
    hold: bool,
}

/// Resolves an Item id or access token to an Item id (removed Items included).
fn resolve_any(state: &EmuState, id: &str) -> Result<String, PlaidError> {
    if state.items.contains_key(id) {
        return Ok(id.to_owned());
    }
    match state.access_tokens.get(id) {
        Some(item_id) if state.items.contains_key(item_id) => Ok(item_id.clone()),
        _ => Err(not_found("item")),
    }
}

/// Resolves an Item id or access token to a live (not removed) Item id.
pub fn resolve(state: &EmuState, id: &str) -> Result<String, PlaidError> {
    let item_id = resolve_any(state, id)?;
    if state.items.get(&item_id).is_some_and(|i| i.removed) {
        return Err(PlaidError::new(ErrorType::InvalidRequest, "NOT_FOUND", "item was removed").with_status(404));
    }
    Ok(item_id)
}

fn item_view(item: &Item, now: i64) -> Value {
    json!({
        "item_id": item.item_id,
        "removed": item.removed,
        "hold_webhooks": item.hold_webhooks,
        "access_token": item.access_token,
        "institution_id": item.institution_id,
        "institution_name": item.institution_name,
        "client_user_id": item.client_user_id,
        "webhook": item.webhook,
        "error": item.error.as_ref().map(|e| e.to_json("")),
        "products": item.products,
        "created_at": unix_rfc3339(item.created_at),
        "consent_expiration_time": item.consent_expiration_time.map(unix_rfc3339),
        "accounts": item.visible_accounts().map(Account::to_json).collect::<Vec<_>>(),
        "new_accounts": item.new_accounts.iter().map(Account::to_json).collect::<Vec<_>>(),
        "revoked_account_ids": item.revoked_account_ids,
        "pending_disconnect": item.conditions.pending_disconnect.as_ref().map(|(reason, at)| json!({"reason": reason, "disconnect_time": unix_rfc3339(*at)})),
        "history_ready": item.history_ready(now),
        "exchanged": item.exchanged,
        "initial_webhooks_sent": item.initial_webhooks_sent,
        "log_length": item.log.len(),
        "transaction_count": item.log.current().len(),
        "fail_next_paginated_sync": item.fail_next_paginated_sync,
        "last_webhook": item.last_webhook.as_ref().map(|(at, code)| json!({"sent_at": unix_rfc3339(*at), "code_sent": code})),
    })
}

impl Control {
    /// Creates an Item and exchanges its public token (no Link, no rate limits, not counted).
    pub fn create_item(&self, req: &CreateItem) -> Result<CreatedItem, PlaidError> {
        let institution_id = req.institution_id.as_deref().unwrap_or("ins_109508");
        let inst = sandbox::institution(institution_id).ok_or_else(PlaidError::invalid_institution)?;
        let products = req.products.clone().unwrap_or_else(|| vec!["transactions".to_owned()]);
        if let Some(w) = req.webhook.as_deref().filter(|w| !w.is_empty())
            && !is_http_url(w)
        {
            return Err(PlaidError::invalid_field("webhook must be a valid URL"));
        }
        let username = req.username.as_deref().unwrap_or(sandbox::GOOD_USERNAME);
        sandbox::check_credentials(username, req.password.as_deref().unwrap_or(sandbox::GOOD_PASSWORD))?;
        if !sandbox::institution_supports(inst, &products) {
            return Err(sandbox::products_not_supported());
        }
        let select = |a: &Account| sandbox::account_supports_products(&a.account_type, &a.subtype, &products);
        let now = self.app.clock.now();
        let delay = self.app.history_delay_secs();
        let mut state = self.app.lock_state();
        let (item_id, public_token) = items::create_item(
            &mut state,
            NewItem {
                institution: inst,
                username,
                products: products.clone(),
                webhook: req.webhook.clone(),
                client_user_id: None,
                select: &select,
            },
            now,
            self.app.seed(),
            delay,
        )?;
        state.public_tokens.remove(&public_token);
        let access_token = ids::token(TokenKind::Access, "sandbox");
        state.access_tokens.insert(access_token.clone(), item_id.clone());
        let out = match state.items.get_mut(&item_id) {
            Some(item) => {
                item.exchanged = true;
                item.access_token = Some(access_token.clone());
                items::initial_webhooks(item, now)
            }
            None => Vec::new(),
        };
        drop(state);
        self.app.send_webhooks(out);
        self.app.changed();
        Ok(CreatedItem { item_id, access_token })
    }

    /// An Item's full state (by Item id or access token).
    pub fn item(&self, item: &str) -> Result<Value, PlaidError> {
        let now = self.app.clock.unix();
        let state = self.app.lock_state();
        let id = resolve_any(&state, item)?;
        state.items.get(&id).map(|it| item_view(it, now)).ok_or_else(|| not_found("item"))
    }

    /// Every live Item.
    pub fn items(&self) -> Vec<Value> {
        let now = self.app.clock.unix();
        let state = self.app.lock_state();
        let mut items: Vec<&Item> = state.items.values().collect();
        items.sort_by_key(|i| (i.created_at, i.item_id.clone()));
        items.into_iter().map(|i| item_view(i, now)).collect()
    }

    /// Puts an Item (by id or access token) in a condition; returns the webhook codes fired.
    pub fn set_condition(
        &self,
        item: &str,
        condition: Condition,
        account_id: Option<&str>,
    ) -> Result<Vec<String>, PlaidError> {
        let now = self.app.clock.now();
        let mut state = self.app.lock_state();
        let id = resolve(&state, item)?;
        let it = state.items.get_mut(&id).ok_or_else(|| not_found("item"))?;
        let out = items::set_condition(it, condition, account_id, now, self.app.seed())?;
        drop(state);
        let codes = out.iter().map(|o| o.webhook_code().to_owned()).collect();
        self.app.send_webhooks(out);
        self.app.changed();
        Ok(codes)
    }

    /// Holds (or releases) an Item's webhooks: while held, new webhooks are signed and logged
    /// with status `held` but not sent (a test can deliver them itself, in any order, with the
    /// logged body and `plaid_verification`). Releasing affects new webhooks only.
    pub fn hold_webhooks(&self, item: &str, hold: bool) -> Result<(), PlaidError> {
        let mut state = self.app.lock_state();
        let id = resolve(&state, item)?;
        if let Some(it) = state.items.get_mut(&id) {
            it.hold_webhooks = hold;
        }
        drop(state);
        self.app.changed();
        Ok(())
    }

    /// Makes a delayed history ready now (fires the initial webhooks if the token was exchanged).
    pub fn make_history_ready(&self, item: &str) -> Result<(), PlaidError> {
        let now = self.app.clock.now();
        let mut state = self.app.lock_state();
        let id = resolve(&state, item)?;
        let out = match state.items.get_mut(&id) {
            Some(it) => {
                it.history_ready_at = it.history_ready_at.min(now.unix_timestamp());
                items::initial_webhooks(it, now)
            }
            None => Vec::new(),
        };
        drop(state);
        self.app.send_webhooks(out);
        self.app.changed();
        Ok(())
    }
}

/// The `{id}` path segment (Item id or access token), with a Plaid-shaped rejection.
pub struct ItemRef(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ItemRef {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(ItemRef(id)),
            Err(_) => Err(not_found("item").into_response_with(&ids::request_id())),
        }
    }
}

pub async fn list(State(app): Shared) -> Response {
    reply(Ok(json!({"items": control(&app).items()})))
}

pub async fn create(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: CreateItem = body_of(&app, &headers, body).await?;
        control(&app).create_item(&req)
    }
    .await;
    reply(result)
}

pub async fn get(State(app): Shared, ItemRef(id): ItemRef) -> Response {
    reply(control(&app).item(&id))
}

pub async fn condition(State(app): Shared, ItemRef(id): ItemRef, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: SetCondition = body_of(&app, &headers, body).await?;
        let fired = control(&app).set_condition(&id, req.condition, req.account_id.as_deref())?;
        Ok(json!({"webhooks_fired": fired}))
    }
    .await;
    reply(result)
}

pub async fn reset_login(State(app): Shared, ItemRef(id): ItemRef) -> Response {
    let result = control(&app)
        .set_condition(&id, Condition::ItemLoginRequired, None)
        .map(|fired| json!({"webhooks_fired": fired}));
    reply(result)
}

pub async fn hold_webhooks(State(app): Shared, ItemRef(id): ItemRef, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: HoldWebhooks = body_of(&app, &headers, body).await?;
        control(&app).hold_webhooks(&id, req.hold)?;
        Ok(json!({"hold_webhooks": req.hold}))
    }
    .await;
    reply(result)
}

pub async fn history_ready(State(app): Shared, ItemRef(id): ItemRef) -> Response {
    reply(control(&app).make_history_ready(&id).map(|()| json!({"history_ready": true})))
}
