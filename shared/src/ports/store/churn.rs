//! The sparse churn index (inactive users; items in error or waiting for update mode) and churn run
//! checkpoints.

use super::StoreError;
use crate::domain::{ChurnCheckpoint, ChurnIndex, ItemRecord, UserId};
use async_trait::async_trait;
use time::OffsetDateTime;

/// An item the churn remover should look at.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnCandidate {
    pub item: ItemRecord,
    /// The user's last activity, when the candidate came from [`ChurnIndex::Inactive`].
    pub user_last_active: Option<OffsetDateTime>,
}

/// A user in [`ChurnIndex::Inactive`] with no items left (all removed, or never linked): nothing to remove,
/// so the profile only costs every later run a read. See [`ChurnStore::forget_idle_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleUser {
    pub user_id: UserId,
    /// The activity the index showed; the profile is kept if the user has been active since.
    pub last_active_at: OffsetDateTime,
}

/// A page of one churn index shard.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnPage {
    pub candidates: Vec<ChurnCandidate>,
    /// Inactive users of this page with no items (always empty for [`ChurnIndex::InError`]).
    pub idle_users: Vec<IdleUser>,
    /// Opaque; pass back for the next page of the same index, shard and cutoff. `None` when the shard is done.
    pub next_page: Option<String>,
}

#[async_trait]
pub trait ChurnStore: Send + Sync {
    /// One page of a churn index shard (`shard < CHURN_SHARDS`): entries older than `cutoff`, oldest first.
    async fn churn_candidates(
        &self,
        index: ChurnIndex,
        shard: u8,
        cutoff: OffsetDateTime,
        page_token: Option<&str>,
    ) -> Result<ChurnPage, StoreError>;

    /// Deletes an idle user's profile (and so its entry in the inactive index), unless the user has been
    /// active since `idle.last_active_at`: a returning user's next request writes a new one. Whether it was
    /// deleted.
    async fn forget_idle_user(&self, idle: &IdleUser) -> Result<bool, StoreError>;

    async fn get_churn_checkpoint(&self, run_id: &str) -> Result<Option<ChurnCheckpoint>, StoreError>;

    async fn put_churn_checkpoint(&self, run_id: &str, checkpoint: &ChurnCheckpoint) -> Result<(), StoreError>;
}
