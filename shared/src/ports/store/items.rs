//! Items with their sealed secrets.

use super::StoreError;
use crate::domain::{ItemId, ItemRecord, SealedItem, UserId};
use async_trait::async_trait;
use time::OffsetDateTime;

#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Stores a new item with its sealed secrets and the record of the exchange that made it (see
    /// [`ExchangeRecords`]), atomically: both or neither. [`StoreError::AlreadyExists`]`("item")` if the item
    /// is there; `AlreadyExists("institution")` if the user holds another live item of the same institution
    /// (decided by the store, atomically: of concurrent exchanges of one bank exactly one is stored).
    async fn insert_item(&self, item: &ItemRecord, sealed: &SealedItem, exchange_key: &str) -> Result<(), StoreError>;

    /// One of `user`'s items (strongly consistent).
    async fn get_item(&self, user: &UserId, item_id: &ItemId) -> Result<Option<ItemRecord>, StoreError>;

    /// An item by its id alone (webhooks, the sync worker); eventually consistent.
    async fn find_item(&self, item_id: &ItemId) -> Result<Option<ItemRecord>, StoreError>;

    /// Whether an item with this id is stored (a webhook that only queues a sync); eventually consistent. A
    /// store may answer it without reading the whole record.
    async fn item_exists(&self, item_id: &ItemId) -> Result<bool, StoreError> {
        Ok(self.find_item(item_id).await?.is_some())
    }

    /// [`ItemStore::get_item`] with the item's sealed secrets, in one read.
    async fn get_item_sealed(
        &self,
        user: &UserId,
        item_id: &ItemId,
    ) -> Result<Option<(ItemRecord, SealedItem)>, StoreError>;

    /// [`ItemStore::find_item`] with the item's sealed secrets, in one read.
    async fn find_item_sealed(&self, item_id: &ItemId) -> Result<Option<(ItemRecord, SealedItem)>, StoreError>;

    /// All of `user`'s items.
    async fn list_items(&self, user: &UserId) -> Result<Vec<ItemRecord>, StoreError>;

    /// Saves `item` if its stored version is still `item.version`, then increments `item.version`. Its
    /// `ignored_prompts` is not written (see [`ItemStore::count_relink_prompt`]).
    /// [`StoreError::Conflict`] if it changed meanwhile, [`StoreError::NotFound`] if it is gone.
    /// Keeps the churn index of items in error (`CHURN#ERROR`) in step with the item's error / status.
    async fn update_item(&self, item: &mut ItemRecord) -> Result<(), StoreError>;

    /// Counts one re-link prompt shown for the item. Changes the count alone (not the item's version), so it
    /// never races a state change. [`StoreError::NotFound`] if the item is gone.
    async fn count_relink_prompt(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError>;

    /// The user acted on the item's re-link prompt: its count back to zero (the count alone).
    async fn reset_relink_prompts(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError>;

    /// Deletes the item and all its data: transactions first, then the item record with its wrapped key
    /// (crypto-shredding anything left anywhere), then any transaction a concurrent sync wrote meanwhile.
    /// Idempotent and safe to retry after a failure at any point.
    async fn delete_item(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError>;
}

/// Where the exchange of one public token stands, for its requests (a double click, a retry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeClaim {
    /// This request holds the exchange now: nobody else does, or the one who did ran out of time.
    Claimed,
    /// Another request holds it until `until` (its deadline): wait for its outcome.
    InProgress { until: OffsetDateTime },
    /// It made this item.
    Done(ItemId),
}

/// The idempotency records of exchanges, keyed by `key` (hex SHA-256 of the public token): in progress
/// from before Plaid is asked until the deadline of the request that claimed it, then which item it made,
/// for a day (written with the item by [`ItemStore::insert_item`]).
#[async_trait]
pub trait ExchangeRecords: Send + Sync {
    /// The item the exchange keyed `key` made for `user`, if it is done.
    async fn exchange_result(&self, user: &UserId, key: &str) -> Result<Option<ItemId>, StoreError>;

    /// Claims the exchange keyed `key` for one request until `until`, unless it is done or held by another
    /// request whose `until` is after `now`: atomic, so of concurrent requests exactly one gets
    /// [`ExchangeClaim::Claimed`].
    async fn claim_exchange(
        &self,
        user: &UserId,
        key: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<ExchangeClaim, StoreError>;

    /// Lets go of a claim whose exchange made no item (a later request may try again); never removes the
    /// record of a done exchange.
    async fn release_exchange(&self, user: &UserId, key: &str) -> Result<(), StoreError>;
}
