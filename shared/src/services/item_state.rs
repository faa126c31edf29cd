//! The item-state steps several use cases share: apply an item event (webhooks, a confirmed update mode, a
//! sync that met an item error), remove an item (user, revocation, churn), and catch up a repaired item.

use super::{ServiceError, Services, audit, events, limits};
use crate::domain::{
    Account, AppEvent, AppEventKind, ItemEvent, ItemId, ItemRecord, Outcome, SealedItem, SyncProgress, changes_between,
};
use crate::ports::{Actor, AuditAction, AuditOutcome, SyncReason, SyncRequest};
use time::OffsetDateTime;

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// The item changed and was saved.
    Changed,
    /// Nothing changed (logged with why).
    Unchanged,
    /// The item was revoked: removed at Plaid and deleted here.
    Removed,
    /// No such item (removed, or never stored).
    UnknownItem,
}

/// How often a concurrent change is re-read and the event applied again.
const ATTEMPTS: usize = 5;

/// Applies an item event produced at `at` (on the item state machine's scale: Plaid's `iat`, or weft's own
/// clock for what weft observed), retrying on concurrent updates. Removes a revoked item, deletes a revoked
/// account's transactions (again on every delivery, so a retry finishes a deletion that failed), and queues
/// a catch-up sync for a repaired item.
pub async fn apply_event(
    services: &Services,
    item_id: &ItemId,
    event: &ItemEvent,
    at: OffsetDateTime,
) -> Result<Applied, ServiceError> {
    apply(services, item_id, None, event, at).await
}

/// As [`apply_event`], starting from the item as the caller has just read it, with its sealed secrets (a use
/// case that needed the access token first): the first attempt does not read it again; a concurrent change
/// since is re-read as usual.
pub async fn apply_event_to_read(
    services: &Services,
    read: (ItemRecord, SealedItem),
    event: &ItemEvent,
    at: OffsetDateTime,
) -> Result<Applied, ServiceError> {
    let item_id = read.0.item_id.clone();
    apply(services, &item_id, Some(read), event, at).await
}

async fn apply(
    services: &Services,
    item_id: &ItemId,
    read: Option<(ItemRecord, SealedItem)>,
    event: &ItemEvent,
    at: OffsetDateTime,
) -> Result<Applied, ServiceError> {
    let applied = apply_to_item(services, item_id, read, event, at).await?;
    if let (ItemEvent::AccountRevoked { account_id }, Applied::Changed | Applied::Unchanged) = (event, applied) {
        let deleted = services.store.delete_account_transactions(item_id, account_id).await?;
        tracing::info!(item_id = %item_id, account_id = %account_id, deleted, "revoked account's transactions deleted");
    }
    Ok(applied)
}

async fn apply_to_item(
    services: &Services,
    item_id: &ItemId,
    mut read: Option<(ItemRecord, SealedItem)>,
    event: &ItemEvent,
    at: OffsetDateTime,
) -> Result<Applied, ServiceError> {
    for _ in 0..ATTEMPTS {
        let found = match read.take() {
            Some(read) => Some(read),
            None => services.store.find_item_sealed(item_id).await?,
        };
        let Some((mut item, sealed)) = found else {
            tracing::warn!(item_id = %item_id, item_event = event.kind(), "item event for an unknown item (removed?) ignored");
            return Ok(Applied::UnknownItem);
        };
        let had_error = item.error.is_some();
        let before = item.clone();
        match item.apply(event, at) {
            Outcome::Unchanged(why) => {
                tracing::info!(
                    event = "item_event_unchanged",
                    item_id = %item_id,
                    item_event = event.kind(),
                    why = why.as_str(),
                    at = %at,
                    "item event changed nothing"
                );
                return Ok(Applied::Unchanged);
            }
            Outcome::Changed => {
                let occurred_at = at.min(services.now());
                let app_events: Vec<AppEvent> = changes_between(&before, &item)
                    .into_iter()
                    .map(|kind| AppEvent::new(&item, kind, occurred_at))
                    .collect();
                match services.store.update_item_with_events(&mut item, &app_events).await {
                    Ok(()) => {
                        if let Some(error) = &item.error {
                            tracing::info!(event = "item_error", item_id = %item_id, error_code = %error.error_code, "item in error");
                        } else if had_error {
                            tracing::info!(event = "item_repaired", item_id = %item_id, "item healthy again");
                            catch_up(services, item_id).await;
                        }
                        if !item.status.needs_update_mode() && item.ignored_prompts > 0 {
                            // Repaired: the reminders stop, and a later break starts their schedule afresh.
                            if let Err(e) = services.store.reset_relink_prompts(&item.user_id, item_id).await {
                                tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "could not reset the reminder count");
                            }
                        }
                        events::publish_now(services, &app_events).await;
                        return Ok(Applied::Changed);
                    }
                    Err(e) if e.is_conflict() => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Outcome::Remove => {
                remove_item(services, &item, &sealed, Actor::Plaid, "revoked").await?;
                return Ok(Applied::Removed);
            }
        }
    }
    Err(ServiceError::Conflict)
}

/// Takes Plaid's list of the item's accounts, taken at `as_of` (see [`ItemRecord::refresh_accounts`]),
/// retrying on concurrent updates. Balances are saved even when nothing else changed (their `as_of`).
pub async fn refresh_accounts(
    services: &Services,
    item_id: &ItemId,
    from_plaid: Vec<Account>,
    as_of: OffsetDateTime,
) -> Result<(), ServiceError> {
    modify(services, item_id, |item| {
        item.refresh_accounts(from_plaid.clone(), as_of);
    })
    .await
}

/// What a sync changed in the item's transactions (for the app's `item.transactions_updated` event).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub added: u64,
    pub modified: u64,
    pub removed: u64,
}

/// A sync of the item finished at `at`: Plaid's accounts from its last page (see [`refresh_accounts`]),
/// how far Plaid's transactions are (`update_status`: Plaid's `transactions_update_status`), and, when the
/// sync changed transactions, an `item.transactions_updated` event in the same write.
pub async fn synced(
    services: &Services,
    item_id: &ItemId,
    from_plaid: Vec<Account>,
    update_status: Option<String>,
    counts: SyncCounts,
    at: OffsetDateTime,
) -> Result<(), ServiceError> {
    let changed = counts.added + counts.modified + counts.removed > 0;
    let kind =
        AppEventKind::TransactionsUpdated { added: counts.added, modified: counts.modified, removed: counts.removed };
    let written = modify_with_events(services, item_id, |item| {
        item.refresh_accounts(from_plaid.clone(), at);
        let update_status = update_status.clone().or_else(|| item.transactions_sync.update_status.take());
        item.transactions_sync = SyncProgress { update_status, last_synced_at: Some(at) };
        if changed { vec![AppEvent::new(item, kind.clone(), at)] } else { Vec::new() }
    })
    .await?;
    events::publish_now(services, &written).await;
    Ok(())
}

/// Reads the item, changes it with `change` and saves it, again on concurrent updates.
async fn modify(services: &Services, item_id: &ItemId, change: impl Fn(&mut ItemRecord)) -> Result<(), ServiceError> {
    modify_with_events(services, item_id, |item| {
        change(item);
        Vec::new()
    })
    .await
    .map(drop)
}

/// [`modify`], where `change` also says which events to write with the change (atomically); the events
/// written.
async fn modify_with_events(
    services: &Services,
    item_id: &ItemId,
    change: impl Fn(&mut ItemRecord) -> Vec<AppEvent>,
) -> Result<Vec<AppEvent>, ServiceError> {
    for _ in 0..ATTEMPTS {
        let Some(mut item) = services.store.find_item(item_id).await? else { return Ok(Vec::new()) };
        let before = item.accounts.len();
        let app_events = change(&mut item);
        match services.store.update_item_with_events(&mut item, &app_events).await {
            Ok(()) => {
                if item.accounts.len() > before {
                    tracing::info!(item_id = %item_id, added = item.accounts.len() - before, "newly shared accounts added");
                }
                return Ok(app_events);
            }
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::Conflict)
}

/// Removes an item: at Plaid first (ITEM_NOT_FOUND means already gone), then every record of it, the
/// wrapped data key last (crypto-shredding whatever a backup still holds). A failure at Plaid leaves the
/// item whole here: never deleted here while still billed there.
/// `actor` and `why` (`user`, `revoked`, `churn`, `erasure`) go to the audit trail.
pub async fn remove_item(
    services: &Services,
    item: &ItemRecord,
    sealed: &SealedItem,
    actor: Actor,
    why: &str,
) -> Result<(), ServiceError> {
    let (_, token) = services.unseal(&item.item_id, sealed).await?;
    match services.plaid.item_remove(&token).await {
        Ok(()) => {}
        Err(e) if e.is_item_not_found() => {}
        Err(e) => {
            audit::record(
                services,
                actor,
                AuditAction::ItemRemoved,
                AuditOutcome::Failed,
                Some(&item.item_id),
                Some(why),
            )
            .await;
            return Err(e.into());
        }
    }
    deleted(services, item, actor, why).await
}

/// The item is gone at Plaid: every record of it is deleted here, its slot given back, the removal audited.
pub async fn deleted(services: &Services, item: &ItemRecord, actor: Actor, why: &str) -> Result<(), ServiceError> {
    // The event first: removal is already done at Plaid; a retry after a failure below writes it again
    // with the same id.
    let removed = AppEvent::removed(item, why, services.now());
    services.store.add_events(std::slice::from_ref(&removed)).await?;
    services.store.delete_item(&item.user_id, &item.item_id).await?;
    events::publish_now(services, std::slice::from_ref(&removed)).await;
    limits::item_removed(services, &item.user_id).await;
    audit::record(services, actor, AuditAction::ItemRemoved, AuditOutcome::Done, Some(&item.item_id), Some(why)).await;
    tracing::info!(item_id = %item.item_id, why, "item removed at Plaid and deleted");
    Ok(())
}

/// Queues a sync for an item that was just repaired: changes made while it was in error could not be
/// synced (the syncs then failed with the item's error), and Plaid sends no new webhook for them.
/// Best effort: the next webhook syncs the item anyway.
pub async fn catch_up(services: &Services, item_id: &ItemId) {
    let request = SyncRequest {
        item_id: item_id.clone(),
        reason: SyncReason::Repaired,
        dedup_key: uuid::Uuid::new_v4().simple().to_string(),
        webhook_key: None,
    };
    if let Err(e) = services.queue.request_sync(&request).await {
        tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "could not queue the catch-up sync after a repair");
    }
}
