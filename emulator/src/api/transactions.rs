//! `/transactions/sync`.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::access_token;
use crate::app::App;
use crate::items;
use crate::sandbox::Account;
use crate::transactions::{Cursor, SyncError, Txn, WireOptions, WireTxn, sync_page};
use crate::wire::PlaidError;

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

/// Serves one page (already serialised, with `request_id`).
pub fn sync(app: &Arc<App>, body: &Value, request_id: &str) -> Result<Vec<u8>, PlaidError> {
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

    fn wire(t: &Arc<Txn>, options: WireOptions) -> WireTxn<'_> {
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
