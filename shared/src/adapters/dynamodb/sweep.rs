//! The reconciliation sweep's records: the quiet index (`GSI2`, `QUIET#<shard>`, by when weft last heard of
//! each item; written with every item, see [`super::convert::item_to_attrs`]), sweep run checkpoints
//! (`SWEEP#RUN#<run_id>` / `CHECKPOINT`) and the sweep's lease (`SWEEP#LEASE` / `LEASE`: `owner`, `until` in
//! epoch seconds; one conditional `PutItem` takes it).

use super::convert::{Attrs, expired, item_from_attrs, key, n, s};
use super::keys::*;
use super::records::now;
use super::{DynamoStore, conversion, corrupt, is_conditional_failure, sdk_error};
use crate::domain::{CHURN_SHARDS, SweepCheckpoint};
use crate::ports::{QuietPage, StoreError, SweepClaim, SweepStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use time::OffsetDateTime;

/// How long a sweep run's checkpoint is kept.
const CHECKPOINT_TTL: time::Duration = time::Duration::days(30);
/// Items per page of the quiet index.
const QUIET_PAGE: i32 = 100;

fn check_run_id(run_id: &str) -> Result<(), StoreError> {
    if valid_key_part(run_id) { Ok(()) } else { Err(StoreError::Invalid("sweep run id")) }
}

const LEASE_PK: &str = "SWEEP#LEASE";
const LEASE_SK: &str = "LEASE";

#[async_trait]
impl SweepStore for DynamoStore {
    async fn claim_sweep(
        &self,
        run_id: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<SweepClaim, StoreError> {
        check_run_id(run_id)?;
        let mut attrs = key(LEASE_PK.to_owned(), LEASE_SK);
        attrs.insert("owner".to_owned(), s(run_id));
        attrs.insert("until".to_owned(), n(epoch(until)));
        attrs.insert(TYPE.to_owned(), s("SWEEP_LEASE"));
        attrs.insert(TTL.to_owned(), n(epoch(until + time::Duration::days(1))));
        self.count();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .condition_expression("attribute_not_exists(PK) OR #until < :now OR #owner = :run")
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", n(epoch(now)))
            .expression_attribute_values(":run", s(run_id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(SweepClaim::Claimed),
            Err(e) if is_conditional_failure(&e) => {
                let holder = match e.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(c)) => {
                        c.item().and_then(|i| i.get("owner")).and_then(|v| v.as_s().ok()).cloned()
                    }
                    _ => None,
                };
                Ok(SweepClaim::HeldBy(holder.unwrap_or_default()))
            }
            Err(e) => Err(sdk_error("PutItem", e)),
        }
    }

    async fn release_sweep(&self, run_id: &str) -> Result<(), StoreError> {
        check_run_id(run_id)?;
        self.count();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(LEASE_PK.to_owned(), LEASE_SK)))
            .condition_expression("#owner = :run")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":run", s(run_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Another run's, or none: not ours to give up.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(sdk_error("DeleteItem", e)),
        }
    }

    async fn quiet_items(
        &self,
        shard: u8,
        cutoff: OffsetDateTime,
        page_token: Option<&str>,
    ) -> Result<QuietPage, StoreError> {
        if shard >= CHURN_SHARDS {
            return Err(StoreError::Invalid("quiet index shard"));
        }
        let (rows, next_page) = self.gsi2_page_before(&quiet_pk(shard), cutoff, page_token, QUIET_PAGE).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            match item_from_attrs(row) {
                Ok(item) => items.push(item),
                // One bad record must not stop the sweep of every later item.
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::chain(&e), "malformed item record skipped by the sweep")
                }
            }
        }
        Ok(QuietPage { items, next_page })
    }

    async fn get_sweep_checkpoint(&self, run_id: &str) -> Result<Option<SweepCheckpoint>, StoreError> {
        check_run_id(run_id)?;
        let Some(attrs) = self.get(key(sweep_run_pk(run_id), CHECKPOINT_SK), true).await? else { return Ok(None) };
        if expired(&attrs, now()) {
            return Ok(None);
        }
        from_item(attrs).map(Some).map_err(|e| corrupt("sweep checkpoint", Some(Box::new(e))))
    }

    async fn put_sweep_checkpoint(&self, run_id: &str, checkpoint: &SweepCheckpoint) -> Result<(), StoreError> {
        check_run_id(run_id)?;
        let mut attrs: Attrs = to_item(checkpoint).map_err(conversion)?;
        attrs.insert(PK.to_owned(), s(sweep_run_pk(run_id)));
        attrs.insert(SK.to_owned(), s(CHECKPOINT_SK));
        attrs.insert(TYPE.to_owned(), s("SWEEP_CHECKPOINT"));
        attrs.insert(TTL.to_owned(), n(epoch(now() + CHECKPOINT_TTL)));
        self.put(attrs).await
    }
}
