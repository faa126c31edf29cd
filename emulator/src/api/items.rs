//! The Item, account, institution and webhook-key endpoints.

use std::sync::Arc;

use serde_json::{Value, json};

use super::access_token;
use crate::app::App;
use crate::clock::rfc3339;
use crate::http::is_http_url;
use crate::items;
use crate::sandbox::{self, Account};
use crate::state::unix_rfc3339;
use crate::wire::PlaidError;

// ---- /item/get, /item/remove, /item/webhook/update -------------------------------------------

fn available_products(institution_id: &str) -> &'static [&'static str] {
    sandbox::institution(institution_id).map_or(&[], |i| i.products)
}

pub fn item_get(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
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

pub fn item_remove(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
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

pub fn item_webhook_update(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
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

pub fn accounts_get(app: &Arc<App>, body: &Value, balance: bool) -> Result<Value, PlaidError> {
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

pub fn institutions_get_by_id(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
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

// ---- /webhook_verification_key/get ----------------------------------------------------------

pub fn webhook_key_get(app: &Arc<App>, body: &Value) -> Result<Value, PlaidError> {
    let kid = body.get("key_id").and_then(Value::as_str).unwrap_or_default();
    let state = app.lock_state();
    let key = state.keys.get(kid).ok_or_else(PlaidError::invalid_webhook_key_id)?;
    let jwk = key.jwk().map_err(|_| PlaidError::internal())?;
    Ok(json!({"key": jwk}))
}
