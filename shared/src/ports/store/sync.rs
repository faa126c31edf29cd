//! An item's sync lease and cursor: two syncs of one item never interleave, and the cursor is saved only
//! by the sync that holds the lease.

use super::StoreError;
use crate::domain::{ItemId, UserId};
use async_trait::async_trait;
use std::time::Duration;
use time::OffsetDateTime;

/// Why a sync lease could not be taken or used.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another worker holds an unexpired lease on the item (or took it over after ours expired).
    #[error("the item's sync lease is held by another worker")]
    Held,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait SyncStore: Send + Sync {
    /// Takes the item's sync lease for `ttl` if it is free, expired or already `owner`'s; returns the
    /// saved sync cursor (`None` before the first sync). [`LeaseError::Held`] otherwise.
    async fn acquire_sync_lease(
        &self,
        user: &UserId,
        item_id: &ItemId,
        owner: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<Option<String>, LeaseError>;

    /// Saves the sync cursor if the lease is still `owner`'s ([`LeaseError::Held`] otherwise).
    async fn save_sync_cursor(
        &self,
        user: &UserId,
        item_id: &ItemId,
        owner: &str,
        cursor: &str,
    ) -> Result<(), LeaseError>;

    /// Releases `owner`'s lease (nothing happens if it is no longer theirs).
    async fn release_sync_lease(&self, user: &UserId, item_id: &ItemId, owner: &str) -> Result<(), StoreError>;
}
