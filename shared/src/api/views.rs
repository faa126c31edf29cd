//! What the app sees: items (no token, ever) and the bodies of the API's answers, one type each, so the
//! OpenAPI document ([`super::openapi`]) is derived from what the handlers send.

use crate::domain::{Account, Institution, ItemRecord, ItemStatus, ItemView, SyncProgress, Transaction};
use serde::Serialize;

/// An item as the app sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemSummary {
    pub item_id: String,
    pub institution: Institution,
    pub accounts: Vec<Account>,
    pub status: ItemStatus,
    /// `"action": "healthy" | "needs_login" | "expiring" | "new_accounts" | "unavailable"`, with `"on"` (the
    /// date) for `expiring`.
    #[serde(flatten)]
    pub action: ItemView,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// How far the item's transactions are.
    pub transactions: TransactionsProgress,
}

/// `"transactions": {"initial_update_complete", "historical_update_complete", "last_synced_at"}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransactionsProgress {
    /// Recent transactions (Plaid's first pull) are in.
    pub initial_update_complete: bool,
    /// The whole history Plaid pulls is in.
    pub historical_update_complete: bool,
    /// When weft last finished a sync of the item (`null`: not yet).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_synced_at: Option<time::OffsetDateTime>,
}

impl From<&SyncProgress> for TransactionsProgress {
    fn from(p: &SyncProgress) -> Self {
        let status = p.update_status.as_deref();
        let historical = status == Some("HISTORICAL_UPDATE_COMPLETE");
        Self {
            initial_update_complete: historical || status == Some("INITIAL_UPDATE_COMPLETE"),
            historical_update_complete: historical,
            last_synced_at: p.last_synced_at,
        }
    }
}

impl From<&ItemRecord> for ItemSummary {
    fn from(item: &ItemRecord) -> Self {
        Self {
            item_id: item.item_id.to_string(),
            institution: item.institution.clone(),
            accounts: item.accounts.iter().filter(|a| a.revoked_at.is_none()).cloned().collect(),
            status: item.status,
            action: item.view(),
            created_at: item.created_at,
            transactions: TransactionsProgress::from(&item.transactions_sync),
        }
    }
}

/// `GET /items`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemList {
    /// The caller's items, newest first.
    pub items: Vec<ItemSummary>,
}

/// `POST /items/exchange`, `POST /items/{item_id}/balances/refresh`: the item as it now stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemEnvelope {
    pub item: ItemSummary,
}

/// `GET /items/{item_id}/transactions`: a page, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransactionPage {
    pub transactions: Vec<Transaction>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `DELETE /items/{item_id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Removed {
    /// The item removed (at Plaid and here).
    pub removed: String,
}

/// `POST /link/events`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recorded {
    /// How many events were new (a resent event is recorded once).
    pub recorded: usize,
}

/// `POST /operator/items/{item_id}/rotate-token`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rotated {
    /// The item whose access token was rotated.
    pub rotated: String,
}

/// `DELETE /users/me`, `DELETE /users/{user_id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ErasureStatus {
    /// Nothing of the user is left (only an audit record without personal data).
    Erased,
    /// The invocation's time ran short: call again to continue.
    InProgress {
        /// Items still to remove.
        items_left: usize,
    },
}

/// `POST /webhooks/plaid`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookHandled {
    /// What weft did with it.
    pub handled: crate::services::webhook::Handled,
}
