//! The hand-off from webhook intake (and exchange, and repairs) to the transactions sync worker.

use crate::domain::ItemId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Why a sync was asked for (logged by the worker). On the wire, a string: `exchange`, `repaired`,
/// `token_rotated`, or the webhook code that asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum SyncReason {
    /// A new item's first sync.
    Exchange,
    /// A repaired item's catch-up sync.
    Repaired,
    /// The item's access token was rotated: its transactions are fetched again under its new data key.
    TokenRotated,
    /// A TRANSACTIONS webhook (`SYNC_UPDATES_AVAILABLE`, …).
    Webhook(String),
}

impl From<String> for SyncReason {
    fn from(s: String) -> Self {
        match s.as_str() {
            "exchange" => Self::Exchange,
            "repaired" => Self::Repaired,
            "token_rotated" => Self::TokenRotated,
            _ => Self::Webhook(s),
        }
    }
}

impl From<SyncReason> for String {
    fn from(r: SyncReason) -> String {
        r.as_str().to_owned()
    }
}

impl SyncReason {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Exchange => "exchange",
            Self::Repaired => "repaired",
            Self::TokenRotated => "token_rotated",
            Self::Webhook(code) => code,
        }
    }
}

/// A request to sync one item's transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub item_id: ItemId,
    pub reason: SyncReason,
    /// Requests with the same key within five minutes are one request (a retried hand-off of one request
    /// queues it once).
    pub dedup_key: String,
    /// The dedup key of the webhook that asked for it: the worker forgets that webhook once the sync
    /// starts, so an identical delivery after that point queues a new sync (Plaid sends byte-identical
    /// `SYNC_UPDATES_AVAILABLE` bodies for every change of an item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// This function was deployed without the queue (`WEFT_SYNC_QUEUE_URL`): a deployment fault.
    #[error("no sync queue is configured for this function")]
    NotConfigured,
    /// The queue could not take the request.
    #[error("could not hand off the sync")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Queues a transactions sync for an item. Several requests for one item may be merged or run one after
/// another, never at the same time.
#[async_trait]
pub trait SyncQueue: Send + Sync {
    async fn request_sync(&self, request: &SyncRequest) -> Result<(), QueueError>;

    /// A queued request whose sync failed (`receipt` names its delivery): it comes back after `delay`
    /// rather than after the queue's whole visibility timeout.
    async fn retry_after(&self, receipt: &str, delay: std::time::Duration) -> Result<(), QueueError>;
}
