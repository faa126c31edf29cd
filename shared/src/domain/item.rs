//! Items (one login at one institution) and their accounts, with the status the app acts on.

use super::{AccountId, InstitutionId, ItemId, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Institution {
    pub institution_id: InstitutionId,
    pub name: String,
}

/// An account's balances as Plaid last gave them (from `/accounts/get` or a `/transactions/sync` page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Balances {
    pub available: Option<f64>,
    pub current: Option<f64>,
    pub limit: Option<f64>,
    pub iso_currency_code: Option<String>,
    /// When weft took them from Plaid (`None`: never: the account is only known from Link's metadata).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub as_of: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    pub account_id: AccountId,
    pub name: String,
    pub official_name: Option<String>,
    pub mask: Option<String>,
    #[serde(rename = "type")]
    pub account_type: String,
    pub subtype: Option<String>,
    #[serde(default)]
    pub balances: Balances,
    /// Plaid's id of the same account across items, at institutions with tokenized account numbers: what
    /// decides first whether a new item duplicates an old one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_account_id: Option<String>,
    /// Set when the user revoked access to this one account (ITEM / USER_ACCOUNT_REVOKED).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Where an item stands, as the webhook state machine keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Working.
    Healthy,
    /// The user must log in again through Link in update mode (ITEM_LOGIN_REQUIRED and the like).
    LoginRequired,
    /// Consent expires on `consent_expiration_time`; update mode renews it.
    PendingExpiration,
    /// The institution will disconnect the item on `pending_disconnect_at`; update mode prevents it.
    PendingDisconnect,
    /// Another item error the user cannot fix in Link (institution down, …); kept for the churn remover.
    Error,
    /// The user revoked the item; it is removed at Plaid and its data deleted.
    Revoked,
}

impl ItemStatus {
    /// Whether the item needs the user to go through Link in update mode.
    pub fn needs_update_mode(self) -> bool {
        matches!(self, Self::LoginRequired | Self::PendingExpiration | Self::PendingDisconnect)
    }
}

/// The last item error Plaid reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    pub error_type: String,
    pub error_code: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

/// An item as weft keeps it (everything but its secrets, which the store keeps sealed beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub user_id: UserId,
    pub item_id: ItemId,
    pub institution: Institution,
    pub accounts: Vec<Account>,
    pub status: ItemStatus,
    pub error: Option<ItemError>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub consent_expiration_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub pending_disconnect_at: Option<OffsetDateTime>,
    /// ITEM / NEW_ACCOUNTS_AVAILABLE seen and not yet acted on: the next update-mode link token enables
    /// account selection.
    pub new_accounts_available: bool,
    /// The URL Plaid acknowledged with WEBHOOK_UPDATE_ACKNOWLEDGED, if any.
    pub webhook_url: Option<String>,
    /// How many times the app was shown a re-link prompt for this item without the user acting on it.
    pub ignored_prompts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When each part of the item's state last changed (Plaid's event time), so an older webhook delivered
    /// late cannot move the item backwards.
    #[serde(default)]
    pub event_times: EventTimes,
    /// How far the item's transactions are, as of its last sync.
    #[serde(default)]
    pub transactions_sync: SyncProgress,
    /// When weft last learned the item's state from Plaid (an item event applied, on the state machine's
    /// scale, or `/item/get`); `None`: not since it was stored. The reconciliation sweep asks Plaid about the
    /// items it has not heard from in a while.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub checked_at: Option<OffsetDateTime>,
    /// Optimistic-locking version; the store increments it on every write.
    pub version: u64,
}

/// How far Plaid's transactions of an item are, as of weft's last sync of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncProgress {
    /// Plaid's `transactions_update_status`: `NOT_READY`, `INITIAL_UPDATE_COMPLETE` (recent transactions in)
    /// or `HISTORICAL_UPDATE_COMPLETE` (the whole history in).
    #[serde(default)]
    pub update_status: Option<String>,
    /// When weft last finished a sync of the item.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_synced_at: Option<OffsetDateTime>,
}

/// Last-change times of the independent parts of an item's state (see [`super::ItemEvent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EventTimes {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub error: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expiration: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub disconnect: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub new_accounts: Option<OffsetDateTime>,
}

/// What the app should show for an item.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ItemView {
    /// Nothing to do.
    Healthy,
    /// Ask the user to log in again through Link in update mode.
    NeedsLogin,
    /// Ask the user to renew consent before `on` (update mode).
    Expiring {
        #[serde(with = "time::serde::rfc3339")]
        on: OffsetDateTime,
    },
    /// Offer the user to share newly found accounts (update mode with account selection).
    NewAccounts,
    /// The item has an error the user cannot fix; show it as unavailable.
    Unavailable,
}

impl ItemRecord {
    /// Since when the item belongs in the churn error index, if it does: while in error (since the error
    /// began) or waiting for the user to go through update mode. Revoked items are on their way out.
    pub fn churn_error_since(&self) -> Option<OffsetDateTime> {
        if self.status == ItemStatus::Revoked {
            return None;
        }
        if let Some(error) = &self.error {
            return Some(error.since);
        }
        match self.status {
            ItemStatus::PendingDisconnect => Some(self.event_times.disconnect.unwrap_or(self.updated_at)),
            ItemStatus::PendingExpiration => Some(self.event_times.expiration.unwrap_or(self.updated_at)),
            s if s.needs_update_mode() || s == ItemStatus::Error => Some(self.updated_at),
            _ => None,
        }
    }

    /// When weft last heard of the item from Plaid: its last check ([`ItemRecord::checked_at`]), else when it
    /// was stored.
    pub fn last_heard_of(&self) -> OffsetDateTime {
        self.checked_at.unwrap_or(self.created_at)
    }

    /// Where the item stands in the sweep's quiet index, if it is in it: every item neither revoked nor in the
    /// churn error index, by [`ItemRecord::last_heard_of`].
    pub fn quiet_since(&self) -> Option<OffsetDateTime> {
        (self.status != ItemStatus::Revoked && self.churn_error_since().is_none()).then(|| self.last_heard_of())
    }

    /// What the app should show, most urgent first.
    pub fn view(&self) -> ItemView {
        match self.status {
            ItemStatus::LoginRequired => ItemView::NeedsLogin,
            ItemStatus::PendingExpiration => match self.consent_expiration_time {
                Some(on) => ItemView::Expiring { on },
                None => ItemView::NeedsLogin,
            },
            ItemStatus::PendingDisconnect => match self.pending_disconnect_at {
                Some(on) => ItemView::Expiring { on },
                None => ItemView::NeedsLogin,
            },
            ItemStatus::Error | ItemStatus::Revoked => ItemView::Unavailable,
            ItemStatus::Healthy if self.new_accounts_available => ItemView::NewAccounts,
            ItemStatus::Healthy => ItemView::Healthy,
        }
    }

    /// Takes Plaid's list of the item's accounts (from `/accounts/get` or a `/transactions/sync` page,
    /// taken at `as_of`): known accounts get Plaid's names, types and balances, accounts newly shared are
    /// added; accounts the user revoked stay revoked, and accounts Plaid no longer lists are kept (their
    /// revocation comes as its own webhook). Whether anything changed (balances' `as_of` aside).
    pub fn refresh_accounts(&mut self, from_plaid: Vec<Account>, as_of: OffsetDateTime) -> bool {
        let mut changed = false;
        for mut fresh in from_plaid {
            fresh.balances.as_of = Some(as_of);
            match self.accounts.iter_mut().find(|a| a.account_id == fresh.account_id) {
                Some(known) if known.revoked_at.is_some() => {}
                Some(known) => {
                    fresh.revoked_at = None;
                    let mut before = known.clone();
                    before.balances.as_of = fresh.balances.as_of;
                    changed |= before != fresh;
                    *known = fresh;
                }
                None => {
                    self.accounts.push(fresh);
                    changed = true;
                }
            }
        }
        changed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn account(id: &str, current: f64) -> Account {
        crate::domain::fixtures::account(id, Some(current))
    }

    #[test]
    fn plaids_accounts_update_balances_add_new_ones_and_keep_revoked_ones_revoked() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let t1 = t0 + time::Duration::hours(1);
        let mut revoked = account("acc-r", 5.0);
        revoked.revoked_at = Some(t0);
        let mut item =
            crate::domain::fixtures::item("item", "ins_1", vec![account("acc-a", 10.0), revoked.clone()], t0);
        assert!(item.refresh_accounts(vec![account("acc-a", 12.0), account("acc-r", 6.0), account("acc-n", 1.0)], t1));
        assert_eq!(item.accounts.len(), 3, "the newly shared account is added");
        assert_eq!(item.accounts[0].balances.current, Some(12.0));
        assert_eq!(item.accounts[0].balances.as_of, Some(t1));
        assert_eq!(item.accounts[1], revoked, "a revoked account stays as it was");
        assert_eq!(item.accounts[2].account_id.as_str(), "acc-n");
        // The same figures later: only as_of moves, which is no change.
        let t2 = t1 + time::Duration::hours(1);
        assert!(!item.refresh_accounts(vec![account("acc-a", 12.0)], t2));
        assert_eq!(item.accounts[0].balances.as_of, Some(t2));
    }
}
