//! Webhook intake: deduplicated, applied in order, answered fast. Verification happens before, at the
//! edge ([`crate::auth::webhook`]); this takes the verified webhook.
//!
//! ITEM webhooks run the item state machine ([`crate::domain::ItemEvent`], through [`super::item_state`]);
//! TRANSACTIONS webhooks hand a sync to the worker through the queue, so the answer to Plaid never waits
//! for a long sync.

use super::item_state::{self, Applied};
use super::{ServiceError, Services};
use crate::domain::{AccountId, ItemEvent, ItemId};
use crate::ports::{SyncReason, SyncRequest, VerifiedWebhook, WebhookEvent};

/// How the webhook was handled (for the log line and the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Handled {
    Applied,
    Unchanged,
    Duplicate,
    SyncQueued,
    /// A sync of the item was already queued and not started: it covers this webhook.
    Coalesced,
    ItemRemoved,
    UnknownItem,
    Ignored,
}

impl From<Applied> for Handled {
    fn from(a: Applied) -> Self {
        match a {
            Applied::Changed => Self::Applied,
            Applied::Unchanged => Self::Unchanged,
            Applied::Removed => Self::ItemRemoved,
            Applied::UnknownItem => Self::UnknownItem,
        }
    }
}

/// Handles one verified delivery. An error means it was not (fully) handled: answer 5xx so Plaid retries
/// (every effect is idempotent).
pub async fn intake(services: &Services, webhook: &VerifiedWebhook) -> Result<Handled, ServiceError> {
    let item_event = match item_event(&webhook.event)? {
        Classified::SyncHint => return queue_sync(services, webhook).await,
        Classified::Ignored => {
            tracing::info!(item_id = %webhook.item_id, webhook_type = webhook.event.webhook_type(), webhook_code = webhook.event.code(), "webhook not acted on");
            return Ok(Handled::Ignored);
        }
        Classified::Item(event) => event,
    };
    let dedup_key = webhook.dedup_key();
    if services.store.webhook_seen(&dedup_key).await? {
        tracing::info!(item_id = %webhook.item_id, webhook_code = webhook.event.code(), "duplicate webhook delivery ignored");
        return Ok(Handled::Duplicate);
    }
    let applied = item_state::apply_event(services, &webhook.item_id, &item_event, webhook.issued_at).await?;
    // Marked only once handled, so a failed attempt is processed again when Plaid retries (every effect is
    // idempotent, so a concurrent duplicate is harmless).
    services.store.mark_webhook_seen(&dedup_key).await?;
    Ok(applied.into())
}

enum Classified {
    /// TRANSACTIONS webhooks only say "sync now".
    SyncHint,
    Item(ItemEvent),
    Ignored,
}

fn item_event(event: &WebhookEvent) -> Result<Classified, ServiceError> {
    Ok(Classified::Item(match event {
        WebhookEvent::SyncUpdatesAvailable { .. }
        | WebhookEvent::InitialUpdate { .. }
        | WebhookEvent::HistoricalUpdate { .. }
        | WebhookEvent::DefaultUpdate { .. }
        | WebhookEvent::TransactionsRemoved { .. } => return Ok(Classified::SyncHint),
        WebhookEvent::ItemError { error: Some(e) } => {
            ItemEvent::Error { error_type: e.error_type.clone(), error_code: e.error_code.clone() }
        }
        WebhookEvent::ItemError { error: None } | WebhookEvent::Unknown { .. } => return Ok(Classified::Ignored),
        WebhookEvent::LoginRepaired => ItemEvent::LoginRepaired,
        WebhookEvent::PendingExpiration { consent_expiration_time } => {
            ItemEvent::PendingExpiration { consent_expiration_time: *consent_expiration_time }
        }
        WebhookEvent::PendingDisconnect { disconnect_time, .. } => {
            ItemEvent::PendingDisconnect { disconnect_time: *disconnect_time }
        }
        WebhookEvent::UserPermissionRevoked { .. } => ItemEvent::PermissionRevoked,
        WebhookEvent::UserAccountRevoked { account_id, .. } => match AccountId::parse(account_id.clone()) {
            Ok(account_id) => ItemEvent::AccountRevoked { account_id },
            Err(e) => {
                // Verified, but never actionable: refusing it would make Plaid retry for nothing.
                tracing::warn!(error = %e, "USER_ACCOUNT_REVOKED names an account id weft cannot take; acknowledged");
                return Ok(Classified::Ignored);
            }
        },
        WebhookEvent::NewAccountsAvailable => ItemEvent::NewAccountsAvailable,
        WebhookEvent::WebhookUpdateAcknowledged { new_webhook_url } => {
            ItemEvent::WebhookAcknowledged { new_webhook_url: new_webhook_url.clone() }
        }
    }))
}

/// The mark of "a sync of this item is queued and has not started": one per item.
pub fn sync_pending_key(item_id: &ItemId) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(format!("sync-pending\0{item_id}").as_bytes()))
}

/// Hands a sync to the worker, coalesced per item: the item is marked "sync pending" *before* the sync is
/// queued (the conditional write is the check), and the worker forgets the mark when that sync starts. Any
/// TRANSACTIONS webhook of the item meanwhile (a redelivery, or a new change) is covered by the queued
/// sync, which has not read anything yet: nothing new is queued. One after the sync started may carry a
/// change the sync missed, so it queues another.
async fn queue_sync(services: &Services, webhook: &VerifiedWebhook) -> Result<Handled, ServiceError> {
    let item_id = &webhook.item_id;
    let code = webhook.event.code();
    let dedup_key = &sync_pending_key(item_id);
    // Both at once: Plaid waits for the answer (marking an unknown item's webhook does no harm).
    let (item, claimed) = tokio::join!(services.store.find_item(item_id), services.store.mark_webhook_seen(dedup_key));
    if !claimed? {
        tracing::info!(item_id = %item_id, webhook_code = code, "a sync of the item is already queued; coalesced");
        return Ok(Handled::Coalesced);
    }
    let item = match item {
        Ok(item) => item,
        Err(e) => {
            unmark(services, item_id, dedup_key).await;
            return Err(e.into());
        }
    };
    if item.is_none() {
        // No sync was queued: the mark must not stay (the item may be about to be stored: Plaid's first
        // webhooks can arrive before the exchange has stored it, and its later ones must queue syncs).
        unmark(services, item_id, dedup_key).await;
        tracing::warn!(item_id = %item_id, webhook_code = code, "webhook for an unknown item (removed?) acknowledged");
        return Ok(Handled::UnknownItem);
    }
    let request = SyncRequest {
        item_id: item_id.clone(),
        reason: SyncReason::Webhook(code.to_owned()),
        dedup_key: uuid::Uuid::new_v4().simple().to_string(),
        webhook_key: Some(dedup_key.to_owned()),
    };
    if let Err(e) = services.queue.request_sync(&request).await {
        unmark(services, item_id, dedup_key).await;
        return Err(e.into());
    }
    tracing::info!(item_id = %item_id, webhook_code = code, "sync queued");
    Ok(Handled::SyncQueued)
}

/// Not handled after all: let Plaid's retry (or an identical delivery) try again.
async fn unmark(services: &Services, item_id: &ItemId, dedup_key: &str) {
    if let Err(e) = services.store.forget_webhook(dedup_key).await {
        tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "could not unmark a webhook that was not handled");
    }
}
