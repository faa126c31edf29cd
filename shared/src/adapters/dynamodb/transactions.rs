//! Transactions: keys, account, date and pending flag in the clear; everything else sealed (`enc`).

use super::convert::{Attrs, attrs_from_strings, b, get_s, key, s, string_key, take_b};
use super::keys::*;
use super::{DynamoStore, delete_request, put_request};
use crate::domain::{AccountId, ItemId, Transaction, TransactionDetails, TransactionId};
use crate::domain::{Field, ItemKey};
use crate::ports::{StoreError, TransactionChange, TransactionPage, TransactionStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// The largest page a caller may ask for.
pub const MAX_PAGE: u32 = 500;

const CURSOR_KEYS: [&str; 4] = [PK, SK, GSI1PK, GSI1SK];

fn corrupt(what: &'static str) -> StoreError {
    super::corrupt(what, None)
}

fn transaction_row(item_id: &ItemId, key: &ItemKey, t: &Transaction) -> Result<Attrs, StoreError> {
    if &t.item_id != item_id {
        return Err(StoreError::Invalid("transaction of another item"));
    }
    if !is_day(&t.date) {
        return Err(StoreError::Invalid("transaction date (YYYY-MM-DD)"));
    }
    let details =
        Zeroizing::new(serde_json::to_vec(&t.details).map_err(|_| StoreError::Invalid("transaction details"))?);
    let sealed = key.seal(Field::Transaction(&t.transaction_id), &details)?;
    let mut row = key_of(item_id, &t.transaction_id);
    row.insert(GSI1PK.to_owned(), s(txns_gsi1pk(item_id)));
    row.insert(GSI1SK.to_owned(), s(txn_gsi1sk(&t.date, &t.transaction_id)));
    row.insert(TYPE.to_owned(), s("TXN"));
    row.insert("item_id".to_owned(), s(item_id.as_str()));
    row.insert("transaction_id".to_owned(), s(t.transaction_id.as_str()));
    row.insert("account_id".to_owned(), s(t.account_id.as_str()));
    row.insert("date".to_owned(), s(&t.date));
    row.insert("pending".to_owned(), AttributeValue::Bool(t.pending));
    row.insert(ENC.to_owned(), b(sealed));
    Ok(row)
}

fn key_of(item_id: &ItemId, txn: &TransactionId) -> Attrs {
    key(item_partition(item_id), txn_sk(txn))
}

fn open_row(item_id: &ItemId, key: &ItemKey, mut row: Attrs) -> Result<Transaction, StoreError> {
    let transaction_id =
        get_s(&row, "transaction_id").and_then(|v| TransactionId::parse(v).ok()).ok_or(corrupt("transaction id"))?;
    let account_id =
        get_s(&row, "account_id").and_then(|v| AccountId::parse(v).ok()).ok_or(corrupt("transaction account"))?;
    let date = get_s(&row, "date").filter(|d| is_day(d)).ok_or(corrupt("transaction date"))?.to_owned();
    let pending = row.get("pending").and_then(|v| v.as_bool().ok()).copied().ok_or(corrupt("transaction pending"))?;
    let sealed = take_b(&mut row, ENC).ok_or(corrupt("transaction details"))?;
    let plaintext = key.open(Field::Transaction(&transaction_id), &sealed)?;
    // No source: a JSON error could quote the plaintext.
    let details: TransactionDetails = serde_json::from_slice(&plaintext).map_err(|_| corrupt("transaction details"))?;
    Ok(Transaction { item_id: item_id.clone(), transaction_id, account_id, date, pending, details })
}

#[async_trait]
impl TransactionStore for DynamoStore {
    async fn apply_transaction_changes(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        changes: &[TransactionChange],
    ) -> Result<(), StoreError> {
        key.check_item(item_id)?;
        // One write per transaction (BatchWriteItem refuses two for one key): the last change wins.
        let mut writes: BTreeMap<&TransactionId, WriteRequest> = BTreeMap::new();
        for change in changes {
            match change {
                TransactionChange::Upsert(t) => {
                    writes.insert(&t.transaction_id, put_request(transaction_row(item_id, key, t)?)?);
                }
                TransactionChange::Remove(id) => {
                    writes.insert(id, delete_request(key_of(item_id, id))?);
                }
            }
        }
        self.batch_write(writes.into_values().collect()).await
    }

    async fn delete_account_transactions(&self, item_id: &ItemId, account_id: &AccountId) -> Result<usize, StoreError> {
        let query = self
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :txn)")
            .filter_expression("account_id = :account")
            .expression_attribute_values(":pk", s(item_partition(item_id)))
            .expression_attribute_values(":txn", s(TXN_PREFIX))
            .expression_attribute_values(":account", s(account_id.as_str()))
            .projection_expression("PK, SK")
            .consistent_read(true);
        let deletes = self
            .query_all(query)
            .await?
            .into_iter()
            .map(|row| delete_request(row.into_iter().filter(|(k, _)| k == PK || k == SK).collect()))
            .collect::<Result<Vec<_>, _>>()?;
        let n = deletes.len();
        self.batch_write(deletes).await?;
        Ok(n)
    }

    async fn list_transactions(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<TransactionPage, StoreError> {
        key.check_item(item_id)?;
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let mut start = match cursor {
            None => None,
            Some(cursor) => {
                let k = decode_cursor(cursor, &CURSOR_KEYS).ok_or(StoreError::InvalidCursor)?;
                let ours = k.get(PK).is_some_and(|v| *v == item_partition(item_id))
                    && k.get(GSI1PK).is_some_and(|v| *v == txns_gsi1pk(item_id))
                    && k.get(SK).is_some_and(|v| v.starts_with(TXN_PREFIX));
                if !ours {
                    return Err(StoreError::InvalidCursor);
                }
                Some(attrs_from_strings(k))
            }
        };
        // One more than asked: whether there is a next page is then known, not guessed.
        let query = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(txns_gsi1pk(item_id)))
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX));
        let mut rows = Vec::new();
        loop {
            let (page, next) = self.query_page(query.clone(), start).await?;
            rows.extend(page);
            match next {
                Some(next) if rows.len() <= limit => start = Some(next),
                _ => break,
            }
        }
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if has_more {
            let last = rows.last().and_then(|r| string_key(r, &CURSOR_KEYS)).ok_or(corrupt("transaction keys"))?;
            Some(encode_cursor(&last))
        } else {
            None
        };
        let transactions = rows.into_iter().map(|row| open_row(item_id, key, row)).collect::<Result<_, _>>()?;
        Ok(TransactionPage { transactions, next_cursor })
    }
}
