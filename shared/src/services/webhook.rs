//! Webhook intake: verified, deduplicated, applied in order, answered fast.
//!
//! ITEM webhooks run the item state machine ([`crate::domain::ItemEvent`]); TRANSACTIONS webhooks hand a
//! sync to the worker through the queue, so the answer to Plaid never waits for a long sync.

use super::{App, ServiceError};
use crate::domain::{AccountId, ItemEvent, ItemId, Outcome};
use crate::ports::SyncRequest;
use crate::webhook::{VerifyError, WebhookEvent};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// How the webhook was handled (for the log line and the tests).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Handled {
    Applied,
    Unchanged,
    Duplicate,
    SyncQueued,
    ItemRemoved,
    UnknownItem,
    Ignored,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Not from Plaid (or not any more): refuse with 401.
    #[error("webhook refused: {0}")]
    Refused(#[source] VerifyError),
    /// We could not check it (key fetch failed) or could not act on it: 5xx so Plaid retries.
    #[error("webhook not processed: {0}")]
    Retry(String),
}

/// The dedup key of a delivery: the SHA-256 of its body and the time Plaid signed it (`iat`). Plaid's bodies
/// carry no event id, and some are byte-identical for every event of their kind on one item (e.g.
/// TRANSACTIONS / SYNC_UPDATES_AVAILABLE), so the body alone would make every later change look like a
/// redelivery; a redelivery of the same signed request has the same `iat`.
pub fn dedup_key(body: &[u8], issued_at: OffsetDateTime) -> String {
    format!("{}-{}", hex::encode(Sha256::digest(body)), issued_at.unix_timestamp())
}

/// Verifies and handles one delivery. `verification` is the `Plaid-Verification` header.
pub async fn intake(app: &App, verification: Option<&str>, body: &[u8]) -> Result<Handled, IntakeError> {
    let verified = match app.webhooks.verify(verification, body).await {
        Ok(v) => v,
        Err(e) if e.is_retryable() => return Err(IntakeError::Retry(e.to_string())),
        Err(e) => return Err(IntakeError::Refused(e)),
    };
    let retry = |e: &dyn std::fmt::Display| IntakeError::Retry(e.to_string());
    let dedup_key = dedup_key(body, verified.issued_at);
    if is_sync_hint(&verified.event) {
        return queue_sync(app, &verified.item_id, &verified.event, &dedup_key).await.map_err(|e| retry(&e));
    }
    if app.store.webhook_seen(&dedup_key).await.map_err(|e| retry(&e))? {
        tracing::info!(item_id = %verified.item_id, webhook_code = verified.event.code(), "duplicate webhook delivery ignored");
        return Ok(Handled::Duplicate);
    }
    let handled = handle(app, &verified.item_id, &verified.event, verified.issued_at).await.map_err(|e| retry(&e))?;
    // Marked only once handled, so a failed attempt is processed again when Plaid retries (every effect is
    // idempotent, so a concurrent duplicate is harmless).
    app.store.mark_webhook_seen(&dedup_key).await.map_err(|e| retry(&e))?;
    Ok(handled)
}

/// TRANSACTIONS webhooks only say "sync now".
fn is_sync_hint(event: &WebhookEvent) -> bool {
    matches!(
        event,
        WebhookEvent::SyncUpdatesAvailable { .. }
            | WebhookEvent::InitialUpdate { .. }
            | WebhookEvent::HistoricalUpdate { .. }
            | WebhookEvent::DefaultUpdate { .. }
            | WebhookEvent::TransactionsRemoved { .. }
    )
}

/// Hands a sync to the worker. The webhook is marked seen *before* the sync is queued (the conditional
/// write is the duplicate check), and the worker forgets it when that sync starts: an identical delivery
/// meanwhile is covered by the queued sync (duplicate); one after the sync started may carry a change the
/// sync missed, so it queues another.
async fn queue_sync(
    app: &App,
    item_id: &ItemId,
    event: &WebhookEvent,
    dedup_key: &str,
) -> Result<Handled, ServiceError> {
    // Both at once: Plaid waits for the answer (marking an unknown item's webhook does no harm).
    let (item, claimed) = tokio::join!(app.store.find_item(item_id), app.store.mark_webhook_seen(dedup_key));
    if !claimed? {
        // Already handled, or a sync it asked for is still queued.
        tracing::info!(item_id = %item_id, webhook_code = event.code(), "duplicate webhook delivery ignored");
        return Ok(Handled::Duplicate);
    }
    let item = match item {
        Ok(item) => item,
        Err(e) => {
            unmark(app, item_id, dedup_key).await;
            return Err(e.into());
        }
    };
    if item.is_none() {
        tracing::warn!(item_id = %item_id, webhook_code = event.code(), "webhook for an unknown item (removed?) acknowledged");
        return Ok(Handled::UnknownItem);
    }
    let request = SyncRequest {
        item_id: item_id.clone(),
        reason: event.code().to_owned(),
        dedup_key: uuid::Uuid::new_v4().simple().to_string(),
        webhook_key: Some(dedup_key.to_owned()),
    };
    let queued = match app.queue() {
        Ok(queue) => queue.request_sync(&request).await.map_err(ServiceError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = queued {
        unmark(app, item_id, dedup_key).await;
        return Err(e);
    }
    tracing::info!(item_id = %item_id, webhook_code = event.code(), "sync queued");
    Ok(Handled::SyncQueued)
}

/// Not handled after all: let Plaid's retry (or an identical delivery) try again.
async fn unmark(app: &App, item_id: &ItemId, dedup_key: &str) {
    if let Err(e) = app.store.forget_webhook(dedup_key).await {
        tracing::warn!(item_id = %item_id, error = %e, "could not unmark a webhook that was not handled");
    }
}

async fn handle(
    app: &App,
    item_id: &ItemId,
    event: &WebhookEvent,
    at: OffsetDateTime,
) -> Result<Handled, ServiceError> {
    let item_event = match event {
        WebhookEvent::ItemError { error } => match error {
            Some(e) => ItemEvent::Error { error_type: e.error_type.clone(), error_code: e.error_code.clone() },
            None => return Ok(Handled::Ignored),
        },
        WebhookEvent::LoginRepaired => ItemEvent::LoginRepaired,
        WebhookEvent::PendingExpiration { consent_expiration_time } => {
            ItemEvent::PendingExpiration { consent_expiration_time: *consent_expiration_time }
        }
        WebhookEvent::PendingDisconnect { disconnect_time, .. } => {
            ItemEvent::PendingDisconnect { disconnect_time: *disconnect_time }
        }
        WebhookEvent::UserPermissionRevoked { .. } => ItemEvent::PermissionRevoked,
        WebhookEvent::UserAccountRevoked { account_id, .. } => ItemEvent::AccountRevoked {
            account_id: AccountId::parse(account_id.clone()).map_err(|e| ServiceError::Invalid(e.to_string()))?,
        },
        WebhookEvent::NewAccountsAvailable => ItemEvent::NewAccountsAvailable,
        WebhookEvent::WebhookUpdateAcknowledged { new_webhook_url } => {
            ItemEvent::WebhookAcknowledged { new_webhook_url: new_webhook_url.clone() }
        }
        WebhookEvent::SyncUpdatesAvailable { .. }
        | WebhookEvent::InitialUpdate { .. }
        | WebhookEvent::HistoricalUpdate { .. }
        | WebhookEvent::DefaultUpdate { .. }
        | WebhookEvent::TransactionsRemoved { .. } => return Ok(Handled::Ignored),
        WebhookEvent::Unknown { webhook_type, webhook_code } => {
            tracing::info!(item_id = %item_id, webhook_type, webhook_code, "webhook type not acted on");
            return Ok(Handled::Ignored);
        }
    };
    apply_item_event(app, item_id, &item_event, at).await
}

/// Applies an item event, retrying on concurrent updates; removes a revoked item, and a revoked account's
/// transactions (again on every delivery, so a retry finishes a deletion that failed).
pub async fn apply_item_event(
    app: &App,
    item_id: &ItemId,
    event: &ItemEvent,
    at: OffsetDateTime,
) -> Result<Handled, ServiceError> {
    let handled = apply_to_item(app, item_id, event, at).await?;
    if let (ItemEvent::AccountRevoked { account_id }, Handled::Applied | Handled::Unchanged) = (event, &handled) {
        let deleted = app.store.delete_account_transactions(item_id, account_id).await?;
        tracing::info!(item_id = %item_id, account_id = %account_id, deleted, "revoked account's transactions deleted");
    }
    Ok(handled)
}

async fn apply_to_item(
    app: &App,
    item_id: &ItemId,
    event: &ItemEvent,
    at: OffsetDateTime,
) -> Result<Handled, ServiceError> {
    for _ in 0..5 {
        let Some(mut item) = app.store.find_item(item_id).await? else {
            tracing::warn!(item_id = %item_id, "webhook for an unknown item (removed?) acknowledged");
            return Ok(Handled::UnknownItem);
        };
        let had_error = item.error.is_some();
        match item.apply(event, at) {
            Outcome::Unchanged => return Ok(Handled::Unchanged),
            Outcome::Changed => match app.store.update_item(&mut item).await {
                Ok(()) => {
                    if item.error.is_some() {
                        tracing::info!(event = "item_error", item_id = %item_id, error_code = ?item.error.as_ref().map(|e| &e.error_code), "item in error");
                    } else if had_error {
                        tracing::info!(event = "item_repaired", item_id = %item_id, "item healthy again");
                        catch_up(app, item_id).await;
                    }
                    return Ok(Handled::Applied);
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            },
            Outcome::Remove => {
                let sealed = app.load_sealed(&item).await?;
                super::items::remove_item(app, &item, &sealed).await?;
                return Ok(Handled::ItemRemoved);
            }
        }
    }
    Err(ServiceError::Conflict)
}

/// Queues a sync for an item that was just repaired: changes made while it was in error could not be
/// synced (the syncs then failed with the item's error), and Plaid sends no new webhook for them.
/// Best effort, and only where the function has the queue.
async fn catch_up(app: &App, item_id: &ItemId) {
    let Some(queue) = &app.queue else { return };
    let request = SyncRequest {
        item_id: item_id.clone(),
        reason: "repaired".into(),
        dedup_key: uuid::Uuid::new_v4().simple().to_string(),
        webhook_key: None,
    };
    if let Err(e) = queue.request_sync(&request).await {
        tracing::warn!(item_id = %item_id, error = %e, "could not queue the catch-up sync after a repair");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_dedup_key_tells_a_redelivery_from_a_new_event_with_the_same_body() {
        let body = br#"{"item_id": "x", "webhook_code": "SYNC_UPDATES_AVAILABLE"}"#;
        let t = datetime!(2026-11-24 10:00:00 UTC);
        assert_eq!(dedup_key(body, t), dedup_key(body, t), "the same signed request");
        assert_ne!(dedup_key(body, t), dedup_key(body, t + time::Duration::SECOND), "a later event");
        assert_ne!(dedup_key(body, t), dedup_key(b"{}", t));
        // A valid key part for the store: 1 to 128 of [A-Za-z0-9_.:-].
        let key = dedup_key(body, t);
        assert!(key.len() <= 128 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b)));
    }
}
