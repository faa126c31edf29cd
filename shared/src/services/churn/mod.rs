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

mod report;

pub use report::{ChurnSummary, Counts, ItemOutcome, ListedItem, PauseReason, ReasonCounts, RunStatus, metric_lines};

use super::pacer::{Pacer, backoff};
use super::{ServiceError, Services};
use crate::config::PlaidEnv;
use crate::domain::{
    CHURN_SHARDS, ChurnCheckpoint, ChurnIndex, ChurnInput, Cutoffs, DEFAULT_CONCURRENCY, ItemRecord, MAX_CONCURRENCY,
    Reason, SealedItem, UserId, reason,
};
use crate::ports::{ChurnCandidate, ContinuationError, IdleUser};
use backon::BackoffBuilder;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use report::log_summary;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// The most an invocation keeps in reserve before its deadline (in-flight removals finish within it).
pub(super) const MAX_MARGIN: Duration = Duration::from_secs(60);
/// Lambda's longest timeout: assumed when the runtime gives no deadline.
pub(super) const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(900);

/// One invocation of the remover: runs (or continues) the run `input` names until it is done, `max_items`
/// is reached, or the invocation's time (`remaining`, from the runtime's deadline) is nearly up; emits the
/// invocation's metrics; and, when the deadline stopped it, continues the run in a new invocation
/// ([`crate::ports::Continuation`]).
pub async fn invoke(
    app: &Services,
    mut input: ChurnInput,
    remaining: Option<Duration>,
) -> Result<ChurnSummary, ServiceError> {
    if input.removals_per_minute.is_none() {
        input.removals_per_minute = app.config.churn.removals_per_minute;
    }
    let remaining = match remaining {
        Some(left) if !left.is_zero() => left,
        // Lambda always sends a deadline ahead; a local runtime may not. Assume Lambda's longest timeout
        // (stopping late is safe: every step is idempotent and the next run finishes the job).
        _ => {
            tracing::warn!(event = "churn_no_deadline", "the runtime gave no usable deadline; assuming 15 minutes");
            LAMBDA_MAX_TIMEOUT
        }
    };
    tracing::info!(
        event = "churn_invocation",
        run_id = input.run_id.as_deref().unwrap_or("(new)"),
        dry_run = input.dry_run,
        remaining_ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX),
        "churn invocation started"
    );
    let summary = run(app, input.clone(), stop_at(Instant::now(), remaining, input.time_budget_secs)).await?;
    let now_ms = i64::try_from(app.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    crate::telemetry::emit_lines(&metric_lines(&summary, &app.config.churn.metrics_namespace, now_ms));
    if let Some(next) = continuation(&input, &summary) {
        let run_id = summary.run_id.as_str();
        match app.continuation.continue_churn(&next).await {
            Ok(()) => tracing::info!(event = "churn_continued", run_id, "churn run continues in a new invocation"),
            Err(ContinuationError::NotConfigured) => {
                tracing::warn!(run_id, "no continuation is configured; the run stays paused until invoked again");
            }
            // Failing the invocation lets Lambda retry it (with the same event: a new run, which only re-reads
            // what this one already did) and trips the function's error alarm.
            Err(e) => return Err(e.into()),
        }
    }
    Ok(summary)
}

/// When to stop starting new work: a margin before the deadline (a tenth of the time left, at most a
/// minute), or sooner if the input set a time budget.
pub(super) fn stop_at(now: Instant, remaining: Duration, time_budget_secs: Option<u64>) -> Instant {
    let margin = (remaining / 10).min(MAX_MARGIN);
    let by_deadline = now + remaining.saturating_sub(margin);
    match time_budget_secs {
        Some(secs) => by_deadline.min(now + Duration::from_secs(secs)),
        None => by_deadline,
    }
}

/// The input that continues a run the deadline stopped (a run stopped by `max_items` waits for its caller).
fn continuation(input: &ChurnInput, summary: &ChurnSummary) -> Option<ChurnInput> {
    (summary.paused_by == Some(PauseReason::Deadline)).then(|| ChurnInput {
        run_id: Some(summary.run_id.clone()),
        dry_run: summary.dry_run,
        ..input.clone()
    })
}

/// Items listed in one invocation's answer (every one is also logged).
pub const MAX_LISTED: usize = 1000;
/// Attempts at one item's `/item/remove` (each of which the Plaid client retries itself a few times).
const REMOVE_ATTEMPTS: u32 = 5;

/// 90% of Plaid's per-client `/item/remove` limit (sandbox 500/min, production 2,000/min): the rest is
/// left to the other functions' removals (users deleting items, revoked items).
pub fn default_removals_per_minute(env: PlaidEnv) -> u32 {
    match env {
        PlaidEnv::Sandbox => 450,
        PlaidEnv::Production => 1800,
    }
}

/// Runs (or continues) a churn run until it is done, `max_items` is reached, or `deadline` (when no new
/// work starts; the caller keeps a margin before its hard limit).
pub async fn run(app: &Services, input: ChurnInput, deadline: Instant) -> Result<ChurnSummary, ServiceError> {
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
    let cutoffs = app.config.churn.policy().cutoffs(run_started);
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

/// Whether `id` can be a run id (the store keys checkpoints with it).
pub(super) fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// What one invocation shares between its workers.
struct Ctx<'a> {
    app: &'a Services,
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
pub(crate) enum Outcome {
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
        Err(e) => {
            use crate::ports::{Actor, AuditAction, AuditOutcome};
            let (action, outcome) = (AuditAction::ItemRemoved, AuditOutcome::Failed);
            super::audit::record(ctx.app, Actor::System, action, outcome, Some(&item.item_id), Some("churn")).await;
            Outcome::Failed(r, crate::telemetry::chain(&e))
        }
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
    let mut waits = backoff(REMOVE_ATTEMPTS - 1).build();
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
            Err(e) if e.is_transient() => {
                let Some(delay) = waits.next() else { return Err(e.into()) };
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
    super::item_state::deleted(ctx.app, item, crate::ports::Actor::System, "churn").await?;
    Ok(Removal::Done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn summary(paused_by: Option<PauseReason>) -> ChurnSummary {
        ChurnSummary {
            run_id: "r1".into(),
            dry_run: true,
            status: if paused_by.is_some() { RunStatus::Paused } else { RunStatus::Complete },
            paused_by,
            totals: Counts::default(),
            invocation: Counts::default(),
            duration_ms: 0,
            items: vec![],
            items_truncated: false,
        }
    }

    #[test]
    fn only_a_run_stopped_by_the_deadline_continues_by_itself() {
        let input = ChurnInput { dry_run: true, concurrency: Some(8), max_items: Some(100), ..Default::default() };
        let next = continuation(&input, &summary(Some(PauseReason::Deadline))).unwrap();
        assert_eq!(next.run_id.as_deref(), Some("r1"));
        assert!(next.dry_run);
        assert_eq!((next.concurrency, next.max_items), (Some(8), Some(100)), "the same settings carry on");
        assert_eq!(continuation(&input, &summary(Some(PauseReason::MaxItems))), None);
        assert_eq!(continuation(&input, &summary(None)), None);
        // The continuation's event is a valid input.
        let json = serde_json::to_value(&next).unwrap();
        assert_eq!(serde_json::from_value::<ChurnInput>(json).unwrap(), next);
    }

    #[test]
    fn stops_a_margin_before_the_deadline() {
        let now = Instant::now();
        assert_eq!(stop_at(now, Duration::from_secs(900), None), now + Duration::from_secs(840));
        assert_eq!(stop_at(now, Duration::from_secs(100), None), now + Duration::from_secs(90));
        assert_eq!(stop_at(now, Duration::from_secs(900), Some(5)), now + Duration::from_secs(5));
        assert_eq!(stop_at(now, Duration::ZERO, None), now);
    }

    #[test]
    fn run_ids_are_checked() {
        assert!(valid_run_id("1767000000-ab12cd34"));
        assert!(!valid_run_id("a#b") && !valid_run_id(""));
    }
}
