//! What the reconciliation sweep needs from the store: the items weft has not heard from Plaid about since a
//! cutoff, oldest first, without reading every record; and the checkpoints that let a sweep resume.
//!
//! Items in error or waiting for update mode are listed by [`super::ChurnStore::churn_candidates`]
//! (`ChurnIndex::InError`); every other item is in the *quiet index* this trait reads, by the time weft last
//! heard of it ([`ItemRecord::checked_at`], or when it was stored). A lease keeps two runs from sweeping at
//! once.

use super::StoreError;
use crate::domain::{ItemRecord, SweepCheckpoint};
use async_trait::async_trait;
use time::OffsetDateTime;

/// A page of one quiet-index shard.
#[derive(Debug, Clone, PartialEq)]
pub struct QuietPage {
    pub items: Vec<ItemRecord>,
    /// Opaque; pass back for the next page of the same shard and cutoff. `None` when the shard is done.
    pub next_page: Option<String>,
}

/// The answer to [`SweepStore::claim_sweep`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepClaim {
    /// The run holds the sweep's lease (newly, or renewed).
    Claimed,
    /// Another run holds an unexpired lease: its run id.
    HeldBy(String),
}

#[async_trait]
pub trait SweepStore: Send + Sync {
    /// Takes the sweep's lease for `run_id` until `until`, unless another run holds one that has not expired
    /// at `now` (the same run renews its own): one sweep at a time, so Plaid never sees two paces at once.
    async fn claim_sweep(
        &self,
        run_id: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<SweepClaim, StoreError>;

    /// Gives the lease up if `run_id` holds it (else does nothing).
    async fn release_sweep(&self, run_id: &str) -> Result<(), StoreError>;

    /// One page of a quiet-index shard (`shard < CHURN_SHARDS`): items not in error, last heard of before
    /// `cutoff`, oldest first. [`StoreError::InvalidCursor`] for a page token of another shard or store.
    async fn quiet_items(
        &self,
        shard: u8,
        cutoff: OffsetDateTime,
        page_token: Option<&str>,
    ) -> Result<QuietPage, StoreError>;

    async fn get_sweep_checkpoint(&self, run_id: &str) -> Result<Option<SweepCheckpoint>, StoreError>;

    async fn put_sweep_checkpoint(&self, run_id: &str, checkpoint: &SweepCheckpoint) -> Result<(), StoreError>;
}
