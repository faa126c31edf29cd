//! Webhook intake: deduplicated, applied in order, answered fast. Verification happens before, at the
//! edge ([`crate::auth::webhook`]); this takes the verified webhook.
//!
//! ITEM webhooks run the item state machine ([`crate::domain::ItemEvent`], through [`super::item_state`]);
//! TRANSACTIONS webhooks hand a sync to the worker through the queue, so the answer to Plaid never waits
//! for a long sync. LINK webhooks go to [`super::link_sessions`] (public tokens exchanged on the user's
//! behalf, update mode confirmed, events for the funnel).

use super::item_state::{self, Applied};
use super::link_sessions::{self, LinkOutcome};
use super::{Deadline, ServiceError, Services};
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
    /// A LINK webhook: its public tokens exchanged (or found exchanged), its update mode confirmed, or its
    /// events recorded.
    LinkSession,
    /// A LINK webhook naming a Link token weft does not hold.
    UnknownLinkToken,
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

/// Handles one verified delivery with the default time ([`Deadline::default`]); see [`intake_within`].
pub async fn intake(services: &Services, webhook: &VerifiedWebhook) -> Result<Handled, ServiceError> {
    intake_within(services, webhook, Deadline::default()).await
}

/// Handles one verified delivery by `deadline`. An error means it was not (fully) handled: answer 5xx so
/// Plaid retries (every effect is idempotent).
pub async fn intake_within(
    services: &Services,
    webhook: &VerifiedWebhook,
    deadline: Deadline,
) -> Result<Handled, ServiceError> {
    let classified = item_event(&webhook.event)?;
    let item_id = match (&classified, &webhook.item_id) {
        (Classified::Link, _) => None,
        (_, Some(item_id)) => Some(item_id),
        (_, None) => {
            // The verifier lets only LINK webhooks through without an item; never actionable otherwise.
            tracing::warn!(
                webhook_type = webhook.event.webhook_type(),
                webhook_code = webhook.event.code(),
                "webhook names no item; acknowledged"
            );
            return Ok(Handled::Ignored);
        }
    };
    let item_event = match (classified, item_id) {
        (Classified::SyncHint, Some(item_id)) => return queue_sync(services, webhook, item_id).await,
        (Classified::Ignored, _) => {
            tracing::info!(item_id = ?webhook.item_id.as_ref().map(|i| i.as_str()), webhook_type = webhook.event.webhook_type(), webhook_code = webhook.event.code(), "webhook not acted on");
            return Ok(Handled::Ignored);
        }
        (classified, _) => classified,
    };
    let dedup_key = webhook.dedup_key();
    if services.store.webhook_seen(&dedup_key).await? {
        tracing::info!(item_id = ?webhook.item_id.as_ref().map(|i| i.as_str()), webhook_code = webhook.event.code(), "duplicate webhook delivery ignored");
        return Ok(Handled::Duplicate);
    }
    let handled = match (item_event, item_id) {
        (Classified::Item(event), Some(item_id)) => {
            item_state::apply_event(services, item_id, &event, webhook.issued_at).await?.into()
        }
        _ => match link_sessions::on_webhook(services, &webhook.event, webhook.issued_at, deadline).await? {
            LinkOutcome::Handled => Handled::LinkSession,
            LinkOutcome::UnknownLinkToken => Handled::UnknownLinkToken,
        },
    };
    // Marked only once handled, so a failed attempt is processed again when Plaid retries (every effect is
    // idempotent, so a concurrent duplicate is harmless).
    services.store.mark_webhook_seen(&dedup_key).await?;
    Ok(handled)
}

enum Classified {
    /// TRANSACTIONS webhooks only say "sync now".
    SyncHint,
    Item(ItemEvent),
    /// LINK webhooks: a Link session's outcome or events.
    Link,
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
        WebhookEvent::LinkItemAddResult { .. }
        | WebhookEvent::LinkSessionFinished { .. }
        | WebhookEvent::LinkEvents { .. } => {
            return Ok(Classified::Link);
        }
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
async fn queue_sync(services: &Services, webhook: &VerifiedWebhook, item_id: &ItemId) -> Result<Handled, ServiceError> {
    let code = webhook.event.code();
    let dedup_key = &sync_pending_key(item_id);
    // Both at once: Plaid waits for the answer (marking an unknown item's webhook does no harm).
    let (exists, claimed) =
        tokio::join!(services.store.item_exists(item_id), services.store.mark_webhook_seen(dedup_key));
    if !claimed? {
        tracing::info!(item_id = %item_id, webhook_code = code, "a sync of the item is already queued; coalesced");
        return Ok(Handled::Coalesced);
    }
    let exists = match exists {
        Ok(exists) => exists,
        Err(e) => {
            unmark(services, item_id, dedup_key).await;
            return Err(e.into());
        }
    };
    if !exists {
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
