//! Access-token rotation: every item page by page, sealed secrets replaced, rotation run checkpoints.

use super::{Expiring, MemoryStore, check_key_part, cursor};
use crate::domain::{FORMAT_V1, ItemId, SealedItem, UserId, WrappedKey};
use crate::ports::{ItemScanPage, RotationCheckpoint, RotationStore, StoreError};
use async_trait::async_trait;
use std::ops::Bound;

/// How long a checkpoint is kept.
const CHECKPOINT_TTL: time::Duration = time::Duration::days(30);
/// The shortest sealed access token the adapter accepts: version, nonce, tag and a few bytes of token.
const MIN_SEALED_TOKEN: usize = 1 + 12 + 16 + 8;

#[async_trait]
impl RotationStore for MemoryStore {
    /// Items in key order (user, item), `limit` a page. Like a DynamoDB scan, a full page has a next page
    /// token even when nothing follows it.
    async fn scan_items(&self, page_token: Option<&str>, limit: u32) -> Result<ItemScanPage, StoreError> {
        self.faults.enter("scan_items").await?;
        let start = match page_token {
            None => None,
            Some(token) => {
                let (user, item): (String, String) = cursor::decode(token).ok_or(StoreError::InvalidCursor)?;
                let user = UserId::parse(user).map_err(|_| StoreError::InvalidCursor)?;
                let item = ItemId::parse(item).map_err(|_| StoreError::InvalidCursor)?;
                Some((user, item))
            }
        };
        let limit = limit.clamp(1, 1000) as usize;
        let s = self.lock();
        let from = match &start {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        let page: Vec<_> = s.items.range((from, Bound::Unbounded)).take(limit).collect();
        let next_page = (page.len() == limit)
            .then(|| page.last().map(|((u, i), _)| cursor::encode(&(u.as_str(), i.as_str()))))
            .flatten();
        let items = page.into_iter().map(|(_, stored)| stored.record.clone()).collect();
        Ok(ItemScanPage { items, next_page })
    }

    async fn replace_sealed(
        &self,
        user: &UserId,
        item_id: &ItemId,
        expected: &WrappedKey,
        new: &SealedItem,
    ) -> Result<(), StoreError> {
        self.faults.enter("replace_sealed").await?;
        if new.access_token.len() < MIN_SEALED_TOKEN || new.access_token[0] != FORMAT_V1 {
            return Err(StoreError::Invalid("sealed access token"));
        }
        if new.wrapped_key.as_bytes().is_empty() {
            return Err(StoreError::Invalid("wrapped data key"));
        }
        let mut s = self.lock();
        let stored = s.items.get_mut(&(user.clone(), item_id.clone())).ok_or(StoreError::NotFound("item"))?;
        if stored.sealed.wrapped_key == new.wrapped_key {
            return Ok(());
        }
        if &stored.sealed.wrapped_key != expected {
            return Err(StoreError::Conflict);
        }
        stored.sealed = new.clone();
        stored.cursor = None;
        s.transactions.remove(item_id);
        Ok(())
    }

    async fn get_rotation_checkpoint(&self, run_id: &str) -> Result<Option<RotationCheckpoint>, StoreError> {
        self.faults.enter("get_rotation_checkpoint").await?;
        check_key_part(run_id, "rotation run id")?;
        let now = self.now();
        Ok(self.lock().rotation_checkpoints.get(run_id).and_then(|c| c.live_at(now)).cloned())
    }

    async fn put_rotation_checkpoint(&self, run_id: &str, checkpoint: &RotationCheckpoint) -> Result<(), StoreError> {
        self.faults.enter("put_rotation_checkpoint").await?;
        check_key_part(run_id, "rotation run id")?;
        let expires = self.now() + CHECKPOINT_TTL;
        self.lock().rotation_checkpoints.insert(run_id.to_owned(), Expiring::new(checkpoint.clone(), expires));
        Ok(())
    }
}
