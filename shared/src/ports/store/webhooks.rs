//! Webhooks already handled (Plaid delivers at least once; its bodies carry no event id).

use super::StoreError;
use async_trait::async_trait;

#[async_trait]
pub trait WebhookDedup: Send + Sync {
    /// Whether a webhook keyed `key` (e.g. hex SHA-256 of its body and its `iat`) was handled in the last
    /// three days.
    async fn webhook_seen(&self, key: &str) -> Result<bool, StoreError>;

    /// Marks the webhook handled for three days. Returns whether it was new (`false`: already marked).
    async fn mark_webhook_seen(&self, key: &str) -> Result<bool, StoreError>;

    /// Forgets a webhook marked seen (the sync it queued has started: an identical delivery from now on
    /// may carry news that sync missed). Nothing happens if it is not marked.
    async fn forget_webhook(&self, key: &str) -> Result<(), StoreError>;
}
