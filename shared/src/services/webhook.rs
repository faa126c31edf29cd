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

/// Verifies and handles one delivery. `verification` is the `Plaid-Verification` header.
pub async fn intake(app: &App, verification: Option<&str>, body: &[u8]) -> Result<Handled, IntakeError> {
    let verified = match app.webhooks.verify(verification, body).await {
        Ok(v) => v,
        Err(e) if e.is_retryable() => return Err(IntakeError::Retry(e.to_string())),
        Err(e) => return Err(IntakeError::Refused(e)),
    };
    let dedup_key = hex::encode(Sha256::digest(body));
    if app.store.webhook_seen(&dedup_key).await.map_err(|e| IntakeError::Retry(e.to_string()))? {
        tracing::info!(item_id = %verified.item_id, "duplicate webhook delivery ignored");
        return Ok(Handled::Duplicate);
    }
    let handled = handle(app, &verified.item_id, &verified.event, verified.issued_at, &dedup_key)
        .await
        .map_err(|e| IntakeError::Retry(e.to_string()))?;
    // Marked only once handled, so a failed attempt is processed again when Plaid retries (every effect is
    // idempotent, so a concurrent duplicate is harmless).
    app.store.mark_webhook_seen(&dedup_key).await.map_err(|e| IntakeError::Retry(e.to_string()))?;
    Ok(handled)
}

async fn handle(
    app: &App,
    item_id: &ItemId,
    event: &WebhookEvent,
    at: OffsetDateTime,
    dedup_key: &str,
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
        | WebhookEvent::TransactionsRemoved { .. } => {
            if app.store.find_item(item_id).await?.is_none() {
                tracing::warn!(item_id = %item_id, "webhook for an unknown item (removed?) acknowledged");
                return Ok(Handled::UnknownItem);
            }
            let request = SyncRequest {
                item_id: item_id.clone(),
                reason: event.code().to_owned(),
                dedup_key: dedup_key.to_owned(),
            };
            app.queue()?.request_sync(&request).await?;
            return Ok(Handled::SyncQueued);
        }
        WebhookEvent::Unknown { webhook_type, webhook_code } => {
            tracing::info!(item_id = %item_id, webhook_type, webhook_code, "webhook type not acted on");
            return Ok(Handled::Ignored);
        }
    };
    apply_item_event(app, item_id, &item_event, at).await
}

/// Applies an item event, retrying on concurrent updates; removes a revoked item.
pub async fn apply_item_event(
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
        match item.apply(event, at) {
            Outcome::Unchanged => return Ok(Handled::Unchanged),
            Outcome::Changed => match app.store.update_item(&mut item).await {
                Ok(()) => {
                    if item.error.is_some() {
                        tracing::info!(event = "item_error", item_id = %item_id, error_code = ?item.error.as_ref().map(|e| &e.error_code), "item in error");
                    }
                    return Ok(Handled::Applied);
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            },
            Outcome::Remove => {
                super::items::remove_item(app, &item).await?;
                return Ok(Handled::ItemRemoved);
            }
        }
    }
    Err(ServiceError::Conflict)
}
