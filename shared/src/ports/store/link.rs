//! Link tokens made for users, and the Link events the app forwarded.

use super::StoreError;
use crate::domain::{LinkEventRecord, LinkTokenRecord, UserId};
use async_trait::async_trait;
use time::{Date, OffsetDateTime};

#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Keeps a Link token until it expires.
    async fn put_link_token(&self, user: &UserId, record: &LinkTokenRecord) -> Result<(), StoreError>;

    /// The user's newest Link token that has not expired at `now` (OAuth resume).
    async fn latest_link_token(
        &self,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<LinkTokenRecord>, StoreError>;

    /// One of the user's (unexpired) Link tokens by its value.
    async fn get_link_token(&self, user: &UserId, link_token: &str) -> Result<Option<LinkTokenRecord>, StoreError>;

    /// Stores Link events (idempotent: the same event stored twice is one record).
    async fn put_link_events(&self, events: &[LinkEventRecord]) -> Result<(), StoreError>;

    /// Every Link event of the UTC days `from..=to`, by day and time.
    async fn link_events_between(&self, from: Date, to: Date) -> Result<Vec<LinkEventRecord>, StoreError>;
}
