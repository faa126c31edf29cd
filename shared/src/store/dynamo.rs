//! [`ItemStore`] on DynamoDB: the adapter, its low-level call helpers, and the port implementation (whose
//! methods live by record family in `items.rs`, `transactions.rs` and `records.rs`).

use super::convert::{Attrs, n};
use super::keys::*;
use crate::domain::{AccountId, ItemId, ItemRecord, Transaction, TransactionId, UserId};
use crate::ports::{
    ChurnCheckpoint, ChurnIndex, ChurnPage, IdleUser, ItemKey, ItemStore, LeaseError, LinkEventRecord, LinkTokenRecord,
    SealedItem, StoreError, TransactionChange, TransactionPage, UserProfile,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::{Date, OffsetDateTime};

/// BatchWriteItem's limit.
const BATCH_SIZE: usize = 25;
/// Attempts at a batch whose items come back unprocessed (throttling), with exponential backoff.
const BATCH_ATTEMPTS: u32 = 8;
/// How often one container records a user's activity at most (the churn remover counts in days).
pub const DEFAULT_TOUCH_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// The single-table store of `docs/data-model.md`.
pub struct DynamoStore {
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) table: String,
    calls: AtomicU64,
    pub(super) touch_interval: Duration,
    /// Users whose activity this container recorded recently, and when.
    pub(super) recent_touches: Mutex<HashMap<UserId, OffsetDateTime>>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore").field("table", &self.table).finish_non_exhaustive()
    }
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            calls: AtomicU64::new(0),
            touch_interval: DEFAULT_TOUCH_INTERVAL,
            recent_touches: Mutex::new(HashMap::new()),
        }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(sdk), table)
    }

    /// How often [`ItemStore::touch_user`] writes for one user from this container (zero: every time).
    pub fn with_touch_interval(mut self, interval: Duration) -> Self {
        self.touch_interval = interval;
        self
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// DynamoDB calls made so far (every request, including retries of unprocessed batches).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub(super) fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    // ---- call helpers ---------------------------------------------------------------------------------

    pub(super) async fn get(&self, key: Attrs, consistent: bool) -> Result<Option<Attrs>, StoreError> {
        self.count();
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    pub(super) async fn put(&self, attrs: Attrs) -> Result<(), StoreError> {
        self.count();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }

    /// Puts `attrs` unless a record with its key exists (and, for expiring records, has not expired at
    /// `now`). Returns whether it was written.
    pub(super) async fn put_if_absent(&self, attrs: Attrs, now: Option<OffsetDateTime>) -> Result<bool, StoreError> {
        self.count();
        let mut put = self.client.put_item().table_name(&self.table).set_item(Some(attrs));
        put = match now {
            Some(now) => put
                .condition_expression("attribute_not_exists(PK) OR #ttl <= :now")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":now", n(epoch(now))),
            None => put.condition_expression("attribute_not_exists(PK)"),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(sdk_error("PutItem", e)),
        }
    }

    pub(super) async fn delete(&self, key: Attrs) -> Result<(), StoreError> {
        self.count();
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", e))?;
        Ok(())
    }

    pub(super) fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.table)
    }

    /// One page of a query, from `start`.
    pub(super) async fn query_page(
        &self,
        query: QueryFluentBuilder,
        start: Option<Attrs>,
    ) -> Result<(Vec<Attrs>, Option<Attrs>), StoreError> {
        self.count();
        let out = query.set_exclusive_start_key(start).send().await.map_err(|e| sdk_error("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    /// Every page of a query.
    pub(super) async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Attrs>, StoreError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let (items, next) = self.query_page(query.clone(), start).await?;
            all.extend(items);
            match next {
                Some(next) => start = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Writes `requests` in batches of 25, retrying unprocessed items with backoff.
    pub(super) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let mut batch: Vec<WriteRequest> = requests.by_ref().take(BATCH_SIZE).collect();
            let mut attempt = 0;
            while !batch.is_empty() {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(25 * 2u64.pow(attempt.min(6)))).await;
                }
                if attempt == BATCH_ATTEMPTS {
                    return Err(StoreError::Unprocessed { op: "BatchWriteItem", remaining: batch.len() });
                }
                attempt += 1;
                self.count();
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, batch)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchWriteItem", e))?;
                batch = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            }
        }
        Ok(())
    }
}

pub(super) fn put_request(attrs: Attrs) -> Result<WriteRequest, StoreError> {
    let put = PutRequest::builder().set_item(Some(attrs)).build().map_err(|e| build_error("PutRequest", e))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

pub(super) fn delete_request(key: Attrs) -> Result<WriteRequest, StoreError> {
    let delete = DeleteRequest::builder().set_key(Some(key)).build().map_err(|e| build_error("DeleteRequest", e))?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

fn build_error(op: &'static str, e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Dynamo { op, message: e.to_string(), source: Box::new(e) }
}

/// A failed call, with the SDK's full error context in the message and the error kept as the source.
pub(super) fn sdk_error<E, R>(op: &'static str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Dynamo { op, message: DisplayErrorContext(&e).to_string(), source: Box::new(e) }
}

pub(super) fn is_conditional_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

/// `SET #a0 = :a0, …` over `attrs` (minus the key), with its names and values.
pub(super) fn set_expression(attrs: Attrs) -> (String, HashMap<String, String>, Attrs) {
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut sets = Vec::new();
    let mut attrs: Vec<(String, aws_sdk_dynamodb::types::AttributeValue)> =
        attrs.into_iter().filter(|(k, _)| k != PK && k != SK).collect();
    attrs.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (name, value)) in attrs.into_iter().enumerate() {
        sets.push(format!("#a{i} = :a{i}"));
        names.insert(format!("#a{i}"), name);
        values.insert(format!(":a{i}"), value);
    }
    (format!("SET {}", sets.join(", ")), names, values)
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn put_new_item(&self, item: &ItemRecord, sealed: &SealedItem) -> Result<(), StoreError> {
        self.put_new_item_impl(item, sealed).await
    }
    async fn put_exchanged_item(
        &self,
        item: &ItemRecord,
        sealed: &SealedItem,
        exchange_key: &str,
    ) -> Result<(), StoreError> {
        self.put_exchanged_item_impl(item, sealed, exchange_key).await
    }
    async fn get_item_sealed(
        &self,
        user: &UserId,
        item_id: &ItemId,
    ) -> Result<Option<(ItemRecord, SealedItem)>, StoreError> {
        self.get_item_sealed_impl(user, item_id).await
    }
    async fn find_item_sealed(&self, item_id: &ItemId) -> Result<Option<(ItemRecord, SealedItem)>, StoreError> {
        self.find_item_sealed_impl(item_id).await
    }
    async fn get_item(&self, user: &UserId, item_id: &ItemId) -> Result<Option<ItemRecord>, StoreError> {
        self.get_item_impl(user, item_id).await
    }
    async fn find_item(&self, item_id: &ItemId) -> Result<Option<ItemRecord>, StoreError> {
        self.find_item_impl(item_id).await
    }
    async fn list_items(&self, user: &UserId) -> Result<Vec<ItemRecord>, StoreError> {
        self.list_items_impl(user).await
    }
    async fn update_item(&self, item: &mut ItemRecord) -> Result<(), StoreError> {
        self.update_item_impl(item).await
    }
    async fn load_sealed(&self, user: &UserId, item_id: &ItemId) -> Result<Option<SealedItem>, StoreError> {
        self.load_sealed_impl(user, item_id).await
    }
    async fn delete_item(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError> {
        self.delete_item_impl(user, item_id).await
    }
    async fn acquire_sync_lease(
        &self,
        user: &UserId,
        item_id: &ItemId,
        owner: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<Option<String>, LeaseError> {
        self.acquire_sync_lease_impl(user, item_id, owner, now, ttl).await
    }
    async fn save_sync_cursor(
        &self,
        user: &UserId,
        item_id: &ItemId,
        owner: &str,
        cursor: &str,
    ) -> Result<(), LeaseError> {
        self.save_sync_cursor_impl(user, item_id, owner, cursor).await
    }
    async fn release_sync_lease(&self, user: &UserId, item_id: &ItemId, owner: &str) -> Result<(), StoreError> {
        self.release_sync_lease_impl(user, item_id, owner).await
    }
    async fn apply_transaction_changes(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        changes: &[TransactionChange],
    ) -> Result<(), StoreError> {
        self.apply_transaction_changes_impl(item_id, Some(key), changes).await
    }
    async fn upsert_transactions(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        transactions: &[Transaction],
    ) -> Result<(), StoreError> {
        let changes: Vec<TransactionChange> =
            transactions.iter().map(|t| TransactionChange::Upsert(Box::new(t.clone()))).collect();
        self.apply_transaction_changes_impl(item_id, Some(key), &changes).await
    }
    async fn delete_transactions(&self, item_id: &ItemId, ids: &[TransactionId]) -> Result<(), StoreError> {
        let changes: Vec<TransactionChange> = ids.iter().cloned().map(TransactionChange::Remove).collect();
        self.apply_transaction_changes_impl(item_id, None, &changes).await
    }
    async fn delete_account_transactions(&self, item_id: &ItemId, account_id: &AccountId) -> Result<usize, StoreError> {
        self.delete_account_transactions_impl(item_id, account_id).await
    }
    async fn list_transactions(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<TransactionPage, StoreError> {
        self.list_transactions_impl(item_id, key, cursor, limit).await
    }
    async fn touch_user(&self, user: &UserId, now: OffsetDateTime) -> Result<(), StoreError> {
        self.touch_user_impl(user, now).await
    }
    async fn get_user(&self, user: &UserId) -> Result<Option<UserProfile>, StoreError> {
        self.get_user_impl(user).await
    }
    async fn record_relink_prompt(&self, user: &UserId) -> Result<u32, StoreError> {
        self.record_relink_prompt_impl(user).await
    }
    async fn reset_relink_prompts(&self, user: &UserId) -> Result<(), StoreError> {
        self.reset_relink_prompts_impl(user).await
    }
    async fn put_link_token(&self, user: &UserId, record: &LinkTokenRecord) -> Result<(), StoreError> {
        self.put_link_token_impl(user, record).await
    }
    async fn latest_link_token(
        &self,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<LinkTokenRecord>, StoreError> {
        self.latest_link_token_impl(user, now).await
    }
    async fn get_link_token(&self, user: &UserId, link_token: &str) -> Result<Option<LinkTokenRecord>, StoreError> {
        self.get_link_token_impl(user, link_token).await
    }
    async fn put_link_events(&self, events: &[LinkEventRecord]) -> Result<(), StoreError> {
        self.put_link_events_impl(events).await
    }
    async fn link_events_between(&self, from: Date, to: Date) -> Result<Vec<LinkEventRecord>, StoreError> {
        self.link_events_between_impl(from, to).await
    }
    async fn put_exchange(&self, user: &UserId, key: &str, item_id: &ItemId) -> Result<bool, StoreError> {
        self.put_exchange_impl(user, key, item_id).await
    }
    async fn get_exchange(&self, user: &UserId, key: &str) -> Result<Option<ItemId>, StoreError> {
        self.get_exchange_impl(user, key).await
    }
    async fn webhook_seen(&self, key: &str) -> Result<bool, StoreError> {
        self.webhook_seen_impl(key).await
    }
    async fn mark_webhook_seen(&self, key: &str) -> Result<bool, StoreError> {
        self.mark_webhook_seen_impl(key).await
    }
    async fn forget_webhook(&self, key: &str) -> Result<(), StoreError> {
        self.forget_webhook_impl(key).await
    }
    async fn churn_candidates(
        &self,
        index: ChurnIndex,
        shard: u8,
        cutoff: OffsetDateTime,
        page_token: Option<&str>,
    ) -> Result<ChurnPage, StoreError> {
        self.churn_candidates_impl(index, shard, cutoff, page_token).await
    }
    async fn forget_idle_user(&self, idle: &IdleUser) -> Result<bool, StoreError> {
        self.forget_idle_user_impl(idle).await
    }
    async fn get_churn_checkpoint(&self, run_id: &str) -> Result<Option<ChurnCheckpoint>, StoreError> {
        self.get_churn_checkpoint_impl(run_id).await
    }
    async fn put_churn_checkpoint(&self, run_id: &str, checkpoint: &ChurnCheckpoint) -> Result<(), StoreError> {
        self.put_churn_checkpoint_impl(run_id, checkpoint).await
    }
}
