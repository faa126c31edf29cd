//! What access-token rotation (incident response) needs from the store: every item, page by page; an item's
//! sealed secrets replaced at once; and the checkpoints that let a rotation of every item resume.

use super::StoreError;
use crate::domain::{ItemId, ItemRecord, SealedItem, UserId, WrappedKey};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A page of every stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemScanPage {
    pub items: Vec<ItemRecord>,
    /// Opaque; pass back for the next page. `None` when every item was read.
    pub next_page: Option<String>,
}

/// How far a rotation of every item got (kept 30 days).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationCheckpoint {
    /// When the run began.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// The page being worked on (`None`: the first page, or, once `complete`, nothing left).
    #[serde(default)]
    pub page_token: Option<String>,
    /// Item ids of that page already handled: a run that stops inside a page reads it again and skips
    /// these (bounded by the page size).
    #[serde(default)]
    pub page_done: Vec<String>,
    /// Every item was handled.
    #[serde(default)]
    pub complete: bool,
    #[serde(default)]
    pub rotated: u64,
    /// Revoked or already gone (here or at Plaid): nothing to rotate.
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub failed: u64,
    /// The items that failed (at most [`RotationCheckpoint::MAX_FAILED_LISTED`]), for one-by-one retries.
    #[serde(default)]
    pub failed_items: Vec<String>,
}

impl RotationCheckpoint {
    pub const MAX_FAILED_LISTED: usize = 100;
}

#[async_trait]
pub trait RotationStore: Send + Sync {
    /// One page of every stored item, in a stable order, reading at most `limit` records (the adapter scans
    /// the table filtered to items: a page may hold fewer items than `limit`, even none, and still have a
    /// next page). [`StoreError::InvalidCursor`] for a page token this store did not issue.
    async fn scan_items(&self, page_token: Option<&str>, limit: u32) -> Result<ItemScanPage, StoreError>;

    /// Replaces the item's sealed secrets (a new wrapped data key and the access token sealed under it) if
    /// its stored wrapped key is still `expected`, in one conditional write that also resets the sync cursor.
    /// Everything sealed under the old key goes with it: the item's transactions are deleted first (the next
    /// sync, from the start, fetches them again under the new key). Idempotent: if `new` is already stored
    /// (an earlier attempt lost only its answer), nothing is done. [`StoreError::Conflict`] if the stored key
    /// is neither, [`StoreError::NotFound`] if the item is gone.
    async fn replace_sealed(
        &self,
        user: &UserId,
        item_id: &ItemId,
        expected: &WrappedKey,
        new: &SealedItem,
    ) -> Result<(), StoreError>;

    async fn get_rotation_checkpoint(&self, run_id: &str) -> Result<Option<RotationCheckpoint>, StoreError>;

    async fn put_rotation_checkpoint(&self, run_id: &str, checkpoint: &RotationCheckpoint) -> Result<(), StoreError>;
}
