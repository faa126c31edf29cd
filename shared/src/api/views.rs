//! What the app sees of an item: no token, ever.

use crate::domain::{Account, Institution, ItemRecord, ItemStatus, ItemView, SyncProgress};
use serde::Serialize;

/// An item as the app sees it.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
