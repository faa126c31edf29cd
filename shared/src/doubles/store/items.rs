//! Items, exchange records, the sync lease and cursor.

use super::{Expiring, MemoryStore, StoredItem, check_key_part, millis};
use crate::domain::{FORMAT_V1, ItemId, ItemRecord, ItemStatus, SealedItem, UserId};
use crate::ports::{ExchangeClaim, ExchangeRecords, ItemStore, LeaseError, StoreError, SyncStore};
use async_trait::async_trait;
use std::time::Duration;
use time::OffsetDateTime;

/// The shortest sealed access token the adapter accepts: version, nonce, tag and a few bytes of token.
const MIN_SEALED_TOKEN: usize = 1 + 12 + 16 + 8;
/// How long an exchange record is kept.
const EXCHANGE_TTL: time::Duration = time::Duration::days(1);

/// Refuses secrets that are not sealed (a plaintext token starts with "access-").
fn check_sealed(sealed: &SealedItem) -> Result<(), StoreError> {
    if sealed.access_token.len() < MIN_SEALED_TOKEN || sealed.access_token[0] != FORMAT_V1 {
        return Err(StoreError::Invalid("sealed access token"));
    }
    if sealed.wrapped_key.as_bytes().is_empty() {
        return Err(StoreError::Invalid("wrapped data key"));
    }
    Ok(())
}

fn key(user: &UserId, item_id: &ItemId) -> (UserId, ItemId) {
    (user.clone(), item_id.clone())
}

/// [`ItemStore::insert_item`] on the locked state (so the outbox can be written in the same step).
pub(super) fn insert_locked(
    s: &mut super::State,
    now: OffsetDateTime,
    item: &ItemRecord,
    sealed: &SealedItem,
    exchange_key: &str,
) -> Result<(), StoreError> {
    check_sealed(sealed)?;
    check_key_part(exchange_key, "exchange idempotency key")?;
    let k = key(&item.user_id, &item.item_id);
    if s.items.contains_key(&k) {
        return Err(StoreError::AlreadyExists("item"));
    }
    let guard = (item.user_id.clone(), item.institution.institution_id.clone());
    let held_by_live = s.institutions.get(&guard).is_some_and(|holder| {
        s.items.get(&key(&item.user_id, holder)).is_some_and(|i| i.record.status != ItemStatus::Revoked)
    });
    if held_by_live {
        return Err(StoreError::AlreadyExists("institution"));
    }
    s.institutions.insert(guard, item.item_id.clone());
    s.items.insert(k, StoredItem { record: item.clone(), sealed: sealed.clone(), cursor: None, lease: None });
    s.exchanges.insert(
        (item.user_id.clone(), exchange_key.to_owned()),
        Expiring::new(Some(item.item_id.clone()), now + EXCHANGE_TTL),
    );
    Ok(())
}

/// [`ItemStore::update_item`] on the locked state.
pub(super) fn update_locked(s: &mut super::State, item: &mut ItemRecord) -> Result<(), StoreError> {
    let next_version = item.version.checked_add(1).ok_or(StoreError::Invalid("item version"))?;
    let stored = s.items.get_mut(&key(&item.user_id, &item.item_id)).ok_or(StoreError::NotFound("item"))?;
    if stored.record.version != item.version {
        return Err(StoreError::Conflict);
    }
    // The prompt count has its own writes: a state write never overwrites it with the count it read.
    let prompts = stored.record.ignored_prompts;
    stored.record = ItemRecord { ignored_prompts: prompts, version: next_version, ..item.clone() };
    item.version = next_version;
    Ok(())
}

#[async_trait]
impl ItemStore for MemoryStore {
    async fn insert_item(&self, item: &ItemRecord, sealed: &SealedItem, exchange_key: &str) -> Result<(), StoreError> {
        self.faults.enter("insert_item").await?;
        let now = self.now();
        insert_locked(&mut self.lock(), now, item, sealed, exchange_key)
    }
    async fn get_item(&self, user: &UserId, item_id: &ItemId) -> Result<Option<ItemRecord>, StoreError> {
        self.faults.enter("get_item").await?;
        Ok(self.lock().items.get(&key(user, item_id)).map(|i| i.record.clone()))
    }

    async fn find_item(&self, item_id: &ItemId) -> Result<Option<ItemRecord>, StoreError> {
        self.faults.enter("find_item").await?;
        Ok(self.lock().items.values().find(|i| &i.record.item_id == item_id).map(|i| i.record.clone()))
    }

    async fn get_item_sealed(
        &self,
        user: &UserId,
        item_id: &ItemId,
    ) -> Result<Option<(ItemRecord, SealedItem)>, StoreError> {
        self.faults.enter("get_item_sealed").await?;
        Ok(self.lock().items.get(&key(user, item_id)).map(|i| (i.record.clone(), i.sealed.clone())))
    }

    async fn find_item_sealed(&self, item_id: &ItemId) -> Result<Option<(ItemRecord, SealedItem)>, StoreError> {
        self.faults.enter("find_item_sealed").await?;
        Ok(self
            .lock()
            .items
            .values()
            .find(|i| &i.record.item_id == item_id)
            .map(|i| (i.record.clone(), i.sealed.clone())))
    }

    async fn list_items(&self, user: &UserId) -> Result<Vec<ItemRecord>, StoreError> {
        self.faults.enter("list_items").await?;
        Ok(self.lock().items.values().filter(|i| &i.record.user_id == user).map(|i| i.record.clone()).collect())
    }

    async fn update_item(&self, item: &mut ItemRecord) -> Result<(), StoreError> {
        self.faults.enter("update_item").await?;
        update_locked(&mut self.lock(), item)
    }

    async fn count_relink_prompt(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError> {
        self.faults.enter("count_relink_prompt").await?;
        let mut s = self.lock();
        let stored = s.items.get_mut(&key(user, item_id)).ok_or(StoreError::NotFound("item"))?;
        stored.record.ignored_prompts = stored.record.ignored_prompts.saturating_add(1);
        Ok(())
    }

    async fn reset_relink_prompts(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError> {
        self.faults.enter("reset_relink_prompts").await?;
        let mut s = self.lock();
        let stored = s.items.get_mut(&key(user, item_id)).ok_or(StoreError::NotFound("item"))?;
        stored.record.ignored_prompts = 0;
        Ok(())
    }

    /// The item, its transactions and the user's records that name it (update-mode Link tokens, exchange
    /// records). Idempotent.
    async fn delete_item(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError> {
        self.faults.enter("delete_item").await?;
        let mut s = self.lock();
        s.transactions.remove(item_id);
        s.link_tokens.retain(|(u, _, _), t| !(u == user && t.item_id.as_ref() == Some(item_id)));
        s.exchanges.retain(|(u, _), e| !(u == user && e.value.as_ref() == Some(item_id)));
        s.institutions.retain(|(u, _), held| !(u == user && held == item_id));
        s.items.remove(&key(user, item_id));
        Ok(())
    }
}

#[async_trait]
impl ExchangeRecords for MemoryStore {
    async fn exchange_result(&self, user: &UserId, key_: &str) -> Result<Option<ItemId>, StoreError> {
        self.faults.enter("exchange_result").await?;
        check_key_part(key_, "exchange idempotency key")?;
        let now = self.now();
        Ok(self.lock().exchanges.get(&(user.clone(), key_.to_owned())).and_then(|e| e.live_at(now)).cloned().flatten())
    }

    async fn claim_exchange(
        &self,
        user: &UserId,
        key_: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<ExchangeClaim, StoreError> {
        self.faults.enter("claim_exchange").await?;
        check_key_part(key_, "exchange idempotency key")?;
        let mut s = self.lock();
        let k = (user.clone(), key_.to_owned());
        match s.exchanges.get(&k).filter(|e| e.live_at(now).is_some()) {
            Some(Expiring { value: Some(item_id), .. }) => Ok(ExchangeClaim::Done(item_id.clone())),
            Some(held) => {
                Ok(ExchangeClaim::InProgress { until: OffsetDateTime::from_unix_timestamp(held.ttl).unwrap_or(until) })
            }
            None => {
                s.exchanges.insert(k, Expiring::new(None, until));
                Ok(ExchangeClaim::Claimed)
            }
        }
    }

    async fn release_exchange(&self, user: &UserId, key_: &str) -> Result<(), StoreError> {
        self.faults.enter("release_exchange").await?;
        check_key_part(key_, "exchange idempotency key")?;
        let mut s = self.lock();
        let k = (user.clone(), key_.to_owned());
        if s.exchanges.get(&k).is_some_and(|e| e.value.is_none()) {
            s.exchanges.remove(&k);
        }
        Ok(())
    }
}

#[async_trait]
impl SyncStore for MemoryStore {
    async fn acquire_sync_lease(
        &self,
        user: &UserId,
        item_id: &ItemId,
        owner: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<Option<String>, LeaseError> {
        self.faults.enter("acquire_sync_lease").await?;
        if owner.is_empty() {
            return Err(StoreError::Invalid("lease owner").into());
        }
        let until = time::Duration::try_from(ttl)
            .ok()
            .and_then(|d| now.checked_add(d))
            .ok_or(StoreError::Invalid("lease duration"))?;
        let mut s = self.lock();
        let stored = s.items.get_mut(&key(user, item_id)).ok_or(StoreError::NotFound("item"))?;
        let free = match &stored.lease {
            None => true,
            Some((holder, expires)) => *expires <= millis(now) || holder == owner,
        };
        if !free {
            return Err(LeaseError::Held);
        }
        stored.lease = Some((owner.to_owned(), millis(until)));
        Ok(stored.cursor.clone())
    }

    async fn save_sync_cursor(
        &self,
        user: &UserId,
        item_id: &ItemId,
        owner: &str,
        cursor: &str,
    ) -> Result<(), LeaseError> {
        self.faults.enter("save_sync_cursor").await?;
        let mut s = self.lock();
        let stored = s.items.get_mut(&key(user, item_id)).ok_or(StoreError::NotFound("item"))?;
        // As the adapter: the lease must still name the owner (its expiry is not checked here).
        match &stored.lease {
            Some((holder, _)) if holder == owner => {
                stored.cursor = Some(cursor.to_owned());
                Ok(())
            }
            _ => Err(LeaseError::Held),
        }
    }

    async fn release_sync_lease(&self, user: &UserId, item_id: &ItemId, owner: &str) -> Result<(), StoreError> {
        self.faults.enter("release_sync_lease").await?;
        let mut s = self.lock();
        if let Some(stored) = s.items.get_mut(&key(user, item_id))
            && stored.lease.as_ref().is_some_and(|(holder, _)| holder == owner)
        {
            stored.lease = None;
        }
        Ok(())
    }
}
