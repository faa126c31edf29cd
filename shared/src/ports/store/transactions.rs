//! An item's transactions, details sealed under the item's key.

use super::StoreError;
use crate::domain::{AccountId, ItemId, ItemKey, Transaction, TransactionId};
use async_trait::async_trait;

/// One change to an item's transactions.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactionChange {
    /// Added or modified: stored whole (details sealed).
    Upsert(Box<Transaction>),
    /// Removed at Plaid.
    Remove(TransactionId),
}

/// A page of transactions, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionPage {
    pub transactions: Vec<Transaction>,
    /// Opaque; pass back for the next page. `None` on the last page.
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait TransactionStore: Send + Sync {
    /// Applies upserts (details sealed with `key`) and removals, in batches. Each change is idempotent.
    async fn apply_transaction_changes(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        changes: &[TransactionChange],
    ) -> Result<(), StoreError>;

    /// Deletes every stored transaction of one account of the item (the user revoked access to it);
    /// returns how many.
    async fn delete_account_transactions(&self, item_id: &ItemId, account_id: &AccountId) -> Result<usize, StoreError>;

    /// The item's transactions by date, newest first, opened with `key`. `limit` is clamped to 1..=500.
    /// [`StoreError::InvalidCursor`] for a cursor this store did not issue for this listing.
    async fn list_transactions(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<TransactionPage, StoreError>;
}
