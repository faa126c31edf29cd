//! Abuse-limit counters and blocks in the user's partition: `USER#<user>` / `LIMIT#<name>#<window start>`
//! (`n`, a number; `taken_at`, its last use taken, epoch seconds; `ins`, the institutions of credential
//! failures; `ttl`, the window's end) and
//! `USER#<user>` / `BLOCK#<name>` (`until`; `ttl`). Counting is one conditional `UpdateItem`: DynamoDB
//! applies it atomically, so of concurrent callers exactly the limit's worth succeed.

use super::convert::{get_n, key, n, s};
use super::keys::*;
use super::{DynamoStore, is_conditional_failure, sdk_error};
use crate::domain::UserId;
use crate::ports::{LimitStore, LimitWindow, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use time::OffsetDateTime;

fn limit_key(window: &LimitWindow) -> Result<super::convert::Attrs, StoreError> {
    if !valid_key_part(&window.name) {
        return Err(StoreError::Invalid("limit name"));
    }
    Ok(key(user_pk(&window.user), format!("LIMIT#{}#{}", window.name, epoch(window.start))))
}

fn block_key(user: &UserId, name: &str) -> Result<super::convert::Attrs, StoreError> {
    if !valid_key_part(name) {
        return Err(StoreError::Invalid("block name"));
    }
    Ok(key(user_pk(user), format!("BLOCK#{name}")))
}

impl DynamoStore {
    /// `SET type, ttl` and `update`, on the window's counter; the `ttl` keeps the record no longer than the
    /// window (a counter without a window keeps no `ttl`).
    async fn update_counter(
        &self,
        window: &LimitWindow,
        update: &str,
        condition: Option<&str>,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<super::convert::Attrs>, StoreError> {
        let mut expression = "SET #type = :type".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(limit_key(window)?))
            .expression_attribute_names("#type", TYPE)
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":type", s("LIMIT"));
        if let Some(expires_at) = window.expires_at {
            expression.push_str(", #ttl = :ttl");
            request = request
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":ttl", n(epoch(expires_at)));
        }
        expression.push(' ');
        expression.push_str(update);
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        if let Some(condition) = condition {
            request = request.condition_expression(condition);
        }
        self.count();
        match request.update_expression(expression).return_values(ReturnValue::AllNew).send().await {
            Ok(out) => Ok(out.attributes),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }
}

#[async_trait]
impl LimitStore for DynamoStore {
    async fn take(&self, window: &LimitWindow, limit: u32, now: OffsetDateTime) -> Result<bool, StoreError> {
        if limit == 0 {
            return Ok(false);
        }
        let counted = self
            .update_counter(
                window,
                ", #at = :now ADD #n :one",
                Some("attribute_not_exists(#n) OR #n < :limit"),
                &[("#at", "taken_at")],
                vec![(":one", n(1)), (":limit", n(limit)), (":now", n(epoch(now)))],
            )
            .await?;
        Ok(counted.is_some())
    }

    async fn give_back(&self, window: &LimitWindow) -> Result<(), StoreError> {
        self.update_counter(window, "ADD #n :minus", Some("#n > :zero"), &[], vec![(":minus", n(-1)), (":zero", n(0))])
            .await
            .map(drop)
    }

    async fn reset(&self, window: &LimitWindow, count: u32, quiet_since: OffsetDateTime) -> Result<bool, StoreError> {
        let set = self
            .update_counter(
                window,
                ", #n = :count",
                Some("attribute_not_exists(#at) OR #at < :since"),
                &[("#at", "taken_at")],
                vec![(":count", n(count)), (":since", n(epoch(quiet_since)))],
            )
            .await?;
        Ok(set.is_some())
    }

    async fn record_failure(&self, window: &LimitWindow, institution: &str) -> Result<(u32, u32), StoreError> {
        let institution = if institution.is_empty() { "unknown" } else { institution };
        let attrs = self
            .update_counter(
                window,
                "ADD #n :one, #ins :ins",
                None,
                &[("#ins", "ins")],
                vec![(":one", n(1)), (":ins", AttributeValue::Ss(vec![institution.to_owned()]))],
            )
            .await?
            .unwrap_or_default();
        let count = get_n::<u32>(&attrs, "n").unwrap_or(1);
        let distinct = attrs.get("ins").and_then(|v| v.as_ss().ok()).map_or(1, |set| set.len() as u32);
        Ok((count, distinct))
    }

    async fn block(&self, user: &UserId, name: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        self.count();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(block_key(user, name)?))
            .update_expression("SET #type = :type, #until = :until, #ttl = :until")
            .condition_expression("attribute_not_exists(#until) OR #until < :until")
            .expression_attribute_names("#type", TYPE)
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":type", s("BLOCK"))
            .expression_attribute_values(":until", n(epoch(until)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()), // a later block stands
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    async fn blocked_until(
        &self,
        user: &UserId,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let Some(attrs) = self.get(block_key(user, name)?, true).await? else { return Ok(None) };
        let until = get_n::<i64>(&attrs, "until").and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        Ok(until.filter(|until| *until > now))
    }
}
