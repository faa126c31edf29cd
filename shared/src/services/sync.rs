//! Transactions sync: the item's stored cursor, all pages, applied exactly.
//!
//! The loop follows Plaid's rules to the letter, where the open-source peers slip:
//! - all pages are fetched first and applied together, and the cursor is saved only with the data it covers;
//! - on TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION the whole loop restarts from the cursor it started
//!   with (never from null, which would lose removals);
//! - two syncs of one item never interleave: the worker holds a lease on the item, and the cursor is saved
//!   only while the lease is still its own.

use super::{App, ServiceError};
use crate::domain::{ItemEvent, ItemId, ItemStatus, TransactionId};
use crate::ports::{LeaseError, TransactionChange};
use std::collections::BTreeMap;
use std::time::Duration;

/// Page size asked of Plaid (its maximum).
const PAGE_SIZE: u32 = 500;
/// How often a sync restarts after mutations during pagination before giving up (and being retried).
const MAX_RESTARTS: u32 = 5;
/// How long a sync may hold an item before another worker may take over.
pub const LEASE: Duration = Duration::from_secs(900);

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    pub added: usize,
    pub modified: usize,
    pub removed: usize,
    pub pages: u32,
    pub restarts: u32,
    /// Why nothing was done, if so (`unknown_item`, `revoked`, `not_ready`, `login_required`, `busy`).
    pub skipped: Option<&'static str>,
}

pub async fn sync_item(app: &App, item_id: &ItemId) -> Result<SyncReport, ServiceError> {
    let Some(item) = app.store.find_item(item_id).await? else {
        tracing::warn!(item_id = %item_id, "sync asked for an unknown item; skipped");
        return Ok(SyncReport { skipped: Some("unknown_item"), ..Default::default() });
    };
    if item.status == ItemStatus::Revoked {
        return Ok(SyncReport { skipped: Some("revoked"), ..Default::default() });
    }
    let owner = uuid::Uuid::new_v4().to_string();
    let start_cursor = match app.store.acquire_sync_lease(&item.user_id, item_id, &owner, app.now(), LEASE).await {
        Ok(cursor) => cursor,
        Err(LeaseError::Held) => return Err(ServiceError::Conflict),
        Err(LeaseError::Store(e)) => return Err(e.into()),
    };
    let result = run(app, &item, &owner, start_cursor).await;
    if let Err(e) = app.store.release_sync_lease(&item.user_id, item_id, &owner).await {
        tracing::warn!(item_id = %item_id, error = %e, "releasing the sync lease failed; it expires by itself");
    }
    result
}

async fn run(
    app: &App,
    item: &crate::domain::ItemRecord,
    owner: &str,
    start_cursor: Option<String>,
) -> Result<SyncReport, ServiceError> {
    let item_id = &item.item_id;
    let (key, token) = app.open_item_secrets(item).await?;
    let mut report = SyncReport::default();

    let (changes, next_cursor) = 'restart: loop {
        // Net effect per transaction id, in Plaid's order: the last change wins.
        let mut changes: BTreeMap<TransactionId, TransactionChange> = BTreeMap::new();
        let mut cursor = start_cursor.clone();
        loop {
            let page = match app.plaid.transactions_sync(&token, cursor.as_deref(), PAGE_SIZE).await {
                Ok(page) => page,
                Err(e) if e.is_mutation_during_pagination() => {
                    report.restarts += 1;
                    tracing::info!(item_id = %item_id, restarts = report.restarts, "mutation during pagination; restarting from the starting cursor");
                    if report.restarts > MAX_RESTARTS {
                        return Err(e.into());
                    }
                    continue 'restart;
                }
                Err(e) if e.is_item_error() => {
                    // The item needs the user (e.g. ITEM_LOGIN_REQUIRED): record it, nothing to sync until repaired.
                    if let Some(p) = e.api_error() {
                        let event =
                            ItemEvent::Error { error_type: p.error_type.clone(), error_code: p.error_code.clone() };
                        super::webhook::apply_item_event(app, item_id, &event, app.now()).await?;
                    }
                    return Ok(SyncReport { skipped: Some("login_required"), ..report });
                }
                Err(e) => return Err(e.into()),
            };
            report.pages += 1;
            if page.next_cursor.is_empty() {
                return Ok(SyncReport { skipped: Some("not_ready"), ..report });
            }
            for t in page.added {
                report.added += 1;
                let t = t.into_domain(item_id).map_err(ServiceError::Invalid)?;
                changes.insert(t.transaction_id.clone(), TransactionChange::Upsert(Box::new(t)));
            }
            for t in page.modified {
                report.modified += 1;
                let t = t.into_domain(item_id).map_err(ServiceError::Invalid)?;
                changes.insert(t.transaction_id.clone(), TransactionChange::Upsert(Box::new(t)));
            }
            for r in page.removed {
                report.removed += 1;
                let id = TransactionId::parse(r.transaction_id).map_err(|e| ServiceError::Invalid(e.to_string()))?;
                changes.insert(id.clone(), TransactionChange::Remove(id));
            }
            cursor = Some(page.next_cursor);
            if !page.has_more {
                break;
            }
        }
        break 'restart (changes, cursor);
    };

    let changes: Vec<TransactionChange> = changes.into_values().collect();
    app.store.apply_transaction_changes(item_id, &key, &changes).await?;
    if let Some(cursor) = next_cursor {
        match app.store.save_sync_cursor(&item.user_id, item_id, owner, &cursor).await {
            Ok(()) => {}
            Err(LeaseError::Held) => {
                // Another worker took over after our lease expired; our writes were idempotent upserts.
                tracing::warn!(item_id = %item_id, "lost the sync lease before saving the cursor");
                return Err(ServiceError::Conflict);
            }
            Err(LeaseError::Store(e)) => return Err(e.into()),
        }
    }
    tracing::info!(item_id = %item_id, added = report.added, modified = report.modified, removed = report.removed, pages = report.pages, restarts = report.restarts, "transactions synced");
    Ok(report)
}
