//! [`KeyVault`] on AWS KMS: `GenerateDataKey` / `Decrypt` with the item's encryption context, and a
//! bounded, short-lived cache of unwrapped keys (a `moka` cache, see `cache`).

mod cache;

use crate::domain::{ItemId, ItemKey, WrappedKey};
use crate::ports::{KeyVault, VaultError};
use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use cache::KeyCache;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use zeroize::Zeroizing;

/// Encryption context key naming the item a data key belongs to.
pub const CONTEXT_ITEM_ID: &str = "weft:item_id";
/// Encryption context key naming what the data key protects.
pub const CONTEXT_PURPOSE: &str = "weft:purpose";
/// The one purpose data keys have.
pub const PURPOSE_ITEM_SECRETS: &str = "item-secrets";

/// The KMS encryption context of `item_id`'s data key: `{"weft:item_id": <item_id>, "weft:purpose":
/// "item-secrets"}`. KMS `Decrypt` checks it, so a wrapped key copied onto another item does not open.
pub fn encryption_context(item_id: &ItemId) -> HashMap<String, String> {
    HashMap::from([
        (CONTEXT_ITEM_ID.to_owned(), item_id.as_str().to_owned()),
        (CONTEXT_PURPOSE.to_owned(), PURPOSE_ITEM_SECRETS.to_owned()),
    ])
}

/// How many unwrapped keys a container keeps by default.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;
/// How long an unwrapped key is reused by default.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

/// KMS calls made so far (for the benchmarks and the cache tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KmsCalls {
    pub generate_data_key: u64,
    pub decrypt: u64,
}

/// Per-item data keys from a KMS key.
pub struct KmsEnvelope {
    client: aws_sdk_kms::Client,
    key_id: String,
    cache: KeyCache,
    generate_data_key_calls: AtomicU64,
    decrypt_calls: AtomicU64,
}

impl std::fmt::Debug for KmsEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsEnvelope").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl KmsEnvelope {
    /// Data keys under `key_id` (key id, ARN or alias), with the default cache.
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
            cache: KeyCache::new(DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL),
            generate_data_key_calls: AtomicU64::new(0),
            decrypt_calls: AtomicU64::new(0),
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self::new(aws_sdk_kms::Client::new(sdk), key_id)
    }

    /// Replaces the cache: at most `capacity` keys, each for `ttl` (either zero disables caching).
    pub fn with_cache(mut self, capacity: usize, ttl: Duration) -> Self {
        self.cache = KeyCache::new(capacity, ttl);
        self
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `GenerateDataKey` calls made so far.
    pub fn generate_data_key_calls(&self) -> u64 {
        self.generate_data_key_calls.load(Ordering::Relaxed)
    }

    /// `Decrypt` calls made so far (cache hits make none).
    pub fn decrypt_calls(&self) -> u64 {
        self.decrypt_calls.load(Ordering::Relaxed)
    }

    /// KMS calls made so far.
    pub fn calls(&self) -> KmsCalls {
        KmsCalls {
            generate_data_key: self.generate_data_key_calls.load(Ordering::Relaxed),
            decrypt: self.decrypt_calls.load(Ordering::Relaxed),
        }
    }
}

/// Copies a 32-byte plaintext key out of KMS's answer and wipes the answer's buffer.
fn take_key(blob: Option<Blob>) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let bytes = Zeroizing::new(blob.ok_or(VaultError::BadKey)?.into_inner());
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != key.len() {
        return Err(VaultError::BadKey);
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[async_trait]
impl KeyVault for KmsEnvelope {
    #[tracing::instrument(skip(self), fields(item_id = %item_id))]
    async fn new_item_key(&self, item_id: &ItemId) -> Result<(ItemKey, WrappedKey), VaultError> {
        self.generate_data_key_calls.fetch_add(1, Ordering::Relaxed);
        let mut out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(encryption_context(item_id)))
            .send()
            .await
            .map_err(|e| VaultError::Backend { op: "GenerateDataKey", source: Box::new(e) })?;
        let key = take_key(out.plaintext.take())?;
        let wrapped = out.ciphertext_blob.take().map(Blob::into_inner).ok_or(VaultError::BadKey)?;
        self.cache.insert(KeyCache::id(item_id.as_str(), &wrapped), &key).await;
        Ok((ItemKey::new(item_id.clone(), key), WrappedKey::from_bytes(wrapped)))
    }

    #[tracing::instrument(skip(self, wrapped), fields(item_id = %item_id))]
    async fn open_item_key(&self, item_id: &ItemId, wrapped: &WrappedKey) -> Result<ItemKey, VaultError> {
        let cache_id = KeyCache::id(item_id.as_str(), wrapped.as_bytes());
        if let Some(key) = self.cache.get(&cache_id).await {
            return Ok(ItemKey::new(item_id.clone(), key));
        }
        self.decrypt_calls.fetch_add(1, Ordering::Relaxed);
        let mut out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.as_bytes()))
            .set_encryption_context(Some(encryption_context(item_id)))
            .send()
            .await
            .map_err(|e| {
                let refused = e
                    .as_service_error()
                    .is_some_and(|s| s.is_invalid_ciphertext_exception() || s.is_incorrect_key_exception());
                if refused {
                    VaultError::Refused(Box::new(e))
                } else {
                    VaultError::Backend { op: "Decrypt", source: Box::new(e) }
                }
            })?;
        let key = take_key(out.plaintext.take())?;
        self.cache.insert(cache_id, &key).await;
        Ok(ItemKey::new(item_id.clone(), key))
    }
}
