//! The `/sandbox/` endpoints: Items without Link, login resets, webhooks on demand.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{access_token, parse};
use crate::app::App;
use crate::http::is_http_url;
use crate::items::{self, Condition, NewItem};
use crate::sandbox::{self, Account};
use crate::wire::PlaidError;

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

pub fn public_token_create(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
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
    let delay = app.history_delay_secs();
    let mut state = app.lock_state();
    let (_, public_token) = items::create_item(
        &mut state,
        NewItem {
            institution: inst,
            username,
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

pub fn reset_login(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
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

pub fn fire_webhook(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
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
