//! Item lifecycle: creation (from Link or `/sandbox/public_token/create`), conditions Plaid puts
//! Items in (login required, permission revoked, pending expiration...), update-mode repair,
//! transaction changes, and the webhooks each of these fires.
//!
//! Functions here work on a locked [`State`] and return the webhooks to send, which the caller
//! sends after releasing the lock.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::sandbox::{self, Account, Institution};
use crate::state::{Item, PUBLIC_TOKEN_TTL_SECS, PublicTokenRecord, State, unix_rfc3339};
use crate::transactions::{self, Change, Txn};
use crate::webhooks::{Outgoing, body};
use crate::wire::PlaidError;

/// What a new Item is made of.
pub struct NewItem<'a> {
    pub institution: &'a Institution,
    pub products: Vec<String>,
    pub webhook: Option<String>,
    pub client_user_id: Option<String>,
    /// Picks the accounts (from the instantiated `user_good` set) the Item gets.
    pub select: &'a dyn Fn(&Account) -> bool,
}

/// Creates an Item and a public token for it. Returns (item id, public token).
pub fn create_item(
    state: &mut State,
    new: NewItem<'_>,
    now: OffsetDateTime,
    seed: u64,
    history_delay_secs: i64,
) -> Result<(String, String), PlaidError> {
    let item_id = crate::ids::item_id();
    let accounts: Vec<Account> =
        sandbox::USER_GOOD_ACCOUNTS.iter().map(|t| t.instantiate(&item_id, seed)).filter(|a| (new.select)(a)).collect();
    if accounts.is_empty() {
        return Err(PlaidError::login_error("NO_ACCOUNTS"));
    }
    let unix = now.unix_timestamp();
    let log = transactions::initial_history(&item_id, seed, now.date(), &accounts);
    let item = Item {
        item_id: item_id.clone(),
        institution_id: new.institution.id.to_owned(),
        institution_name: new.institution.name.to_owned(),
        webhook: new.webhook.filter(|w| !w.is_empty()),
        error: None,
        products: new.products,
        created_at: unix,
        consent_expiration_time: None,
        accounts,
        new_accounts: Vec::new(),
        revoked_account_ids: Vec::new(),
        conditions: Default::default(),
        log,
        history_ready_at: unix.saturating_add(history_delay_secs),
        initial_webhooks_sent: false,
        exchanged: false,
        last_webhook: None,
        last_successful_update: None,
        fail_next_paginated_sync: false,
        client_user_id: new.client_user_id,
        access_token: None,
        removed: false,
        hold_webhooks: false,
    };
    state.items.insert(item_id.clone(), item);
    let public_token = crate::ids::token(crate::ids::TokenKind::Public, "sandbox");
    state.public_tokens.insert(
        public_token.clone(),
        PublicTokenRecord {
            item_id: item_id.clone(),
            expires_at: unix.saturating_add(PUBLIC_TOKEN_TTL_SECS),
            used: false,
        },
    );
    Ok((item_id, public_token))
}

/// A webhook to the Item's URL, if it has one.
pub fn to_item(item: &Item, webhook_type: &str, code: &str, extra: Value) -> Option<Outgoing> {
    let url = item.webhook.as_ref().filter(|w| !w.is_empty())?;
    Some(Outgoing {
        url: url.clone(),
        item_id: item.item_id.clone(),
        body: body(webhook_type, code, &item.item_id, extra),
    })
}

fn sync_updates_available(item: &Item, historical: bool) -> Option<Outgoing> {
    to_item(
        item,
        "TRANSACTIONS",
        "SYNC_UPDATES_AVAILABLE",
        json!({"initial_update_complete": true, "historical_update_complete": historical}),
    )
}

/// Sends the initial TRANSACTIONS webhooks once the Item's history is ready and its public token
/// was exchanged: INITIAL_UPDATE, SYNC_UPDATES_AVAILABLE (initial), HISTORICAL_UPDATE,
/// SYNC_UPDATES_AVAILABLE (historical).
pub fn initial_webhooks(item: &mut Item, now: OffsetDateTime) -> Vec<Outgoing> {
    let unix = now.unix_timestamp();
    if item.initial_webhooks_sent || !item.exchanged || !item.history_ready(unix) {
        return Vec::new();
    }
    item.initial_webhooks_sent = true;
    item.last_successful_update = Some(unix.max(item.history_ready_at));
    if !item.products.iter().any(|p| p == "transactions") {
        return Vec::new();
    }
    let current = item.log.current();
    let cutoff = crate::clock::ymd(now.date() - time::Duration::days(30));
    let recent = current.iter().filter(|t| t.date >= cutoff).count();
    [
        to_item(item, "TRANSACTIONS", "INITIAL_UPDATE", json!({"new_transactions": recent, "error": null})),
        sync_updates_available(item, false),
        to_item(item, "TRANSACTIONS", "HISTORICAL_UPDATE", json!({"new_transactions": current.len(), "error": null})),
        sync_updates_available(item, true),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Checks every Item for history that became ready (after a delay or a clock jump).
pub fn ready_webhooks(state: &mut State, now: OffsetDateTime) -> Vec<Outgoing> {
    let mut out = Vec::new();
    for item in state.items.values_mut().filter(|i| !i.removed) {
        out.extend(initial_webhooks(item, now));
    }
    out
}

/// Conditions that can be set on an Item (control API and `/sandbox/item/fire_webhook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Condition {
    /// Like `/sandbox/item/reset_login`.
    ItemLoginRequired,
    NewAccountsAvailable,
    PendingExpiration,
    PendingDisconnect,
    UserPermissionRevoked,
    UserAccountRevoked,
}

/// Puts an Item in a condition, as Plaid would, and returns the webhooks it fires.
pub fn set_condition(
    item: &mut Item,
    condition: Condition,
    account_id: Option<&str>,
    now: OffsetDateTime,
    seed: u64,
) -> Result<Vec<Outgoing>, PlaidError> {
    let unix = now.unix_timestamp();
    let in_week = unix.saturating_add(7 * 24 * 3600);
    let wh = match condition {
        Condition::ItemLoginRequired => {
            let error = PlaidError::login_error("ITEM_LOGIN_REQUIRED");
            let wh = to_item(item, "ITEM", "ERROR", json!({"error": error.to_webhook_json(&crate::ids::request_id())}));
            item.error = Some(error);
            wh
        }
        Condition::NewAccountsAvailable => {
            let template = sandbox::NEW_ACCOUNT;
            let account = template.instantiate(&item.item_id, seed);
            let known =
                item.accounts.iter().chain(item.new_accounts.iter()).any(|a| a.account_id == account.account_id);
            if !known {
                item.new_accounts.push(account);
            }
            to_item(item, "ITEM", "NEW_ACCOUNTS_AVAILABLE", json!({"error": null}))
        }
        Condition::PendingExpiration => {
            item.consent_expiration_time = Some(in_week);
            to_item(item, "ITEM", "PENDING_EXPIRATION", json!({"consent_expiration_time": unix_rfc3339(in_week)}))
        }
        Condition::PendingDisconnect => {
            let reason = "INSTITUTION_TOKEN_EXPIRATION".to_owned();
            item.conditions.pending_disconnect = Some((reason.clone(), in_week));
            to_item(
                item,
                "ITEM",
                "PENDING_DISCONNECT",
                json!({"reason": reason, "disconnect_time": unix_rfc3339(in_week)}),
            )
        }
        Condition::UserPermissionRevoked => {
            let error = PlaidError::login_error("USER_PERMISSION_REVOKED");
            let wh = to_item(
                item,
                "ITEM",
                "USER_PERMISSION_REVOKED",
                json!({"error": error.to_webhook_json(&crate::ids::request_id())}),
            );
            item.error = Some(error);
            wh
        }
        Condition::UserAccountRevoked => {
            let account_id = match account_id {
                Some(id) => {
                    if !item.visible_accounts().any(|a| a.account_id == id) {
                        return Err(PlaidError::invalid_account_id());
                    }
                    id.to_owned()
                }
                None => match item.visible_accounts().next() {
                    Some(a) => a.account_id.clone(),
                    None => return Err(PlaidError::invalid_account_id()),
                },
            };
            item.revoked_account_ids.push(account_id.clone());
            to_item(item, "ITEM", "USER_ACCOUNT_REVOKED", json!({"account_id": account_id}))
        }
    };
    Ok(wh.into_iter().collect())
}

/// Completes an update-mode Link session: repairs ITEM_LOGIN_REQUIRED, clears pending
/// expiration/disconnect, and adds the selected new accounts. No LOGIN_REPAIRED: Plaid fires that only
/// when an Item leaves ITEM_LOGIN_REQUIRED *without* update mode in the app (the app learns of the repair
/// from Link's onSuccess).
pub fn repair(item: &mut Item, add_new_account_ids: &[String]) {
    if item.error.as_ref().is_some_and(|e| e.error_code == "ITEM_LOGIN_REQUIRED") {
        item.error = None;
    }
    item.conditions.pending_disconnect = None;
    item.consent_expiration_time = None;
    if !item.new_accounts.is_empty() {
        let new_accounts = std::mem::take(&mut item.new_accounts);
        for account in new_accounts {
            if add_new_account_ids.contains(&account.account_id) {
                item.accounts.push(account);
            }
        }
    }
}

/// Fails product calls (accounts, transactions) of an Item in error.
pub fn product_gate(item: &Item) -> Result<(), PlaidError> {
    match &item.error {
        Some(e) => Err(e.clone()),
        None => Ok(()),
    }
}

// ---- transaction changes --------------------------------------------------------------------

/// A transaction to add through the control API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTransaction {
    /// Default: the Item's checking account (else its first account).
    #[serde(default)]
    pub account_id: Option<String>,
    /// Dollars; positive is money out. Default 12.34.
    #[serde(default)]
    pub amount: Option<f64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub merchant_name: Option<String>,
    /// `YYYY-MM-DD`; default today (emulator clock).
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub pending: Option<bool>,
}

/// A change to an existing transaction (fields given are replaced).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyTransaction {
    pub transaction_id: String,
    #[serde(default)]
    pub amount: Option<f64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub merchant_name: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub pending: Option<bool>,
}

/// A batch of transaction changes (control API).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionMutation {
    #[serde(default)]
    pub add: Vec<NewTransaction>,
    #[serde(default)]
    pub modify: Vec<ModifyTransaction>,
    /// Transaction ids to remove.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Pending transaction ids that post: each is removed and a posted copy with
    /// `pending_transaction_id` pointing at it is added.
    #[serde(default)]
    pub post_pending: Vec<String>,
    /// Also add this many generated purchases dated today.
    #[serde(default)]
    pub generate: usize,
    /// Fire SYNC_UPDATES_AVAILABLE (+ DEFAULT_UPDATE / TRANSACTIONS_REMOVED). Default true.
    #[serde(default)]
    pub webhook: Option<bool>,
}

/// What a mutation did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MutationResult {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub removed: Vec<String>,
    /// Log length after the change.
    pub log_position: usize,
    pub webhooks_fired: Vec<String>,
}

fn parse_date(s: &str) -> Result<String, PlaidError> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .map(crate::clock::ymd)
        .map_err(|_| PlaidError::invalid_field(format!("date {s:?} must be YYYY-MM-DD")))
}

fn cents(amount: f64) -> Result<i64, PlaidError> {
    if !amount.is_finite() || amount.abs() > 1e12 {
        return Err(PlaidError::invalid_field("amount must be a finite number"));
    }
    Ok((amount * 100.0).round() as i64)
}

/// Applies a mutation to an Item's log (all-or-nothing: everything is checked first) and returns
/// what changed plus the webhooks to send.
pub fn mutate_transactions(
    item: &mut Item,
    m: &TransactionMutation,
    now: OffsetDateTime,
    seed: u64,
) -> Result<(MutationResult, Vec<Outgoing>), PlaidError> {
    let today = crate::clock::ymd(now.date());
    let default_account = item
        .visible_accounts()
        .find(|a| a.subtype == "checking")
        .or_else(|| item.visible_accounts().next())
        .map(|a| a.account_id.clone())
        .ok_or_else(|| PlaidError::login_error("NO_ACCOUNTS"))?;
    // Validate first.
    for add in &m.add {
        if let Some(acc) = &add.account_id
            && !item.accounts.iter().any(|a| &a.account_id == acc)
        {
            return Err(PlaidError::invalid_account_id());
        }
    }
    let mut touched = std::collections::HashSet::new();
    for id in m.modify.iter().map(|x| &x.transaction_id).chain(m.remove.iter()).chain(m.post_pending.iter()) {
        if item.log.get(id).is_none() {
            return Err(PlaidError::invalid_field(format!(
                "transaction_id {id} is not a current transaction of this item"
            )));
        }
        if !touched.insert(id.clone()) {
            return Err(PlaidError::invalid_field(format!("transaction_id {id} appears more than once")));
        }
    }
    for id in &m.post_pending {
        if item.log.get(id).is_some_and(|t| !t.pending) {
            return Err(PlaidError::invalid_field(format!("transaction_id {id} is not pending")));
        }
    }
    let mut changes: Vec<Change> = Vec::new();
    let mut result = MutationResult::default();
    let base = item.log.len();
    for (n, add) in m.add.iter().enumerate() {
        let date = match &add.date {
            Some(d) => parse_date(d)?,
            None => today.clone(),
        };
        let name = add.name.clone().unwrap_or_else(|| "Emulator Test Purchase".to_owned());
        let t = Txn {
            transaction_id: transactions::control_txn_id(&item.item_id, seed, base, n),
            account_id: add.account_id.clone().unwrap_or_else(|| default_account.clone()),
            amount_cents: cents(add.amount.unwrap_or(12.34))?,
            iso_currency_code: "USD".to_owned(),
            date: date.clone(),
            authorized_date: Some(date),
            merchant_name: add.merchant_name.clone().or_else(|| Some(name.clone())),
            name,
            pending: add.pending.unwrap_or(false),
            pending_transaction_id: None,
            payment_channel: "online".to_owned(),
            transaction_type: "digital".to_owned(),
            category: vec!["Shops".to_owned()],
            category_id: "19000000".to_owned(),
            pfc_primary: "GENERAL_MERCHANDISE".to_owned(),
            pfc_detailed: "GENERAL_MERCHANDISE_OTHER_GENERAL_MERCHANDISE".to_owned(),
            location: Default::default(),
            payment_meta: Default::default(),
            website: None,
        };
        result.added.push(t.transaction_id.clone());
        changes.push(Change::Added(Arc::new(t)));
    }
    let visible: Vec<Account> = item.visible_accounts().cloned().collect();
    for t in transactions::generate_new(&item.item_id, seed, base, now.date(), &visible, m.generate) {
        result.added.push(t.transaction_id.clone());
        changes.push(Change::Added(Arc::new(t)));
    }
    for md in &m.modify {
        let Some(old) = item.log.get(&md.transaction_id) else {
            continue;
        };
        let mut t = (**old).clone();
        if let Some(a) = md.amount {
            t.amount_cents = cents(a)?;
        }
        if let Some(n) = &md.name {
            t.name = n.clone();
        }
        if let Some(n) = &md.merchant_name {
            t.merchant_name = Some(n.clone());
        }
        if let Some(d) = &md.date {
            t.date = parse_date(d)?;
        }
        if let Some(p) = md.pending {
            t.pending = p;
        }
        result.modified.push(t.transaction_id.clone());
        changes.push(Change::Modified(Arc::new(t)));
    }
    for id in &m.remove {
        if let Some(old) = item.log.get(id) {
            result.removed.push(id.clone());
            changes.push(Change::Removed { transaction_id: id.clone(), account_id: old.account_id.clone() });
        }
    }
    for (n, id) in m.post_pending.iter().enumerate() {
        let Some(old) = item.log.get(id) else {
            continue;
        };
        let mut posted = (**old).clone();
        posted.transaction_id = transactions::control_txn_id(&item.item_id, seed, base, m.add.len() + 10_000 + n);
        posted.pending = false;
        posted.pending_transaction_id = Some(id.clone());
        posted.date = today.clone();
        result.removed.push(id.clone());
        result.added.push(posted.transaction_id.clone());
        changes.push(Change::Removed { transaction_id: id.clone(), account_id: old.account_id.clone() });
        changes.push(Change::Added(Arc::new(posted)));
    }
    for c in changes {
        item.log.push(c);
    }
    item.last_successful_update = Some(now.unix_timestamp());
    result.log_position = item.log.len();
    let mut out = Vec::new();
    let anything = !(result.added.is_empty() && result.modified.is_empty() && result.removed.is_empty());
    if m.webhook.unwrap_or(true) && anything {
        out.extend(sync_updates_available(item, true));
        if !result.added.is_empty() {
            out.extend(to_item(
                item,
                "TRANSACTIONS",
                "DEFAULT_UPDATE",
                json!({"new_transactions": result.added.len(), "error": null}),
            ));
        }
        if !result.removed.is_empty() {
            out.extend(to_item(
                item,
                "TRANSACTIONS",
                "TRANSACTIONS_REMOVED",
                json!({"removed_transactions": result.removed, "error": null}),
            ));
        }
    }
    result.webhooks_fired = out.iter().filter_map(|o| o.body["webhook_code"].as_str().map(str::to_owned)).collect();
    Ok((result, out))
}
