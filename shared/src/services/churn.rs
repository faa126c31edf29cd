//! The churned-item remover. Plaid bills Transactions for every month an item exists, even in error, so
//! near the end of each month items nobody will use again are removed: at Plaid first (ITEM_NOT_FOUND
//! counts as already removed), then every local record, the wrapped data key last (crypto-shredding). An
//! item that fails is left whole for the next run: never half-deleted, never deleted here while still
//! billed there.
//!
//! **Candidates** come from the sparse churn index (never a table scan), in two passes:
//! 1. users inactive since before `now - inactive_days` (`CHURN#ACTIVE#<shard>`): each of their items (an
//!    inactive user with no items left is dropped from the index, so no later run reads it again);
//! 2. items in error or awaiting update mode (`CHURN#ERROR#<shard>`): those in an unresolved error since
//!    before `now - error_days`, and those whose re-link prompt the item APIs showed `max_ignored_prompts`
//!    times without the user acting on it. Items of inactive users belong to pass 1 and are not counted
//!    again here.
//!
//! Every candidate is re-read (strongly consistent) before it is acted on: the index is eventually
//! consistent, and a user may have come back or repaired the item since. `now` is the run's start, kept in
//! its checkpoint, so every invocation of a run applies the same thresholds.
//!
//! **Scale.** Removals run `concurrency` at a time, paced under Plaid's per-client `/item/remove` limit
//! ([`Pacer`]); a 429 holds every worker and slows the pace, other transient failures back off per item.
//! The run saves a checkpoint after every page (and when it stops inside one), so an invocation that nears
//! the Lambda time limit (or `max_items`) stops cleanly and the next one continues where it stopped, doing
//! nothing twice. The summary is one structured log line (`event = churn_summary`); [`metric_lines`] turns
//! it into CloudWatch Embedded Metric Format lines.

use super::{App, ServiceError};
use crate::config::PlaidEnv;
use crate::domain::{ItemRecord, ItemStatus, UserId};
use crate::ports::{CHURN_SHARDS, ChurnCandidate, ChurnCheckpoint, ChurnIndex, IdleUser, SealedItem};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Removals in flight at once unless the input says otherwise. The pacer, not this, keeps the calls under
/// Plaid's limit; this only has to cover the latency of one removal (KMS, `/item/remove`, the deletes): at
/// production's 30 calls/s and ~0.5 s per removal, 16 keep up.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// The most removals in flight the input may ask for.
pub const MAX_CONCURRENCY: usize = 32;
/// Items listed in one invocation's answer (every one is also logged).
pub const MAX_LISTED: usize = 1000;
/// Attempts at one item's `/item/remove` (each of which the Plaid client retries itself a few times).
const REMOVE_ATTEMPTS: u32 = 5;
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(8);

/// The thresholds (from config).
#[derive(Debug, Clone, Copy)]
pub struct ChurnPolicy {
    pub inactive_days: u32,
    pub error_days: u32,
    pub max_ignored_prompts: u32,
}

impl ChurnPolicy {
    /// The thresholds as instants, for a run that started at `now`.
    pub fn cutoffs(&self, now: OffsetDateTime) -> Cutoffs {
        Cutoffs {
            inactive_before: now - time::Duration::days(self.inactive_days.into()),
            error_before: now - time::Duration::days(self.error_days.into()),
            max_ignored_prompts: self.max_ignored_prompts,
        }
    }
}

/// [`ChurnPolicy`] applied to one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// A user last active before this is inactive.
    pub inactive_before: OffsetDateTime,
    /// An error that began before this is unresolved for too long.
    pub error_before: OffsetDateTime,
    pub max_ignored_prompts: u32,
}

/// Why an item is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Its user has not been active for `inactive_days`.
    UserInactive,
    /// It has been in an error state for `error_days`.
    ErrorUnresolved,
    /// It needs update mode and its re-link prompt was shown `max_ignored_prompts` times, unacted on.
    IgnoredPrompts,
}

impl Reason {
    pub const ALL: [Reason; 3] = [Self::UserInactive, Self::ErrorUnresolved, Self::IgnoredPrompts];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserInactive => "user_inactive",
            Self::ErrorUnresolved => "error_unresolved",
            Self::IgnoredPrompts => "ignored_prompts",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an item is churned, if it is (the first reason that applies, in the order of [`Reason`]).
/// Revoked items are on their way out through the webhook and are not the remover's.
pub fn reason(cutoffs: &Cutoffs, item: &ItemRecord, user_last_active: Option<OffsetDateTime>) -> Option<Reason> {
    if item.status == ItemStatus::Revoked {
        return None;
    }
    if user_last_active.is_some_and(|t| t < cutoffs.inactive_before) {
        return Some(Reason::UserInactive);
    }
    if item.error.as_ref().is_some_and(|e| e.since < cutoffs.error_before) {
        return Some(Reason::ErrorUnresolved);
    }
    if item.status.needs_update_mode() && item.ignored_prompts >= cutoffs.max_ignored_prompts {
        return Some(Reason::IgnoredPrompts);
    }
    None
}

/// What one invocation is asked to do (the function's event; `{}` starts a new, real run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChurnInput {
    /// Report what would be removed, and why, without removing anything.
    pub dry_run: bool,
    /// Continue this run from its checkpoint (set by a continuation); a new run otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Act on at most this many items in this invocation, then stop with a checkpoint (for tests and
    /// throttled runs; continue with the same `run_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// Removals in flight at once (default [`DEFAULT_CONCURRENCY`], at most [`MAX_CONCURRENCY`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// `/item/remove` calls per minute (default: 90% of Plaid's per-client limit for the environment,
    /// [`default_removals_per_minute`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removals_per_minute: Option<u32>,
    /// Stop after this many seconds and continue in a new invocation (the function's own deadline applies
    /// anyway; this only shortens it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_budget_secs: Option<u64>,
}

/// 90% of Plaid's per-client `/item/remove` limit (sandbox 500/min, production 2,000/min): the rest is
/// left to the other functions' removals (users deleting items, revoked items).
pub fn default_removals_per_minute(env: PlaidEnv) -> u32 {
    match env {
        PlaidEnv::Sandbox => 450,
        PlaidEnv::Production => 1800,
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every candidate was handled.
    Complete,
    /// Stopped early ([`PauseReason`]); continue with the same `run_id`.
    Paused,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// `max_items` reached.
    MaxItems,
    /// The invocation's time is nearly up: continue in a new invocation.
    Deadline,
}

/// Counts per reason.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ReasonCounts {
    /// Churned items found (in a dry run: what would be removed).
    pub candidates: u64,
    pub removed: u64,
    pub failed: u64,
}

/// What a run (or one invocation of it) did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Items read from the churn indexes (each once per run).
    pub scanned: u64,
    /// Churned items found.
    pub candidates: u64,
    /// Removed at Plaid and deleted here.
    pub removed: u64,
    /// Not churned (or not any more, or already gone, when re-read).
    pub skipped: u64,
    /// Churned but not removed (left whole for the next run).
    pub failed: u64,
    /// Inactive users with no items left whose profiles were dropped from the churn index (a dry run
    /// counts them without dropping).
    pub idle_users: u64,
    pub by_reason: BTreeMap<Reason, ReasonCounts>,
}

impl Counts {
    fn record(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Deferred => return,
            Outcome::Skipped => self.skipped += 1,
            Outcome::WouldRemove(r) => self.found(*r),
            Outcome::Removed(r) => {
                self.found(*r);
                self.removed += 1;
                self.by_reason.entry(*r).or_default().removed += 1;
            }
            Outcome::Failed(r, _) => {
                self.found(*r);
                self.failed += 1;
                self.by_reason.entry(*r).or_default().failed += 1;
            }
        }
        self.scanned += 1;
    }

    fn found(&mut self, r: Reason) {
        self.candidates += 1;
        self.by_reason.entry(r).or_default().candidates += 1;
    }

    fn plus(&self, other: &Counts) -> Counts {
        let mut sum = Counts {
            scanned: self.scanned + other.scanned,
            candidates: self.candidates + other.candidates,
            removed: self.removed + other.removed,
            skipped: self.skipped + other.skipped,
            failed: self.failed + other.failed,
            idle_users: self.idle_users + other.idle_users,
            by_reason: self.by_reason.clone(),
        };
        for (r, c) in &other.by_reason {
            let s = sum.by_reason.entry(*r).or_default();
            s.candidates += c.candidates;
            s.removed += c.removed;
            s.failed += c.failed;
        }
        sum
    }

    fn from_checkpoint(cp: &ChurnCheckpoint) -> Counts {
        let mut counts = Counts {
            scanned: cp.scanned,
            removed: cp.removed,
            skipped: cp.skipped,
            failed: cp.failed,
            idle_users: cp.idle_users,
            ..Default::default()
        };
        for r in Reason::ALL {
            let get = |what: &str| cp.by_reason.get(&format!("{r}.{what}")).copied().unwrap_or(0);
            let c = ReasonCounts { candidates: get("candidates"), removed: get("removed"), failed: get("failed") };
            if c != ReasonCounts::default() {
                counts.candidates += c.candidates;
                counts.by_reason.insert(r, c);
            }
        }
        counts
    }

    fn write_to(&self, cp: &mut ChurnCheckpoint) {
        cp.scanned = self.scanned;
        cp.removed = self.removed;
        cp.skipped = self.skipped;
        cp.failed = self.failed;
        cp.idle_users = self.idle_users;
        cp.by_reason.clear();
        for (r, c) in &self.by_reason {
            for (what, n) in [("candidates", c.candidates), ("removed", c.removed), ("failed", c.failed)] {
                if n > 0 {
                    cp.by_reason.insert(format!("{r}.{what}"), n);
                }
            }
        }
    }
}

/// What happened to one churned item in this invocation.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    WouldRemove,
    Removed,
    Failed,
}

/// One churned item, as listed in the answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ListedItem {
    pub user_id: String,
    pub item_id: String,
    pub reason: Reason,
    pub outcome: ItemOutcome,
}

/// The run's summary (logged as one structured line, `event = churn_summary`, and returned).
#[derive(Debug, Clone, Serialize)]
pub struct ChurnSummary {
    pub run_id: String,
    pub dry_run: bool,
    pub status: RunStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_by: Option<PauseReason>,
    /// The whole run so far (every invocation).
    #[serde(flatten)]
    pub totals: Counts,
    /// This invocation alone (what its metrics report).
    pub invocation: Counts,
    /// This invocation's duration.
    pub duration_ms: u64,
    /// The churned items this invocation found (dry run) or acted on, at most [`MAX_LISTED`].
    pub items: Vec<ListedItem>,
    pub items_truncated: bool,
}

/// Runs (or continues) a churn run until it is done, `max_items` is reached, or `deadline` (when no new
/// work starts; the caller keeps a margin before its hard limit).
pub async fn run(app: &App, input: ChurnInput, deadline: Instant) -> Result<ChurnSummary, ServiceError> {
    let started = Instant::now();
    let concurrency = input.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(ServiceError::Invalid(format!("concurrency must be between 1 and {MAX_CONCURRENCY}")));
    }
    let per_minute = input.removals_per_minute.unwrap_or_else(|| default_removals_per_minute(app.config.plaid.env));
    if per_minute == 0 {
        return Err(ServiceError::Invalid("removals_per_minute must be at least 1".into()));
    }
    if input.max_items == Some(0) {
        return Err(ServiceError::Invalid("max_items must be at least 1".into()));
    }
    let now = app.now();
    let (run_id, mut checkpoint) = match &input.run_id {
        Some(id) => {
            if !valid_run_id(id) {
                return Err(ServiceError::Invalid("run_id must be 1 to 100 of [A-Za-z0-9_.:-]".into()));
            }
            match app.store.get_churn_checkpoint(id).await? {
                Some(cp) if cp.dry_run != input.dry_run => {
                    let kind = if cp.dry_run { "a dry run" } else { "a real run" };
                    return Err(ServiceError::Invalid(format!(
                        "run {id} is {kind}; continue it with the same dry_run"
                    )));
                }
                Some(cp) => (id.clone(), cp),
                None => (id.clone(), ChurnCheckpoint { dry_run: input.dry_run, ..Default::default() }),
            }
        }
        None => {
            let id = format!("{}-{}", now.unix_timestamp(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
            (id, ChurnCheckpoint { dry_run: input.dry_run, ..Default::default() })
        }
    };
    let run_started = *checkpoint.started_at.get_or_insert(now);
    let cutoffs = app.config.churn_policy().cutoffs(run_started);
    let before = Counts::from_checkpoint(&checkpoint);
    let ctx = Ctx {
        app,
        cutoffs,
        dry_run: input.dry_run,
        concurrency,
        deadline,
        pacer: Pacer::new(per_minute),
        max_items: input.max_items,
        started: AtomicU64::new(0),
        progress: AtomicU64::new(0),
    };
    let mut invocation = Counts::default();
    let mut listed = Listed::default();
    let mut paused_by = None;

    loop {
        if checkpoint.shard >= CHURN_SHARDS {
            if checkpoint.index == ChurnIndex::InError {
                break;
            }
            checkpoint.index = ChurnIndex::InError;
            checkpoint.shard = 0;
            checkpoint.page_token = None;
            checkpoint.page_done.clear();
        }
        if ctx.budget_spent() {
            paused_by = Some(PauseReason::MaxItems);
            break;
        }
        if ctx.out_of_time() {
            paused_by = Some(PauseReason::Deadline);
            break;
        }
        let cutoff = match checkpoint.index {
            ChurnIndex::Inactive => cutoffs.inactive_before,
            // Prompt counts can pass the limit on young errors, so the whole error shard is read.
            ChurnIndex::InError => run_started,
        };
        let page = app
            .store
            .churn_candidates(checkpoint.index, checkpoint.shard, cutoff, checkpoint.page_token.as_deref())
            .await?;
        let stopped = process_page(
            &ctx,
            checkpoint.index,
            page.candidates,
            &mut checkpoint.page_done,
            &mut invocation,
            &mut listed,
        )
        .await?;
        if stopped.is_none() {
            invocation.idle_users += forget_idle_users(&ctx, &page.idle_users).await;
            ctx.progress.fetch_add(1, Ordering::Relaxed);
            checkpoint.page_done.clear();
            checkpoint.page_token = page.next_page;
            if checkpoint.page_token.is_none() {
                checkpoint.shard += 1;
            }
        }
        before.plus(&invocation).write_to(&mut checkpoint);
        app.store.put_churn_checkpoint(&run_id, &checkpoint).await?;
        if stopped.is_some() {
            paused_by = stopped;
            break;
        }
    }

    let totals = before.plus(&invocation);
    let summary = ChurnSummary {
        run_id,
        dry_run: input.dry_run,
        status: if paused_by.is_some() { RunStatus::Paused } else { RunStatus::Complete },
        paused_by,
        totals,
        invocation,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        items: listed.items,
        items_truncated: listed.truncated,
    };
    log_summary(&summary);
    Ok(summary)
}

fn log_summary(s: &ChurnSummary) {
    let by_reason = serde_json::to_string(&s.totals.by_reason).unwrap_or_default();
    let status = match s.status {
        RunStatus::Complete => "complete",
        RunStatus::Paused => "paused",
    };
    let paused_by = match s.paused_by {
        Some(PauseReason::MaxItems) => "max_items",
        Some(PauseReason::Deadline) => "deadline",
        None => "",
    };
    tracing::info!(
        event = "churn_summary",
        run_id = %s.run_id,
        dry_run = s.dry_run,
        status,
        paused_by,
        scanned = s.totals.scanned,
        candidates = s.totals.candidates,
        removed = s.totals.removed,
        skipped = s.totals.skipped,
        failed = s.totals.failed,
        idle_users = s.totals.idle_users,
        by_reason = %by_reason,
        invocation_scanned = s.invocation.scanned,
        invocation_removed = s.invocation.removed,
        invocation_failed = s.invocation.failed,
        duration_ms = s.duration_ms,
        "churn run summary"
    );
}

/// Whether `id` can be a run id (the store keys checkpoints with it).
fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// What one invocation shares between its workers.
struct Ctx<'a> {
    app: &'a App,
    cutoffs: Cutoffs,
    dry_run: bool,
    concurrency: usize,
    /// When no new work starts (see [`Ctx::stop_at`]).
    deadline: Instant,
    pacer: Pacer,
    max_items: Option<u64>,
    /// Items acted on in this invocation (counted against `max_items`).
    started: AtomicU64,
    /// Items handled and pages finished in this invocation.
    progress: AtomicU64,
}

impl Ctx<'_> {
    fn budget_spent(&self) -> bool {
        self.max_items.is_some_and(|max| self.started.load(Ordering::Relaxed) >= max)
    }

    fn take_budget(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// The deadline, once this invocation has done something: every invocation handles at least one item
    /// or page, so a chain of continuations always gets to the end, however short each one is.
    fn stop_at(&self) -> Option<Instant> {
        (self.progress.load(Ordering::Relaxed) > 0).then_some(self.deadline)
    }

    fn out_of_time(&self) -> bool {
        self.stop_at().is_some_and(|d| Instant::now() >= d)
    }
}

#[derive(Default)]
struct Listed {
    items: Vec<ListedItem>,
    truncated: bool,
}

/// Drops the page's idle users from the inactive index (a dry run only counts them), so later runs do not
/// read them again. Returns how many; one that fails stays for the next run.
async fn forget_idle_users(ctx: &Ctx<'_>, idle: &[IdleUser]) -> u64 {
    if ctx.dry_run {
        return idle.len() as u64;
    }
    futures::stream::iter(idle)
        .map(|user| async move {
            match ctx.app.store.forget_idle_user(user).await {
                Ok(forgotten) => forgotten,
                Err(e) => {
                    tracing::warn!(error = %e, "could not forget an idle user; the next run tries again");
                    false
                }
            }
        })
        .buffer_unordered(ctx.concurrency)
        .filter(|forgotten| std::future::ready(*forgotten))
        .count()
        .await as u64
}

/// What happened to one candidate.
#[derive(Debug)]
enum Outcome {
    /// Not churned (any more), or already gone.
    Skipped,
    WouldRemove(Reason),
    Removed(Reason),
    Failed(Reason, String),
    /// Not tried for lack of time: the page is read again by the next invocation.
    Deferred,
}

/// Handles one page of candidates. Returns why it stopped inside the page, if it did (the page is then
/// read again by the next invocation, skipping what `page_done` lists).
async fn process_page(
    ctx: &Ctx<'_>,
    index: ChurnIndex,
    candidates: Vec<ChurnCandidate>,
    page_done: &mut Vec<String>,
    counts: &mut Counts,
    listed: &mut Listed,
) -> Result<Option<PauseReason>, ServiceError> {
    let done: HashSet<String> = page_done.iter().cloned().collect();
    let candidates: Vec<ItemRecord> =
        candidates.into_iter().map(|c| c.item).filter(|i| !done.contains(i.item_id.as_str())).collect();
    // Each user's last activity, read once per page (strongly consistent: the index may lag).
    let users: HashSet<&UserId> = candidates.iter().map(|i| &i.user_id).collect();
    let activity: HashMap<UserId, Option<OffsetDateTime>> = futures::stream::iter(users)
        .map(|user| async move {
            let profile = ctx.app.store.get_user(user).await?;
            Ok::<_, ServiceError>((user.clone(), profile.and_then(|p| p.last_active_at)))
        })
        .buffer_unordered(ctx.concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let mut work = Vec::new();
    for item in candidates {
        let last_active = activity.get(&item.user_id).copied().flatten();
        match reason(&ctx.cutoffs, &item, last_active) {
            // The inactive pass owns the items of inactive users (already counted there).
            Some(Reason::UserInactive) if index == ChurnIndex::InError => {}
            Some(_) => work.push((item, last_active)),
            None => {
                counts.record(&Outcome::Skipped);
                page_done.push(item.item_id.to_string());
            }
        }
    }

    let mut queue = work.into_iter().peekable();
    let mut in_flight = FuturesUnordered::new();
    let mut stopped = None;
    loop {
        while stopped.is_none() && in_flight.len() < ctx.concurrency && queue.peek().is_some() {
            if ctx.budget_spent() {
                stopped = Some(PauseReason::MaxItems);
            } else if ctx.out_of_time() {
                stopped = Some(PauseReason::Deadline);
            } else if let Some((item, last_active)) = queue.next() {
                ctx.take_budget();
                in_flight.push(async move {
                    let outcome = handle(ctx, &item, last_active).await;
                    (item, outcome)
                });
            }
        }
        let Some((item, outcome)) = in_flight.next().await else { break };
        if matches!(outcome, Outcome::Deferred) {
            stopped.get_or_insert(PauseReason::Deadline);
            continue;
        }
        ctx.progress.fetch_add(1, Ordering::Relaxed);
        log_outcome(ctx.dry_run, &item, &outcome);
        counts.record(&outcome);
        page_done.push(item.item_id.to_string());
        let listed_outcome = match &outcome {
            Outcome::WouldRemove(r) => Some((*r, ItemOutcome::WouldRemove)),
            Outcome::Removed(r) => Some((*r, ItemOutcome::Removed)),
            Outcome::Failed(r, _) => Some((*r, ItemOutcome::Failed)),
            Outcome::Skipped | Outcome::Deferred => None,
        };
        if let Some((reason, outcome)) = listed_outcome {
            if listed.items.len() < MAX_LISTED {
                listed.items.push(ListedItem {
                    user_id: item.user_id.to_string(),
                    item_id: item.item_id.to_string(),
                    reason,
                    outcome,
                });
            } else {
                listed.truncated = true;
            }
        }
    }
    Ok(stopped)
}

fn log_outcome(dry_run: bool, item: &ItemRecord, outcome: &Outcome) {
    match outcome {
        Outcome::WouldRemove(r) => {
            tracing::info!(event = "churn_item", dry_run, item_id = %item.item_id, reason = %r, outcome = "would_remove", "churned item (dry run)");
        }
        Outcome::Removed(r) => {
            tracing::info!(event = "churn_item", dry_run, item_id = %item.item_id, reason = %r, outcome = "removed", "churned item removed");
        }
        Outcome::Failed(r, error) => {
            tracing::warn!(event = "churn_item", dry_run, item_id = %item.item_id, reason = %r, outcome = "failed", error = %error, "churned item not removed; left whole for the next run");
        }
        Outcome::Skipped | Outcome::Deferred => {}
    }
}

/// Re-reads a candidate and, if it is still churned, removes it (or, in a dry run, reports it).
async fn handle(ctx: &Ctx<'_>, candidate: &ItemRecord, last_active: Option<OffsetDateTime>) -> Outcome {
    let (item, sealed) = match ctx.app.store.get_item_sealed(&candidate.user_id, &candidate.item_id).await {
        Ok(Some(found)) => found,
        Ok(None) => return Outcome::Skipped,
        Err(e) => {
            // Its reason is not known for sure; the one the index gave is reported.
            let r = reason(&ctx.cutoffs, candidate, last_active).unwrap_or(Reason::ErrorUnresolved);
            return Outcome::Failed(r, e.to_string());
        }
    };
    let Some(r) = reason(&ctx.cutoffs, &item, last_active) else { return Outcome::Skipped };
    if ctx.dry_run {
        return Outcome::WouldRemove(r);
    }
    match remove(ctx, &item, &sealed).await {
        Ok(Removal::Done) => Outcome::Removed(r),
        Ok(Removal::OutOfTime) => Outcome::Deferred,
        Err(e) => Outcome::Failed(r, e.to_string()),
    }
}

enum Removal {
    Done,
    /// Not tried (or given up) because the invocation's time is up; nothing changed.
    OutOfTime,
}

/// `/item/remove` (paced, retried with backoff), then every local record. Plaid first: an item is never
/// deleted here while Plaid still bills it; a failure after Plaid removed it leaves the records, and the
/// next run finds the item, gets ITEM_NOT_FOUND and finishes the deletion.
async fn remove(ctx: &Ctx<'_>, item: &ItemRecord, sealed: &SealedItem) -> Result<Removal, ServiceError> {
    let (_, token) = ctx.app.unseal(&item.item_id, sealed).await?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(slot) = ctx.pacer.reserve(ctx.stop_at()) else { return Ok(Removal::OutOfTime) };
        tokio::time::sleep_until(slot.into()).await;
        match ctx.app.plaid.item_remove(&token).await {
            Ok(()) => {
                ctx.pacer.on_success();
                break;
            }
            Err(e) if e.is_item_not_found() => break,
            Err(e) if e.is_transient() && attempt < REMOVE_ATTEMPTS => {
                let delay = backoff(attempt);
                if e.is_rate_limited() {
                    tracing::info!(event = "churn_rate_limited", item_id = %item.item_id, attempt, "Plaid rate-limited /item/remove; slowing down");
                    ctx.pacer.on_rate_limited(delay);
                } else {
                    tracing::info!(event = "churn_retry", item_id = %item.item_id, attempt, error = %e, "/item/remove failed; backing off");
                    if ctx.stop_at().is_some_and(|d| Instant::now() + delay >= d) {
                        return Ok(Removal::OutOfTime);
                    }
                    tokio::time::sleep(delay).await;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    ctx.app.store.delete_item(&item.user_id, &item.item_id).await?;
    Ok(Removal::Done)
}

/// Exponential backoff with equal jitter: attempt 1 waits 0.25..0.5 s, then doubling up to 4..8 s.
fn backoff(attempt: u32) -> Duration {
    let step = BACKOFF_BASE.saturating_mul(1 << attempt.saturating_sub(1).min(10)).min(BACKOFF_MAX);
    let half = step / 2;
    half + rand::thread_rng().gen_range(Duration::ZERO..=half)
}

/// Paces `/item/remove` calls under Plaid's per-client limit: call slots `60 s / per_minute` apart, shared by
/// every worker. A 429 holds every worker for the backoff and widens the spacing (by half, up to 8× the
/// base); each run of 20 successes narrows it again by a tenth, back to the base.
struct Pacer {
    base: Duration,
    state: Mutex<PacerState>,
}

struct PacerState {
    next: Instant,
    interval: Duration,
    successes: u32,
}

impl Pacer {
    fn new(per_minute: u32) -> Self {
        let base = Duration::from_secs(60) / per_minute.max(1);
        Self { base, state: Mutex::new(PacerState { next: Instant::now(), interval: base, successes: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next free call slot, reserved; `None` if it falls after `deadline`.
    fn reserve(&self, deadline: Option<Instant>) -> Option<Instant> {
        let mut s = self.lock();
        let slot = s.next.max(Instant::now());
        if deadline.is_some_and(|d| slot >= d) {
            return None;
        }
        s.next = slot + s.interval;
        Some(slot)
    }

    fn on_success(&self) {
        let mut s = self.lock();
        s.successes += 1;
        if s.successes >= 20 {
            s.successes = 0;
            s.interval = (s.interval.mul_f64(0.9)).max(self.base);
        }
    }

    fn on_rate_limited(&self, hold: Duration) {
        let mut s = self.lock();
        s.successes = 0;
        s.interval = (s.interval.mul_f64(1.5)).min(self.base * 8);
        s.next = s.next.max(Instant::now() + hold);
    }

    #[cfg(test)]
    fn interval(&self) -> Duration {
        self.lock().interval
    }
}

/// The invocation's metrics in CloudWatch Embedded Metric Format: JSON log lines that CloudWatch Logs turns
/// into metrics in `namespace` (no API call, no extra permission). One line for the totals
/// (dimension `Mode` = `remove` / `dry_run`) and one per reason seen (dimensions `Mode`, `Reason`). Values
/// are this invocation's alone, so sums over time add up across the invocations of a run.
pub fn metric_lines(summary: &ChurnSummary, namespace: &str, timestamp_ms: i64) -> Vec<serde_json::Value> {
    use serde_json::json;
    let mode = if summary.dry_run { "dry_run" } else { "remove" };
    let count = |name: &str| json!({ "Name": name, "Unit": "Count" });
    let c = &summary.invocation;
    let mut lines = vec![json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Mode"]],
                "Metrics": [
                    count("ChurnScanned"), count("ChurnCandidates"), count("ChurnRemoved"),
                    count("ChurnSkipped"), count("ChurnFailed"),
                    { "Name": "ChurnInvocationDuration", "Unit": "Milliseconds" },
                ],
            }],
        },
        "event": "churn_metrics",
        "run_id": summary.run_id,
        "Mode": mode,
        "ChurnScanned": c.scanned,
        "ChurnCandidates": c.candidates,
        "ChurnRemoved": c.removed,
        "ChurnSkipped": c.skipped,
        "ChurnFailed": c.failed,
        "ChurnInvocationDuration": summary.duration_ms,
    })];
    for (reason, rc) in &c.by_reason {
        lines.push(json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Mode", "Reason"]],
                    "Metrics": [count("ChurnCandidates"), count("ChurnRemoved"), count("ChurnFailed")],
                }],
            },
            "event": "churn_metrics",
            "run_id": summary.run_id,
            "Mode": mode,
            "Reason": reason.as_str(),
            "ChurnCandidates": rc.candidates,
            "ChurnRemoved": rc.removed,
            "ChurnFailed": rc.failed,
        }));
    }
    lines
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::domain::{Institution, InstitutionId, ItemError, ItemId};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 06:00 UTC);

    fn cutoffs() -> Cutoffs {
        ChurnPolicy { inactive_days: 60, error_days: 30, max_ignored_prompts: 10 }.cutoffs(NOW)
    }

    fn item() -> ItemRecord {
        ItemRecord {
            user_id: UserId::parse("u1").unwrap(),
            item_id: ItemId::parse("i1").unwrap(),
            institution: Institution { institution_id: InstitutionId::parse("ins_1").unwrap(), name: "Bank".into() },
            accounts: vec![],
            status: ItemStatus::Healthy,
            error: None,
            consent_expiration_time: None,
            pending_disconnect_at: None,
            new_accounts_available: false,
            webhook_url: None,
            ignored_prompts: 0,
            created_at: NOW - time::Duration::days(400),
            updated_at: NOW - time::Duration::days(400),
            event_times: Default::default(),
            version: 1,
        }
    }

    fn in_error(days: i64) -> ItemRecord {
        let mut it = item();
        it.status = ItemStatus::LoginRequired;
        it.error = Some(ItemError {
            error_type: "ITEM_ERROR".into(),
            error_code: "ITEM_LOGIN_REQUIRED".into(),
            since: NOW - time::Duration::days(days),
        });
        it
    }

    #[test]
    fn reasons_follow_the_thresholds() {
        let c = cutoffs();
        let days = |d: i64| Some(NOW - time::Duration::days(d));
        assert_eq!(reason(&c, &item(), days(61)), Some(Reason::UserInactive));
        assert_eq!(reason(&c, &item(), days(59)), None);
        assert_eq!(reason(&c, &item(), None), None, "no recorded activity is not inactivity");
        assert_eq!(reason(&c, &in_error(31), days(1)), Some(Reason::ErrorUnresolved));
        assert_eq!(reason(&c, &in_error(29), days(1)), None);
        let mut prompted = in_error(2);
        prompted.ignored_prompts = 10;
        assert_eq!(reason(&c, &prompted, days(1)), Some(Reason::IgnoredPrompts));
        prompted.ignored_prompts = 9;
        assert_eq!(reason(&c, &prompted, days(1)), None);
        // A healthy item's stale prompt count means nothing: the prompt is not shown any more.
        let mut repaired = item();
        repaired.ignored_prompts = 12;
        assert_eq!(reason(&c, &repaired, days(1)), None);
        // Inactivity comes first; revoked items are never the remover's.
        assert_eq!(reason(&c, &in_error(90), days(90)), Some(Reason::UserInactive));
        let mut revoked = in_error(90);
        revoked.status = ItemStatus::Revoked;
        assert_eq!(reason(&c, &revoked, days(90)), None);
    }

    #[test]
    fn thresholds_are_strict_at_the_boundary() {
        let c = cutoffs();
        assert_eq!(reason(&c, &item(), Some(c.inactive_before)), None);
        assert_eq!(
            reason(&c, &item(), Some(c.inactive_before - time::Duration::milliseconds(1))),
            Some(Reason::UserInactive)
        );
    }

    #[test]
    fn counts_round_trip_through_the_checkpoint() {
        let mut counts = Counts::default();
        counts.record(&Outcome::Removed(Reason::UserInactive));
        counts.record(&Outcome::Removed(Reason::UserInactive));
        counts.record(&Outcome::Failed(Reason::ErrorUnresolved, "boom".into()));
        counts.record(&Outcome::Skipped);
        counts.record(&Outcome::Deferred);
        counts.record(&Outcome::WouldRemove(Reason::IgnoredPrompts));
        assert_eq!((counts.scanned, counts.candidates, counts.removed, counts.skipped, counts.failed), (5, 4, 2, 1, 1));
        let mut cp = ChurnCheckpoint::default();
        counts.write_to(&mut cp);
        assert_eq!(cp.by_reason.get("user_inactive.removed"), Some(&2));
        assert_eq!(Counts::from_checkpoint(&cp), counts);
        let doubled = counts.plus(&counts);
        assert_eq!(doubled.by_reason[&Reason::UserInactive].removed, 4);
        assert_eq!(doubled.candidates, 8);
    }

    #[test]
    fn pacer_spaces_calls_and_slows_down_on_429() {
        let pacer = Pacer::new(600); // 100 ms apart
        let far = Some(Instant::now() + Duration::from_secs(3600));
        let a = pacer.reserve(far).unwrap();
        let b = pacer.reserve(far).unwrap();
        assert!(b - a >= Duration::from_millis(100));
        pacer.on_rate_limited(Duration::from_secs(2));
        assert_eq!(pacer.interval(), Duration::from_millis(150));
        let c = pacer.reserve(far).unwrap();
        assert!(c >= b + Duration::from_secs(1), "a 429 holds every worker");
        for _ in 0..20 {
            pacer.on_success();
        }
        assert_eq!(pacer.interval(), Duration::from_millis(135));
        for _ in 0..1000 {
            pacer.on_success();
        }
        assert_eq!(pacer.interval(), Duration::from_millis(100), "never faster than the base");
        for _ in 0..20 {
            pacer.on_rate_limited(Duration::ZERO);
        }
        assert_eq!(pacer.interval(), Duration::from_millis(800), "at most 8x slower");
        // No slot past the deadline.
        assert!(pacer.reserve(Some(Instant::now())).is_none());
        assert!(pacer.reserve(None).is_some(), "no deadline before the invocation's first progress");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..10 {
            let d = backoff(attempt);
            let step = BACKOFF_BASE.saturating_mul(1 << (attempt - 1)).min(BACKOFF_MAX);
            assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn input_is_strict() {
        let input: ChurnInput = serde_json::from_str("{}").unwrap();
        assert_eq!(input, ChurnInput::default());
        let input: ChurnInput =
            serde_json::from_str(r#"{"dry_run": true, "run_id": "r1", "max_items": 5, "concurrency": 2}"#).unwrap();
        assert!(input.dry_run && input.max_items == Some(5));
        assert!(serde_json::from_str::<ChurnInput>(r#"{"dryrun": true}"#).is_err());
        assert!(valid_run_id("1767000000-ab12cd34"));
        assert!(!valid_run_id("a#b") && !valid_run_id(""));
    }

    #[test]
    fn metrics_are_embedded_metric_format() {
        let mut invocation = Counts::default();
        invocation.record(&Outcome::Removed(Reason::UserInactive));
        invocation.record(&Outcome::Failed(Reason::ErrorUnresolved, "x".into()));
        invocation.record(&Outcome::Skipped);
        let summary = ChurnSummary {
            run_id: "r1".into(),
            dry_run: false,
            status: RunStatus::Complete,
            paused_by: None,
            totals: invocation.clone(),
            invocation,
            duration_ms: 1234,
            items: vec![],
            items_truncated: false,
        };
        let lines = metric_lines(&summary, "weft/test", 1_700_000_000_000);
        assert_eq!(lines.len(), 3, "totals and one line per reason seen");
        let totals = &lines[0];
        let directive = &totals["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "weft/test");
        assert_eq!(totals["_aws"]["Timestamp"], 1_700_000_000_000i64);
        // Every metric and dimension named in the directive is a top-level member of the line.
        for line in &lines {
            let directive = &line["_aws"]["CloudWatchMetrics"][0];
            for m in directive["Metrics"].as_array().unwrap() {
                assert!(line[m["Name"].as_str().unwrap()].is_number(), "{line}");
            }
            for d in directive["Dimensions"][0].as_array().unwrap() {
                assert!(line[d.as_str().unwrap()].is_string(), "{line}");
            }
        }
        assert_eq!((totals["ChurnRemoved"].as_u64(), totals["ChurnFailed"].as_u64()), (Some(1), Some(1)));
        assert_eq!(totals["Mode"], "remove");
        assert_eq!(lines[1]["Reason"], "user_inactive");
        assert_eq!(lines[2]["Reason"], "error_unresolved");
    }
}
