//! Access-token rotation's records: every item by a filtered `Scan`, an item's sealed secrets replaced by
//! one conditional `UpdateItem`, and rotation run checkpoints (`ROTATION#RUN#<run_id>` / `CHECKPOINT`).
//!
//! No index lists every item (`GSI1` holds one partition per item, `GSI2` only the churn candidates), so the
//! rotation of every item scans the table filtered to item records (`type = ITEM`). It is an operator's
//! incident-response action, run rarely; a scan reads the whole table once, which costs less than an index
//! every item write would pay for.

use super::convert::{Attrs, attrs_from_strings, b, expired, get_s, item_from_attrs, key, n, s, string_key};
use super::keys::*;
use super::records::now;
use super::{DynamoStore, conversion, corrupt, is_conditional_failure, sdk_error};
use crate::domain::{FORMAT_V1, ItemId, SealedItem, UserId, WrappedKey};
use crate::ports::{ItemScanPage, RotationCheckpoint, RotationStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

/// How long a rotation run's checkpoint is kept.
const CHECKPOINT_TTL: time::Duration = time::Duration::days(30);
/// The most records one scan page reads.
const MAX_SCAN_PAGE: u32 = 1000;
/// The shortest sealed access token: version, nonce, tag and a few bytes of token.
const MIN_SEALED_TOKEN: usize = 1 + 12 + 16 + 8;
const SCAN_CURSOR_KEYS: [&str; 2] = [PK, SK];

fn rotation_run_pk(run_id: &str) -> String {
    format!("ROTATION#RUN#{run_id}")
}

fn check_run_id(run_id: &str) -> Result<(), StoreError> {
    if valid_key_part(run_id) { Ok(()) } else { Err(StoreError::Invalid("rotation run id")) }
}

/// The wrapped key an item record's attributes hold.
fn stored_key(attrs: &Attrs) -> Option<&[u8]> {
    attrs.get(DEK).and_then(|v| v.as_b().ok()).map(|blob| blob.as_ref())
}

#[async_trait]
impl RotationStore for DynamoStore {
    async fn scan_items(&self, page_token: Option<&str>, limit: u32) -> Result<ItemScanPage, StoreError> {
        let start = match page_token {
            None => None,
            Some(token) => {
                let k = decode_cursor(token, &SCAN_CURSOR_KEYS).ok_or(StoreError::InvalidCursor)?;
                Some(attrs_from_strings(k))
            }
        };
        let limit = i32::try_from(limit.clamp(1, MAX_SCAN_PAGE)).unwrap_or(1);
        self.count();
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("#type = :item")
            .expression_attribute_names("#type", TYPE)
            .expression_attribute_values(":item", s("ITEM"))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("Scan", e))?;
        let mut items = Vec::new();
        for row in out.items.unwrap_or_default() {
            let sk = get_s(&row, SK).unwrap_or_default().to_owned();
            match item_from_attrs(row) {
                Ok(item) => items.push(item),
                // One bad record must not stop every later item's rotation; the sort key names the item only.
                Err(e) => {
                    tracing::error!(sk = %sk, error = %crate::telemetry::chain(&e), "malformed item record skipped by the item scan")
                }
            }
        }
        let next_page = out
            .last_evaluated_key
            .filter(|k| !k.is_empty())
            .and_then(|k| string_key(&k, &SCAN_CURSOR_KEYS))
            .map(|k| encode_cursor(&k));
        Ok(ItemScanPage { items, next_page })
    }

    /// Reads the item's wrapped key (strongly consistent); if it is still `expected`, deletes the item's
    /// transactions and then swaps the secrets and drops the sync cursor in one `UpdateItem` conditional on
    /// the wrapped key. Readers meanwhile see fewer transactions, never one they cannot open.
    async fn replace_sealed(
        &self,
        user: &UserId,
        item_id: &ItemId,
        expected: &WrappedKey,
        new: &SealedItem,
    ) -> Result<(), StoreError> {
        // A plaintext token starts with "access-"; a sealed one with its format version.
        if new.access_token.len() < MIN_SEALED_TOKEN || new.access_token[0] != FORMAT_V1 {
            return Err(StoreError::Invalid("sealed access token"));
        }
        if new.wrapped_key.as_bytes().is_empty() {
            return Err(StoreError::Invalid("wrapped data key"));
        }
        let item_key = key(user_pk(user), item_sk(item_id));
        let current = self.get(item_key.clone(), true).await?.ok_or(StoreError::NotFound("item"))?;
        match stored_key(&current) {
            Some(k) if k == new.wrapped_key.as_bytes() => return Ok(()),
            Some(k) if k == expected.as_bytes() => {}
            Some(_) => return Err(StoreError::Conflict),
            None => return Err(corrupt("item data key", None)),
        }
        self.delete_item_partition(item_id).await?;
        self.count();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key))
            .update_expression("SET #dek = :dek, #tok = :tok REMOVE #cursor")
            .condition_expression("attribute_exists(PK) AND #dek = :expected")
            .expression_attribute_names("#dek", DEK)
            .expression_attribute_names("#tok", TOKEN)
            .expression_attribute_names("#cursor", SYNC_CURSOR)
            .expression_attribute_values(":dek", b(new.wrapped_key.as_bytes()))
            .expression_attribute_values(":tok", b(new.access_token.as_slice()))
            .expression_attribute_values(":expected", b(expected.as_bytes()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => {
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                    _ => None,
                };
                match old.filter(|o| !o.is_empty()) {
                    None => Err(StoreError::NotFound("item")),
                    Some(o) if stored_key(&o) == Some(new.wrapped_key.as_bytes()) => Ok(()),
                    Some(_) => Err(StoreError::Conflict),
                }
            }
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    async fn get_rotation_checkpoint(&self, run_id: &str) -> Result<Option<RotationCheckpoint>, StoreError> {
        check_run_id(run_id)?;
        let Some(attrs) = self.get(key(rotation_run_pk(run_id), CHECKPOINT_SK), true).await? else {
            return Ok(None);
        };
        if expired(&attrs, now()) {
            return Ok(None);
        }
        from_item(attrs).map(Some).map_err(|e| corrupt("rotation checkpoint", Some(Box::new(e))))
    }

    async fn put_rotation_checkpoint(&self, run_id: &str, checkpoint: &RotationCheckpoint) -> Result<(), StoreError> {
        check_run_id(run_id)?;
        let mut attrs: Attrs = to_item(checkpoint).map_err(conversion)?;
        attrs.insert(PK.to_owned(), s(rotation_run_pk(run_id)));
        attrs.insert(SK.to_owned(), s(CHECKPOINT_SK));
        attrs.insert(TYPE.to_owned(), s("ROTATION_CHECKPOINT"));
        attrs.insert(TTL.to_owned(), n(epoch(now() + CHECKPOINT_TTL)));
        self.put(attrs).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn run_keys_are_apart_from_churn_runs() {
        assert_eq!(rotation_run_pk("rotation-1"), "ROTATION#RUN#rotation-1");
        assert_ne!(rotation_run_pk("r1"), churn_run_pk("r1"));
        assert!(check_run_id("rotation-1767000000-ab12cd34").is_ok());
        assert!(check_run_id("a#b").is_err());
    }

    #[test]
    fn a_checkpoint_round_trips_through_attributes() {
        let cp = RotationCheckpoint {
            page_token: Some("abc".into()),
            page_done: vec!["item1".into()],
            rotated: 3,
            failed_items: vec!["item9".into()],
            ..Default::default()
        };
        let attrs: Attrs = to_item(&cp).unwrap();
        let back: RotationCheckpoint = from_item(attrs).unwrap();
        assert_eq!(back, cp);
    }
}
