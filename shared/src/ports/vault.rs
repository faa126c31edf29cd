//! Per-item data keys: where an item's key comes from and how its wrapped form is opened again.
//!
//! Adapter: [`crate::adapters::kms::KmsEnvelope`] (AWS KMS); double: `crate::doubles::MemoryVault`.

use crate::domain::{ItemId, ItemKey, WrappedKey};
use async_trait::async_trait;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a data key could not be had. No variant carries key material.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The vault refused to unwrap the key: it belongs to another item or master key, or it was altered.
    #[error("the vault refused to unwrap the data key (wrong item, wrong key or altered)")]
    Refused(#[source] BoxError),
    /// The vault answered without a usable 256-bit key.
    #[error("the vault returned no usable 256-bit data key")]
    BadKey,
    /// The vault could not be asked (network, throttling, permissions, disabled key).
    #[error("key vault {op} failed")]
    Backend {
        op: &'static str,
        #[source]
        source: BoxError,
    },
}

#[async_trait]
pub trait KeyVault: Send + Sync {
    /// A fresh data key for a new item, and its wrapped form to store beside the item. The wrapped key is
    /// bound to `item_id`: it opens for that item only.
    async fn new_item_key(&self, item_id: &ItemId) -> Result<(ItemKey, WrappedKey), VaultError>;

    /// Unwraps `item_id`'s stored key. A wrapped key of another item fails ([`VaultError::Refused`]).
    async fn open_item_key(&self, item_id: &ItemId, wrapped: &WrappedKey) -> Result<ItemKey, VaultError>;
}
