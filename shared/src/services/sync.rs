//! Transactions sync: the item's stored cursor, all pages, applied exactly.
//!
//! The loop follows Plaid's rules to the letter, where the open-source peers slip:
//! - all pages are fetched first and applied together, and the cursor is saved only with the data it covers;
//! - on TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION the whole loop restarts from the cursor it started
//!   with (never from null, which would lose removals);
//! - two syncs of one item never interleave: the worker holds a lease on the item, and the cursor is saved
//!   only while the lease is still its own.

use super::{ServiceError, Services, item_state};
use crate::domain::{
    Account, AccountId, ItemEvent, ItemId, ItemRecord, ItemStatus, SealedItem, Transaction, TransactionId, observed_at,
};
use crate::ports::{LeaseError, SyncRequest, TransactionChange};
use std::collections::BTreeMap;
use std::time::Duration;
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

/// One queued message: its id (to report it failed) and the request it carries.
#[derive(Debug, Clone)]
pub struct QueuedSync {
    pub message_id: String,
    /// Names this delivery of the message (to hand it back early if its sync fails).
    pub receipt: String,
    /// How many times the message was delivered, this time included.
    pub receive_count: u32,
    pub request: SyncRequest,
}

/// When a failed sync is tried again: 10 s after its first delivery failed, doubling per delivery, at most
/// [`RETRY_MAX`]. After the queue's `maxReceiveCount` deliveries the message goes to the dead-letter queue.
pub fn retry_delay(receive_count: u32) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(10);
    (RETRY_FIRST * 2u32.pow(doublings)).min(RETRY_MAX)
}

const RETRY_FIRST: Duration = Duration::from_secs(10);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Runs a batch of queued syncs: one sync per item, serving all of that item's requests (it starts after
/// each of them was made). Returns the ids of the messages to retry: every message of an item whose sync
/// failed (FIFO: none may overtake a failed one).
pub async fn sync_batch(services: &Services, batch: Vec<QueuedSync>) -> Vec<String> {
    let mut groups: Vec<(ItemId, Vec<QueuedSync>)> = Vec::new();
    for queued in batch {
        match groups.iter_mut().find(|(item, _)| *item == queued.request.item_id) {
            Some((_, group)) => group.push(queued),
            None => groups.push((queued.request.item_id.clone(), vec![queued])),
        }
    }
    let mut failed = Vec::new();
    for (item_id, group) in groups {
        let reasons: Vec<&str> = group.iter().map(|q| q.request.reason.as_str()).collect();
        let requests: Vec<SyncRequest> = group.iter().map(|q| q.request.clone()).collect();
        match sync_requested(services, &item_id, &requests).await {
            Ok(report) => tracing::info!(item_id = %item_id, ?reasons, ?report, "sync done"),
            Err(e) => {
                let delay = retry_delay(group.iter().map(|q| q.receive_count).max().unwrap_or(1));
                tracing::warn!(item_id = %item_id, retry_in_s = delay.as_secs(), error = %crate::telemetry::chain(&e), "sync failed; will be retried");
                // The item's later webhooks queue syncs of their own again: were this message to end in
                // the dead-letter queue, they would otherwise be coalesced into a sync that never runs.
                for key in group.iter().filter_map(|q| q.request.webhook_key.as_deref()) {
                    if let Err(e) = services.store.forget_webhook(key).await {
                        tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "could not forget the webhook of a failed sync");
                    }
                }
                for queued in group {
                    // Back soon, not after the queue's visibility timeout (which covers a worker that died).
                    if let Err(e) = services.queue.retry_after(&queued.receipt, delay).await {
                        tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "could not schedule the retry; the queue's visibility timeout applies");
                    }
                    failed.push(queued.message_id);
                }
            }
        }
    }
    failed
}

/// Runs the queued sync requests of one item (one batch may hold several: one sync serves them all, since
/// it starts after every one of them was made).
pub async fn sync_requested(
    services: &Services,
    item_id: &ItemId,
    requests: &[SyncRequest],
) -> Result<SyncReport, ServiceError> {
    let keys: Vec<&str> = requests.iter().filter_map(|r| r.webhook_key.as_deref()).collect();
    sync(services, item_id, &keys).await
}

/// Syncs an item's transactions from its stored cursor.
pub async fn sync_item(services: &Services, item_id: &ItemId) -> Result<SyncReport, ServiceError> {
    sync(services, item_id, &[]).await
}

/// `webhook_keys`: the webhooks that queued this sync, forgotten once the sync holds the item (see
/// [`super::webhook`]).
async fn sync(services: &Services, item_id: &ItemId, webhook_keys: &[&str]) -> Result<SyncReport, ServiceError> {
    let app = services;
    let Some((item, sealed)) = app.store.find_item_sealed(item_id).await? else {
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
    for key in webhook_keys {
        if let Err(e) = app.store.forget_webhook(key).await {
            tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "could not forget the webhook that queued this sync");
        }
    }
    let result = run(app, &item, &sealed, &owner, start_cursor).await;
    if let Err(e) = app.store.release_sync_lease(&item.user_id, item_id, &owner).await {
        tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "releasing the sync lease failed; it expires by itself");
    }
    result
}

async fn run(
    app: &Services,
    item: &ItemRecord,
    sealed: &SealedItem,
    owner: &str,
    start_cursor: Option<String>,
) -> Result<SyncReport, ServiceError> {
    let item_id = &item.item_id;
    let (key, token) = app.unseal(item_id, sealed).await?;
    let mut report = SyncReport::default();
    // Accounts the user revoked: their transactions are not kept.
    let revoked: Vec<&AccountId> =
        item.accounts.iter().filter(|a| a.revoked_at.is_some()).map(|a| &a.account_id).collect();
    let upsert = |t: Transaction| {
        if revoked.contains(&&t.account_id) {
            TransactionChange::Remove(t.transaction_id)
        } else {
            TransactionChange::Upsert(Box::new(t))
        }
    };

    // Plaid's accounts with their balances, from the last page (every page lists them).
    let mut accounts;
    let mut accounts_at;
    let mut update_status;
    let (changes, next_cursor) = 'restart: loop {
        // Net effect per transaction id, in Plaid's order: the last change wins.
        let mut changes: BTreeMap<TransactionId, TransactionChange> = BTreeMap::new();
        let mut cursor = start_cursor.clone();
        loop {
            let asked_at = app.now();
            let page = match app.plaid.transactions_sync(&token, cursor.as_deref(), app.config.sync.page_size).await {
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
                        item_state::apply_event(app, item_id, &event, observed_at(asked_at)).await?;
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
                let t = t.into_domain(item_id).map_err(ServiceError::PlaidData)?;
                changes.insert(t.transaction_id.clone(), upsert(t));
            }
            for t in page.modified {
                report.modified += 1;
                let t = t.into_domain(item_id).map_err(ServiceError::PlaidData)?;
                changes.insert(t.transaction_id.clone(), upsert(t));
            }
            for r in page.removed {
                report.removed += 1;
                let id = TransactionId::parse(r.transaction_id).map_err(ServiceError::PlaidData)?;
                changes.insert(id.clone(), TransactionChange::Remove(id));
            }
            accounts = page.accounts;
            accounts_at = asked_at;
            update_status = page.transactions_update_status;
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
    // Balances (and accounts newly shared) come with every sync, at no extra Plaid call.
    let accounts: Vec<Account> = accounts.into_iter().map(Account::from).collect();
    let counts = item_state::SyncCounts {
        added: report.added as u64,
        modified: report.modified as u64,
        removed: report.removed as u64,
    };
    if let Err(e) = item_state::synced(app, item_id, accounts, update_status, counts, accounts_at).await {
        tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "could not save the accounts' balances; the next sync will");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_sync_comes_back_within_a_minute_then_backs_off() {
        let delays: Vec<u64> = (1..=7).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(retry_delay(0), RETRY_FIRST);
        assert_eq!(retry_delay(u32::MAX), RETRY_MAX);
    }
}
