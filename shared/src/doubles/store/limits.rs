//! Abuse-limit counters, blocks and the audit trail. Each counter update happens under the store's one
//! lock: atomic, like DynamoDB's conditional write, so concurrent callers get exactly the limit's worth.

use super::MemoryStore;
use crate::domain::UserId;
use crate::ports::{AuditLog, AuditRecord, LimitStore, LimitWindow, StoreError};
use async_trait::async_trait;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// One counter (a window of one limit of one user).
#[derive(Debug, Default)]
pub(super) struct Counter {
    n: u32,
    taken_at: Option<OffsetDateTime>,
    institutions: BTreeSet<String>,
    expires_at: Option<OffsetDateTime>,
}

fn id(w: &LimitWindow) -> (UserId, String, i64) {
    (w.user.clone(), w.name.clone(), w.start.unix_timestamp())
}

impl MemoryStore {
    /// The counter of `window` (0 when there is none or it expired).
    pub fn limit_count(&self, window: &LimitWindow) -> u32 {
        let now = self.now();
        self.lock().limits.get(&id(window)).filter(|c| c.expires_at.is_none_or(|e| e > now)).map_or(0, |c| c.n)
    }

    fn with_counter<T>(&self, w: &LimitWindow, f: impl FnOnce(&mut Counter) -> T) -> T {
        let now = self.now();
        let mut state = self.lock();
        let counter = state.limits.entry(id(w)).or_default();
        if counter.expires_at.is_some_and(|e| e <= now) {
            *counter = Counter::default();
        }
        counter.expires_at = w.expires_at;
        f(counter)
    }
}

#[async_trait]
impl LimitStore for MemoryStore {
    async fn take(&self, window: &LimitWindow, limit: u32, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.faults.enter("take").await?;
        Ok(self.with_counter(window, |c| {
            let counted = c.n < limit;
            if counted {
                c.n += 1;
                c.taken_at = Some(now);
            }
            counted
        }))
    }

    async fn give_back(&self, window: &LimitWindow) -> Result<(), StoreError> {
        self.faults.enter("give_back").await?;
        self.with_counter(window, |c| c.n = c.n.saturating_sub(1));
        Ok(())
    }

    async fn reset(&self, window: &LimitWindow, count: u32, quiet_since: OffsetDateTime) -> Result<bool, StoreError> {
        self.faults.enter("reset").await?;
        Ok(self.with_counter(window, |c| {
            let quiet = c.taken_at.is_none_or(|at| at < quiet_since);
            if quiet {
                c.n = count;
            }
            quiet
        }))
    }

    async fn record_failure(&self, window: &LimitWindow, institution: &str) -> Result<(u32, u32), StoreError> {
        self.faults.enter("record_failure").await?;
        let institution = if institution.is_empty() { "unknown" } else { institution };
        Ok(self.with_counter(window, |c| {
            c.n += 1;
            c.institutions.insert(institution.to_owned());
            (c.n, u32::try_from(c.institutions.len()).unwrap_or(u32::MAX))
        }))
    }

    async fn block(&self, user: &UserId, name: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        self.faults.enter("block").await?;
        let mut state = self.lock();
        let entry = state.blocks.entry((user.clone(), name.to_owned())).or_insert(until.unix_timestamp());
        *entry = (*entry).max(until.unix_timestamp());
        Ok(())
    }

    async fn blocked_until(
        &self,
        user: &UserId,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        self.faults.enter("blocked_until").await?;
        let until = self.lock().blocks.get(&(user.clone(), name.to_owned())).copied();
        Ok(until.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()).filter(|until| *until > now))
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, record: &AuditRecord) -> Result<(), StoreError> {
        self.faults.enter("record").await?;
        self.lock().audit.push(record.clone());
        Ok(())
    }

    async fn records_of(&self, day: time::Date) -> Result<Vec<AuditRecord>, StoreError> {
        self.faults.enter("records_of").await?;
        let day_of = |r: &&AuditRecord| r.at.to_offset(time::UtcOffset::UTC).date() == day;
        Ok(self.lock().audit.iter().filter(day_of).cloned().collect())
    }
}
