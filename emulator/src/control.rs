//! The control API: everything a test needs that Plaid's API does not offer (clock, faults, item
//! conditions, transaction changes, key rotation, delivery log, call counts, Link simulation).
//!
//! Two faces, same operations: [`Control`] for Rust code in the same process, and HTTP routes
//! under `/__emulator/` (documented in the crate's README) for everything else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::app::{App, CallCounts};
use crate::clock::{MAX_ADVANCE_SECS, rfc3339};
use crate::faults::{Fault, FaultSpec};
use crate::items::{self, Condition, MutationResult, NewItem, TransactionMutation};
use crate::link::{LinkCompletion, LinkOutcome};
use crate::ratelimit::{Limit, RateLimits};
use crate::sandbox::{self, Account};
use crate::state::{State as EmuState, unix_rfc3339};
use crate::transactions::{WireOptions, WireTxn};
use crate::webhooks::{Delivery, WebhookConfig};
use crate::wire::{ErrorType, PlaidError, json_response};

/// In-process handle on a running emulator's control operations.
#[derive(Clone, Debug)]
pub struct Control {
    app: Arc<App>,
}

/// Result of a key rotation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RotatedKey {
    /// The new signing key id.
    pub kid: String,
    /// The previous key id (now with `expired_at` set, still served).
    pub expired_kid: Option<String>,
}

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
    pub item_id: String,
    pub access_token: String,
}

/// Body of `POST /__emulator/clock/advance`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvanceClock {
    #[serde(default)]
    pub seconds: Option<i64>,
    #[serde(default)]
    pub minutes: Option<i64>,
    #[serde(default)]
    pub hours: Option<i64>,
    #[serde(default)]
    pub days: Option<i64>,
}

/// Body of `POST /__emulator/items/{id}/condition`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetCondition {
    pub condition: Condition,
    /// For USER_ACCOUNT_REVOKED (default: the first visible account).
    #[serde(default)]
    pub account_id: Option<String>,
}

/// Body of `PUT /__emulator/webhooks/config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfigBody {
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub retry_backoff_ms: Option<Vec<u64>>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

/// Body of `POST /__emulator/rate_limits`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsBody {
    /// Limits to set, per endpoint path.
    #[serde(default)]
    pub limits: BTreeMap<String, Limit>,
    /// Drop every limit before applying `limits`.
    #[serde(default)]
    pub replace: bool,
    /// Restore Plaid's defaults before applying `limits`.
    #[serde(default)]
    pub defaults: bool,
}

fn not_found(what: &str) -> PlaidError {
    PlaidError::new(ErrorType::InvalidRequest, "NOT_FOUND", format!("{what} not found")).with_status(404)
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
fn resolve(state: &EmuState, id: &str) -> Result<String, PlaidError> {
    let item_id = resolve_any(state, id)?;
    if state.items.get(&item_id).is_some_and(|i| i.removed) {
        return Err(PlaidError::new(ErrorType::InvalidRequest, "NOT_FOUND", "item was removed").with_status(404));
    }
    Ok(item_id)
}

fn item_view(item: &crate::state::Item, now: i64) -> Value {
    json!({
        "item_id": item.item_id,
        "removed": item.removed,
        "hold_webhooks": item.hold_webhooks,
        "access_token": item.access_token,
        "institution_id": item.institution_id,
        "institution_name": item.institution_name,
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
    pub(crate) fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    /// The client id the emulator accepts.
    pub fn client_id(&self) -> &str {
        &self.app.config.client_id
    }

    /// The secret the emulator accepts.
    pub fn secret(&self) -> &str {
        &self.app.config.secret
    }

    /// The emulator clock's current time.
    pub fn now(&self) -> OffsetDateTime {
        self.app.clock.now()
    }

    /// Moves the emulator clock forward (token expiry, webhook `iat`, rate-limit windows and
    /// delayed histories follow it). Returns the new time.
    pub fn advance_clock(&self, by: StdDuration) -> Result<OffsetDateTime, PlaidError> {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        if secs > MAX_ADVANCE_SECS {
            return Err(PlaidError::invalid_field("the clock can advance at most 100 years at once"));
        }
        let by = time::Duration::try_from(by).map_err(|_| PlaidError::invalid_field("duration too large"))?;
        let now = self.app.clock.advance(by);
        let out = items::ready_webhooks(&mut self.app.lock_state(), now);
        self.app.send_webhooks(out);
        self.app.changed();
        Ok(now)
    }

    /// Rotates the webhook signing key.
    pub fn rotate_webhook_key(&self) -> RotatedKey {
        let now = self.app.clock.unix();
        let (kid, expired_kid) = self.app.lock_state().keys.rotate(now);
        self.app.changed();
        RotatedKey { kid, expired_kid }
    }

    /// Every signing key as its JWK (newest last).
    pub fn webhook_keys(&self) -> Vec<Value> {
        self.app.lock_state().keys.all().iter().filter_map(|k| k.jwk().ok()).collect()
    }

    /// The webhook delivery log (oldest first), optionally for one Item and/or code.
    pub fn deliveries(&self, item_id: Option<&str>, webhook_code: Option<&str>) -> Vec<Delivery> {
        self.app.lock_deliveries().list(item_id, webhook_code)
    }

    /// Waits until at least `n` deliveries match (any status), or `timeout` passes; returns them.
    pub async fn wait_for_deliveries(
        &self,
        item_id: Option<&str>,
        webhook_code: Option<&str>,
        n: usize,
        timeout: StdDuration,
    ) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.deliveries(item_id, webhook_code);
            if found.len() >= n || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
    }

    pub fn clear_deliveries(&self) {
        self.app.lock_deliveries().clear();
    }

    /// Calls received per endpoint (total and per Item).
    pub fn call_counts(&self) -> CallCounts {
        self.app.lock_calls().clone()
    }

    /// Calls of one endpoint path, optionally for one Item.
    pub fn call_count(&self, endpoint: &str, item_id: Option<&str>) -> u64 {
        let calls = self.app.lock_calls();
        match item_id {
            Some(item) => calls.by_item.get(item).and_then(|m| m.get(endpoint)).copied().unwrap_or(0),
            None => calls.total.get(endpoint).copied().unwrap_or(0),
        }
    }

    pub fn reset_call_counts(&self) {
        *self.app.lock_calls() = CallCounts::default();
    }

    /// Arms a fault; returns its id.
    pub fn inject_fault(&self, spec: FaultSpec) -> Result<u64, PlaidError> {
        if spec.endpoint != "*" && crate::api::Endpoint::from_path(&spec.endpoint).is_none() {
            return Err(PlaidError::invalid_field(format!(
                "endpoint {} is not an emulated Plaid endpoint",
                spec.endpoint
            )));
        }
        self.app.lock_faults().add(spec)
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.app.lock_faults().list()
    }

    pub fn clear_faults(&self) {
        self.app.lock_faults().clear();
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
        let codes = out.iter().filter_map(|o| o.body["webhook_code"].as_str().map(str::to_owned)).collect();
        self.app.send_webhooks(out);
        self.app.changed();
        Ok(codes)
    }

    /// Adds, modifies and removes transactions of an Item; fires the webhooks Plaid would.
    pub fn mutate_transactions(
        &self,
        item: &str,
        mutation: &TransactionMutation,
    ) -> Result<MutationResult, PlaidError> {
        let now = self.app.clock.now();
        let mut state = self.app.lock_state();
        let id = resolve(&state, item)?;
        let it = state.items.get_mut(&id).ok_or_else(|| not_found("item"))?;
        let (result, out) = items::mutate_transactions(it, mutation, now, self.app.seed())?;
        drop(state);
        self.app.send_webhooks(out);
        self.app.changed();
        Ok(result)
    }

    /// Makes the Item's next paginated `/transactions/sync` read (a cursor issued with
    /// `has_more: true`) fail with TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION.
    pub fn fail_next_paginated_sync(&self, item: &str) -> Result<(), PlaidError> {
        let mut state = self.app.lock_state();
        let id = resolve(&state, item)?;
        if let Some(it) = state.items.get_mut(&id) {
            it.fail_next_paginated_sync = true;
        }
        Ok(())
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
        let mut items: Vec<&crate::state::Item> = state.items.values().collect();
        items.sort_by_key(|i| (i.created_at, i.item_id.clone()));
        items.into_iter().map(|i| item_view(i, now)).collect()
    }

    /// An Item's current transactions (as `/transactions/sync` shows them), newest first.
    pub fn transactions(&self, item: &str) -> Result<Vec<Value>, PlaidError> {
        let state = self.app.lock_state();
        let id = resolve(&state, item)?;
        let it = state.items.get(&id).ok_or_else(|| not_found("item"))?;
        let options = WireOptions { include_personal_finance_category: true, include_original_description: false };
        Ok(it.log.current().iter().filter_map(|t| serde_json::to_value(WireTxn { txn: t, options }).ok()).collect())
    }

    /// Simulates a user completing (or failing) a Link session.
    pub fn complete_link(&self, completion: &LinkCompletion) -> Result<LinkOutcome, PlaidError> {
        crate::link::complete(&self.app, completion)
    }

    /// Creates an Item and exchanges its public token (no Link, no rate limits, not counted).
    pub fn create_item(&self, req: &CreateItem) -> Result<CreatedItem, PlaidError> {
        let institution_id = req.institution_id.as_deref().unwrap_or("ins_109508");
        let inst = sandbox::institution(institution_id).ok_or_else(PlaidError::invalid_institution)?;
        let products = req.products.clone().unwrap_or_else(|| vec!["transactions".to_owned()]);
        if let Some(w) = req.webhook.as_deref().filter(|w| !w.is_empty())
            && !crate::api::is_http_url(w)
        {
            return Err(PlaidError::invalid_field("webhook must be a valid URL"));
        }
        sandbox::check_credentials(
            req.username.as_deref().unwrap_or(sandbox::GOOD_USERNAME),
            req.password.as_deref().unwrap_or(sandbox::GOOD_PASSWORD),
        )?;
        if !sandbox::institution_supports(inst, &products) {
            return Err(sandbox::products_not_supported());
        }
        let select = |a: &Account| sandbox::account_supports_products(&a.account_type, &a.subtype, &products);
        let now = self.app.clock.now();
        let delay = crate::api::history_delay_secs(&self.app);
        let mut state = self.app.lock_state();
        let (item_id, public_token) = items::create_item(
            &mut state,
            NewItem {
                institution: inst,
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
        let access_token = crate::ids::token(crate::ids::TokenKind::Access, "sandbox");
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

    /// The rate limits in force.
    pub fn rate_limits(&self) -> RateLimits {
        self.app.lock_limiter().limits.clone()
    }

    /// Replaces the rate limits (and resets the counters).
    pub fn set_rate_limits(&self, limits: RateLimits) {
        let mut limiter = self.app.lock_limiter();
        limiter.limits = limits;
        limiter.reset();
    }

    pub fn webhook_config(&self) -> WebhookConfig {
        self.app.webhook_config()
    }

    pub fn set_webhook_config(&self, config: WebhookConfig) {
        self.app.set_webhook_config(config);
    }

    /// Forgets every Item, token, delivery, fault and count (signing keys and clock stay).
    pub fn reset(&self) {
        {
            let mut state = self.app.lock_state();
            state.items.clear();
            state.access_tokens.clear();
            state.removed_items.clear();
            state.public_tokens.clear();
            state.link_tokens.clear();
        }
        self.clear_deliveries();
        self.clear_faults();
        self.reset_call_counts();
        self.app.lock_limiter().reset();
        self.app.changed();
    }
}

// ---- HTTP routes ----------------------------------------------------------------------------

type Shared = State<Arc<App>>;

/// Answers with a JSON body or a Plaid-shaped error.
fn reply<T: Serialize>(result: Result<T, PlaidError>) -> Response {
    match result {
        Ok(v) => match serde_json::to_value(v) {
            Ok(v) => json_response(StatusCode::OK, &v),
            Err(_) => PlaidError::internal().into_response_with(&crate::ids::request_id()),
        },
        Err(e) => e.into_response_with(&crate::ids::request_id()),
    }
}

/// Parses a control request body (empty = `{}`).
async fn body_of<T: DeserializeOwned>(app: &App, headers: &HeaderMap, body: Body) -> Result<T, PlaidError> {
    let bytes = crate::server::read_body(headers, body, app.config.max_body_bytes).await?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            PlaidError::invalid_field(e.to_string())
        } else {
            PlaidError::invalid_body("body could not be parsed as JSON")
        }
    })
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/__emulator/health", get(|| async { reply(Ok(json!({"ok": true}))) }))
        .route("/__emulator/state", get(state_summary))
        .route("/__emulator/reset", post(reset))
        .route("/__emulator/clock", get(clock_get))
        .route("/__emulator/clock/advance", post(clock_advance))
        .route("/__emulator/keys", get(keys_get))
        .route("/__emulator/keys/rotate", post(keys_rotate))
        .route("/__emulator/items", get(items_list).post(items_create))
        .route("/__emulator/items/{id}", get(item_get))
        .route("/__emulator/items/{id}/condition", post(item_condition))
        .route("/__emulator/items/{id}/reset_login", post(item_reset_login))
        .route("/__emulator/items/{id}/history_ready", post(item_history_ready))
        .route("/__emulator/items/{id}/webhooks/hold", post(item_hold_webhooks))
        .route("/__emulator/items/{id}/transactions", get(item_transactions).post(item_mutate))
        .route("/__emulator/items/{id}/transactions/fail_next_page", post(item_fail_next_page))
        .route("/__emulator/faults", get(faults_list).post(faults_add).delete(faults_clear))
        .route("/__emulator/webhooks", get(webhooks_list).delete(webhooks_clear))
        .route("/__emulator/webhooks/config", get(webhook_config_get).put(webhook_config_set).post(webhook_config_set))
        .route("/__emulator/calls", get(calls_get).delete(calls_clear))
        .route("/__emulator/rate_limits", get(rate_limits_get).post(rate_limits_set))
        .route("/__emulator/link/complete", post(link_complete))
}

/// The `{id}` path segment (Item id or access token), with a Plaid-shaped rejection.
struct ItemRef(String);

impl<S: Send + Sync> FromRequestParts<S> for ItemRef {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(ItemRef(id)),
            Err(_) => Err(not_found("item").into_response_with(&crate::ids::request_id())),
        }
    }
}

fn control(app: &Arc<App>) -> Control {
    Control::new(Arc::clone(app))
}

async fn state_summary(State(app): Shared) -> Response {
    let c = control(&app);
    let (items, link_tokens, public_tokens) = {
        let s = app.lock_state();
        (s.items.len(), s.link_tokens.len(), s.public_tokens.len())
    };
    reply(Ok(json!({
        "now": rfc3339(c.now()),
        "clock_offset_seconds": app.clock.offset().whole_seconds(),
        "client_id": app.config.client_id,
        "seed": app.config.seed,
        "items": items,
        "link_tokens": link_tokens,
        "public_tokens": public_tokens,
        "keys": c.webhook_keys(),
        "deliveries": app.lock_deliveries().list(None, None).len(),
        "faults": c.faults(),
        "rate_limits": c.rate_limits(),
        "webhook_config": webhook_config_json(&c.webhook_config()),
        "state_file": app.config.state_file.as_ref().map(|p| p.display().to_string()),
    })))
}

async fn reset(State(app): Shared) -> Response {
    control(&app).reset();
    reply(Ok(json!({"reset": true})))
}

async fn clock_get(State(app): Shared) -> Response {
    reply(Ok(json!({
        "now": rfc3339(app.clock.now()),
        "unix": app.clock.unix(),
        "offset_seconds": app.clock.offset().whole_seconds(),
    })))
}

async fn clock_advance(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: AdvanceClock = body_of(&app, &headers, body).await?;
        let parts = [(req.seconds, 1i64), (req.minutes, 60), (req.hours, 3600), (req.days, 86_400)];
        let mut total: i64 = 0;
        for (v, mult) in parts {
            if let Some(v) = v {
                if v < 0 {
                    return Err(PlaidError::invalid_field("the clock only moves forward"));
                }
                total = v
                    .checked_mul(mult)
                    .and_then(|x| total.checked_add(x))
                    .filter(|t| *t <= MAX_ADVANCE_SECS)
                    .ok_or_else(|| PlaidError::invalid_field("the clock can advance at most 100 years at once"))?;
            }
        }
        let secs = u64::try_from(total).unwrap_or(0);
        let now = control(&app).advance_clock(StdDuration::from_secs(secs))?;
        Ok(json!({"now": rfc3339(now), "unix": now.unix_timestamp(), "advanced_seconds": total}))
    }
    .await;
    reply(result)
}

async fn keys_get(State(app): Shared) -> Response {
    let c = control(&app);
    let current = app.lock_state().keys.current().map(|k| k.kid.clone());
    reply(Ok(json!({"current_kid": current, "keys": c.webhook_keys()})))
}

async fn keys_rotate(State(app): Shared) -> Response {
    reply(Ok(control(&app).rotate_webhook_key()))
}

async fn items_list(State(app): Shared) -> Response {
    reply(Ok(json!({"items": control(&app).items()})))
}

async fn items_create(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: CreateItem = body_of(&app, &headers, body).await?;
        control(&app).create_item(&req)
    }
    .await;
    reply(result)
}

async fn item_get(State(app): Shared, ItemRef(id): ItemRef) -> Response {
    reply(control(&app).item(&id))
}

async fn item_condition(State(app): Shared, ItemRef(id): ItemRef, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: SetCondition = body_of(&app, &headers, body).await?;
        let fired = control(&app).set_condition(&id, req.condition, req.account_id.as_deref())?;
        Ok(json!({"webhooks_fired": fired}))
    }
    .await;
    reply(result)
}

async fn item_reset_login(State(app): Shared, ItemRef(id): ItemRef) -> Response {
    let result = control(&app)
        .set_condition(&id, Condition::ItemLoginRequired, None)
        .map(|fired| json!({"webhooks_fired": fired}));
    reply(result)
}

/// Body of `POST /__emulator/items/{id}/webhooks/hold`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldWebhooks {
    pub hold: bool,
}

async fn item_hold_webhooks(State(app): Shared, ItemRef(id): ItemRef, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: HoldWebhooks = body_of(&app, &headers, body).await?;
        control(&app).hold_webhooks(&id, req.hold)?;
        Ok(json!({"hold_webhooks": req.hold}))
    }
    .await;
    reply(result)
}

async fn item_history_ready(State(app): Shared, ItemRef(id): ItemRef) -> Response {
    reply(control(&app).make_history_ready(&id).map(|()| json!({"history_ready": true})))
}

async fn item_transactions(State(app): Shared, ItemRef(id): ItemRef) -> Response {
    reply(control(&app).transactions(&id).map(|t| json!({"transactions": t})))
}

async fn item_mutate(State(app): Shared, ItemRef(id): ItemRef, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: TransactionMutation = body_of(&app, &headers, body).await?;
        control(&app).mutate_transactions(&id, &req)
    }
    .await;
    reply(result)
}

async fn item_fail_next_page(State(app): Shared, ItemRef(id): ItemRef) -> Response {
    reply(control(&app).fail_next_paginated_sync(&id).map(|()| json!({"fail_next_paginated_sync": true})))
}

async fn faults_list(State(app): Shared) -> Response {
    reply(Ok(json!({"faults": control(&app).faults()})))
}

async fn faults_add(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: FaultSpec = body_of(&app, &headers, body).await?;
        let id = control(&app).inject_fault(req)?;
        Ok(json!({"fault_id": id}))
    }
    .await;
    reply(result)
}

async fn faults_clear(State(app): Shared) -> Response {
    control(&app).clear_faults();
    reply(Ok(json!({"faults": []})))
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    crate::link::parse_form(query.unwrap_or_default()).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

async fn webhooks_list(State(app): Shared, RawQuery(query): RawQuery) -> Response {
    let item = query_param(query.as_deref(), "item_id");
    let code = query_param(query.as_deref(), "webhook_code");
    reply(Ok(json!({"deliveries": control(&app).deliveries(item.as_deref(), code.as_deref())})))
}

async fn webhooks_clear(State(app): Shared) -> Response {
    control(&app).clear_deliveries();
    reply(Ok(json!({"deliveries": []})))
}

fn webhook_config_json(c: &WebhookConfig) -> Value {
    json!({
        "timeout_ms": u64::try_from(c.timeout.as_millis()).unwrap_or(u64::MAX),
        "retry_backoff_ms": c.retry_backoff.iter().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).collect::<Vec<_>>(),
        "max_attempts": c.max_attempts,
    })
}

async fn webhook_config_get(State(app): Shared) -> Response {
    reply(Ok(webhook_config_json(&control(&app).webhook_config())))
}

async fn webhook_config_set(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: WebhookConfigBody = body_of(&app, &headers, body).await?;
        let c = control(&app);
        let mut config = c.webhook_config();
        if let Some(ms) = req.timeout_ms {
            config.timeout = StdDuration::from_millis(ms);
        }
        if let Some(list) = req.retry_backoff_ms {
            if list.is_empty() {
                return Err(PlaidError::invalid_field("retry_backoff_ms must not be empty"));
            }
            config.retry_backoff = list.into_iter().map(StdDuration::from_millis).collect();
        }
        if let Some(n) = req.max_attempts {
            if n == 0 {
                return Err(PlaidError::invalid_field("max_attempts must be at least 1"));
            }
            config.max_attempts = n;
        }
        c.set_webhook_config(config.clone());
        Ok(webhook_config_json(&config))
    }
    .await;
    reply(result)
}

async fn calls_get(State(app): Shared, RawQuery(query): RawQuery) -> Response {
    let counts = control(&app).call_counts();
    match query_param(query.as_deref(), "item_id") {
        Some(item) => {
            let by = counts.by_item.get(&item).cloned().unwrap_or_default();
            reply(Ok(json!({"item_id": item, "calls": by})))
        }
        None => reply(Ok(counts)),
    }
}

async fn calls_clear(State(app): Shared) -> Response {
    control(&app).reset_call_counts();
    reply(Ok(CallCounts::default()))
}

async fn rate_limits_get(State(app): Shared) -> Response {
    reply(Ok(json!({"limits": control(&app).rate_limits()})))
}

async fn rate_limits_set(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: RateLimitsBody = body_of(&app, &headers, body).await?;
        for path in req.limits.keys() {
            if crate::api::Endpoint::from_path(path).is_none() {
                return Err(PlaidError::invalid_field(format!("{path} is not an emulated Plaid endpoint")));
            }
        }
        let c = control(&app);
        let mut limits = if req.defaults {
            RateLimits::default()
        } else if req.replace {
            RateLimits::unlimited()
        } else {
            c.rate_limits()
        };
        limits.0.extend(req.limits);
        c.set_rate_limits(limits.clone());
        Ok(json!({"limits": limits}))
    }
    .await;
    reply(result)
}

async fn link_complete(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: LinkCompletion = body_of(&app, &headers, body).await?;
        control(&app).complete_link(&req)
    }
    .await;
    reply(result)
}
