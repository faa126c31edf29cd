//! Transactions, user profiles, Link tokens and events, webhook marks.

use super::{Expiring, MemoryStore, StoredTransaction, check_key_part, cursor, millis};
use crate::domain::{
    AccountId, Field, ItemId, ItemKey, LinkEventRecord, LinkTokenMark, LinkTokenRecord, Transaction,
    TransactionDetails, TransactionId, UserId,
};
use crate::ports::{
    LinkStore, StoreError, TransactionChange, TransactionPage, TransactionStore, UserProfile, UserStore, WebhookDedup,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use time::macros::format_description;
use time::{Date, OffsetDateTime, UtcOffset};
use zeroize::Zeroizing;

/// The largest transaction page (as the adapter).
const MAX_PAGE: u32 = 500;
/// How long a webhook mark is kept.
const WEBHOOK_TTL: time::Duration = time::Duration::days(3);
/// The longest day range of Link events one call reads.
const MAX_EVENT_DAYS: i64 = 400;

/// Whether `s` is a `YYYY-MM-DD` date.
fn is_day(s: &str) -> bool {
    s.len() == 10 && Date::parse(s, format_description!("[year]-[month]-[day]")).is_ok()
}

/// The adapter's sortable time: UTC, three fractional digits.
fn sort_time(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(UtcOffset::UTC).format(fmt).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Where a transaction listing continues: after this transaction of this item (newest first).
#[derive(Serialize, Deserialize)]
struct TransactionCursor {
    item: String,
    date: String,
    txn: String,
}

fn seal_row(item_id: &ItemId, key: &ItemKey, t: &Transaction) -> Result<StoredTransaction, StoreError> {
    if &t.item_id != item_id {
        return Err(StoreError::Invalid("transaction of another item"));
    }
    if !is_day(&t.date) {
        return Err(StoreError::Invalid("transaction date (YYYY-MM-DD)"));
    }
    let details =
        Zeroizing::new(serde_json::to_vec(&t.details).map_err(|_| StoreError::Invalid("transaction details"))?);
    let sealed = key.seal(Field::Transaction(&t.transaction_id), &details)?;
    Ok(StoredTransaction { account_id: t.account_id.clone(), date: t.date.clone(), pending: t.pending, sealed })
}

fn open_row(
    item_id: &ItemId,
    key: &ItemKey,
    id: &TransactionId,
    row: &StoredTransaction,
) -> Result<Transaction, StoreError> {
    let plaintext = key.open(Field::Transaction(id), &row.sealed)?;
    let details: TransactionDetails = serde_json::from_slice(&plaintext)
        .map_err(|_| StoreError::backend("decode", "stored transaction details are malformed"))?;
    Ok(Transaction {
        item_id: item_id.clone(),
        transaction_id: id.clone(),
        account_id: row.account_id.clone(),
        date: row.date.clone(),
        pending: row.pending,
        details,
    })
}

#[async_trait]
impl TransactionStore for MemoryStore {
    async fn apply_transaction_changes(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        changes: &[TransactionChange],
    ) -> Result<(), StoreError> {
        self.faults.enter("apply_transaction_changes").await?;
        key.check_item(item_id)?;
        // Every change checked and sealed before anything is written; the last change of a transaction wins.
        let mut writes: BTreeMap<TransactionId, Option<StoredTransaction>> = BTreeMap::new();
        for change in changes {
            match change {
                TransactionChange::Upsert(t) => {
                    writes.insert(t.transaction_id.clone(), Some(seal_row(item_id, key, t)?));
                }
                TransactionChange::Remove(id) => {
                    writes.insert(id.clone(), None);
                }
            }
        }
        let mut s = self.lock();
        let partition = s.transactions.entry(item_id.clone()).or_default();
        for (id, row) in writes {
            match row {
                Some(row) => partition.insert(id, row),
                None => partition.remove(&id),
            };
        }
        if partition.is_empty() {
            s.transactions.remove(item_id);
        }
        Ok(())
    }

    async fn delete_account_transactions(&self, item_id: &ItemId, account_id: &AccountId) -> Result<usize, StoreError> {
        self.faults.enter("delete_account_transactions").await?;
        let mut s = self.lock();
        let Some(partition) = s.transactions.get_mut(item_id) else { return Ok(0) };
        let before = partition.len();
        partition.retain(|_, t| &t.account_id != account_id);
        Ok(before - partition.len())
    }

    async fn list_transactions(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<TransactionPage, StoreError> {
        self.faults.enter("list_transactions").await?;
        key.check_item(item_id)?;
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let after = match cursor {
            None => None,
            Some(c) => {
                let c: TransactionCursor = cursor::decode(c).ok_or(StoreError::InvalidCursor)?;
                if c.item != item_id.as_str() {
                    return Err(StoreError::InvalidCursor);
                }
                Some((c.date, c.txn))
            }
        };
        let rows: Vec<(TransactionId, StoredTransaction)> = {
            let s = self.lock();
            let mut rows: Vec<(TransactionId, StoredTransaction)> = s
                .transactions
                .get(item_id)
                .map(|p| p.iter().map(|(id, t)| (id.clone(), t.clone())).collect())
                .unwrap_or_default();
            // Newest first: by date, then id, both descending (the adapter's `<date>#<id>` sort key).
            rows.sort_by(|a, b| (&b.1.date, b.0.as_str()).cmp(&(&a.1.date, a.0.as_str())));
            rows
        };
        let mut rows: Vec<(TransactionId, StoredTransaction)> = match &after {
            None => rows,
            Some((date, txn)) => {
                rows.into_iter().filter(|(id, t)| (&t.date, id.as_str()) < (date, txn.as_str())).collect()
            }
        };
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = match rows.last() {
            Some((id, t)) if has_more => Some(cursor::encode(&TransactionCursor {
                item: item_id.to_string(),
                date: t.date.clone(),
                txn: id.to_string(),
            })),
            _ => None,
        };
        let transactions =
            rows.iter().map(|(id, row)| open_row(item_id, key, id, row)).collect::<Result<Vec<_>, _>>()?;
        Ok(TransactionPage { transactions, next_cursor })
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn touch_user(&self, user: &UserId, now: OffsetDateTime) -> Result<(), StoreError> {
        self.faults.enter("touch_user").await?;
        let at = millis(now);
        let mut s = self.lock();
        let last = s.profiles.entry(user.clone()).or_insert(at);
        // Never backwards.
        if *last < at {
            *last = at;
        }
        Ok(())
    }

    async fn get_user(&self, user: &UserId) -> Result<Option<UserProfile>, StoreError> {
        self.faults.enter("get_user").await?;
        Ok(self.lock().profiles.get(user).map(|t| UserProfile { user_id: user.clone(), last_active_at: Some(*t) }))
    }
}

/// What tells a session's events at one time apart, as the adapter's sort key: Plaid's `event_id`, else the
/// position in the app's batch.
fn event_key(e: &LinkEventRecord) -> String {
    match &e.event_id {
        Some(id) => id.clone(),
        None => format!("{:06}", e.seq),
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[async_trait]
impl LinkStore for MemoryStore {
    async fn put_link_token(&self, user: &UserId, record: &LinkTokenRecord) -> Result<(), StoreError> {
        self.faults.enter("put_link_token").await?;
        let k = (user.clone(), sort_time(record.created_at), token_hash(record.link_token.as_str()));
        self.lock().link_tokens.insert(k, record.clone());
        Ok(())
    }

    async fn latest_link_token(
        &self,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<LinkTokenRecord>, StoreError> {
        self.faults.enter("latest_link_token").await?;
        Ok(self
            .lock()
            .link_tokens
            .iter()
            .filter(|((u, _, _), t)| u == user && t.expiration > now)
            .map(|(_, t)| t)
            .max_by_key(|t| t.created_at)
            .cloned())
    }

    /// As the adapter: any of the user's stored tokens with that value (DynamoDB's TTL deletes expired ones
    /// eventually; this store keeps them).
    async fn get_link_token(&self, user: &UserId, link_token: &str) -> Result<Option<LinkTokenRecord>, StoreError> {
        self.faults.enter("get_link_token").await?;
        Ok(self
            .lock()
            .link_tokens
            .iter()
            .find(|((u, _, _), t)| u == user && t.link_token.as_str() == link_token)
            .map(|(_, t)| t.clone()))
    }

    async fn find_link_token(&self, link_token: &str) -> Result<Option<(UserId, LinkTokenRecord)>, StoreError> {
        self.faults.enter("find_link_token").await?;
        Ok(self
            .lock()
            .link_tokens
            .iter()
            .find(|(_, t)| t.link_token.as_str() == link_token)
            .map(|((u, _, _), t)| (u.clone(), t.clone())))
    }

    async fn mark_link_token(
        &self,
        user: &UserId,
        record: &LinkTokenRecord,
        mark: LinkTokenMark,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.faults.enter("mark_link_token").await?;
        let k = (user.clone(), sort_time(record.created_at), token_hash(record.link_token.as_str()));
        let mut s = self.lock();
        let Some(stored) = s.link_tokens.get_mut(&k) else { return Ok(false) };
        let field = match mark {
            LinkTokenMark::Closed => &mut stored.closed_at,
            LinkTokenMark::Asked => &mut stored.asked_at,
        };
        if field.is_some() {
            return Ok(false);
        }
        *field = Some(at);
        Ok(true)
    }

    async fn open_link_tokens(
        &self,
        created_before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(UserId, LinkTokenRecord)>, StoreError> {
        self.faults.enter("open_link_tokens").await?;
        let s = self.lock();
        let mut open: Vec<_> = s
            .link_tokens
            .iter()
            .filter(|(_, t)| t.is_open() && t.created_at < created_before)
            .map(|((u, _, _), t)| (u.clone(), t.clone()))
            .collect();
        open.sort_by_key(|(_, t)| t.created_at);
        open.truncate(limit);
        Ok(open)
    }

    async fn put_link_events(&self, events: &[LinkEventRecord]) -> Result<(), StoreError> {
        self.faults.enter("put_link_events").await?;
        let mut s = self.lock();
        for e in events {
            let k = (e.link_session_id.to_string(), sort_time(e.timestamp), event_key(e));
            s.link_sessions.insert((e.user_id.clone(), e.link_session_id.to_string()));
            s.link_events.insert(k, e.clone());
        }
        Ok(())
    }

    async fn link_events_between(&self, from: Date, to: Date) -> Result<Vec<LinkEventRecord>, StoreError> {
        self.faults.enter("link_events_between").await?;
        if to < from {
            return Ok(Vec::new());
        }
        if (to - from).whole_days() >= MAX_EVENT_DAYS {
            return Err(StoreError::Invalid("link event day range (at most 400 days)"));
        }
        let s = self.lock();
        let mut events: Vec<(String, String, String, &LinkEventRecord)> = s
            .link_events
            .iter()
            .filter(|(_, e)| {
                let day = e.timestamp.to_offset(UtcOffset::UTC).date();
                from <= day && day <= to
            })
            .map(|((session, at, key), e)| (at.clone(), session.clone(), key.clone(), e))
            .collect();
        // By day and time (the adapter reads day by day, each by `<time>#<session>`).
        events.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
        Ok(events.into_iter().map(|(_, _, _, e)| e.clone()).collect())
    }
}

#[async_trait]
impl WebhookDedup for MemoryStore {
    async fn webhook_seen(&self, key: &str) -> Result<bool, StoreError> {
        self.faults.enter("webhook_seen").await?;
        check_key_part(key, "webhook dedup key")?;
        let now = self.now();
        Ok(self.lock().webhooks.get(key).is_some_and(|m| m.live_at(now).is_some()))
    }

    async fn mark_webhook_seen(&self, key: &str) -> Result<bool, StoreError> {
        self.faults.enter("mark_webhook_seen").await?;
        check_key_part(key, "webhook dedup key")?;
        let now = self.now();
        let mut s = self.lock();
        if s.webhooks.get(key).is_some_and(|m| m.live_at(now).is_some()) {
            return Ok(false);
        }
        s.webhooks.insert(key.to_owned(), Expiring::new((), now + WEBHOOK_TTL));
        Ok(true)
    }

    async fn forget_webhook(&self, key: &str) -> Result<(), StoreError> {
        self.faults.enter("forget_webhook").await?;
        check_key_part(key, "webhook dedup key")?;
        self.lock().webhooks.remove(key);
        Ok(())
    }
}
