//! The DynamoDB adapter of the store ports ([`crate::ports::Store`]): the single table of
//! `docs/data-model.md`.
//!
//! - `keys`: the key layout, sortable timestamps, opaque cursors (pure);
//! - `convert`: domain records to and from attribute maps (with `serde_dynamo`);
//! - this module: [`DynamoStore`] and its call helpers;
//! - `items` ([`ItemStore`](crate::ports::ItemStore), [`SyncStore`](crate::ports::SyncStore)),
//!   `transactions` ([`TransactionStore`](crate::ports::TransactionStore)), `records` (users, Link, exchange
//!   records, webhook dedup, churn), `erasure` ([`UserRecords`](crate::ports::UserRecords), Link-session
//!   markers): each implements its ports directly.
//! - `rotation` ([`RotationStore`](crate::ports::RotationStore)): the item scan, sealed secrets replaced,
//!   rotation checkpoints.
//!
//! SDK types never leave this module: callers see domain types, the port's records and [`StoreError`]s.
//!
//! [`StoreError`]: crate::ports::StoreError

mod audit;
mod convert;
mod erasure;
mod items;
mod keys;
mod limits;
mod outbox;
mod records;
mod rotation;
mod sweep;
mod transactions;

pub use keys::churn_shard;
pub use transactions::MAX_PAGE;

use crate::domain::UserId;
use crate::ports::StoreError;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
use backon::{ExponentialBuilder, RetryableWithContext};
use convert::{Attrs, n};
use keys::*;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;

/// BatchWriteItem's limit.
const BATCH_SIZE: usize = 25;
/// Attempts at a batch whose items come back unprocessed (throttling), with exponential backoff ([`backon`]).
const BATCH_ATTEMPTS: u32 = 8;
/// How often one container records a user's activity at most (the churn remover counts in days).
pub const DEFAULT_TOUCH_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// How long audit records are kept unless configured (400 days: a year and a margin).
pub const DEFAULT_AUDIT_RETENTION: time::Duration = time::Duration::days(400);

/// The single-table store of `docs/data-model.md`.
pub struct DynamoStore {
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) table: String,
    calls: AtomicU64,
    pub(super) touch_interval: Duration,
    /// How long audit records are kept (`WEFT_AUDIT_RETENTION_DAYS`).
    pub(super) audit_retention: time::Duration,
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
            audit_retention: DEFAULT_AUDIT_RETENTION,
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

    /// How long audit records are kept.
    pub fn with_audit_retention(mut self, retention: time::Duration) -> Self {
        self.audit_retention = retention;
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

    /// One page of a `GSI2` partition's entries sorted before `cutoff` (the churn error index, the inactive
    /// users, the quiet index), from `page_token`: a cursor this method issued for the same partition, else
    /// [`StoreError::InvalidCursor`]. The rows, and the next page's cursor (`None` when the partition is done).
    pub(super) async fn gsi2_page_before(
        &self,
        partition: &str,
        cutoff: time::OffsetDateTime,
        page_token: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Attrs>, Option<String>), StoreError> {
        const CURSOR_KEYS: [&str; 4] = [keys::PK, keys::SK, keys::GSI2PK, keys::GSI2SK];
        let start = match page_token {
            None => None,
            Some(token) => {
                let k = keys::decode_cursor(token, &CURSOR_KEYS).ok_or(StoreError::InvalidCursor)?;
                if k.get(keys::GSI2PK).map(String::as_str) != Some(partition) {
                    return Err(StoreError::InvalidCursor);
                }
                Some(convert::attrs_from_strings(k))
            }
        };
        let query = self
            .query()
            .index_name(keys::GSI2)
            .key_condition_expression("GSI2PK = :pk AND GSI2SK < :cutoff")
            .expression_attribute_values(":pk", convert::s(partition))
            .expression_attribute_values(":cutoff", convert::s(keys::sort_time(cutoff)))
            .limit(limit);
        let (rows, next) = self.query_page(query, start).await?;
        let next_page = next.and_then(|k| convert::string_key(&k, &CURSOR_KEYS)).map(|k| keys::encode_cursor(&k));
        Ok((rows, next_page))
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
            let batch: Vec<WriteRequest> = requests.by_ref().take(BATCH_SIZE).collect();
            // One BatchWriteItem; the context carried to the next attempt is what came back unprocessed.
            // `Err(None)`: some writes are left (retried); `Err(Some(_))`: the call failed (not retried).
            let write = move |batch: Vec<WriteRequest>| async move {
                self.count();
                match self.client.batch_write_item().request_items(&self.table, batch).send().await {
                    Err(e) => (Vec::new(), Err(Some(sdk_error("BatchWriteItem", e)))),
                    Ok(out) => {
                        let left = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                        let result = if left.is_empty() { Ok(()) } else { Err(None) };
                        (left, result)
                    }
                }
            };
            let (left, result) =
                write.retry(batch_backoff()).sleep(tokio::time::sleep).when(Option::is_none).context(batch).await;
            result.map_err(|e| {
                e.unwrap_or_else(|| {
                    let unprocessed =
                        format!("{} writes still unprocessed after {BATCH_ATTEMPTS} attempts", left.len());
                    StoreError::backend("BatchWriteItem", unprocessed)
                })
            })?;
        }
        Ok(())
    }
}

/// Backoff between attempts at a batch's unprocessed writes: 50 ms, doubling, at most 1.6 s, no jitter.
fn batch_backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_millis(1600))
        .with_factor(2.0)
        .with_max_times(BATCH_ATTEMPTS as usize - 1)
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
    StoreError::backend(op, e)
}

/// A failed call, with the SDK's full error context in the message and the error kept as the source.
pub(super) fn sdk_error<E, R>(op: &'static str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::backend(op, ContextError(DisplayErrorContext(&e).to_string(), Box::new(e)))
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

/// An SDK error with its full context as the message (the SDK's own `Display` says only "service error"),
/// the error itself kept as the source.
#[derive(Debug)]
struct ContextError(String, Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ContextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.1.as_ref())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A stored record that does not have the expected shape.
pub(super) fn corrupt(what: &'static str, source: Option<BoxError>) -> StoreError {
    StoreError::backend("decode", Corrupt { what, source })
}

#[derive(Debug, thiserror::Error)]
#[error("stored {what} is malformed")]
struct Corrupt {
    what: &'static str,
    #[source]
    source: Option<BoxError>,
}

/// A record that did not convert to or from DynamoDB attributes.
pub(super) fn conversion(e: serde_dynamo::Error) -> StoreError {
    StoreError::backend("convert", e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn unprocessed_writes_back_off_exponentially_for_eight_attempts() {
        let delays: Vec<u128> = batch_backoff().build().map(|d| d.as_micros().div_ceil(1000)).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1600, 1600], "seven waits between eight attempts");
    }
}
