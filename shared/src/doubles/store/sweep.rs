//! The quiet index (items not in the churn error index, by when weft last heard of them) and sweep run
//! checkpoints.

use super::{Expiring, MemoryStore, check_key_part, cursor, millis};
use crate::adapters::dynamodb::churn_shard;
use crate::domain::{CHURN_SHARDS, ItemRecord, SweepCheckpoint};
use crate::ports::{QuietPage, StoreError, SweepClaim, SweepStore};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const CHECKPOINT_TTL: time::Duration = time::Duration::days(30);
/// Items per page (small, so tests page).
const QUIET_PAGE: usize = 3;

/// The last entry of a page: where the next page starts (exclusive), in one shard.
#[derive(Serialize, Deserialize)]
struct PageToken {
    shard: u8,
    at: i128,
    id: Vec<String>,
}

fn epoch_millis(t: OffsetDateTime) -> i128 {
    millis(t).unix_timestamp_nanos() / 1_000_000
}

#[async_trait]
impl SweepStore for MemoryStore {
    async fn claim_sweep(
        &self,
        run_id: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<SweepClaim, StoreError> {
        self.faults.enter("claim_sweep").await?;
        check_key_part(run_id, "sweep run id")?;
        let mut s = self.lock();
        // To the second, as the adapter keeps it.
        let (now, until) = (now.unix_timestamp(), until.unix_timestamp());
        match &s.sweep_lease {
            Some((owner, held_until)) if owner != run_id && *held_until >= now => Ok(SweepClaim::HeldBy(owner.clone())),
            _ => {
                s.sweep_lease = Some((run_id.to_owned(), until));
                Ok(SweepClaim::Claimed)
            }
        }
    }

    async fn release_sweep(&self, run_id: &str) -> Result<(), StoreError> {
        self.faults.enter("release_sweep").await?;
        check_key_part(run_id, "sweep run id")?;
        let mut s = self.lock();
        if s.sweep_lease.as_ref().is_some_and(|(owner, _)| owner == run_id) {
            s.sweep_lease = None;
        }
        Ok(())
    }

    async fn quiet_items(
        &self,
        shard: u8,
        cutoff: OffsetDateTime,
        page_token: Option<&str>,
    ) -> Result<QuietPage, StoreError> {
        self.faults.enter("quiet_items").await?;
        if shard >= CHURN_SHARDS {
            return Err(StoreError::Invalid("quiet index shard"));
        }
        let after = match page_token {
            None => None,
            Some(token) => {
                let token: PageToken = cursor::decode(token).ok_or(StoreError::InvalidCursor)?;
                if token.shard != shard {
                    return Err(StoreError::InvalidCursor);
                }
                Some((token.at, token.id))
            }
        };
        let cutoff = epoch_millis(cutoff);
        let s = self.lock();
        let mut entries: Vec<(i128, Vec<String>, ItemRecord)> = s
            .items
            .values()
            .filter(|i| churn_shard(i.record.item_id.as_str()) == shard)
            .filter_map(|i| {
                let at = epoch_millis(i.record.quiet_since()?);
                let id = vec![i.record.user_id.to_string(), i.record.item_id.to_string()];
                Some((at, id, i.record.clone()))
            })
            .filter(|(at, _, _)| *at < cutoff)
            .filter(|(at, id, _)| after.as_ref().is_none_or(|(a, i)| (*at, id) > (*a, i)))
            .collect();
        entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        entries.truncate(QUIET_PAGE);
        // As DynamoDB: a full page has a next page token, even when nothing follows.
        let next_page = match entries.last() {
            Some((at, id, _)) if entries.len() == QUIET_PAGE => {
                Some(cursor::encode(&PageToken { shard, at: *at, id: id.clone() }))
            }
            _ => None,
        };
        Ok(QuietPage { items: entries.into_iter().map(|(_, _, item)| item).collect(), next_page })
    }

    async fn get_sweep_checkpoint(&self, run_id: &str) -> Result<Option<SweepCheckpoint>, StoreError> {
        self.faults.enter("get_sweep_checkpoint").await?;
        check_key_part(run_id, "sweep run id")?;
        let now = self.now();
        Ok(self.lock().sweep_checkpoints.get(run_id).and_then(|c| c.live_at(now)).cloned())
    }

    async fn put_sweep_checkpoint(&self, run_id: &str, checkpoint: &SweepCheckpoint) -> Result<(), StoreError> {
        self.faults.enter("put_sweep_checkpoint").await?;
        check_key_part(run_id, "sweep run id")?;
        let now = self.now();
        self.lock()
            .sweep_checkpoints
            .insert(run_id.to_owned(), Expiring::new(checkpoint.clone(), now + CHECKPOINT_TTL));
        Ok(())
    }
}
