//! The outbox of item events: written with the item change under one lock, read oldest first.

use super::MemoryStore;
use super::items::{insert_locked, update_locked};
use crate::domain::{AppEvent, ItemId, ItemRecord, SealedItem, UserId};
use crate::ports::{Outbox, StoreError};
use async_trait::async_trait;
use time::OffsetDateTime;

fn put(s: &mut super::State, events: &[AppEvent]) {
    for e in events {
        s.outbox.insert((e.occurred_at, e.event_id.clone()), e.clone());
    }
}

#[async_trait]
impl Outbox for MemoryStore {
    async fn update_item_with_events(&self, item: &mut ItemRecord, events: &[AppEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            // As the adapter: no events, a plain update.
            return crate::ports::ItemStore::update_item(self, item).await;
        }
        self.faults.enter("update_item_with_events").await?;
        let mut s = self.lock();
        update_locked(&mut s, item)?;
        put(&mut s, events);
        Ok(())
    }

    async fn insert_item_with_events(
        &self,
        item: &ItemRecord,
        sealed: &SealedItem,
        exchange_key: &str,
        events: &[AppEvent],
    ) -> Result<(), StoreError> {
        self.faults.enter("insert_item_with_events").await?;
        let now = self.now();
        let mut s = self.lock();
        insert_locked(&mut s, now, item, sealed, exchange_key)?;
        put(&mut s, events);
        Ok(())
    }

    async fn add_events(&self, events: &[AppEvent]) -> Result<(), StoreError> {
        self.faults.enter("add_events").await?;
        put(&mut self.lock(), events);
        Ok(())
    }

    async fn add_reminder(
        &self,
        user: &UserId,
        item_id: &ItemId,
        sent: u32,
        to: u32,
        event: &AppEvent,
    ) -> Result<bool, StoreError> {
        self.faults.enter("add_reminder").await?;
        let mut s = self.lock();
        let Some(stored) = s.items.get_mut(&(user.clone(), item_id.clone())) else { return Ok(false) };
        if stored.record.ignored_prompts != sent {
            return Ok(false);
        }
        stored.record.ignored_prompts = to;
        put(&mut s, std::slice::from_ref(event));
        Ok(true)
    }

    async fn pending_events(&self, until: OffsetDateTime, limit: usize) -> Result<Vec<AppEvent>, StoreError> {
        self.faults.enter("pending_events").await?;
        Ok(self.lock().outbox.values().filter(|e| e.occurred_at <= until).take(limit).cloned().collect())
    }

    async fn remove_events(&self, events: &[AppEvent]) -> Result<(), StoreError> {
        self.faults.enter("remove_events").await?;
        let mut s = self.lock();
        for e in events {
            s.outbox.remove(&(e.occurred_at, e.event_id.clone()));
        }
        Ok(())
    }
}

impl MemoryStore {
    /// Every event in the outbox, oldest first (for tests).
    pub fn outbox(&self) -> Vec<AppEvent> {
        self.lock().outbox.values().cloned().collect()
    }
}
