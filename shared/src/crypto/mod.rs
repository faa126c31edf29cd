//! Envelope encryption of item secrets: one KMS data key per item, AES-256-GCM under it.
//!
//! # Keys
//! Each item gets its own 256-bit data key from KMS `GenerateDataKey` (`AES_256`), with the encryption
//! context `{"weft:item_id": <item_id>, "weft:purpose": "item-secrets"}` ([`encryption_context`]). Only the
//! KMS-wrapped key ([`WrappedKey`]) is stored, beside the item. KMS `Decrypt` checks the context, so a
//! wrapped key copied onto another item does not open there. The plaintext key lives only in an
//! [`ItemKey`] (zeroized on drop, never printed) and, for a few minutes, in [`KmsEnvelope`]'s cache.
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

mod cache;
mod item_key;
mod kms;
mod local;

pub use item_key::{Field, ItemKey};
pub use kms::{KmsCalls, KmsEnvelope};
pub use local::LocalKeyVault;

use crate::domain::ItemId;
use std::collections::HashMap;
use std::fmt;

/// The current sealed-value format version (the first byte of every sealed value).
pub const FORMAT_V1: u8 = 1;

/// Encryption context key naming the item a data key belongs to.
pub const CONTEXT_ITEM_ID: &str = "weft:item_id";
/// Encryption context key naming what the data key protects.
pub const CONTEXT_PURPOSE: &str = "weft:purpose";
/// The one purpose data keys have.
pub const PURPOSE_ITEM_SECRETS: &str = "item-secrets";

/// The KMS encryption context of `item_id`'s data key.
pub fn encryption_context(item_id: &ItemId) -> HashMap<String, String> {
    HashMap::from([
        (CONTEXT_ITEM_ID.to_owned(), item_id.as_str().to_owned()),
        (CONTEXT_PURPOSE.to_owned(), PURPOSE_ITEM_SECRETS.to_owned()),
    ])
}

/// A data key as KMS wrapped it (`CiphertextBlob`): safe to store, useless without KMS and the context.
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

/// Why a key could not be had or a value could not be sealed or opened. No variant carries key material
/// or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// A KMS call failed (network, throttling, permissions, disabled key).
    #[error("KMS {op} failed: {message}")]
    Kms {
        op: &'static str,
        message: String,
        #[source]
        source: BoxError,
    },
    /// KMS refused to unwrap the data key: it belongs to another item or key, or it was altered.
    #[error("KMS refused to unwrap the data key (wrong item, wrong key or altered)")]
    KeyRefused(#[source] BoxError),
    /// KMS answered without a usable 256-bit plaintext key.
    #[error("KMS returned no usable 256-bit data key")]
    BadDataKey,
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
    /// The value opened, but is not what the field holds (e.g. not an access token).
    #[error("opened value is not a valid {0}")]
    InvalidPlaintext(&'static str),
}
