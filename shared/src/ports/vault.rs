//! Per-item data keys: where an item's key comes from and how its wrapped form is opened again.
//!
//! Adapters: [`crate::crypto::KmsEnvelope`] (AWS KMS), [`crate::crypto::LocalKeyVault`] (in memory).

use crate::crypto::CryptoError;
pub use crate::crypto::{Field, ItemKey, WrappedKey};
use crate::domain::ItemId;
use async_trait::async_trait;

#[async_trait]
pub trait KeyVault: Send + Sync {
    /// A fresh data key for a new item, and its wrapped form to store beside the item. The wrapped key is
    /// bound to `item_id` (encryption context `{"weft:item_id": <item_id>, "weft:purpose": "item-secrets"}`).
    async fn new_item_key(&self, item_id: &ItemId) -> Result<(ItemKey, WrappedKey), CryptoError>;

    /// Unwraps `item_id`'s stored key. A wrapped key of another item fails ([`CryptoError::KeyRefused`]).
    async fn open_item_key(&self, item_id: &ItemId, wrapped: &WrappedKey) -> Result<ItemKey, CryptoError>;
}
