//! Access-token rotation, for incident response: an operator rotates one item's access token, or every
//! item's, with `/item/access_token/invalidate`, and the new token is sealed under a new data key.
//!
//! **One item** ([`rotate_item`]), under the item's sync lease (no sync runs meanwhile):
//! 1. a new data key from the vault, *before* Plaid is asked, so that once Plaid has rotated only storing
//!    is left to fail;
//! 2. `/item/access_token/invalidate` with the old token (never retried once it may have reached Plaid: a
//!    lost answer loses the new token, see [`crate::adapters::plaid_http`]);
//! 3. the new token sealed under the new key and stored with it
//!    ([`RotationStore::replace_sealed`](crate::ports::RotationStore::replace_sealed): conditional on the old
//!    wrapped key). Storing is retried with backoff: the old token is dead, the new one exists only in
//!    memory. If it still fails, the item is logged at ERROR (`event = token_rotation_lost`, the item id,
//!    never a token) and needs relinking;
//! 4. the item's transactions were sealed under the old key: the store drops them with it and resets the
//!    sync cursor, and a sync is queued that fetches them again (Plaid's full history) under the new key;
//! 5. the audit trail records it (`token_rotated`, the operator as actor, no token).
//!
//! **Every item** ([`rotate_all`]) pages through every stored item ([`RotationStore::scan_items`]:
//! a filtered table scan), one item at a time, paced under Plaid's rate limit ([`RotateAllOptions`]), and
//! checkpoints after every item under a run id (`rotation-…`). It stops starting new items at the
//! caller's deadline (each call does at least one item or page, so a chain of calls always ends) and
//! answers in progress with the run id; calling again with the run id continues where it stopped, rotating
//! nothing twice. A rate limit (Plaid refused before acting) stops the call and leaves the item for the
//! next one. Items that fail are counted and listed for one-by-one retries.
//!
//! [`RotationStore::scan_items`]: crate::ports::RotationStore::scan_items

use super::{ServiceError, Services, audit};
use crate::domain::{ItemId, ItemRecord, SealedItem, UserId};
use crate::ports::{
    Actor, AuditAction, AuditOutcome, LeaseError, PlaidCallError, RotationCheckpoint, StoreError, SyncReason,
    SyncRequest,
};
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;

/// How long a rotation holds the item's sync lease (longer than a rotation takes; released at the end).
pub const LEASE: Duration = Duration::from_secs(300);
/// Attempts at taking the item's sync lease while a sync holds it.
const LEASE_ATTEMPTS: u32 = 4;
/// Attempts at storing the new token once Plaid has rotated it.
const STORE_ATTEMPTS: u32 = 8;
/// Run ids start with this (apart from churn runs, whose checkpoints live elsewhere).
pub const RUN_PREFIX: &str = "rotation-";

/// How a rotation of every item runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateAllOptions {
    /// `/item/access_token/invalidate` calls per minute at most (default [`DEFAULT_PER_MINUTE`]).
    pub per_minute: u32,
    /// Records read per page of the item scan (default [`DEFAULT_SCAN_PAGE`]).
    pub scan_page: u32,
}

/// Plaid does not publish a limit for `/item/access_token/invalidate`; a modest pace, well under its
/// per-client limits of comparable item endpoints, leaves room for the other functions' calls.
pub const DEFAULT_PER_MINUTE: u32 = 100;
pub const DEFAULT_SCAN_PAGE: u32 = 200;

impl Default for RotateAllOptions {
    fn default() -> Self {
        Self { per_minute: DEFAULT_PER_MINUTE, scan_page: DEFAULT_SCAN_PAGE }
    }
}

/// Where a rotation of every item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Complete,
    InProgress,
}

/// A run's totals so far (every call of the run).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RotationSummary {
    pub status: RunStatus,
    pub run_id: String,
    pub rotated: u64,
    pub skipped: u64,
    pub failed: u64,
    /// The items that failed (at most 100): rotate them one by one once the cause is fixed.
    pub failed_items: Vec<String>,
}

/// What rotating one item came to.
#[derive(Debug)]
enum Rotation {
    Rotated,
    /// Nothing to rotate (`revoked`, `gone`, `removed_at_plaid`).
    Skipped(&'static str),
}

/// Rotates one item's access token (see the module docs). `operator` is who asked, for the audit trail.
/// [`ServiceError::NotFound`] for an unknown item, [`ServiceError::Conflict`] while a sync holds the item.
pub async fn rotate_item(services: &Services, operator: &UserId, item_id: &ItemId) -> Result<(), ServiceError> {
    let Some(item) = services.store.find_item(item_id).await? else { return Err(ServiceError::NotFound("item")) };
    let actor = Actor::operator(&services.pseudonyms, operator);
    match rotate_audited(services, &actor, &item.user_id, item_id, "one").await? {
        Rotation::Rotated => Ok(()),
        Rotation::Skipped("revoked") => {
            Err(ServiceError::Invalid("the item was revoked and is being removed: nothing to rotate".into()))
        }
        Rotation::Skipped(_) => Err(ServiceError::NotFound("item")),
    }
}

/// [`rotate`], recorded in the audit trail (done or failed; a skipped item is only logged).
async fn rotate_audited(
    services: &Services,
    actor: &Actor,
    user: &UserId,
    item_id: &ItemId,
    scope: &str,
) -> Result<Rotation, ServiceError> {
    let result = rotate(services, user, item_id).await;
    match &result {
        Ok(Rotation::Rotated) => {
            tracing::info!(event = "token_rotated", item_id = %item_id, scope, "access token rotated");
            audit::record(
                services,
                actor.clone(),
                AuditAction::TokenRotated,
                AuditOutcome::Done,
                Some(item_id),
                Some(scope),
            )
            .await;
        }
        Ok(Rotation::Skipped(why)) => {
            tracing::info!(event = "token_rotation_skipped", item_id = %item_id, why, "nothing to rotate");
        }
        Err(e) => {
            let code = failure_code(e);
            tracing::warn!(event = "token_rotation_failed", item_id = %item_id, code = %code, error = %crate::telemetry::chain(e), "access token not rotated");
            audit::record(
                services,
                actor.clone(),
                AuditAction::TokenRotated,
                AuditOutcome::Failed,
                Some(item_id),
                Some(&code),
            )
            .await;
        }
    }
    result
}

/// A stable code for why a rotation failed (audit detail): Plaid's error code, or what failed here.
fn failure_code(e: &ServiceError) -> String {
    match e {
        ServiceError::Plaid(p) => match p.error_code() {
            Some(code) if !code.is_empty() => code.to_owned(),
            _ if matches!(p, PlaidCallError::Timeout { .. } | PlaidCallError::Transport { .. }) => {
                "plaid_unknown".into()
            }
            _ => "plaid".into(),
        },
        ServiceError::Conflict => "busy".into(),
        ServiceError::NotFound(_) => "gone".into(),
        ServiceError::Store(_) => "store".into(),
        ServiceError::Vault(_) => "vault".into(),
        ServiceError::Sealing(_) => "sealing".into(),
        _ => "other".into(),
    }
}

/// Rotates under the item's sync lease, releasing it whatever happens.
async fn rotate(services: &Services, user: &UserId, item_id: &ItemId) -> Result<Rotation, ServiceError> {
    let owner = format!("{RUN_PREFIX}{}", uuid::Uuid::new_v4().simple());
    let mut wait = Duration::from_millis(250);
    for attempt in 1..=LEASE_ATTEMPTS {
        match services.store.acquire_sync_lease(user, item_id, &owner, services.now(), LEASE).await {
            Ok(_) => break,
            Err(LeaseError::Held) if attempt < LEASE_ATTEMPTS => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            // A sync holds the item: rotate it once the sync is done.
            Err(LeaseError::Held) => return Err(ServiceError::Conflict),
            Err(LeaseError::Store(e)) if e.is_not_found() => return Ok(Rotation::Skipped("gone")),
            Err(LeaseError::Store(e)) => return Err(e.into()),
        }
    }
    let result = rotate_leased(services, user, item_id).await;
    if let Err(e) = services.store.release_sync_lease(user, item_id, &owner).await {
        tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "releasing the sync lease after a rotation failed; it expires by itself");
    }
    if let Ok(Rotation::Rotated) = result {
        queue_sync(services, item_id).await;
    }
    result
}

async fn rotate_leased(services: &Services, user: &UserId, item_id: &ItemId) -> Result<Rotation, ServiceError> {
    let Some((item, old)) = services.store.get_item_sealed(user, item_id).await? else {
        return Ok(Rotation::Skipped("gone"));
    };
    if item.status == crate::domain::ItemStatus::Revoked {
        return Ok(Rotation::Skipped("revoked"));
    }
    let (_, old_token) = services.unseal(item_id, &old).await?;
    // Everything that can fail before Plaid acts, first.
    let (new_key, new_wrapped) = services.vault.new_item_key(item_id).await?;
    let rotated = match services.plaid.item_access_token_invalidate(&old_token).await {
        Ok(rotated) => rotated,
        Err(e) if e.is_item_not_found() => return Ok(Rotation::Skipped("removed_at_plaid")),
        Err(e) => return Err(e.into()),
    };
    drop(old_token);
    // From here on the old token is dead: the new one must be stored.
    let mut wait = Duration::from_millis(100);
    let mut last = None;
    for attempt in 1..=STORE_ATTEMPTS {
        let stored = match new_key.seal_access_token(&rotated.new_access_token) {
            Ok(access_token) => {
                let new = SealedItem { wrapped_key: new_wrapped.clone(), access_token };
                services.store.replace_sealed(user, item_id, &old.wrapped_key, &new).await.map_err(ServiceError::from)
            }
            Err(e) => Err(e.into()),
        };
        match stored {
            Ok(()) => return Ok(Rotation::Rotated),
            Err(ServiceError::Store(StoreError::NotFound(_))) => {
                // Deleted here meanwhile (the user removed it): it must not stay at Plaid, billed and unreachable.
                tracing::warn!(item_id = %item_id, "the item was deleted while its token was rotated; removing it at Plaid");
                if let Err(e) = services.plaid.item_remove(&rotated.new_access_token).await {
                    tracing::error!(event = "token_rotation_orphan", item_id = %item_id, error = %crate::telemetry::chain(&e), "an item deleted during its rotation could not be removed at Plaid");
                }
                return Ok(Rotation::Skipped("gone"));
            }
            // Someone else replaced the key: nothing to retry.
            Err(e @ ServiceError::Store(StoreError::Conflict | StoreError::Invalid(_))) => {
                last = Some(e);
                break;
            }
            Err(e) => {
                tracing::warn!(item_id = %item_id, attempt, error = %crate::telemetry::chain(&e), "storing the rotated token failed; retrying");
                last = Some(e);
                if attempt < STORE_ATTEMPTS {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
    let e = last.unwrap_or(ServiceError::Conflict);
    tracing::error!(
        event = "token_rotation_lost",
        item_id = %item_id,
        error = %crate::telemetry::chain(&e),
        "Plaid rotated the access token but the new one could not be stored: the item must be linked again"
    );
    Err(e)
}

/// The item's transactions went with its old key: fetch them again (best effort; the next webhook syncs it
/// anyway).
async fn queue_sync(services: &Services, item_id: &ItemId) {
    let request = SyncRequest {
        item_id: item_id.clone(),
        reason: SyncReason::TokenRotated,
        dedup_key: uuid::Uuid::new_v4().simple().to_string(),
        webhook_key: None,
    };
    if let Err(e) = services.queue.request_sync(&request).await {
        tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "could not queue the sync after a token rotation");
    }
}

/// Whether `id` can name a rotation run.
fn valid_run_id(id: &str) -> bool {
    id.starts_with(RUN_PREFIX)
        && id.len() <= 100
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Rotates every item's access token, or continues the run `run_id` (see the module docs), until it is done
/// or `deadline` (no new item starts after it, once the call has done something). `operator` is who asked.
/// [`ServiceError::NotFound`] for a run id with no checkpoint (unknown, or older than 30 days).
pub async fn rotate_all(
    services: &Services,
    operator: &UserId,
    run_id: Option<&str>,
    deadline: Instant,
    options: RotateAllOptions,
) -> Result<RotationSummary, ServiceError> {
    if options.per_minute == 0 || options.scan_page == 0 {
        return Err(ServiceError::Invalid("per_minute and scan_page must be at least 1".into()));
    }
    let actor = Actor::operator(&services.pseudonyms, operator);
    let (run_id, mut cp) = match run_id {
        Some(id) => {
            if !valid_run_id(id) {
                return Err(ServiceError::Invalid(format!("run_id must be a run id this API gave ({RUN_PREFIX}…)")));
            }
            let cp = services.store.get_rotation_checkpoint(id).await?.ok_or(ServiceError::NotFound("rotation run"))?;
            (id.to_owned(), cp)
        }
        None => {
            let now = services.now();
            let id =
                format!("{RUN_PREFIX}{}-{}", now.unix_timestamp(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
            let cp = RotationCheckpoint { started_at: Some(now), ..Default::default() };
            services.store.put_rotation_checkpoint(&id, &cp).await?;
            tracing::info!(event = "token_rotation_run_started", run_id = %id, "rotation of every item's access token started");
            (id, cp)
        }
    };
    let interval = Duration::from_secs(60) / options.per_minute;
    let mut next_slot = Instant::now();
    let mut progressed = false;

    'pages: while !cp.complete {
        if progressed && Instant::now() >= deadline {
            break;
        }
        let page = services.store.scan_items(cp.page_token.as_deref(), options.scan_page).await?;
        let done: HashSet<String> = cp.page_done.iter().cloned().collect();
        // Collected first: an iterator holding a closure across the awaits below would make the future
        // not `Send` for every lifetime (what the Lambda runtime needs).
        let todo: Vec<&ItemRecord> = page.items.iter().filter(|i| !done.contains(i.item_id.as_str())).collect();
        for item in todo {
            if progressed && (Instant::now() >= deadline || next_slot >= deadline) {
                break 'pages;
            }
            tokio::time::sleep_until(next_slot).await;
            next_slot = Instant::now().max(next_slot) + interval;
            match rotate_audited(services, &actor, &item.user_id, &item.item_id, "all").await {
                Ok(Rotation::Rotated) => cp.rotated += 1,
                Ok(Rotation::Skipped(_)) => cp.skipped += 1,
                Err(ServiceError::Plaid(e)) if not_processed(&e) => {
                    // Plaid refused before acting (rate limit, maintenance, nothing sent): this item again next call.
                    tracing::info!(event = "token_rotation_paused", run_id = %run_id, item_id = %item.item_id, "Plaid refused before acting; the run continues on the next call");
                    break 'pages;
                }
                Err(_) => {
                    cp.failed += 1;
                    if cp.failed_items.len() < RotationCheckpoint::MAX_FAILED_LISTED {
                        cp.failed_items.push(item.item_id.to_string());
                    }
                }
            }
            progressed = true;
            cp.page_done.push(item.item_id.to_string());
            services.store.put_rotation_checkpoint(&run_id, &cp).await?;
        }
        progressed = true;
        cp.page_done.clear();
        cp.page_token = page.next_page;
        cp.complete = cp.page_token.is_none();
        services.store.put_rotation_checkpoint(&run_id, &cp).await?;
    }

    let summary = RotationSummary {
        status: if cp.complete { RunStatus::Complete } else { RunStatus::InProgress },
        run_id,
        rotated: cp.rotated,
        skipped: cp.skipped,
        failed: cp.failed,
        failed_items: cp.failed_items,
    };
    tracing::info!(
        event = "token_rotation_run",
        run_id = %summary.run_id,
        status = ?summary.status,
        rotated = summary.rotated,
        skipped = summary.skipped,
        failed = summary.failed,
        "rotation of every item's access token"
    );
    Ok(summary)
}

/// Whether Plaid provably did not act on the call (so the item can simply be tried again).
fn not_processed(e: &PlaidCallError) -> bool {
    e.is_rate_limited()
        || e.status() == Some(503)
        || matches!(e, PlaidCallError::Connect { .. } | PlaidCallError::Credentials(_))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_rotation_runs() {
        assert!(valid_run_id("rotation-1767000000-ab12cd34"));
        assert!(!valid_run_id("1767000000-ab12cd34"), "a churn run id is not a rotation run");
        assert!(!valid_run_id("rotation-a#b"));
    }

    #[test]
    fn failure_codes_are_stable_and_carry_no_secret() {
        let e = ServiceError::Plaid(PlaidCallError::Timeout { endpoint: "/item/access_token/invalidate" });
        assert_eq!(failure_code(&e), "plaid_unknown");
        assert_eq!(failure_code(&ServiceError::Conflict), "busy");
        assert_eq!(failure_code(&ServiceError::Store(StoreError::Conflict)), "store");
    }
}
