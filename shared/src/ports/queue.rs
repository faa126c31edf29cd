//! The hand-off from webhook intake to the transactions sync worker.

use crate::domain::ItemId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Why a sync was asked for (logged by the worker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub item_id: ItemId,
    /// The webhook code that asked for it (`SYNC_UPDATES_AVAILABLE`, …) or `exchange` for a new item.
    pub reason: String,
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
#[error("could not hand off the sync: {0}")]
pub struct QueueError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Queues a transactions sync for an item. Several requests for one item may be merged or run one after
/// another, never at the same time.
#[async_trait]
pub trait SyncQueue: Send + Sync {
    async fn request_sync(&self, request: &SyncRequest) -> Result<(), QueueError>;
}
