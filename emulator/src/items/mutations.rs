//! Transaction changes made through the control API (and `/sandbox/item/fire_webhook`
//! DEFAULT_UPDATE): add, modify, remove, post pending, generate; and the webhooks they fire.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::{sync_updates_available, to_item};
use crate::sandbox::Account;
use crate::state::Item;
use crate::transactions::{self, Change, Txn};
use crate::webhooks::Outgoing;
use crate::wire::PlaidError;

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
    /// Default `Emulator Test Purchase`.
    #[serde(default)]
    pub name: Option<String>,
    /// Default: the name.
    #[serde(default)]
    pub merchant_name: Option<String>,
    /// `YYYY-MM-DD`; default today (emulator clock).
    #[serde(default)]
    pub date: Option<String>,
    /// Default false.
    #[serde(default)]
    pub pending: Option<bool>,
}

/// A change to an existing transaction (fields given are replaced).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyTransaction {
    /// The transaction to change (a current one).
    pub transaction_id: String,
    /// New amount in dollars; positive is money out.
    #[serde(default)]
    pub amount: Option<f64>,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New merchant name.
    #[serde(default)]
    pub merchant_name: Option<String>,
    /// New date, `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
    /// New pending flag.
    #[serde(default)]
    pub pending: Option<bool>,
}

/// A batch of transaction changes (control API).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionMutation {
    /// Transactions to add.
    #[serde(default)]
    pub add: Vec<NewTransaction>,
    /// Transactions to change.
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
    /// Ids of the transactions added (posted copies included).
    pub added: Vec<String>,
    /// Ids of the transactions modified.
    pub modified: Vec<String>,
    /// Ids of the transactions removed (posted pending ones included).
    pub removed: Vec<String>,
    /// Log length after the change.
    pub log_position: usize,
    /// The webhook codes fired.
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
