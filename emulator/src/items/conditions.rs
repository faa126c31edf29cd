//! Conditions Plaid puts Items in, and the webhooks each fires.

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::to_item;
use crate::sandbox;
use crate::state::{Item, unix_rfc3339};
use crate::webhooks::Outgoing;
use crate::wire::PlaidError;

/// Conditions that can be set on an Item (control API and `/sandbox/item/fire_webhook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Condition {
    /// Like `/sandbox/item/reset_login`.
    ItemLoginRequired,
    /// A new account appears at the institution (NEW_ACCOUNTS_AVAILABLE).
    NewAccountsAvailable,
    /// Consent expires in a week (PENDING_EXPIRATION).
    PendingExpiration,
    /// The Item will be disconnected in a week (PENDING_DISCONNECT).
    PendingDisconnect,
    /// The user revoked access (USER_PERMISSION_REVOKED).
    UserPermissionRevoked,
    /// The user revoked access to one account (USER_ACCOUNT_REVOKED).
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
            let account = match sandbox::institution(&item.institution_id) {
                Some(inst) => template.instantiate_for(&item.item_id, seed, inst, &item.username),
                None => template.instantiate(&item.item_id, seed),
            };
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
