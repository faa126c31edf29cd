//! Abuse limits: per-user counters in fixed windows, taken atomically (several Lambda instances at once
//! count in one place), and blocks.

use super::StoreError;
use crate::domain::UserId;
use async_trait::async_trait;
use time::OffsetDateTime;

/// One counter: what it counts for whom, in which window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitWindow {
    pub user: UserId,
    /// What is counted (`link_tokens`, `exchanges`, `items`, `links:<institution_id>`, `credential_failures`).
    pub name: String,
    /// The window's start (its id); all uses in one window share the counter.
    pub start: OffsetDateTime,
    /// When the counter may be forgotten (the window's end); `None` for a counter without a window (items).
    pub expires_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait LimitStore: Send + Sync {
    /// Counts one use in `window` if fewer than `limit` are counted there, and notes `now` as the counter's
    /// last use; whether it was counted. Atomic: of concurrent callers exactly `limit` succeed.
    async fn take(&self, window: &LimitWindow, limit: u32, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Gives one counted use back (what it counted did not happen, or is gone); never below zero.
    async fn give_back(&self, window: &LimitWindow) -> Result<(), StoreError>;

    /// Sets the counter to `count` if no use was taken at or after `quiet_since` (a counter without a window
    /// brought back in line with what it counts, once no use taken can still be in flight); whether it was
    /// set. Atomic with [`LimitStore::take`].
    async fn reset(&self, window: &LimitWindow, count: u32, quiet_since: OffsetDateTime) -> Result<bool, StoreError>;

    /// Records a failed login at `institution` in `window`; returns the failures counted there and at how
    /// many distinct institutions.
    async fn record_failure(&self, window: &LimitWindow, institution: &str) -> Result<(u32, u32), StoreError>;

    /// Blocks `name` for `user` until `until` (a later block wins).
    async fn block(&self, user: &UserId, name: &str, until: OffsetDateTime) -> Result<(), StoreError>;

    /// Until when `name` is blocked for `user`, if it is at `now`.
    async fn blocked_until(
        &self,
        user: &UserId,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError>;
}
