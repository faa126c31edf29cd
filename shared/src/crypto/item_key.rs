//! An item's plaintext data key and the AES-256-GCM seal / open of the values it protects.

use super::{CryptoError, FORMAT_V1};
use crate::domain::{AccessToken, ItemId, TransactionId};
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use std::fmt;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;

type Nonce = aes_gcm::aead::Nonce<Aes256Gcm>;

/// What a sealed value is, bound into its authenticated data so it cannot be moved to another field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// The item's Plaid access token.
    AccessToken,
    /// The sensitive details of one transaction.
    Transaction(&'a TransactionId),
}

impl Field<'_> {
    /// The purpose string bound into the AAD: `access_token` or `txn:<transaction_id>`.
    pub fn purpose(&self) -> String {
        match self {
            Field::AccessToken => "access_token".to_owned(),
            Field::Transaction(id) => format!("txn:{id}"),
        }
    }
}

/// One item's 256-bit data key, in the clear. Zeroized on drop; its `Debug` shows only the item id.
/// Get one from a [`crate::ports::KeyVault`].
#[derive(Clone)]
pub struct ItemKey {
    item_id: ItemId,
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemKey").field("item_id", &self.item_id).field("key", &"***").finish()
    }
}

impl ItemKey {
    /// A key for `item_id` (only the vaults make them).
    pub(crate) fn new(item_id: ItemId, key: Zeroizing<[u8; 32]>) -> Self {
        Self { item_id, key }
    }

    /// The item this key belongs to; everything it seals is bound to it.
    pub fn item_id(&self) -> &ItemId {
        &self.item_id
    }

    /// Seals `plaintext` as `field` of this key's item, in the current format (see the module docs).
    pub fn seal(&self, field: Field<'_>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = self.cipher()?;
        let nonce = Nonce::try_generate().map_err(|e| CryptoError::Random(Box::new(e)))?;
        let aad = aad(FORMAT_V1, &self.item_id, field);
        let ciphertext =
            cipher.encrypt(&nonce, Payload { msg: plaintext, aad: &aad }).map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a value sealed as `field` of this key's item. The plaintext is zeroized when dropped.
    pub fn open(&self, field: Field<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::Malformed("empty"))?;
        match version {
            FORMAT_V1 => {
                if rest.len() < NONCE_LEN + TAG_LEN {
                    return Err(CryptoError::Malformed("shorter than a nonce and a tag"));
                }
                let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
                let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Malformed("bad nonce"))?;
                let aad = aad(FORMAT_V1, &self.item_id, field);
                let plaintext = self
                    .cipher()?
                    .decrypt(&nonce, Payload { msg: ciphertext, aad: &aad })
                    .map_err(|_| CryptoError::Decrypt)?;
                Ok(Zeroizing::new(plaintext))
            }
            other => Err(CryptoError::UnsupportedVersion(other)),
        }
    }

    /// Seals the item's access token.
    pub fn seal_access_token(&self, token: &AccessToken) -> Result<Vec<u8>, CryptoError> {
        self.seal(Field::AccessToken, token.expose().as_bytes())
    }

    /// Opens the item's access token.
    pub fn open_access_token(&self, sealed: &[u8]) -> Result<AccessToken, CryptoError> {
        let plaintext = self.open(Field::AccessToken, sealed)?;
        let text = std::str::from_utf8(&plaintext).map_err(|_| CryptoError::InvalidPlaintext("access token"))?;
        AccessToken::parse(text.to_owned()).map_err(|_| CryptoError::InvalidPlaintext("access token"))
    }

    /// Errors unless this is `item_id`'s key (for callers that hold both).
    pub fn check_item(&self, item_id: &ItemId) -> Result<(), CryptoError> {
        if &self.item_id == item_id {
            Ok(())
        } else {
            Err(CryptoError::WrongItem { key_item: self.item_id.clone(), value_item: item_id.clone() })
        }
    }

    fn cipher(&self) -> Result<Aes256Gcm, CryptoError> {
        Aes256Gcm::new_from_slice(self.key.as_slice()).map_err(|_| CryptoError::BadDataKey)
    }
}

/// `"weft" 0x00 <version> <item_id> 0x00 <purpose>`.
fn aad(version: u8, item_id: &ItemId, field: Field<'_>) -> Vec<u8> {
    let purpose = field.purpose();
    let mut aad = Vec::with_capacity(7 + item_id.as_str().len() + purpose.len());
    aad.extend_from_slice(b"weft\0");
    aad.push(version);
    aad.extend_from_slice(item_id.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(purpose.as_bytes());
    aad
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(item: &str, byte: u8) -> ItemKey {
        ItemKey::new(ItemId::parse(item).unwrap(), Zeroizing::new([byte; 32]))
    }

    #[test]
    fn round_trip_and_format() {
        let k = key("item1", 7);
        let sealed = k.seal(Field::AccessToken, b"hello").unwrap();
        assert_eq!(sealed[0], FORMAT_V1);
        assert_eq!(sealed.len(), 1 + 12 + 5 + 16);
        assert_eq!(k.open(Field::AccessToken, &sealed).unwrap().as_slice(), b"hello");
    }

    #[test]
    fn nonces_are_fresh() {
        let k = key("item1", 7);
        let a = k.seal(Field::AccessToken, b"x").unwrap();
        let b = k.seal(Field::AccessToken, b"x").unwrap();
        assert_ne!(a, b);
        assert_ne!(a[1..13], b[1..13]);
    }

    #[test]
    fn bound_to_item_field_and_transaction() {
        let k = key("item1", 7);
        let t1 = TransactionId::parse("t1").unwrap();
        let t2 = TransactionId::parse("t2").unwrap();
        let sealed = k.seal(Field::Transaction(&t1), b"details").unwrap();
        assert!(k.open(Field::Transaction(&t1), &sealed).is_ok());
        assert!(matches!(k.open(Field::Transaction(&t2), &sealed), Err(CryptoError::Decrypt)));
        assert!(matches!(k.open(Field::AccessToken, &sealed), Err(CryptoError::Decrypt)));
        // Same key bytes, other item: the AAD differs.
        let other = key("item2", 7);
        assert!(matches!(other.open(Field::Transaction(&t1), &sealed), Err(CryptoError::Decrypt)));
        // Other key bytes, same item.
        assert!(matches!(key("item1", 8).open(Field::Transaction(&t1), &sealed), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn version_byte_is_checked_and_authenticated() {
        let k = key("item1", 7);
        let mut sealed = k.seal(Field::AccessToken, b"x").unwrap();
        sealed[0] = 2;
        assert!(matches!(k.open(Field::AccessToken, &sealed), Err(CryptoError::UnsupportedVersion(2))));
        assert!(matches!(k.open(Field::AccessToken, &[]), Err(CryptoError::Malformed(_))));
        assert!(matches!(k.open(Field::AccessToken, &[1, 2, 3]), Err(CryptoError::Malformed(_))));
    }

    #[test]
    fn access_token_round_trip_and_debug() {
        let k = key("item1", 9);
        let token = AccessToken::parse("access-sandbox-1234").unwrap();
        let sealed = k.seal_access_token(&token).unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"sandbox"));
        assert_eq!(k.open_access_token(&sealed).unwrap().expose(), "access-sandbox-1234");
        let debug = format!("{k:?}");
        assert!(debug.contains("item1") && debug.contains("***") && !debug.contains("9, 9"));
        assert!(k.check_item(&ItemId::parse("item1").unwrap()).is_ok());
        assert!(matches!(k.check_item(&ItemId::parse("item2").unwrap()), Err(CryptoError::WrongItem { .. })));
    }

    proptest! {
        /// Flipping any bit of a sealed value makes it fail to open.
        #[test]
        fn any_bit_flip_is_detected(plaintext in proptest::collection::vec(any::<u8>(), 0..64), bit in any::<usize>()) {
            let k = key("item1", 3);
            let mut sealed = k.seal(Field::AccessToken, &plaintext).unwrap();
            let bit = bit % (sealed.len() * 8);
            sealed[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(k.open(Field::AccessToken, &sealed).is_err());
        }
    }
}
