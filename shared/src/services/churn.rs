//! The churned-item remover. Plaid bills Transactions for every month an item exists, even in error, so
//! near the end of each month items nobody will use again are removed: at Plaid first (ITEM_NOT_FOUND
//! counts as already removed), then every local record, the wrapped data key last. An item that fails is
//! left whole for the next run: never half-deleted, never deleted here while still billed there.
//!
//! Candidates come from the sparse churn index (never a table scan): users inactive for
//! `inactive_days`, items in an unresolved error for `error_days`, and items whose re-link prompt was shown
//! `max_ignored_prompts` times without the user acting. A run walks the index shard by shard and saves a
//! checkpoint after every page, so a run cut short (the 15-minute Lambda limit) continues where it stopped.

use super::{App, ServiceError};
use crate::domain::{ItemRecord, ItemStatus};
use crate::ports::{ChurnCheckpoint, ChurnIndex};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The thresholds (from config).
#[derive(Debug, Clone, Copy)]
pub struct ChurnPolicy {
    pub inactive_days: u32,
    pub error_days: u32,
    pub max_ignored_prompts: u32,
}

/// What one invocation is asked to do.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChurnInput {
    /// Report what would be removed, and why, without removing anything.
    pub dry_run: bool,
    /// Continue this run from its checkpoint (set by a continuation); a new run otherwise.
    pub run_id: Option<String>,
    /// Stop (and checkpoint) after this many removals; for tests and throttled runs.
    pub max_items: Option<u64>,
    /// Removals in flight at once (default 4; bounded to stay under Plaid's /item/remove limits).
    pub concurrency: Option<usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every candidate was handled.
    Complete,
    /// Stopped early (time or `max_items`); continue with the same `run_id`.
    Paused,
}

/// The run's summary (logged as one structured line, `event = churn_summary`).
#[derive(Debug, Clone, Serialize)]
pub struct ChurnSummary {
    pub run_id: String,
    pub dry_run: bool,
    pub status: RunStatus,
    pub scanned: u64,
    pub removed: u64,
    pub skipped: u64,
    pub failed: u64,
    pub by_reason: BTreeMap<String, u64>,
    /// In a dry run: each candidate and why.
    pub candidates: Vec<Candidate>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Candidate {
    pub user_id: String,
    pub item_id: String,
    pub reason: &'static str,
}

/// Why an item is churned, if it is.
pub fn reason(
    policy: &ChurnPolicy,
    item: &ItemRecord,
    user_last_active: Option<time::OffsetDateTime>,
    now: time::OffsetDateTime,
) -> Option<&'static str> {
    if item.status == ItemStatus::Revoked {
        return None;
    }
    if let Some(active) = user_last_active {
        if now - active >= time::Duration::days(policy.inactive_days.into()) {
            return Some("user_inactive");
        }
    }
    if let Some(err) = &item.error {
        if now - err.since >= time::Duration::days(policy.error_days.into()) {
            return Some("error_unresolved");
        }
    }
    if item.status.needs_update_mode() && item.ignored_prompts >= policy.max_ignored_prompts {
        return Some("ignored_prompts");
    }
    None
}

/// Runs (or continues) a churn run until done, `max_items`, or `deadline`.
pub async fn run(app: &App, input: ChurnInput, deadline: Instant) -> Result<ChurnSummary, ServiceError> {
    let policy = app.config.churn_policy();
    let now = app.now();
    let run_id = input
        .run_id
        .clone()
        .unwrap_or_else(|| format!("{}-{}", now.unix_timestamp(), &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let mut checkpoint = match &input.run_id {
        Some(id) => app.store.get_churn_checkpoint(id).await?.unwrap_or_default(),
        None => ChurnCheckpoint::default(),
    };
    let concurrency = input.concurrency.unwrap_or(4).clamp(1, 16);
    let mut summary = ChurnSummary {
        run_id: run_id.clone(),
        dry_run: input.dry_run,
        status: RunStatus::Complete,
        scanned: checkpoint.scanned,
        removed: checkpoint.removed,
        skipped: checkpoint.skipped,
        failed: checkpoint.failed,
        by_reason: checkpoint.by_reason.clone(),
        candidates: Vec::new(),
    };
    let mut removed_this_call = 0u64;

    'indexes: for index in [ChurnIndex::Inactive, ChurnIndex::InError] {
        if index < checkpoint.index {
            continue;
        }
        if index > checkpoint.index {
            checkpoint.index = index;
            checkpoint.shard = 0;
            checkpoint.page_token = None;
        }
        while checkpoint.shard < crate::ports::CHURN_SHARDS {
            let cutoff = match index {
                ChurnIndex::Inactive => now - time::Duration::days(policy.inactive_days.into()),
                // Prompt counts can exceed the limit on young errors, so the whole error shard is read.
                ChurnIndex::InError => now,
            };
            let page =
                app.store.churn_candidates(index, checkpoint.shard, cutoff, checkpoint.page_token.as_deref()).await?;
            let mut work: Vec<(ItemRecord, &'static str)> = Vec::new();
            for c in page.candidates {
                summary.scanned += 1;
                match reason(&policy, &c.item, c.user_last_active, now) {
                    Some(r) => work.push((c.item, r)),
                    None => summary.skipped += 1,
                }
            }
            if input.dry_run {
                for (item, r) in &work {
                    *summary.by_reason.entry((*r).to_owned()).or_default() += 1;
                    summary.candidates.push(Candidate {
                        user_id: item.user_id.to_string(),
                        item_id: item.item_id.to_string(),
                        reason: r,
                    });
                }
            } else {
                use futures::StreamExt;
                let results: Vec<(&'static str, Result<(), ServiceError>)> = futures::stream::iter(
                    work.into_iter().map(|(item, r)| async move { (r, remove_with_backoff(app, &item).await) }),
                )
                .buffer_unordered(concurrency)
                .collect()
                .await;
                for (r, result) in results {
                    match result {
                        Ok(()) => {
                            summary.removed += 1;
                            removed_this_call += 1;
                            *summary.by_reason.entry(r.to_owned()).or_default() += 1;
                        }
                        Err(e) => {
                            summary.failed += 1;
                            tracing::warn!(error = %e, reason = r, "churn removal failed; left for the next run");
                        }
                    }
                }
            }
            checkpoint.page_token = page.next_page;
            if checkpoint.page_token.is_none() {
                checkpoint.shard += 1;
            }
            checkpoint.scanned = summary.scanned;
            checkpoint.removed = summary.removed;
            checkpoint.skipped = summary.skipped;
            checkpoint.failed = summary.failed;
            checkpoint.by_reason = summary.by_reason.clone();
            if !input.dry_run {
                app.store.put_churn_checkpoint(&run_id, &checkpoint).await?;
            }
            let out_of_items = input.max_items.is_some_and(|m| removed_this_call >= m);
            let out_of_time = Instant::now() + Duration::from_secs(60) > deadline;
            if (out_of_items || out_of_time)
                && !(index == ChurnIndex::InError && checkpoint.shard >= crate::ports::CHURN_SHARDS)
            {
                summary.status = RunStatus::Paused;
                break 'indexes;
            }
        }
    }
    tracing::info!(event = "churn_summary", run_id = %summary.run_id, dry_run = summary.dry_run, status = ?summary.status, scanned = summary.scanned, removed = summary.removed, skipped = summary.skipped, failed = summary.failed, by_reason = ?summary.by_reason, "churn run summary");
    Ok(summary)
}

/// Removes one item, backing off on Plaid's 429s and 5xx (the client already retries a few times).
async fn remove_with_backoff(app: &App, item: &ItemRecord) -> Result<(), ServiceError> {
    let mut delay = Duration::from_millis(500);
    for attempt in 0..5 {
        match super::items::remove_item(app, item).await {
            Ok(()) => return Ok(()),
            Err(ServiceError::Plaid(e)) if attempt < 4 && (e.is_rate_limited() || e.is_server_error()) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e),
        }
    }
    Err(ServiceError::Conflict)
}
