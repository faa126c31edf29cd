//! The outbox of item events for the app: an event is written in the same atomic write as the item change
//! that made it (or on its own, for a removal), so no event is lost when publishing fails or the function
//! dies before it publishes; published events are then removed. At least once: an event written and
//! published, whose removal then failed, is published again (with the same `event_id`).

use super::StoreError;
use crate::domain::{AppEvent, ItemId, ItemRecord, SealedItem, UserId};
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait Outbox: Send + Sync {
    /// [`super::ItemStore::update_item`] and the events, in one atomic write: both or neither.
    async fn update_item_with_events(&self, item: &mut ItemRecord, events: &[AppEvent]) -> Result<(), StoreError>;

    /// [`super::ItemStore::insert_item`] and the events, in one atomic write: all or nothing.
    async fn insert_item_with_events(
        &self,
        item: &ItemRecord,
        sealed: &SealedItem,
        exchange_key: &str,
        events: &[AppEvent],
    ) -> Result<(), StoreError>;

    /// Events on their own (an item's removal).
    async fn add_events(&self, events: &[AppEvent]) -> Result<(), StoreError>;

    /// A reminder: the event, and the item's prompt count from `sent` to `to`, atomically; `false` (nothing
    /// written) if the count is no longer `sent` (another run sent it) or the item is gone.
    async fn add_reminder(
        &self,
        user: &UserId,
        item_id: &ItemId,
        sent: u32,
        to: u32,
        event: &AppEvent,
    ) -> Result<bool, StoreError>;

    /// The oldest events not yet published that occurred at or before `until`, at most `limit`.
    async fn pending_events(&self, until: OffsetDateTime, limit: usize) -> Result<Vec<AppEvent>, StoreError>;

    /// Removes published events from the outbox (those already gone are no error).
    async fn remove_events(&self, events: &[AppEvent]) -> Result<(), StoreError>;
}
