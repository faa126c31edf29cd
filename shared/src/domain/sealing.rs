//! Sealing item secrets: AES-256-GCM under one data key per item. Pure: no AWS here; where the data keys
//! come from is the [`crate::ports::KeyVault`] port (KMS in production).
//!
//! # Keys
//! Each item gets its own 256-bit data key from the key vault; only its wrapped form ([`WrappedKey`]) is
//! stored, beside the item ([`SealedItem`]). The vault binds a wrapped key to its item, so a wrapped key
//! copied onto another item does not open there. The plaintext key lives only in an [`ItemKey`] (zeroized
//! on drop, never printed) and, for a few minutes, in the vault adapter's cache.
//!
//! # Sealed values (format version 1)
//! Every value sealed with an item key ([`ItemKey::seal`]) is one byte string:
//!
//! ```text
//! offset  length  content
//! 0       1       format version: 0x01
//! 1       12      nonce: 96 random bits, fresh for every seal
//! 13      n + 16  AES-256-GCM ciphertext of the n-byte plaintext, followed by its 16-byte tag
//! ```
//!
//! The additional authenticated data (not stored) binds the value to its format, item and field:
//!
//! ```text
//! "weft" 0x00 <version byte> <item_id> 0x00 <field purpose>
//! ```
//!
//! where the purpose is `access_token` or `txn:<transaction_id>` ([`Field`]). Item ids are Plaid ids
//! (`[A-Za-z0-9_-]`), so the encoding is unambiguous. A value moved to another item, another field or
//! another transaction, a flipped bit anywhere, or a downgraded version byte fails to open.
//!
//! A later format takes the next version byte; [`ItemKey::open`] dispatches on it, so stored values of
//! older versions stay readable while new ones are written in the new format.
//!
//! # Random nonces
//! 96-bit random nonces are safe for up to 2^32 seals under one key (NIST SP 800-38D); a key seals one
//! access token and the item's transactions, orders of magnitude below that.

use super::{AccessToken, ItemId, TransactionId};
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use std::fmt;
use zeroize::Zeroizing;

/// The current sealed-value format version (the first byte of every sealed value).
pub const FORMAT_V1: u8 = 1;

/// A data key as the key vault wrapped it (KMS: its `CiphertextBlob`): safe to store, useless without the
/// vault and the item it is bound to.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey(Vec<u8>);

impl WrappedKey {
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for WrappedKey {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey({} bytes)", self.0.len())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a value could not be sealed or opened. No variant carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The value does not authenticate: altered, sealed under another key, or for another item or field.
    #[error("sealed value does not authenticate (altered, other key, other item or other field)")]
    Decrypt,
    /// The value's format version is not one this build reads.
    #[error("sealed value has unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The value is not a sealed value at all.
    #[error("sealed value is malformed: {0}")]
    Malformed(&'static str),
    /// The key of one item was used for another item's value.
    #[error("the data key of item {key_item} was used for item {value_item}")]
    WrongItem { key_item: ItemId, value_item: ItemId },
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random(#[source] BoxError),
    /// AES-GCM refused to encrypt (plaintext beyond its length limit).
    #[error("encryption failed")]
    Encrypt,
    /// The key is not a usable 256-bit AES key.
    #[error("the data key is not a usable 256-bit key")]
    BadKey,
    /// The value opened, but is not what the field holds (e.g. not an access token).
    #[error("opened value is not a valid {0}")]
    InvalidPlaintext(&'static str),
}

/// An item's secrets as stored: the wrapped data key and the access token sealed under it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedItem {
    pub wrapped_key: WrappedKey,
    pub access_token: Vec<u8>,
}

impl fmt::Debug for SealedItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedItem")
            .field("wrapped_key", &self.wrapped_key)
            .field("access_token", &format_args!("{} sealed bytes", self.access_token.len()))
            .finish()
    }
}

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
/// Get one from a [`crate::ports::KeyVault`] (only vaults make them: [`ItemKey::new`] is crate-private).
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
    pub fn seal(&self, field: Field<'_>, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let cipher = self.cipher()?;
        let nonce = Nonce::try_generate().map_err(|e| SealError::Random(Box::new(e)))?;
        let aad = aad(FORMAT_V1, &self.item_id, field);
        let ciphertext =
            cipher.encrypt(&nonce, Payload { msg: plaintext, aad: &aad }).map_err(|_| SealError::Encrypt)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a value sealed as `field` of this key's item. The plaintext is zeroized when dropped.
    pub fn open(&self, field: Field<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Malformed("empty"))?;
        match version {
            FORMAT_V1 => {
                if rest.len() < NONCE_LEN + TAG_LEN {
                    return Err(SealError::Malformed("shorter than a nonce and a tag"));
                }
                let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
                let nonce = Nonce::try_from(nonce).map_err(|_| SealError::Malformed("bad nonce"))?;
                let aad = aad(FORMAT_V1, &self.item_id, field);
                let plaintext = self
                    .cipher()?
                    .decrypt(&nonce, Payload { msg: ciphertext, aad: &aad })
                    .map_err(|_| SealError::Decrypt)?;
                Ok(Zeroizing::new(plaintext))
            }
            other => Err(SealError::UnsupportedVersion(other)),
        }
    }

    /// Seals the item's access token.
    pub fn seal_access_token(&self, token: &AccessToken) -> Result<Vec<u8>, SealError> {
        self.seal(Field::AccessToken, token.expose().as_bytes())
    }

    /// Opens the item's access token.
    pub fn open_access_token(&self, sealed: &[u8]) -> Result<AccessToken, SealError> {
        let plaintext = self.open(Field::AccessToken, sealed)?;
        let text = std::str::from_utf8(&plaintext).map_err(|_| SealError::InvalidPlaintext("access token"))?;
        AccessToken::parse(text.to_owned()).map_err(|_| SealError::InvalidPlaintext("access token"))
    }

    /// Errors unless this is `item_id`'s key (for callers that hold both).
    pub fn check_item(&self, item_id: &ItemId) -> Result<(), SealError> {
        if &self.item_id == item_id {
            Ok(())
        } else {
            Err(SealError::WrongItem { key_item: self.item_id.clone(), value_item: item_id.clone() })
        }
    }

    fn cipher(&self) -> Result<Aes256Gcm, SealError> {
        Aes256Gcm::new_from_slice(self.key.as_slice()).map_err(|_| SealError::BadKey)
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
        assert!(matches!(k.open(Field::Transaction(&t2), &sealed), Err(SealError::Decrypt)));
        assert!(matches!(k.open(Field::AccessToken, &sealed), Err(SealError::Decrypt)));
        // Same key bytes, other item: the AAD differs.
        let other = key("item2", 7);
        assert!(matches!(other.open(Field::Transaction(&t1), &sealed), Err(SealError::Decrypt)));
        // Other key bytes, same item.
        assert!(matches!(key("item1", 8).open(Field::Transaction(&t1), &sealed), Err(SealError::Decrypt)));
    }

    #[test]
    fn version_byte_is_checked_and_authenticated() {
        let k = key("item1", 7);
        let mut sealed = k.seal(Field::AccessToken, b"x").unwrap();
        sealed[0] = 2;
        assert!(matches!(k.open(Field::AccessToken, &sealed), Err(SealError::UnsupportedVersion(2))));
        assert!(matches!(k.open(Field::AccessToken, &[]), Err(SealError::Malformed(_))));
        assert!(matches!(k.open(Field::AccessToken, &[1, 2, 3]), Err(SealError::Malformed(_))));
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
        assert!(matches!(k.check_item(&ItemId::parse("item2").unwrap()), Err(SealError::WrongItem { .. })));
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
