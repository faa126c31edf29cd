//! Plaid's endpoints. Each handler gets a body that already passed credential and schema checks,
//! and returns the response object (the pipeline in [`crate::server`] adds `request_id`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::App;
use crate::clock::rfc3339;
use crate::items::{self, Condition, NewItem};
use crate::sandbox::{self, Account};
use crate::state::{LINK_TOKEN_TTL_SECS, LinkTokenRecord, UPDATE_LINK_TOKEN_TTL_SECS, unix_rfc3339};
use crate::transactions::{Cursor, SyncError, WireOptions, WireTxn, sync_page};
use crate::wire::PlaidError;

/// The Plaid endpoints the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    LinkTokenCreate,
    ItemPublicTokenExchange,
    ItemGet,
    ItemRemove,
    AccountsGet,
    AccountsBalanceGet,
    InstitutionsGetById,
    TransactionsSync,
    WebhookVerificationKeyGet,
    ItemWebhookUpdate,
    SandboxPublicTokenCreate,
    SandboxItemResetLogin,
    SandboxItemFireWebhook,
}

impl Endpoint {
    pub const ALL: [Endpoint; 13] = [
        Endpoint::LinkTokenCreate,
        Endpoint::ItemPublicTokenExchange,
        Endpoint::ItemGet,
        Endpoint::ItemRemove,
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

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::LinkTokenCreate => "/link/token/create",
            Endpoint::ItemPublicTokenExchange => "/item/public_token/exchange",
            Endpoint::ItemGet => "/item/get",
            Endpoint::ItemRemove => "/item/remove",
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
        Endpoint::LinkTokenCreate => link_token_create(app, body).map(Reply::Json),
        Endpoint::ItemPublicTokenExchange => public_token_exchange(app, body).map(Reply::Json),
        Endpoint::ItemGet => item_get(app, body).map(Reply::Json),
        Endpoint::ItemRemove => item_remove(app, body).map(Reply::Json),
        Endpoint::AccountsGet => accounts_get(app, body, false).map(Reply::Json),
        Endpoint::AccountsBalanceGet => accounts_get(app, body, true).map(Reply::Json),
        Endpoint::InstitutionsGetById => institutions_get_by_id(app, body).map(Reply::Json),
        Endpoint::TransactionsSync => transactions_sync(app, body, request_id).map(Reply::Raw),
        Endpoint::WebhookVerificationKeyGet => webhook_key_get(app, body).map(Reply::Json),
        Endpoint::ItemWebhookUpdate => item_webhook_update(app, body).map(Reply::Json),
        Endpoint::SandboxPublicTokenCreate => sandbox_public_token_create(app, body).map(Reply::Json),
        Endpoint::SandboxItemResetLogin => sandbox_reset_login(app, body).map(Reply::Json),
        Endpoint::SandboxItemFireWebhook => sandbox_fire_webhook(app, body).map(Reply::Json),
    }
}

/// Deserialises a validated body into a request type.
fn parse<T: for<'de> Deserialize<'de>>(body: &Value) -> Result<T, PlaidError> {
    T::deserialize(body).map_err(|e| PlaidError::invalid_field(e.to_string()))
}

fn access_token(body: &Value) -> &str {
    body.get("access_token").and_then(Value::as_str).unwrap_or_default()
}

/// Whether `url` is an absolute http(s) URL.
pub fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

const LANGUAGES: &[&str] =
    &["da", "de", "en", "es", "et", "fr", "it", "ja", "lt", "lv", "nl", "no", "pl", "pt", "ro", "sv"];

// ---- /link/token/create ---------------------------------------------------------------------

#[derive(Deserialize)]
struct LinkTokenCreateReq {
    client_name: String,
    language: String,
    country_codes: Vec<String>,
    #[serde(default)]
    user: Option<LinkUser>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_token: Option<String>,
    #[serde(default)]
    products: Option<Vec<String>>,
    #[serde(default)]
    webhook: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    update: Option<LinkUpdate>,
    #[serde(default)]
    account_filters: Option<Value>,
}

#[derive(Deserialize)]
struct LinkUser {
    client_user_id: String,
}

#[derive(Deserialize)]
struct LinkUpdate {
    #[serde(default)]
    account_selection_enabled: Option<bool>,
}

fn link_token_create(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let req: LinkTokenCreateReq = parse(body)?;
    if req.user.is_none() && req.user_id.is_none() && req.user_token.is_none() {
        return Err(PlaidError::missing_fields(&["user".to_owned()]));
    }
    if !LANGUAGES.contains(&req.language.as_str()) {
        return Err(PlaidError::invalid_field(format!("language must be one of: {}", LANGUAGES.join(", "))));
    }
    if let Some(w) = req.webhook.as_deref().filter(|w| !w.is_empty())
        && !is_http_url(w)
    {
        return Err(PlaidError::invalid_field("webhook must be a valid URL"));
    }
    if let Some(r) = req.redirect_uri.as_deref().filter(|r| !r.is_empty()) {
        let parsed =
            reqwest::Url::parse(r).map_err(|_| PlaidError::invalid_field("redirect_uri must be a valid URL"))?;
        if parsed.query().is_some() {
            return Err(PlaidError::invalid_field("redirect_uri must not contain any query parameters"));
        }
    }
    let now = app.clock.now();
    let unix = now.unix_timestamp();
    let update_mode = req.access_token.as_deref().is_some_and(|t| !t.is_empty());
    let products = req.products.clone().unwrap_or_default();
    if !update_mode {
        if req.products.is_none() {
            return Err(PlaidError::missing_fields(&["products".to_owned()]));
        }
        if products.is_empty() {
            return Err(PlaidError::invalid_field("products must be a non-empty array"));
        }
    }
    if products.iter().any(|p| p == "balance") {
        return Err(PlaidError::invalid_product(
            "balance is not a valid product to initialize Link with. Balance is available with any other product",
        ));
    }
    let mut state = app.lock_state();
    let update_item_id = match req.access_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => Some(state.item_id_for_token(token)?),
        None => None,
    };
    let ttl = if update_mode { UPDATE_LINK_TOKEN_TTL_SECS } else { LINK_TOKEN_TTL_SECS };
    let token = crate::ids::token(crate::ids::TokenKind::Link, "sandbox");
    let expires_at = unix.saturating_add(ttl);
    state.prune(unix);
    state.link_tokens.insert(
        token.clone(),
        LinkTokenRecord {
            created_at: unix,
            expires_at,
            client_name: req.client_name,
            language: req.language,
            country_codes: req.country_codes,
            products,
            webhook: req.webhook.filter(|w| !w.is_empty()),
            redirect_uri: req.redirect_uri.filter(|r| !r.is_empty()),
            client_user_id: req.user.map(|u| u.client_user_id).or(req.user_id),
            account_filters: req.account_filters,
            update_item_id,
            account_selection_enabled: req.update.and_then(|u| u.account_selection_enabled).unwrap_or(false),
        },
    );
    drop(state);
    app.changed();
    Ok(json!({"link_token": token, "expiration": unix_rfc3339(expires_at)}))
}

// ---- /item/public_token/exchange -------------------------------------------------------------

fn public_token_exchange(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let token = body.get("public_token").and_then(Value::as_str).unwrap_or_default();
    if !crate::ids::is_well_formed_token(crate::ids::TokenKind::Public, token) {
        return Err(PlaidError::invalid_public_token(
            "provided public token is in an invalid format. expected format: public-<environment>-<identifier>",
        ));
    }
    let now = app.clock.now();
    let unix = now.unix_timestamp();
    let mut state = app.lock_state();
    let Some(record) = state.public_tokens.get(token).cloned() else {
        return Err(PlaidError::invalid_public_token("could not find matching public token"));
    };
    if record.used {
        return Err(PlaidError::invalid_public_token("could not find matching public token"));
    }
    if unix >= record.expires_at {
        return Err(PlaidError::invalid_public_token(
            "provided public token is expired. Public tokens expire 30 minutes after creation at which point they can no longer be exchanged",
        ));
    }
    if state.removed_items.contains(&record.item_id) {
        return Err(PlaidError::item_not_found());
    }
    let access_token = crate::ids::token(crate::ids::TokenKind::Access, "sandbox");
    if let Some(r) = state.public_tokens.get_mut(token) {
        r.used = true;
    }
    let Some(item) = state.items.get_mut(&record.item_id) else {
        return Err(PlaidError::item_not_found());
    };
    item.exchanged = true;
    item.access_token = Some(access_token.clone());
    let webhooks = items::initial_webhooks(item, now);
    state.access_tokens.insert(access_token.clone(), record.item_id.clone());
    drop(state);
    app.send_webhooks(webhooks);
    app.changed();
    Ok(json!({"access_token": access_token, "item_id": record.item_id}))
}

// ---- /item/get, /item/remove, /item/webhook/update -------------------------------------------

fn available_products(institution_id: &str) -> &'static [&'static str] {
    sandbox::institution(institution_id).map_or(&[], |i| i.products)
}

fn item_get(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let state = app.lock_state();
    let item = state.item_for_token(access_token(body))?;
    let last_webhook =
        item.last_webhook.as_ref().map(|(at, code)| json!({"sent_at": unix_rfc3339(*at), "code_sent": code}));
    Ok(json!({
        "item": item.to_json(available_products(&item.institution_id), true),
        "status": {
            "transactions": {
                "last_successful_update": item.last_successful_update.map(unix_rfc3339),
                "last_failed_update": null,
            },
            "last_webhook": last_webhook,
        },
    }))
}

fn item_remove(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let mut state = app.lock_state();
    let item_id = state.item_id_for_token(access_token(body))?;
    if let Some(item) = state.items.get_mut(&item_id) {
        item.removed = true;
    }
    state.removed_items.insert(item_id);
    drop(state);
    app.changed();
    Ok(json!({}))
}

fn item_webhook_update(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let webhook = body.get("webhook").and_then(Value::as_str).filter(|w| !w.is_empty()).map(str::to_owned);
    if let Some(w) = &webhook
        && !is_http_url(w)
    {
        return Err(PlaidError::invalid_field("webhook must be a valid URL"));
    }
    let mut state = app.lock_state();
    let item = state.item_for_token_mut(access_token(body))?;
    item.webhook = webhook.clone();
    let out = match &webhook {
        Some(url) => {
            items::to_item(item, "ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED", json!({"new_webhook_url": url, "error": null}))
        }
        None => None,
    };
    let item_json = item.to_json(available_products(&item.institution_id), false);
    drop(state);
    app.send_webhooks(out.into_iter().collect());
    app.changed();
    Ok(json!({"item": item_json}))
}

// ---- /accounts/get, /accounts/balance/get ---------------------------------------------------

fn accounts_get(app: &Arc<App>, body: &Value, balance: bool) -> Result<Value, PlaidError> {
    let wanted: Option<Vec<String>> = body
        .pointer("/options/account_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect());
    let state = app.lock_state();
    let item = state.item_for_token(access_token(body))?;
    items::product_gate(item)?;
    let visible: Vec<&Account> = item.visible_accounts().collect();
    if let Some(ids) = &wanted
        && ids.iter().any(|id| !visible.iter().any(|a| &a.account_id == id))
    {
        return Err(PlaidError::invalid_account_id());
    }
    let accounts: Vec<Value> = visible
        .iter()
        .filter(|a| wanted.as_ref().is_none_or(|ids| ids.contains(&a.account_id)))
        .map(|a| {
            let mut v = a.to_json();
            if balance && let Some(b) = v.get_mut("balances").and_then(Value::as_object_mut) {
                b.insert("last_updated_datetime".into(), Value::Null);
            }
            v
        })
        .collect();
    Ok(json!({
        "accounts": accounts,
        "item": item.to_json(available_products(&item.institution_id), false),
    }))
}

// ---- /institutions/get_by_id ----------------------------------------------------------------

fn institutions_get_by_id(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let id = body.get("institution_id").and_then(Value::as_str).unwrap_or_default();
    let Some(inst) = sandbox::institution(id) else {
        return Err(PlaidError::invalid_institution());
    };
    let countries: Vec<&str> = body
        .get("country_codes")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !countries.contains(&"US") {
        return Err(PlaidError::invalid_institution());
    }
    let flag = |name: &str| body.pointer(&format!("/options/{name}")).and_then(Value::as_bool).unwrap_or(false);
    let now = rfc3339(app.clock.now());
    Ok(json!({
        "institution": inst.to_json(flag("include_status"), flag("include_optional_metadata"), &now),
    }))
}

// ---- /transactions/sync ---------------------------------------------------------------------

#[derive(Serialize)]
struct SyncResponse<'a> {
    accounts: Vec<Value>,
    added: Vec<WireTxn<'a>>,
    has_more: bool,
    modified: Vec<WireTxn<'a>>,
    next_cursor: String,
    removed: Vec<Value>,
    request_id: &'a str,
    transactions_update_status: &'static str,
}

fn transactions_sync(app: &Arc<App>, body: &Value, request_id: &str) -> Result<Vec<u8>, PlaidError> {
    let cursor_str = body.get("cursor").and_then(Value::as_str).unwrap_or_default();
    let count = body.get("count").and_then(Value::as_u64).and_then(|c| usize::try_from(c).ok()).unwrap_or(100);
    let opt = |name: &str| body.pointer(&format!("/options/{name}"));
    let options = WireOptions {
        include_personal_finance_category: opt("include_personal_finance_category")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        include_original_description: opt("include_original_description").and_then(Value::as_bool).unwrap_or(false),
    };
    let account_filter = opt("account_id").and_then(Value::as_str).map(str::to_owned);
    let seed = app.seed();
    let now = app.clock.now().unix_timestamp();

    let (page, accounts, item_id, status) = {
        let mut state = app.lock_state();
        let item = state.item_for_token_mut(access_token(body))?;
        items::product_gate(item)?;
        if !item.products.iter().any(|p| p == "transactions") {
            item.products.push("transactions".to_owned());
        }
        if let Some(account) = &account_filter
            && !item.visible_accounts().any(|a| &a.account_id == account)
        {
            return Err(PlaidError::invalid_account_id());
        }
        let accounts: Vec<Value> = item.visible_accounts().map(Account::to_json).collect();
        if !item.history_ready(now) {
            let resp = json!({
                "accounts": accounts, "added": [], "has_more": false, "modified": [],
                "next_cursor": "", "removed": [], "request_id": request_id,
                "transactions_update_status": "NOT_READY",
            });
            return serde_json::to_vec(&resp).map_err(|_| PlaidError::internal());
        }
        let cursor = match cursor_str {
            "" => None,
            "now" => Some(Cursor::at(u32::try_from(item.log.len()).unwrap_or(u32::MAX))),
            s => Some(
                Cursor::decode(s, &item.item_id, seed)
                    .ok_or_else(|| PlaidError::invalid_field("cursor is not a valid cursor"))?,
            ),
        };
        if let Some(c) = cursor
            && c.is_mid_pagination()
            && item.fail_next_paginated_sync
        {
            item.fail_next_paginated_sync = false;
            return Err(PlaidError::mutation_during_pagination());
        }
        let page = match sync_page(&item.log, cursor, count, account_filter.as_deref()) {
            Ok(p) => p,
            Err(SyncError::MutationDuringPagination) => {
                return Err(PlaidError::mutation_during_pagination());
            }
            Err(SyncError::InvalidCursor) => {
                return Err(PlaidError::invalid_field("cursor is not a valid cursor"));
            }
        };
        (page, accounts, item.item_id.clone(), "HISTORICAL_UPDATE_COMPLETE")
    };

    fn wire(t: &Arc<crate::transactions::Txn>, options: WireOptions) -> WireTxn<'_> {
        WireTxn { txn: t.as_ref(), options }
    }
    let resp = SyncResponse {
        accounts,
        added: page.added.iter().map(|t| wire(t, options)).collect(),
        has_more: page.has_more,
        modified: page.modified.iter().map(|t| wire(t, options)).collect(),
        next_cursor: page.next_cursor.encode(&item_id, seed),
        removed: page.removed.iter().map(|(t, a)| json!({"transaction_id": t, "account_id": a})).collect(),
        request_id,
        transactions_update_status: status,
    };
    serde_json::to_vec(&resp).map_err(|_| PlaidError::internal())
}

// ---- /webhook_verification_key/get ----------------------------------------------------------

fn webhook_key_get(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let kid = body.get("key_id").and_then(Value::as_str).unwrap_or_default();
    let state = app.lock_state();
    let key = state.keys.get(kid).ok_or_else(PlaidError::invalid_webhook_key_id)?;
    let jwk = key.jwk().map_err(|_| PlaidError::internal())?;
    Ok(json!({"key": jwk}))
}

// ---- sandbox --------------------------------------------------------------------------------

#[derive(Deserialize)]
struct SandboxPublicTokenCreateReq {
    institution_id: String,
    initial_products: Vec<String>,
    #[serde(default)]
    options: Option<SandboxOptions>,
}

#[derive(Deserialize, Default)]
struct SandboxOptions {
    #[serde(default)]
    webhook: Option<String>,
    #[serde(default)]
    override_username: Option<String>,
    #[serde(default)]
    override_password: Option<String>,
}

fn sandbox_public_token_create(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let req: SandboxPublicTokenCreateReq = parse(body)?;
    let options = req.options.unwrap_or_default();
    let Some(inst) = sandbox::institution(&req.institution_id) else {
        return Err(PlaidError::invalid_institution());
    };
    if req.initial_products.iter().any(|p| p == "balance") {
        return Err(PlaidError::invalid_product(
            "balance is not a valid initial product. Balance is available with any other product",
        ));
    }
    if let Some(w) = options.webhook.as_deref().filter(|w| !w.is_empty())
        && !is_http_url(w)
    {
        return Err(PlaidError::invalid_field("options.webhook must be a valid URL"));
    }
    let username = options.override_username.as_deref().unwrap_or(sandbox::GOOD_USERNAME);
    let password = options.override_password.as_deref().unwrap_or(sandbox::GOOD_PASSWORD);
    sandbox::check_credentials(username, password)?;
    if !sandbox::institution_supports(inst, &req.initial_products) {
        return Err(sandbox::products_not_supported());
    }
    let products = req.initial_products.clone();
    let select = |a: &Account| sandbox::account_supports_products(&a.account_type, &a.subtype, &products);
    let now = app.clock.now();
    let delay = history_delay_secs(app);
    let mut state = app.lock_state();
    let (_, public_token) = items::create_item(
        &mut state,
        NewItem {
            institution: inst,
            products: req.initial_products.clone(),
            webhook: options.webhook,
            client_user_id: None,
            select: &select,
        },
        now,
        app.seed(),
        delay,
    )?;
    drop(state);
    app.changed();
    Ok(json!({"public_token": public_token}))
}

/// The configured history delay in whole seconds (rounded up).
pub fn history_delay_secs(app: &App) -> i64 {
    let d = app.config.history_delay;
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn sandbox_reset_login(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let now = app.clock.now();
    let seed = app.seed();
    let mut state = app.lock_state();
    let item = state.item_for_token_mut(access_token(body))?;
    let out = items::set_condition(item, Condition::ItemLoginRequired, None, now, seed)?;
    drop(state);
    app.send_webhooks(out);
    app.changed();
    Ok(json!({"reset_login": true}))
}

fn sandbox_fire_webhook(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let code = body.get("webhook_code").and_then(Value::as_str).unwrap_or_default();
    let given_type = body.get("webhook_type").and_then(Value::as_str);
    let expected_type = match code {
        "DEFAULT_UPDATE" | "SYNC_UPDATES_AVAILABLE" => "TRANSACTIONS",
        "NEW_ACCOUNTS_AVAILABLE"
        | "ERROR"
        | "LOGIN_REPAIRED"
        | "PENDING_DISCONNECT"
        | "USER_PERMISSION_REVOKED"
        | "USER_ACCOUNT_REVOKED" => "ITEM",
        other => {
            return Err(PlaidError::invalid_field(format!(
                "webhook_code {other} is not supported by the emulator's /sandbox/item/fire_webhook; supported: DEFAULT_UPDATE, SYNC_UPDATES_AVAILABLE, NEW_ACCOUNTS_AVAILABLE, ERROR, LOGIN_REPAIRED, PENDING_DISCONNECT, USER_PERMISSION_REVOKED, USER_ACCOUNT_REVOKED"
            )));
        }
    };
    if let Some(t) = given_type
        && t != expected_type
    {
        return Err(PlaidError::invalid_field(format!("webhook_code {code} is not valid for webhook_type {t}")));
    }
    let new_transactions = body
        .pointer("/options/new_transactions")
        .and_then(Value::as_u64)
        .map_or(0, |n| usize::try_from(n.min(500)).unwrap_or(500));
    let now = app.clock.now();
    let seed = app.seed();
    let mut state = app.lock_state();
    let item = state.item_for_token_mut(access_token(body))?;
    if item.webhook.as_deref().is_none_or(|w| w.is_empty() || !is_http_url(w)) {
        return Err(PlaidError::sandbox_webhook_invalid());
    }
    let out = match code {
        "DEFAULT_UPDATE" => {
            let m =
                items::TransactionMutation { generate: new_transactions, webhook: Some(false), ..Default::default() };
            let (result, _) = items::mutate_transactions(item, &m, now, seed)?;
            items::to_item(
                item,
                "TRANSACTIONS",
                "DEFAULT_UPDATE",
                json!({"new_transactions": result.added.len(), "error": null}),
            )
            .into_iter()
            .collect()
        }
        "SYNC_UPDATES_AVAILABLE" => items::to_item(
            item,
            "TRANSACTIONS",
            "SYNC_UPDATES_AVAILABLE",
            json!({"initial_update_complete": true, "historical_update_complete": true}),
        )
        .into_iter()
        .collect(),
        "LOGIN_REPAIRED" => {
            if item.error.as_ref().is_some_and(|e| e.error_code == "ITEM_LOGIN_REQUIRED") {
                item.error = None;
            }
            items::to_item(item, "ITEM", "LOGIN_REPAIRED", json!({})).into_iter().collect()
        }
        "ERROR" => items::set_condition(item, Condition::ItemLoginRequired, None, now, seed)?,
        "NEW_ACCOUNTS_AVAILABLE" => items::set_condition(item, Condition::NewAccountsAvailable, None, now, seed)?,
        "PENDING_DISCONNECT" => items::set_condition(item, Condition::PendingDisconnect, None, now, seed)?,
        "USER_PERMISSION_REVOKED" => items::set_condition(item, Condition::UserPermissionRevoked, None, now, seed)?,
        _ => items::set_condition(item, Condition::UserAccountRevoked, None, now, seed)?,
    };
    drop(state);
    app.send_webhooks(out);
    app.changed();
    Ok(json!({"webhook_fired": true}))
}
