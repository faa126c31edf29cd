//! The other records: user profiles, Link tokens and events, exchange idempotency, webhook dedup, the
//! churn index and churn checkpoints.

use super::convert::{Attrs, expired, get_n, get_s, item_from_attrs, key, n, profile_user, s};
use super::keys::*;
use super::{DynamoStore, is_conditional_failure, put_request, sdk_error};
use super::{conversion, corrupt};
use crate::domain::{
    CHURN_SHARDS, ChurnCheckpoint, ChurnIndex, ItemId, LinkEventRecord, LinkTokenMark, LinkTokenRecord, UserId,
};
use crate::ports::{
    ChurnCandidate, ChurnPage, ChurnStore, ExchangeClaim, ExchangeRecords, IdleUser, LinkStore, StoreError,
    UserProfile, UserStore, WebhookDedup,
};
use async_trait::async_trait;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use std::collections::BTreeMap;
use time::{Date, Duration, OffsetDateTime};

/// How long each expiring record is kept (DynamoDB TTL).
const EXCHANGE_TTL: Duration = Duration::days(1);
const WEBHOOK_TTL: Duration = Duration::days(3);
const LINK_EVENT_TTL: Duration = Duration::days(400);
/// How long a Link token is kept past its expiry: Plaid retries a LINK webhook for up to a day, and the
/// webhook names the token, not its user.
const LINK_TOKEN_GRACE: Duration = Duration::days(1);
const CHECKPOINT_TTL: Duration = Duration::days(30);
/// The longest day range of Link events one call reads.
const MAX_EVENT_DAYS: i64 = 400;
/// Profiles per page of the inactive-users index (each expands to the user's items).
const INACTIVE_PAGE: i32 = 25;
/// Items per page of the error index.
const ERROR_PAGE: i32 = 100;
/// Users remembered by the activity throttle before it starts over.
const MAX_RECENT_TOUCHES: usize = 10_000;

pub(super) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// What tells a session's events at one time apart in its sort key: Plaid's `event_id` (a UUID; hashed
/// if it is not a plain key part), else the position in the app's batch.
fn event_discriminator(e: &LinkEventRecord) -> String {
    match &e.event_id {
        Some(id) if valid_key_part(id) => id.clone(),
        Some(id) => sha256_hex(id),
        None => format!("{:06}", e.seq),
    }
}

fn link_token_from_row(row: Attrs) -> Result<(UserId, LinkTokenRecord), StoreError> {
    let user = get_s(&row, "user_id").and_then(|u| UserId::parse(u).ok()).ok_or(corrupt("link token", None))?;
    let record = from_item(row).map_err(|e| corrupt("link token", Some(Box::new(e))))?;
    Ok((user, record))
}

/// When a Link event expires (epoch seconds).
fn link_event_ttl(e: &LinkEventRecord) -> i64 {
    epoch(e.timestamp.checked_add(LINK_EVENT_TTL).unwrap_or(e.timestamp))
}

fn check_key_part(value: &str, what: &'static str) -> Result<(), StoreError> {
    if valid_key_part(value) { Ok(()) } else { Err(StoreError::Invalid(what)) }
}

/// The record saying which item the exchange keyed `key_` made (kept a day).
pub(super) fn exchange_record(
    user: &UserId,
    key_: &str,
    item_id: &ItemId,
    now: OffsetDateTime,
) -> Result<Attrs, StoreError> {
    check_key_part(key_, "exchange idempotency key")?;
    let mut attrs = key(user_pk(user), exchange_sk(key_));
    attrs.insert(TYPE.to_owned(), s("EXCHANGE"));
    attrs.insert("item_id".to_owned(), s(item_id.as_str()));
    attrs.insert(TTL.to_owned(), n(epoch(now + EXCHANGE_TTL)));
    Ok(attrs)
}

impl DynamoStore {
    /// The user's Link token records, newest first, optionally only the one with `token_hash`.
    async fn link_tokens(&self, user: &UserId, token_hash: Option<&str>) -> Result<Vec<LinkTokenRecord>, StoreError> {
        let mut query = self
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .expression_attribute_values(":prefix", s(LINK_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true);
        if let Some(hash) = token_hash {
            query = query.filter_expression("token_hash = :hash").expression_attribute_values(":hash", s(hash));
        }
        self.query_all(query)
            .await?
            .into_iter()
            .map(|row| from_item(row).map_err(|e| corrupt("link token", Some(Box::new(e)))))
            .collect()
    }
}

#[async_trait]
impl UserStore for DynamoStore {
    // ---- users -------------------------------------------------------------------------------------

    async fn touch_user(&self, user: &UserId, at: OffsetDateTime) -> Result<(), StoreError> {
        {
            let recent = self.recent_touches.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(last) = recent.get(user)
                && at >= *last
                && at - *last < self.touch_interval
            {
                return Ok(());
            }
        }
        let t = sort_time(at);
        self.count();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), PROFILE_SK)))
            .update_expression(
                "SET #type = :type, #user = :user, #last = :t, #g2pk = :g2pk, #g2sk = :t, \
                 #prompts = if_not_exists(#prompts, :zero)",
            )
            .condition_expression("attribute_not_exists(#last) OR #last < :t")
            .expression_attribute_names("#type", TYPE)
            .expression_attribute_names("#user", "user_id")
            .expression_attribute_names("#last", "last_active_at")
            .expression_attribute_names("#g2pk", GSI2PK)
            .expression_attribute_names("#g2sk", GSI2SK)
            .expression_attribute_names("#prompts", "ignored_prompts")
            .expression_attribute_values(":type", s("PROFILE"))
            .expression_attribute_values(":user", s(user.as_str()))
            .expression_attribute_values(":t", s(t))
            .expression_attribute_values(":g2pk", s(churn_active_pk(churn_shard(user.as_str()))))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            // A later activity is already recorded: never move it backwards.
            Ok(_) => {}
            Err(e) if is_conditional_failure(&e) => {}
            Err(e) => return Err(sdk_error("UpdateItem", e)),
        }
        let mut recent = self.recent_touches.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() >= MAX_RECENT_TOUCHES {
            recent.clear();
        }
        recent.entry(user.clone()).and_modify(|t| *t = (*t).max(at)).or_insert(at);
        Ok(())
    }

    async fn get_user(&self, user: &UserId) -> Result<Option<UserProfile>, StoreError> {
        let Some(attrs) = self.get(key(user_pk(user), PROFILE_SK), true).await? else { return Ok(None) };
        Ok(Some(UserProfile {
            user_id: profile_user(&attrs)?,
            last_active_at: get_s(&attrs, "last_active_at").and_then(parse_sort_time),
        }))
    }
}

#[async_trait]
impl LinkStore for DynamoStore {
    // ---- Link tokens ---------------------------------------------------------------------------------

    async fn put_link_token(&self, user: &UserId, record: &LinkTokenRecord) -> Result<(), StoreError> {
        let hash = sha256_hex(record.link_token.as_str());
        let mut attrs: Attrs = to_item(record).map_err(conversion)?;
        attrs.insert(PK.to_owned(), s(user_pk(user)));
        attrs.insert(SK.to_owned(), s(link_sk(record.created_at, &hash)));
        attrs.insert(TYPE.to_owned(), s("LINK_TOKEN"));
        attrs.insert("user_id".to_owned(), s(user.as_str()));
        attrs.insert(GSI1PK.to_owned(), s(link_token_gsi1pk(&hash)));
        attrs.insert(GSI1SK.to_owned(), s(LINK_TOKEN_GSI1SK));
        if record.is_open() {
            attrs.insert(GSI2PK.to_owned(), s(link_open_pk(churn_shard(&hash))));
            attrs.insert(GSI2SK.to_owned(), s(sort_time(record.created_at)));
        }
        attrs.insert("token_hash".to_owned(), s(hash));
        attrs.insert(TTL.to_owned(), n(epoch(record.expiration + LINK_TOKEN_GRACE)));
        self.put(attrs).await
    }

    async fn find_link_token(&self, link_token: &str) -> Result<Option<(UserId, LinkTokenRecord)>, StoreError> {
        let query = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(link_token_gsi1pk(&sha256_hex(link_token))));
        for row in self.query_all(query).await? {
            if expired(&row, now()) {
                continue;
            }
            let (user, record) = link_token_from_row(row)?;
            if record.link_token.as_str() == link_token {
                return Ok(Some((user, record)));
            }
        }
        Ok(None)
    }

    /// One `UpdateItem`: sets the mark, leaves the open index; conditional on the record being there and not
    /// so marked yet.
    async fn mark_link_token(
        &self,
        user: &UserId,
        record: &LinkTokenRecord,
        mark: LinkTokenMark,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let field = match mark {
            LinkTokenMark::Closed => "closed_at",
            LinkTokenMark::Asked => "asked_at",
        };
        let at =
            at.format(&time::format_description::well_known::Rfc3339).map_err(|e| StoreError::backend("convert", e))?;
        let hash = sha256_hex(record.link_token.as_str());
        self.count();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), link_sk(record.created_at, &hash))))
            .update_expression("SET #mark = :at REMOVE #gsi2pk, #gsi2sk")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(#mark)")
            .expression_attribute_names("#mark", field)
            .expression_attribute_names("#gsi2pk", GSI2PK)
            .expression_attribute_names("#gsi2sk", GSI2SK)
            .expression_attribute_values(":at", s(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    /// The first page of each shard of the open index before the cutoff, merged oldest first.
    async fn open_link_tokens(
        &self,
        created_before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(UserId, LinkTokenRecord)>, StoreError> {
        let page = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let mut open = Vec::new();
        for shard in 0..CHURN_SHARDS {
            let (rows, _) = self.gsi2_page_before(&link_open_pk(shard), created_before, None, page).await?;
            for row in rows {
                let (user, record) = link_token_from_row(row)?;
                if record.is_open() {
                    open.push((user, record));
                }
            }
        }
        open.sort_by_key(|(_, t)| t.created_at);
        open.truncate(limit);
        Ok(open)
    }

    async fn latest_link_token(
        &self,
        user: &UserId,
        at: OffsetDateTime,
    ) -> Result<Option<LinkTokenRecord>, StoreError> {
        let mut tokens = self.link_tokens(user, None).await?;
        tokens.retain(|t| t.expiration > at);
        Ok(tokens.into_iter().max_by_key(|t| t.created_at))
    }

    async fn get_link_token(&self, user: &UserId, link_token: &str) -> Result<Option<LinkTokenRecord>, StoreError> {
        let tokens = self.link_tokens(user, Some(&sha256_hex(link_token))).await?;
        Ok(tokens.into_iter().find(|t| t.link_token.as_str() == link_token))
    }

    // ---- Link events ---------------------------------------------------------------------------------

    async fn put_link_events(&self, events: &[LinkEventRecord]) -> Result<(), StoreError> {
        // Each session marked in its user's partition first, so erasure finds every stored event.
        self.mark_link_sessions(events, link_event_ttl).await?;
        let mut rows: BTreeMap<(String, String), Attrs> = BTreeMap::new();
        for e in events {
            let at = e.timestamp;
            let (pk, sk) = (link_session_pk(&e.link_session_id), link_event_sk(at, &event_discriminator(e)));
            let mut attrs: Attrs = to_item(e).map_err(conversion)?;
            attrs.insert(PK.to_owned(), s(&pk));
            attrs.insert(SK.to_owned(), s(&sk));
            attrs.insert(GSI1PK.to_owned(), s(link_events_gsi1pk(at.to_offset(time::UtcOffset::UTC).date())));
            attrs.insert(GSI1SK.to_owned(), s(link_events_gsi1sk(at, &e.link_session_id)));
            attrs.insert(TYPE.to_owned(), s("LINK_EVENT"));
            attrs.insert(TTL.to_owned(), n(link_event_ttl(e)));
            rows.insert((pk, sk), attrs);
        }
        let writes = rows.into_values().map(put_request).collect::<Result<Vec<_>, _>>()?;
        self.batch_write(writes).await
    }

    async fn link_events_between(&self, from: Date, to: Date) -> Result<Vec<LinkEventRecord>, StoreError> {
        if to < from {
            return Ok(Vec::new());
        }
        if (to - from).whole_days() >= MAX_EVENT_DAYS {
            return Err(StoreError::Invalid("link event day range (at most 400 days)"));
        }
        let mut events = Vec::new();
        let mut day = Some(from);
        while let Some(d) = day.filter(|d| *d <= to) {
            let query = self
                .query()
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(link_events_gsi1pk(d)));
            for row in self.query_all(query).await? {
                let event: LinkEventRecord = from_item(row).map_err(|e| corrupt("link event", Some(Box::new(e))))?;
                events.push(event);
            }
            day = d.next_day();
        }
        Ok(events)
    }
}

#[async_trait]
impl ExchangeRecords for DynamoStore {
    async fn exchange_result(&self, user: &UserId, key_: &str) -> Result<Option<ItemId>, StoreError> {
        check_key_part(key_, "exchange idempotency key")?;
        let Some(attrs) = self.get(key(user_pk(user), exchange_sk(key_)), true).await? else { return Ok(None) };
        if expired(&attrs, now()) {
            return Ok(None);
        }
        match get_s(&attrs, "item_id") {
            Some(item_id) => ItemId::parse(item_id).map(Some).map_err(|_| corrupt("exchange record", None)),
            None => Ok(None), // in progress
        }
    }

    /// A conditional `PutItem` of the in-progress record (`until`, and `ttl` = `until`: an expired claim is
    /// as good as none); when it is refused, a consistent `GetItem` says who holds it.
    async fn claim_exchange(
        &self,
        user: &UserId,
        key_: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<ExchangeClaim, StoreError> {
        check_key_part(key_, "exchange idempotency key")?;
        // The record can vanish between the refused put and the read (its holder let go): try again.
        for _ in 0..3 {
            let mut attrs = key(user_pk(user), exchange_sk(key_));
            attrs.insert(TYPE.to_owned(), s("EXCHANGE"));
            attrs.insert(TTL.to_owned(), n(epoch(until)));
            if self.put_if_absent(attrs, Some(now)).await? {
                return Ok(ExchangeClaim::Claimed);
            }
            let Some(held) = self.get(key(user_pk(user), exchange_sk(key_)), true).await? else { continue };
            if let Some(item_id) = get_s(&held, "item_id") {
                let item_id = ItemId::parse(item_id).map_err(|_| corrupt("exchange record", None))?;
                return Ok(ExchangeClaim::Done(item_id));
            }
            let until = get_n::<i64>(&held, TTL)
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .ok_or(corrupt("exchange record", None))?;
            if until > now {
                return Ok(ExchangeClaim::InProgress { until });
            }
        }
        Err(StoreError::Conflict)
    }

    async fn release_exchange(&self, user: &UserId, key_: &str) -> Result<(), StoreError> {
        check_key_part(key_, "exchange idempotency key")?;
        self.count();
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), exchange_sk(key_))))
            .condition_expression("attribute_not_exists(item_id)")
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()), // done: the record stays
            Err(e) => Err(sdk_error("DeleteItem", e)),
        }
    }
}

#[async_trait]
impl WebhookDedup for DynamoStore {
    // ---- webhook dedup ----------------------------------------------------------------------------------

    async fn webhook_seen(&self, key_: &str) -> Result<bool, StoreError> {
        check_key_part(key_, "webhook dedup key")?;
        let attrs = self.get(key(webhook_pk(key_), WEBHOOK_SK), true).await?;
        Ok(attrs.is_some_and(|a| !expired(&a, now())))
    }

    async fn mark_webhook_seen(&self, key_: &str) -> Result<bool, StoreError> {
        check_key_part(key_, "webhook dedup key")?;
        let now = now();
        let mut attrs = key(webhook_pk(key_), WEBHOOK_SK);
        attrs.insert(TYPE.to_owned(), s("WEBHOOK"));
        attrs.insert(TTL.to_owned(), n(epoch(now + WEBHOOK_TTL)));
        self.put_if_absent(attrs, Some(now)).await
    }

    async fn forget_webhook(&self, key_: &str) -> Result<(), StoreError> {
        check_key_part(key_, "webhook dedup key")?;
        self.delete(key(webhook_pk(key_), WEBHOOK_SK)).await
    }
}

#[async_trait]
impl ChurnStore for DynamoStore {
    // ---- churn ------------------------------------------------------------------------------------------

    async fn churn_candidates(
        &self,
        index: ChurnIndex,
        shard: u8,
        cutoff: OffsetDateTime,
        page_token: Option<&str>,
    ) -> Result<ChurnPage, StoreError> {
        if shard >= CHURN_SHARDS {
            return Err(StoreError::Invalid("churn shard"));
        }
        let (partition, page_size) = match index {
            ChurnIndex::Inactive => (churn_active_pk(shard), INACTIVE_PAGE),
            ChurnIndex::InError => (churn_error_pk(shard), ERROR_PAGE),
        };
        let (rows, next_page) = self.gsi2_page_before(&partition, cutoff, page_token, page_size).await?;
        let mut candidates = Vec::new();
        let mut idle_users = Vec::new();
        for row in rows {
            match index {
                ChurnIndex::Inactive => {
                    let user = match profile_user(&row) {
                        Ok(user) => user,
                        Err(e) => {
                            tracing::warn!(error = %e, "skipping a malformed user profile in the churn index");
                            continue;
                        }
                    };
                    let last_active = get_s(&row, "last_active_at").and_then(parse_sort_time);
                    let items = crate::ports::ItemStore::list_items(self, &user).await?;
                    if items.is_empty()
                        && let Some(last_active_at) = last_active
                    {
                        idle_users.push(IdleUser { user_id: user, last_active_at });
                        continue;
                    }
                    for item in items {
                        candidates.push(ChurnCandidate { item, user_last_active: last_active });
                    }
                }
                ChurnIndex::InError => {
                    candidates.push(ChurnCandidate { item: item_from_attrs(row)?, user_last_active: None });
                }
            }
        }
        Ok(ChurnPage { candidates, idle_users, next_page })
    }

    async fn forget_idle_user(&self, idle: &IdleUser) -> Result<bool, StoreError> {
        self.count();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&idle.user_id), PROFILE_SK)))
            .condition_expression("#last = :seen")
            .expression_attribute_names("#last", "last_active_at")
            .expression_attribute_values(":seen", s(sort_time(idle.last_active_at)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // Active since (or already gone): keep what is there.
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(sdk_error("DeleteItem", e)),
        }
    }

    async fn get_churn_checkpoint(&self, run_id: &str) -> Result<Option<ChurnCheckpoint>, StoreError> {
        check_key_part(run_id, "churn run id")?;
        let Some(attrs) = self.get(key(churn_run_pk(run_id), CHECKPOINT_SK), true).await? else { return Ok(None) };
        if expired(&attrs, now()) {
            return Ok(None);
        }
        from_item(attrs).map(Some).map_err(|e| corrupt("churn checkpoint", Some(Box::new(e))))
    }

    async fn put_churn_checkpoint(&self, run_id: &str, checkpoint: &ChurnCheckpoint) -> Result<(), StoreError> {
        check_key_part(run_id, "churn run id")?;
        let mut attrs: Attrs = to_item(checkpoint).map_err(conversion)?;
        attrs.insert(PK.to_owned(), s(churn_run_pk(run_id)));
        attrs.insert(SK.to_owned(), s(CHECKPOINT_SK));
        attrs.insert(TYPE.to_owned(), s("CHURN_CHECKPOINT"));
        attrs.insert(TTL.to_owned(), n(epoch(now() + CHECKPOINT_TTL)));
        self.put(attrs).await
    }
}
