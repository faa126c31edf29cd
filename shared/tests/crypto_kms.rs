//! KMS envelope encryption against moto's KMS (real encryption-context enforcement).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use weft::adapters::kms::{KmsCalls, KmsEnvelope};
use weft::domain::{AccessToken, ItemId, TransactionId};
use weft::domain::{Field, SealError, WrappedKey};
use weft::ports::KeyVault;
use weft::ports::VaultError;

fn item(id: &str) -> ItemId {
    ItemId::parse(id).unwrap()
}

fn token() -> AccessToken {
    AccessToken::parse("access-sandbox-6f7c1a3e-9b1d-4c2a-8e5f-0d2b7a9c4e11").unwrap()
}

async fn envelope() -> (aws_config::SdkConfig, String, KmsEnvelope) {
    let sdk = store_support::sdk().await;
    let key_id = store_support::new_kms_key(&sdk).await;
    let vault = KmsEnvelope::from_sdk_config(&sdk, &key_id);
    (sdk, key_id, vault)
}

#[tokio::test]
async fn envelope_round_trip_through_kms() {
    let (sdk, key_id, vault) = envelope().await;
    let a = item("itemA");
    let (key, wrapped) = vault.new_item_key(&a).await.unwrap();
    assert!(!wrapped.as_bytes().is_empty());
    let sealed = key.seal_access_token(&token()).unwrap();

    // A cold container (another envelope, empty cache) unwraps through KMS Decrypt.
    let cold = KmsEnvelope::from_sdk_config(&sdk, &key_id);
    let reopened = cold.open_item_key(&a, &wrapped).await.unwrap();
    assert_eq!(reopened.open_access_token(&sealed).unwrap().expose(), token().expose());
    assert_eq!(vault.calls(), KmsCalls { generate_data_key: 1, decrypt: 0 });
    assert_eq!(cold.calls(), KmsCalls { generate_data_key: 0, decrypt: 1 });
}

#[tokio::test]
async fn wrapped_key_copied_onto_another_item_does_not_open() {
    let (sdk, key_id, vault) = envelope().await;
    let (_, wrapped) = vault.new_item_key(&item("itemA")).await.unwrap();
    // Warm cache for itemA on this envelope: the cache must not serve it for itemB.
    let err = vault.open_item_key(&item("itemB"), &wrapped).await.unwrap_err();
    assert!(matches!(err, VaultError::Refused(_)), "{err:?}");
    // Cold: KMS itself refuses the other item's encryption context.
    let cold = KmsEnvelope::from_sdk_config(&sdk, &key_id);
    let err = cold.open_item_key(&item("itemB"), &wrapped).await.unwrap_err();
    assert!(matches!(err, VaultError::Refused(_)), "{err:?}");
    assert!(cold.open_item_key(&item("itemA"), &wrapped).await.is_ok());
}

#[tokio::test]
async fn altered_ciphertexts_fail() {
    let (sdk, key_id, vault) = envelope().await;
    let a = item("itemA");
    let (key, wrapped) = vault.new_item_key(&a).await.unwrap();
    let sealed = key.seal_access_token(&token()).unwrap();

    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert!(matches!(key.open_access_token(&tampered), Err(SealError::Decrypt)));
    let mut tampered = sealed.clone();
    tampered[5] ^= 0x80; // in the nonce
    assert!(matches!(key.open_access_token(&tampered), Err(SealError::Decrypt)));

    // A sealed transaction cannot stand in for the token, nor for another transaction.
    let t1 = TransactionId::parse("txn1").unwrap();
    let t2 = TransactionId::parse("txn2").unwrap();
    let sealed_txn = key.seal(Field::Transaction(&t1), b"{}").unwrap();
    assert!(key.open(Field::AccessToken, &sealed_txn).is_err());
    assert!(key.open(Field::Transaction(&t2), &sealed_txn).is_err());

    // An altered wrapped key does not unwrap.
    let mut bytes = wrapped.into_bytes();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let cold = KmsEnvelope::from_sdk_config(&sdk, &key_id);
    assert!(cold.open_item_key(&a, &WrappedKey::from_bytes(bytes)).await.is_err());
}

#[tokio::test]
async fn sealed_values_are_versioned() {
    let (_, _, vault) = envelope().await;
    let (key, _) = vault.new_item_key(&item("itemA")).await.unwrap();
    let sealed = key.seal_access_token(&token()).unwrap();
    assert_eq!(sealed[0], weft::domain::FORMAT_V1);
    assert_eq!(sealed.len(), 1 + 12 + token().expose().len() + 16);
    let mut future = sealed.clone();
    future[0] = 2;
    assert!(matches!(key.open_access_token(&future), Err(SealError::UnsupportedVersion(2))));
}

#[tokio::test]
async fn key_cache_avoids_a_second_decrypt() {
    let (sdk, key_id, vault) = envelope().await;
    let a = item("itemA");
    let (_, wrapped) = vault.new_item_key(&a).await.unwrap();

    // The creating container never needs Decrypt for its own new key.
    vault.open_item_key(&a, &wrapped).await.unwrap();
    assert_eq!(vault.calls().decrypt, 0);

    let warm = KmsEnvelope::from_sdk_config(&sdk, &key_id);
    for _ in 0..5 {
        warm.open_item_key(&a, &wrapped).await.unwrap();
    }
    assert_eq!(warm.calls().decrypt, 1);

    let uncached = KmsEnvelope::from_sdk_config(&sdk, &key_id).with_cache(0, std::time::Duration::from_secs(300));
    uncached.open_item_key(&a, &wrapped).await.unwrap();
    uncached.open_item_key(&a, &wrapped).await.unwrap();
    assert_eq!(uncached.calls().decrypt, 2);
}

#[tokio::test]
async fn debug_output_never_shows_key_material() {
    let (_, _, vault) = envelope().await;
    let (key, wrapped) = vault.new_item_key(&item("itemA")).await.unwrap();
    let shown = format!("{key:?} {wrapped:?} {vault:?}");
    assert!(shown.contains("***") && shown.contains("itemA"), "{shown}");
    assert!(!shown.contains(&format!("{:?}", wrapped.as_bytes())), "{shown}");
}
