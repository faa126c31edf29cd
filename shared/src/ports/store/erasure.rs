//! A user's own records, erased (the right to erasure). Items are not among them: an item is removed at
//! Plaid first and then deleted with [`super::ItemStore::delete_item`], which the erasure service does for
//! every item before it erases the rest.

use super::StoreError;
use crate::domain::UserId;
use async_trait::async_trait;

#[async_trait]
pub trait UserRecords: Send + Sync {
    /// Deletes every record of `user` except their items: the profile, Link tokens, exchange records,
    /// abuse-limit counters and blocks, and the Link events of every Link session the user reported (found
    /// through the user's session markers; only the user's own events of a session, each marker after its
    /// events). An item record found here is left alone (it must be removed at Plaid first). Idempotent and
    /// safe to retry after a failure at any point. Returns how many records it deleted.
    async fn erase_user_records(&self, user: &UserId) -> Result<usize, StoreError>;
}
