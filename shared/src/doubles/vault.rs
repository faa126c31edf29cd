//! [`MemoryVault`]: an in-memory [`KeyVault`] that behaves like KMS (a random data key per item,
//! wrapped under a master key with the item's encryption context, so a wrapped key copied onto another
//! item does not open), without AWS.

use crate::adapters::kms::KmsCalls;
use crate::domain::{ItemId, ItemKey, WrappedKey};
use crate::ports::{KeyVault, VaultError};
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use zeroize::Zeroizing;

type Nonce = aes_gcm::aead::Nonce<Aes256Gcm>;

/// A key vault whose master key lives in this process only.
pub struct MemoryVault {
    master: Aes256Gcm,
    generate_data_key_calls: AtomicU64,
    decrypt_calls: AtomicU64,
    /// How many of the next data key requests fail ([`MemoryVault::fail_next_data_keys`]).
    failing_data_keys: AtomicU64,
}

impl std::fmt::Debug for MemoryVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryVault")
    }
}

fn random_key() -> Result<Zeroizing<[u8; 32]>, VaultError> {
    <[u8; 32]>::try_generate()
        .map(Zeroizing::new)
        .map_err(|e| VaultError::Backend { op: "random", source: Box::new(e) })
}

fn context_aad(item_id: &ItemId) -> Vec<u8> {
    format!("weft-memory-vault\0{}\0item-secrets", item_id.as_str()).into_bytes()
}

impl MemoryVault {
    /// A vault with a fresh random master key.
    pub fn new() -> Result<Self, VaultError> {
        let master = random_key()?;
        let master = Aes256Gcm::new_from_slice(master.as_slice()).map_err(|_| VaultError::BadKey)?;
        Ok(Self {
            master,
            generate_data_key_calls: AtomicU64::new(0),
            decrypt_calls: AtomicU64::new(0),
            failing_data_keys: AtomicU64::new(0),
        })
    }

    /// Makes the next `n` data key requests ([`KeyVault::new_item_key`]) fail, as KMS unavailable; they
    /// are counted.
    pub fn fail_next_data_keys(&self, n: u64) {
        self.failing_data_keys.fetch_add(n, Ordering::Relaxed);
    }

    /// "KMS" calls made so far.
    pub fn calls(&self) -> KmsCalls {
        KmsCalls {
            generate_data_key: self.generate_data_key_calls.load(Ordering::Relaxed),
            decrypt: self.decrypt_calls.load(Ordering::Relaxed),
        }
    }
}

#[async_trait]
impl KeyVault for MemoryVault {
    async fn new_item_key(&self, item_id: &ItemId) -> Result<(ItemKey, WrappedKey), VaultError> {
        self.generate_data_key_calls.fetch_add(1, Ordering::Relaxed);
        if self.failing_data_keys.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
            return Err(VaultError::Backend { op: "GenerateDataKey", source: "KMS unavailable (test double)".into() });
        }
        let key = random_key()?;
        let nonce = Nonce::try_generate().map_err(|e| VaultError::Backend { op: "random", source: Box::new(e) })?;
        let aad = context_aad(item_id);
        let ciphertext =
            self.master.encrypt(&nonce, Payload { msg: key.as_slice(), aad: &aad }).map_err(|_| VaultError::BadKey)?;
        let mut wrapped = nonce.to_vec();
        wrapped.extend_from_slice(&ciphertext);
        Ok((ItemKey::new(item_id.clone(), key), WrappedKey::from_bytes(wrapped)))
    }

    async fn open_item_key(&self, item_id: &ItemId, wrapped: &WrappedKey) -> Result<ItemKey, VaultError> {
        self.decrypt_calls.fetch_add(1, Ordering::Relaxed);
        let bytes = wrapped.as_bytes();
        if bytes.len() < 12 {
            return Err(VaultError::Refused("wrapped key too short".into()));
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce = Nonce::try_from(nonce).map_err(|_| VaultError::Refused("bad nonce".into()))?;
        let aad = context_aad(item_id);
        let plaintext = Zeroizing::new(
            self.master
                .decrypt(&nonce, Payload { msg: ciphertext, aad: &aad })
                .map_err(|_| VaultError::Refused("wrapped key does not open with this context".into()))?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if plaintext.len() != key.len() {
            return Err(VaultError::BadKey);
        }
        key.copy_from_slice(&plaintext);
        Ok(ItemKey::new(item_id.clone(), key))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::domain::AccessToken;

    #[tokio::test]
    async fn behaves_like_kms() {
        let vault = MemoryVault::new().unwrap();
        let a = ItemId::parse("itemA").unwrap();
        let b = ItemId::parse("itemB").unwrap();
        let (key, wrapped) = vault.new_item_key(&a).await.unwrap();
        let token = AccessToken::parse("access-sandbox-abc").unwrap();
        let sealed = key.seal_access_token(&token).unwrap();
        let reopened = vault.open_item_key(&a, &wrapped).await.unwrap();
        assert_eq!(reopened.open_access_token(&sealed).unwrap().expose(), token.expose());
        assert!(matches!(vault.open_item_key(&b, &wrapped).await, Err(VaultError::Refused(_))));
        assert_eq!(vault.calls(), KmsCalls { generate_data_key: 1, decrypt: 2 });
        // Another vault (another master key) cannot open it either.
        let other = MemoryVault::new().unwrap();
        assert!(other.open_item_key(&a, &wrapped).await.is_err());
    }
}
