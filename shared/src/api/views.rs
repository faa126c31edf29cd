//! What the app sees of an item: no token, ever.

use crate::domain::{Account, Institution, ItemRecord, ItemStatus, ItemView};
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
        }
    }
}
