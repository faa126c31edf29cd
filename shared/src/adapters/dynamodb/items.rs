//! Item records: create, read, optimistic update, sealed secrets, sync cursor and lease, deletion.

use super::convert::{Attrs, b, get_s, item_from_attrs, item_to_attrs, key, n, s, take_b};
use super::corrupt;
use super::keys::*;
use super::records::{exchange_record, now};
use super::{DynamoStore, delete_request, is_conditional_failure, sdk_error, set_expression};
use crate::domain::{FORMAT_V1, SealedItem, WrappedKey};
use crate::domain::{ItemId, ItemRecord, ItemStatus, UserId};
use crate::ports::{ItemStore, LeaseError, StoreError, SyncStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

/// The shortest sealed access token: version, nonce, tag and a few bytes of token.
const MIN_SEALED_TOKEN: usize = 1 + 12 + 16 + 8;

/// An item's optimistic update: every attribute but the prompt count (it has its own writes:
/// `count_relink_prompt`, `reset_relink_prompts`; a state write never overwrites it with the count it read),
/// the churn index kept in step, conditional on the version read.
pub(super) struct ItemUpdate {
    pub(super) expression: String,
    pub(super) names: HashMap<String, String>,
    pub(super) values: Attrs,
    pub(super) next_version: u64,
}

impl ItemUpdate {
    pub(super) const CONDITION: &'static str = "attribute_exists(PK) AND #v = :expected";

    pub(super) fn of(item: &ItemRecord) -> Result<Self, StoreError> {
        let expected = item.version;
        let mut next = item.clone();
        next.version = expected.checked_add(1).ok_or(StoreError::Invalid("item version"))?;
        let mut attrs = item_to_attrs(&next)?;
        attrs.remove(PROMPTS);
        let in_churn_index = attrs.contains_key(GSI2PK);
        let (mut expression, mut names, mut values) = set_expression(attrs);
        if !in_churn_index {
            expression.push_str(" REMOVE #g2pk, #g2sk");
            names.insert("#g2pk".to_owned(), GSI2PK.to_owned());
            names.insert("#g2sk".to_owned(), GSI2SK.to_owned());
        }
        names.insert("#v".to_owned(), VERSION.to_owned());
        values.insert(":expected".to_owned(), n(expected));
        Ok(Self { expression, names, values, next_version: next.version })
    }
}

/// Whether a failed conditional update found the record at all (it returns the old record, `ALL_OLD`).
fn record_existed<R>(e: &SdkError<UpdateItemError, R>) -> bool {
    match e.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().is_some_and(|i| !i.is_empty()),
        _ => false,
    }
}

/// A failed lease write: the condition failed on an item someone else holds (or that is gone), or DynamoDB failed.
fn lease_failure<R>(e: SdkError<UpdateItemError, R>) -> LeaseError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if !is_conditional_failure(&e) {
        return sdk_error("UpdateItem", e).into();
    }
    if record_existed(&e) { LeaseError::Held } else { StoreError::NotFound("item").into() }
}

/// Takes the sealed secrets out of an item record's attributes.
fn take_sealed(attrs: &mut Attrs) -> Result<SealedItem, StoreError> {
    let wrapped_key = take_b(attrs, DEK).ok_or(corrupt("item data key", None))?;
    let access_token = take_b(attrs, TOKEN).ok_or(corrupt("item access token", None))?;
    Ok(SealedItem { wrapped_key: WrappedKey::from_bytes(wrapped_key), access_token })
}

fn item_and_sealed(mut attrs: Attrs) -> Result<(ItemRecord, SealedItem), StoreError> {
    let sealed = take_sealed(&mut attrs)?;
    Ok((item_from_attrs(attrs)?, sealed))
}

/// A new item's attributes with its sealed secrets; refuses anything that is not sealed.
fn new_item_attrs(item: &ItemRecord, sealed: &SealedItem) -> Result<Attrs, StoreError> {
    // A plaintext token starts with "access-"; a sealed one with its format version.
    if sealed.access_token.len() < MIN_SEALED_TOKEN || sealed.access_token[0] != FORMAT_V1 {
        return Err(StoreError::Invalid("sealed access token"));
    }
    if sealed.wrapped_key.as_bytes().is_empty() {
        return Err(StoreError::Invalid("wrapped data key"));
    }
    let mut attrs = item_to_attrs(item)?;
    attrs.insert(DEK.to_owned(), b(sealed.wrapped_key.as_bytes()));
    attrs.insert(TOKEN.to_owned(), b(sealed.access_token.as_slice()));
    Ok(attrs)
}

/// Whether a transaction was cancelled because its first write's condition (the item is new) failed.
fn item_condition_failed<R>(e: &SdkError<TransactWriteItemsError, R>) -> bool {
    condition_failed_at(e, 0)
}

/// Whether the transaction was cancelled by the condition of its `index`th write.
pub(super) fn condition_failed_at<R>(e: &SdkError<TransactWriteItemsError, R>, index: usize) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            c.cancellation_reasons().get(index).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
        }
        _ => false,
    }
}

/// Whether the `index`th write of a cancelled transaction found its record (its `ALL_OLD` values are returned).
pub(super) fn cancelled_on_existing<R>(e: &SdkError<TransactWriteItemsError, R>, index: usize) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            c.cancellation_reasons().get(index).and_then(|r| r.item()).is_some_and(|i| !i.is_empty())
        }
        _ => false,
    }
}

/// The user's one live item of an institution: `USER#<user>` / `INSTITUTION#<institution_id>` with its
/// `item_id` (deleted with the item, as every record naming it).
fn institution_guard(item: &ItemRecord) -> Attrs {
    let mut attrs = key(user_pk(&item.user_id), institution_sk(item.institution.institution_id.as_str()));
    attrs.insert(TYPE.to_owned(), s("INSTITUTION"));
    attrs.insert("item_id".to_owned(), s(item.item_id.as_str()));
    attrs
}

pub(super) fn invalid_request(e: aws_sdk_dynamodb::error::BuildError) -> &'static str {
    tracing::error!(error = %e, "a DynamoDB request could not be built");
    "DynamoDB request"
}

pub(super) fn item_key(user: &UserId, item_id: &ItemId) -> Attrs {
    key(user_pk(user), item_sk(item_id))
}

impl DynamoStore {
    /// Changes the item's prompt count alone (nothing else of the item, not its version).
    async fn set_prompts(&self, user: &UserId, item_id: &ItemId, update: &str, value: u64) -> Result<(), StoreError> {
        self.count();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(user, item_id)))
            .update_expression(update)
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#p", PROMPTS)
            .expression_attribute_values(":n", n(value))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::NotFound("item")),
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    /// The item record by id, from `GSI1` (which projects every attribute, the sealed ones included).
    async fn find_item_attrs(&self, item_id: &ItemId) -> Result<Option<Attrs>, StoreError> {
        let rows = self.query_all(self.item_by_id(item_id)).await?;
        Ok(rows.into_iter().next())
    }

    /// The item record by its id alone: a query of the GSI (eventually consistent).
    fn item_by_id(&self, item_id: &ItemId) -> QueryFluentBuilder {
        self.query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk AND GSI1SK = :sk")
            .expression_attribute_values(":pk", s(item_gsi1pk(item_id)))
            .expression_attribute_values(":sk", s(ITEM_GSI1SK))
    }

    /// Deletes the records in the user's partition, other than the item record, whose `item_id` is the item.
    async fn delete_item_references(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError> {
        let query = self
            .query()
            .key_condition_expression("PK = :pk")
            .filter_expression("item_id = :item")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":item", s(item_id.as_str()))
            .projection_expression("PK, SK")
            .consistent_read(true);
        let item_sk = item_sk(item_id);
        let deletes = self
            .query_all(query)
            .await?
            .into_iter()
            // The item record goes last (key conditions only: a filter cannot name the sort key).
            .filter(|row| get_s(row, SK) != Some(item_sk.as_str()))
            .map(|row| delete_request(row.into_iter().filter(|(k, _)| k == PK || k == SK).collect()))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(deletes).await
    }

    /// [`ItemStore::insert_item`], with outbox events in the same transaction.
    pub(super) async fn insert_item_and_events(
        &self,
        item: &ItemRecord,
        sealed: &SealedItem,
        exchange_key: &str,
        events: &[crate::domain::AppEvent],
    ) -> Result<(), StoreError> {
        if !valid_key_part(item.institution.institution_id.as_str()) {
            return Err(StoreError::Invalid("institution id"));
        }
        match self.insert_item_once(item, sealed, exchange_key, events).await {
            Err(StoreError::AlreadyExists("institution")) if self.take_over_stale_guard(item).await? => {
                self.insert_item_once(item, sealed, exchange_key, events).await
            }
            outcome => outcome,
        }
    }

    /// One try of [`ItemStore::insert_item`].
    pub(super) async fn insert_item_once(
        &self,
        item: &ItemRecord,
        sealed: &SealedItem,
        exchange_key: &str,
        events: &[crate::domain::AppEvent],
    ) -> Result<(), StoreError> {
        let item_attrs = new_item_attrs(item, sealed)?;
        let exchange_attrs = exchange_record(&item.user_id, exchange_key, &item.item_id, now())?;
        let put_item = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item_attrs))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::Invalid(invalid_request(e)))?;
        let put_exchange = Put::builder()
            .table_name(&self.table)
            .set_item(Some(exchange_attrs))
            .build()
            .map_err(|e| StoreError::Invalid(invalid_request(e)))?;
        let put_guard = Put::builder()
            .table_name(&self.table)
            .set_item(Some(institution_guard(item)))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::Invalid(invalid_request(e)))?;
        let mut items = vec![
            TransactWriteItem::builder().put(put_item).build(),
            TransactWriteItem::builder().put(put_exchange).build(),
            TransactWriteItem::builder().put(put_guard).build(),
        ];
        for event in events {
            items.push(super::outbox::put_event(&self.table, event)?);
        }
        self.count();
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if item_condition_failed(&e) => Err(StoreError::AlreadyExists("item")),
            Err(e) if condition_failed_at(&e, 2) => Err(StoreError::AlreadyExists("institution")),
            Err(e) => Err(sdk_error("TransactWriteItems", e)),
        }
    }

    /// The institution guard names an item that is gone or being removed: delete it (only if it still names
    /// that one). Whether the insert may be tried again.
    async fn take_over_stale_guard(&self, item: &ItemRecord) -> Result<bool, StoreError> {
        let guard_key = key(user_pk(&item.user_id), institution_sk(item.institution.institution_id.as_str()));
        let Some(guard) = self.get(guard_key.clone(), true).await? else { return Ok(true) };
        let Some(holder) = get_s(&guard, "item_id").and_then(|i| ItemId::parse(i).ok()) else { return Ok(false) };
        let live = self.get_item(&item.user_id, &holder).await?.is_some_and(|i| i.status != ItemStatus::Revoked);
        if live {
            return Ok(false);
        }
        self.count();
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(guard_key))
            .condition_expression("item_id = :holder")
            .expression_attribute_values(":holder", s(holder.as_str()))
            .send()
            .await;
        match deleted {
            Ok(_) => {
                tracing::info!(item_id = %item.item_id, stale = %holder, "removed a stale institution guard");
                Ok(true)
            }
            // Someone else changed it meanwhile: the retried insert decides.
            Err(e) if is_conditional_failure(&e) => Ok(true),
            Err(e) => Err(sdk_error("DeleteItem", e)),
        }
    }

    /// Deletes every record in the item's own partition (its transactions), page by page.
    pub(super) async fn delete_item_partition(&self, item_id: &ItemId) -> Result<(), StoreError> {
        let query = self
            .query()
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(item_partition(item_id)))
            .projection_expression("PK, SK")
            .consistent_read(true);
        let mut start = None;
        loop {
            let (rows, next) = self.query_page(query.clone(), start).await?;
            let deletes = rows
                .into_iter()
                .map(|row| {
                    let key: HashMap<_, _> = row.into_iter().filter(|(k, _)| k == PK || k == SK).collect();
                    delete_request(key)
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.batch_write(deletes).await?;
            match next {
                Some(next) => start = Some(next),
                None => return Ok(()),
            }
        }
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    /// The new item, its exchange's idempotency record and the user's institution guard in one
    /// transaction: all or nothing. A guard left by an item that is gone or being removed is taken over
    /// (conditionally on still naming that item) and the transaction tried once more.
    async fn insert_item(&self, item: &ItemRecord, sealed: &SealedItem, exchange_key: &str) -> Result<(), StoreError> {
        self.insert_item_and_events(item, sealed, exchange_key, &[]).await
    }

    async fn get_item(&self, user: &UserId, item_id: &ItemId) -> Result<Option<ItemRecord>, StoreError> {
        self.get(item_key(user, item_id), true).await?.map(item_from_attrs).transpose()
    }

    async fn get_item_sealed(
        &self,
        user: &UserId,
        item_id: &ItemId,
    ) -> Result<Option<(ItemRecord, SealedItem)>, StoreError> {
        self.get(item_key(user, item_id), true).await?.map(item_and_sealed).transpose()
    }

    async fn find_item_sealed(&self, item_id: &ItemId) -> Result<Option<(ItemRecord, SealedItem)>, StoreError> {
        self.find_item_attrs(item_id).await?.map(item_and_sealed).transpose()
    }

    async fn find_item(&self, item_id: &ItemId) -> Result<Option<ItemRecord>, StoreError> {
        self.find_item_attrs(item_id).await?.map(item_from_attrs).transpose()
    }

    /// The key alone: reading and parsing the whole record (accounts and all) was a third of a webhook's CPU.
    async fn item_exists(&self, item_id: &ItemId) -> Result<bool, StoreError> {
        Ok(!self.query_all(self.item_by_id(item_id).projection_expression("PK")).await?.is_empty())
    }

    async fn list_items(&self, user: &UserId) -> Result<Vec<ItemRecord>, StoreError> {
        let query = self
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":prefix", s(ITEM_PREFIX))
            .consistent_read(true);
        self.query_all(query).await?.into_iter().map(item_from_attrs).collect()
    }

    async fn update_item(&self, item: &mut ItemRecord) -> Result<(), StoreError> {
        let update = ItemUpdate::of(item)?;
        self.count();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(&item.user_id, &item.item_id)))
            .update_expression(update.expression)
            .condition_expression(ItemUpdate::CONDITION)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => {
                item.version = update.next_version;
                Ok(())
            }
            Err(e) if is_conditional_failure(&e) => {
                Err(if record_existed(&e) { StoreError::Conflict } else { StoreError::NotFound("item") })
            }
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    /// Transactions first, then the user's records that name the item (its update-mode Link tokens, the
    /// exchange idempotency record), then the item record (and with it the wrapped key), then whatever a
    /// concurrent sync wrote in between. A retry after a failure anywhere finishes the job.
    async fn count_relink_prompt(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError> {
        self.set_prompts(user, item_id, "ADD #p :n", 1).await
    }

    async fn reset_relink_prompts(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError> {
        self.set_prompts(user, item_id, "SET #p = :n", 0).await
    }

    async fn delete_item(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError> {
        self.delete_item_partition(item_id).await?;
        self.delete_item_references(user, item_id).await?;
        self.delete(item_key(user, item_id)).await?;
        self.delete_item_partition(item_id).await
    }
}

#[async_trait]
impl SyncStore for DynamoStore {
    async fn acquire_sync_lease(
        &self,
        user: &UserId,
        item_id: &ItemId,
        owner: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<Option<String>, LeaseError> {
        if owner.is_empty() {
            return Err(StoreError::Invalid("lease owner").into());
        }
        let until = time::Duration::try_from(ttl)
            .ok()
            .and_then(|d| now.checked_add(d))
            .ok_or(StoreError::Invalid("lease duration"))?;
        self.count();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(user, item_id)))
            .update_expression("SET #owner = :owner, #until = :until")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(#owner) OR #until <= :now OR #owner = :owner)",
            )
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(epoch_millis(until)))
            .expression_attribute_values(":now", n(epoch_millis(now)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let out = result.map_err(lease_failure)?;
        Ok(out.attributes.as_ref().and_then(|a| get_s(a, SYNC_CURSOR)).map(str::to_owned))
    }

    async fn save_sync_cursor(
        &self,
        user: &UserId,
        item_id: &ItemId,
        owner: &str,
        cursor: &str,
    ) -> Result<(), LeaseError> {
        self.count();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(user, item_id)))
            .update_expression("SET #cursor = :cursor")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#cursor", SYNC_CURSOR)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_values(":cursor", s(cursor))
            .expression_attribute_values(":owner", s(owner))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        result.map(drop).map_err(lease_failure)
    }

    async fn release_sync_lease(&self, user: &UserId, item_id: &ItemId, owner: &str) -> Result<(), StoreError> {
        self.count();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(user, item_id)))
            .update_expression("REMOVE #owner, #until")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Not ours any more (expired and taken over) or the item is gone: nothing to release.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }
}
