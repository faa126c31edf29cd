//! Link tokens made for users, and the Link events the app forwarded or Plaid reported.

use super::StoreError;
use crate::domain::{LinkEventRecord, LinkTokenMark, LinkTokenRecord, UserId};
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

    /// A Link token by its value alone, with the user it was made for (LINK webhooks name the token, not
    /// the user). Tokens are kept a day past their expiry, as long as Plaid retries a webhook.
    async fn find_link_token(&self, link_token: &str) -> Result<Option<(UserId, LinkTokenRecord)>, StoreError>;

    /// Marks the user's token `record` (closed, or asked about) at `at`, if it is not so marked yet; a token
    /// marked either way leaves the open tokens. `Ok(false)`: it was already so marked (or is gone), so
    /// of concurrent callers exactly one gets `true`.
    async fn mark_link_token(
        &self,
        user: &UserId,
        record: &LinkTokenRecord,
        mark: LinkTokenMark,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` tokens, every user's, created before `created_before` and neither closed nor asked
    /// about ([`LinkTokenRecord::is_open`]), oldest first.
    async fn open_link_tokens(
        &self,
        created_before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(UserId, LinkTokenRecord)>, StoreError>;

    /// Stores Link events (idempotent: the same event stored twice is one record; an event with Plaid's
    /// `event_id` is the same record whenever it is sent again for its session).
    async fn put_link_events(&self, events: &[LinkEventRecord]) -> Result<(), StoreError>;

    /// Every Link event of the UTC days `from..=to`, by day and time.
    async fn link_events_between(&self, from: Date, to: Date) -> Result<Vec<LinkEventRecord>, StoreError>;
}
