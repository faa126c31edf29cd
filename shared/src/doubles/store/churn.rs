//! The churn index and churn run checkpoints.

use super::{Expiring, MemoryStore, State, check_key_part, cursor, millis};
use crate::adapters::dynamodb::churn_shard;
use crate::domain::{CHURN_SHARDS, ChurnCheckpoint, ChurnIndex, ItemRecord};
use crate::ports::{ChurnCandidate, ChurnPage, ChurnStore, IdleUser, StoreError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use time::OffsetDateTime;

/// How long a checkpoint is kept.
const CHECKPOINT_TTL: time::Duration = time::Duration::days(30);

/// The last entry of a page: where the next page starts (exclusive), in one index shard.
#[derive(Serialize, Deserialize)]
struct PageToken {
    index: ChurnIndex,
    shard: u8,
    /// The entry's sort key (milliseconds since the epoch) and its id (user, or user and item).
    at: i128,
    id: Vec<String>,
}

/// One index entry: its sort time (ms), its id, and what it is.
enum Entry {
    Profile { user: crate::domain::UserId, last_active: OffsetDateTime },
    Item(Box<ItemRecord>),
}

fn epoch_millis(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000_000
}

/// The shard's entries older than `cutoff`, oldest first (ties by id).
fn entries(s: &State, index: ChurnIndex, shard: u8, cutoff: OffsetDateTime) -> Vec<(i128, Vec<String>, Entry)> {
    let cutoff = epoch_millis(millis(cutoff));
    let mut entries: Vec<(i128, Vec<String>, Entry)> = match index {
        ChurnIndex::Inactive => s
            .profiles
            .iter()
            .filter(|(user, _)| churn_shard(user.as_str()) == shard)
            .map(|(user, at)| {
                (epoch_millis(*at), vec![user.to_string()], Entry::Profile { user: user.clone(), last_active: *at })
            })
            .collect(),
        ChurnIndex::InError => s
            .items
            .values()
            .filter(|i| churn_shard(i.record.item_id.as_str()) == shard)
            .filter_map(|i| {
                let since = i.record.churn_error_since()?;
                let id = vec![i.record.user_id.to_string(), i.record.item_id.to_string()];
                Some((epoch_millis(millis(since)), id, Entry::Item(Box::new(i.record.clone()))))
            })
            .collect(),
    };
    entries.retain(|(at, _, _)| *at < cutoff);
    entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    entries
}

#[async_trait]
impl ChurnStore for MemoryStore {
    async fn churn_candidates(
        &self,
        index: ChurnIndex,
        shard: u8,
        cutoff: OffsetDateTime,
        page_token: Option<&str>,
    ) -> Result<ChurnPage, StoreError> {
        self.faults.enter("churn_candidates").await?;
        if shard >= CHURN_SHARDS {
            return Err(StoreError::Invalid("churn shard"));
        }
        let after = match page_token {
            None => None,
            Some(token) => {
                let token: PageToken = cursor::decode(token).ok_or(StoreError::InvalidCursor)?;
                if token.index != index || token.shard != shard {
                    return Err(StoreError::InvalidCursor);
                }
                Some((token.at, token.id))
            }
        };
        let page_size = self.churn_page_size.load(Ordering::Relaxed).max(1);
        let s = self.lock();
        let page: Vec<(i128, Vec<String>, Entry)> = entries(&s, index, shard, cutoff)
            .into_iter()
            .filter(|(at, id, _)| after.as_ref().is_none_or(|(a, i)| (*at, id) > (*a, i)))
            .take(page_size)
            .collect();
        // As DynamoDB: a full page has a next page token, even when nothing follows.
        let next_page = match page.last() {
            Some((at, id, _)) if page.len() == page_size => {
                Some(cursor::encode(&PageToken { index, shard, at: *at, id: id.clone() }))
            }
            _ => None,
        };
        let mut candidates = Vec::new();
        let mut idle_users = Vec::new();
        for (_, _, entry) in page {
            match entry {
                Entry::Profile { user, last_active } => {
                    let items: Vec<ItemRecord> =
                        s.items.values().filter(|i| i.record.user_id == user).map(|i| i.record.clone()).collect();
                    if items.is_empty() {
                        idle_users.push(IdleUser { user_id: user, last_active_at: last_active });
                    }
                    for item in items {
                        candidates.push(ChurnCandidate { item, user_last_active: Some(last_active) });
                    }
                }
                Entry::Item(item) => candidates.push(ChurnCandidate { item: *item, user_last_active: None }),
            }
        }
        Ok(ChurnPage { candidates, idle_users, next_page })
    }

    async fn forget_idle_user(&self, idle: &IdleUser) -> Result<bool, StoreError> {
        self.faults.enter("forget_idle_user").await?;
        let mut s = self.lock();
        match s.profiles.get(&idle.user_id) {
            // Active since (or already gone): keep what is there.
            Some(at) if *at == millis(idle.last_active_at) => {
                s.profiles.remove(&idle.user_id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn get_churn_checkpoint(&self, run_id: &str) -> Result<Option<ChurnCheckpoint>, StoreError> {
        self.faults.enter("get_churn_checkpoint").await?;
        check_key_part(run_id, "churn run id")?;
        let now = self.now();
        Ok(self.lock().checkpoints.get(run_id).and_then(|c| c.live_at(now)).cloned())
    }

    async fn put_churn_checkpoint(&self, run_id: &str, checkpoint: &ChurnCheckpoint) -> Result<(), StoreError> {
        self.faults.enter("put_churn_checkpoint").await?;
        check_key_part(run_id, "churn run id")?;
        let now = self.now();
        self.lock().checkpoints.insert(run_id.to_owned(), Expiring::new(checkpoint.clone(), now + CHECKPOINT_TTL));
        Ok(())
    }
}
