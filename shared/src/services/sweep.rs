//! The reconciliation sweep: Plaid's go-live checklist asks for `/item/get` to find items in error, because a
//! webhook can be lost (weft's endpoint down past Plaid's retries). The sweep asks Plaid about every item weft
//! has not heard of within `stale_after_hours` ([`ItemRecord::checked_at`]: any item event applied, or an
//! earlier `/item/get`), and applies what Plaid says through the same item state machine as the webhooks
//! ([`ItemEvent::Checked`], at [`observed_at`] of the call: a webhook Plaid signs after the call outdates it):
//!
//! - an error Plaid reports that weft did not know of (a lost ERROR) -> the item needs login / is in error;
//! - no error where weft has one (a lost LOGIN_REPAIRED) -> healthy again, and a catch-up sync is queued;
//! - a consent expiration now within seven days (a lost PENDING_EXPIRATION), or renewed;
//! - a webhook URL at Plaid that is not the deployment's (`WEFT_PLAID_WEBHOOK_URL`) -> `/item/webhook/update`;
//! - ITEM_NOT_FOUND (Plaid no longer knows the item) -> the item is marked in error with that code, so the
//!   churn remover deletes its records once the error is old enough (it treats ITEM_NOT_FOUND as removed).
//!
//! **Candidates** are read from indexes, never by a table scan: first the items in error or waiting for
//! update mode (the churn error index, [`SweepPass::InError`]), then every other item from the quiet index,
//! least recently heard of first ([`SweepPass::Quiet`]). Each is asked about once per run; an item that
//! fails is counted and left for the next run.
//!
//! **Pace and resumption** as the churn remover: `/item/get` calls `SWEEP_CONCURRENCY` at a time, paced
//! under `checks_per_minute` (default a fifth of Plaid's 5,000/min per-client limit), a 429 slowing every
//! worker; a checkpoint after every page; an invocation near its deadline (or `max_items`) stops cleanly and
//! continues in a new invocation with the run id ([`crate::ports::Continuation::continue_sweep`]). A dry run
//! asks Plaid and reports, changing nothing. The summary is one log line (`event = sweep_summary`) and
//! CloudWatch Embedded Metric Format lines ([`metric_lines`]).

use super::churn::{LAMBDA_MAX_TIMEOUT, PauseReason, stop_at, valid_run_id};
use super::link_sessions::{self, RecoveredSessions};
use super::pacer::{Pacer, backoff};
use super::{Deadline, ServiceError, Services, item_state};
use crate::domain::{
    CHURN_SHARDS, ChurnIndex, Finding, ItemEvent, ItemRecord, SWEEP_CONCURRENCY, SweepCheckpoint, SweepInput,
    SweepPass, observed_at,
};
use crate::ports::{ContinuationError, SweepClaim};
use backon::BackoffBuilder;
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Items listed in one invocation's answer (those with a finding; every one is also logged).
pub const MAX_LISTED: usize = 1000;
/// Attempts at one item's `/item/get` when Plaid answers 429 (a refused call did nothing, so it is safe to
/// repeat). Plaid counts its limit over a sliding minute, which stays full for tens of seconds once reached: the
/// nine waits between attempts (half fixed, half random, 0.25 s doubling to at most 8 s) add up to about half a
/// minute, and every 429 also holds every worker and slows the pace.
const CHECK_ATTEMPTS: u32 = 10;
/// Run ids start with this.
pub const RUN_PREFIX: &str = "sweep-";
/// How long an invocation's claim on the sweep lasts: Lambda's longest invocation and five minutes for its
/// continuation to start (which renews it). One run sweeps at a time.
const LEASE: time::Duration = time::Duration::minutes(20);

/// Where a sweep run stands after an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepStatus {
    /// Every candidate was handled.
    Complete,
    /// Stopped early ([`PauseReason`]); continue with the same `run_id`.
    Paused,
    /// Another run holds the sweep (`held_by`): this one did nothing (no checkpoint; start it again later).
    AlreadyRunning,
}

/// What the sweep found of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweptItem {
    pub item_id: String,
    pub findings: Vec<Finding>,
}

/// Counts of a run or an invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepCounts {
    /// Items read from the indexes.
    pub scanned: u64,
    /// Items asked about (`/item/get`).
    pub checked: u64,
    /// Findings by name (`unchanged`, `error_found`, `repaired`, …).
    pub findings: BTreeMap<String, u64>,
}

/// One invocation's answer (and its log line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    pub run_id: String,
    pub dry_run: bool,
    pub status: SweepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_by: Option<PauseReason>,
    /// The run holding the sweep, when [`SweepStatus::AlreadyRunning`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
    pub stale_after_hours: u32,
    /// This invocation.
    pub invocation: SweepCounts,
    /// The whole run so far.
    pub run: SweepCounts,
    /// Plaid calls this invocation made (`/item/get`, `/item/webhook/update`).
    pub plaid_calls: u64,
    /// Items with a finding other than `unchanged` (at most [`MAX_LISTED`]).
    pub items: Vec<SweptItem>,
    pub duration_ms: u64,
    /// Link tokens whose session nothing closed, asked about with `/link/token/get` (not in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_sessions: Option<RecoveredSessions>,
}

/// One invocation of the sweep: runs (or continues) the run `input` names until it is done, `max_items` is
/// reached, or the invocation's time (`remaining`) is nearly up; emits its metrics; and continues the run in
/// a new invocation when the deadline stopped it.
pub async fn invoke(
    app: &Services,
    input: SweepInput,
    remaining: Option<Duration>,
) -> Result<SweepSummary, ServiceError> {
    let remaining = match remaining {
        Some(left) if !left.is_zero() => left,
        _ => {
            tracing::warn!(event = "sweep_no_deadline", "the runtime gave no usable deadline; assuming 15 minutes");
            LAMBDA_MAX_TIMEOUT
        }
    };
    let stop = stop_at(Instant::now(), remaining, input.time_budget_secs);
    if input.link_sessions_only {
        return link_sessions_only(app, &input, stop).await;
    }
    let mut summary = run(app, input.clone(), stop).await?;
    // Link sessions nothing closed: once the items are swept, in what is left of the invocation (a run that
    // holds the sweep only, so two invocations never ask about the same token at once).
    if !summary.dry_run && summary.status != SweepStatus::AlreadyRunning {
        let deadline = Deadline::after(stop.saturating_duration_since(Instant::now()));
        summary.link_sessions =
            Some(link_sessions::recover_open_sessions(app, link_sessions::MAX_ASKED_PER_RUN, deadline).await);
    }
    let now_ms = i64::try_from(app.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    crate::telemetry::emit_lines(&metric_lines(&summary, &app.config.churn.metrics_namespace, now_ms));
    if summary.paused_by == Some(PauseReason::Deadline) {
        let next = SweepInput { run_id: Some(summary.run_id.clone()), dry_run: summary.dry_run, ..input };
        match app.continuation.continue_sweep(&next).await {
            Ok(()) => {
                tracing::info!(event = "sweep_continued", run_id = %summary.run_id, "sweep continues in a new invocation")
            }
            Err(ContinuationError::NotConfigured) => {
                tracing::warn!(run_id = %summary.run_id, "no continuation is configured; the sweep stays paused until invoked again");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(summary)
}

/// The hourly schedule's invocation: only Link sessions nothing closed (`/link/token/get`), within `stop`.
async fn link_sessions_only(app: &Services, input: &SweepInput, stop: Instant) -> Result<SweepSummary, ServiceError> {
    if input.dry_run || input.run_id.is_some() {
        return Err(ServiceError::Invalid("link_sessions_only takes neither dry_run nor run_id".into()));
    }
    let started = Instant::now();
    let deadline = Deadline::after(stop.saturating_duration_since(started));
    let recovered = link_sessions::recover_open_sessions(app, link_sessions::MAX_ASKED_PER_RUN, deadline).await;
    Ok(SweepSummary {
        run_id: format!("{RUN_PREFIX}link-sessions-{}", app.now().unix_timestamp()),
        dry_run: false,
        status: SweepStatus::Complete,
        paused_by: None,
        held_by: None,
        stale_after_hours: app.config.sweep.stale_after_hours,
        invocation: SweepCounts::default(),
        run: SweepCounts::default(),
        plaid_calls: recovered.asked + recovered.failed,
        items: Vec::new(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        link_sessions: Some(recovered),
    })
}

/// The work one invocation shares between its workers.
struct Ctx<'a> {
    app: &'a Services,
    dry_run: bool,
    deadline: Instant,
    pacer: Pacer,
    plaid_calls: AtomicU64,
}

/// Runs (or continues) a sweep until it is done, `max_items` is reached, or `deadline` (when no new check
/// starts).
pub async fn run(app: &Services, input: SweepInput, deadline: Instant) -> Result<SweepSummary, ServiceError> {
    let started = Instant::now();
    let per_minute = input.checks_per_minute.unwrap_or(app.config.sweep.checks_per_minute);
    if per_minute == 0 {
        return Err(ServiceError::Invalid("checks_per_minute must be at least 1".into()));
    }
    if input.max_items == Some(0) {
        return Err(ServiceError::Invalid("max_items must be at least 1".into()));
    }
    let now = app.now();
    let (run_id, mut checkpoint) = match &input.run_id {
        Some(id) => {
            if !id.starts_with(RUN_PREFIX) || !valid_run_id(id) {
                return Err(ServiceError::Invalid(format!(
                    "run_id must start with {RUN_PREFIX} and be at most 100 of [A-Za-z0-9_.:-]"
                )));
            }
            match app.store.get_sweep_checkpoint(id).await? {
                Some(cp) if cp.dry_run != input.dry_run => {
                    let kind = if cp.dry_run { "a dry run" } else { "a real run" };
                    return Err(ServiceError::Invalid(format!(
                        "run {id} is {kind}; continue it with the same dry_run"
                    )));
                }
                Some(cp) => (id.clone(), cp),
                None => return Err(ServiceError::Invalid(format!("no sweep run {id} (checkpoints are kept 30 days)"))),
            }
        }
        None => {
            let id =
                format!("{RUN_PREFIX}{}-{}", now.unix_timestamp(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
            let stale_after_hours = input.stale_after_hours.unwrap_or(app.config.sweep.stale_after_hours);
            (id, SweepCheckpoint { dry_run: input.dry_run, stale_after_hours, ..Default::default() })
        }
    };
    if let SweepClaim::HeldBy(other) = app.store.claim_sweep(&run_id, now, now + LEASE).await? {
        tracing::warn!(event = "sweep_already_running", run_id = %run_id, held_by = %other, "another sweep run is going; this one does nothing");
        return Ok(SweepSummary {
            run_id,
            dry_run: input.dry_run,
            status: SweepStatus::AlreadyRunning,
            paused_by: None,
            held_by: Some(other),
            stale_after_hours: checkpoint.stale_after_hours,
            invocation: SweepCounts::default(),
            run: SweepCounts::default(),
            plaid_calls: 0,
            items: Vec::new(),
            duration_ms: 0,
            link_sessions: None,
        });
    }
    let run_started = *checkpoint.started_at.get_or_insert(now);
    // At least a second: an item this run checks is heard of at `observed_at` (a second before the call),
    // which must fall after the cutoff, or a later page of the quiet index would list it again.
    let window = time::Duration::hours(i64::from(checkpoint.stale_after_hours)).max(time::Duration::SECOND);
    let cutoff = run_started - window;
    let ctx =
        Ctx { app, dry_run: input.dry_run, deadline, pacer: Pacer::new(per_minute), plaid_calls: AtomicU64::new(0) };
    let mut invocation = SweepCounts::default();
    let mut listed = Vec::new();
    let mut paused_by = None;
    tracing::info!(event = "sweep_invocation", run_id = %run_id, dry_run = input.dry_run, cutoff = %cutoff, "sweep invocation started");

    while !checkpoint.complete {
        if checkpoint.shard >= CHURN_SHARDS {
            if checkpoint.pass == SweepPass::Quiet {
                checkpoint.complete = true;
                break;
            }
            checkpoint.pass = SweepPass::Quiet;
            checkpoint.shard = 0;
            checkpoint.page_token = None;
            checkpoint.page_done.clear();
        }
        let left = input.max_items.map(|max| max.saturating_sub(invocation.checked));
        if left == Some(0) {
            paused_by = Some(PauseReason::MaxItems);
            break;
        }
        if Instant::now() >= deadline {
            paused_by = Some(PauseReason::Deadline);
            break;
        }
        let token = checkpoint.page_token.as_deref();
        let (items, next_page) = match checkpoint.pass {
            SweepPass::InError => {
                let page = app.store.churn_candidates(ChurnIndex::InError, checkpoint.shard, cutoff, token).await?;
                (page.candidates.into_iter().map(|c| c.item).collect::<Vec<_>>(), page.next_page)
            }
            SweepPass::Quiet => {
                let page = app.store.quiet_items(checkpoint.shard, cutoff, token).await?;
                (page.items, page.next_page)
            }
        };
        let fresh: Vec<ItemRecord> =
            items.into_iter().filter(|i| !checkpoint.page_done.iter().any(|d| d == i.item_id.as_str())).collect();
        invocation.scanned += fresh.len() as u64;
        checkpoint.scanned += fresh.len() as u64;
        // The error index lists items by when their error began; one heard of since the cutoff is not stale.
        let (stale, recent): (Vec<ItemRecord>, Vec<ItemRecord>) =
            fresh.into_iter().partition(|i| i.last_heard_of() < cutoff);
        checkpoint.page_done.extend(recent.iter().map(|i| i.item_id.to_string()));
        let take = left.map_or(stale.len(), |l| usize::try_from(l).unwrap_or(usize::MAX).min(stale.len()));
        let whole_page = take == stale.len();
        let results: Vec<(ItemRecord, Option<Vec<Finding>>)> = futures::stream::iter(stale.into_iter().take(take))
            .map(|item| async {
                let findings = check_item(&ctx, &item).await;
                (item, findings)
            })
            .buffer_unordered(SWEEP_CONCURRENCY)
            .collect()
            .await;
        let mut out_of_time = false;
        for (item, findings) in results {
            let Some(findings) = findings else {
                out_of_time = true;
                continue;
            };
            invocation.checked += 1;
            checkpoint.checked += 1;
            for f in &findings {
                *invocation.findings.entry(f.as_str().to_owned()).or_default() += 1;
                checkpoint.count(*f);
            }
            checkpoint.page_done.push(item.item_id.to_string());
            if findings.iter().any(|f| *f != Finding::Unchanged) && listed.len() < MAX_LISTED {
                listed.push(SweptItem { item_id: item.item_id.to_string(), findings });
            }
        }
        if whole_page && !out_of_time {
            checkpoint.page_done.clear();
            checkpoint.page_token = next_page;
            if checkpoint.page_token.is_none() {
                checkpoint.shard += 1;
            }
        }
        app.store.put_sweep_checkpoint(&run_id, &checkpoint).await?;
        if out_of_time {
            paused_by = Some(PauseReason::Deadline);
            break;
        }
    }
    app.store.put_sweep_checkpoint(&run_id, &checkpoint).await?;
    if checkpoint.complete
        && let Err(e) = app.store.release_sweep(&run_id).await
    {
        // The lease expires by itself; the next run waits until then at most.
        tracing::warn!(run_id = %run_id, error = %crate::telemetry::chain(&e), "could not give up the sweep's lease");
    }
    let summary = SweepSummary {
        run_id,
        dry_run: input.dry_run,
        status: if checkpoint.complete { SweepStatus::Complete } else { SweepStatus::Paused },
        paused_by,
        held_by: None,
        stale_after_hours: checkpoint.stale_after_hours,
        invocation,
        run: SweepCounts {
            scanned: checkpoint.scanned,
            checked: checkpoint.checked,
            findings: checkpoint.findings.clone(),
        },
        plaid_calls: ctx.plaid_calls.load(Ordering::Relaxed),
        items: listed,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        link_sessions: None,
    };
    tracing::info!(
        event = "sweep_summary",
        summary = %serde_json::to_string(&summary).unwrap_or_default(),
        "sweep invocation finished"
    );
    Ok(summary)
}

/// Asks Plaid about one item and applies what it says. `None` if no call could start before the deadline
/// (the item is left for the next invocation); every failure is a [`Finding::Failed`] (logged), never the
/// run's.
async fn check_item(ctx: &Ctx<'_>, item: &ItemRecord) -> Option<Vec<Finding>> {
    let app = ctx.app;
    let item_id = &item.item_id;
    // Read strongly consistent (the index's copy may lag): what Plaid's view is compared with and applied to.
    let (current, sealed) = match app.store.get_item_sealed(&item.user_id, item_id).await {
        Ok(Some(read)) => read,
        // Removed since it was listed: nothing to reconcile.
        Ok(None) => return Some(vec![Finding::Unchanged]),
        Err(e) => return Some(failed(item, "reading the item", &e)),
    };
    let token = match app.unseal(item_id, &sealed).await {
        Ok((_, token)) => token,
        Err(e) => return Some(failed(item, "opening the access token", &e)),
    };
    let mut waits = backoff(CHECK_ATTEMPTS - 1).build();
    let answer = loop {
        let slot = ctx.pacer.reserve(Some(ctx.deadline))?;
        tokio::time::sleep_until(slot.into()).await;
        ctx.plaid_calls.fetch_add(1, Ordering::Relaxed);
        match app.plaid.item_get(&token).await {
            Ok(answer) => {
                ctx.pacer.on_success();
                break Ok(answer);
            }
            Err(e) if e.is_rate_limited() => match waits.next() {
                Some(wait) => ctx.pacer.on_rate_limited(wait),
                None => break Err(e),
            },
            Err(e) => break Err(e),
        }
    };
    let at = observed_at(app.now());
    let (event, webhook) = match answer {
        Ok(answer) => (
            ItemEvent::Checked {
                error: answer.item.error.map(|e| (e.error_type, e.error_code)),
                consent_expiration_time: answer.item.consent_expiration_time,
            },
            Some(answer.item.webhook),
        ),
        Err(e) if e.is_item_not_found() => (
            ItemEvent::Checked {
                error: Some(("ITEM_ERROR".into(), "ITEM_NOT_FOUND".into())),
                consent_expiration_time: None,
            },
            None,
        ),
        Err(e) => return Some(failed(item, "/item/get", &e)),
    };
    let mut after = current.clone();
    after.apply(&event, at);
    let mut findings = vec![finding(&current, &after)];
    if !ctx.dry_run
        && let Err(e) = item_state::apply_event_to_read(app, (current, sealed), &event, at).await
    {
        return Some(failed(item, "applying Plaid's view", &e));
    }
    if let (Some(at_plaid), Some(ours)) = (webhook, &app.config.plaid.webhook_url)
        && at_plaid.as_deref() != Some(ours.as_str())
    {
        findings.push(Finding::WebhookFixed);
        if !ctx.dry_run {
            ctx.plaid_calls.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = app.plaid.item_webhook_update(&token, ours).await {
                findings.pop();
                findings.extend(failed(item, "/item/webhook/update", &e));
            }
        }
    }
    if findings.len() > 1 {
        findings.retain(|f| *f != Finding::Unchanged);
    }
    for f in findings.iter().filter(|f| **f != Finding::Unchanged) {
        tracing::info!(event = "sweep_finding", item_id = %item_id, finding = f.as_str(), dry_run = ctx.dry_run, "sweep found a difference");
    }
    Some(findings)
}

/// What applying Plaid's view did to the item.
fn finding(before: &ItemRecord, after: &ItemRecord) -> Finding {
    let code = |i: &ItemRecord| i.error.as_ref().map(|e| e.error_code.clone());
    match (code(before), code(after)) {
        (_, Some(c)) if c == "ITEM_NOT_FOUND" => Finding::GoneAtPlaid,
        (None, Some(_)) => Finding::ErrorFound,
        (Some(_), None) => Finding::Repaired,
        (b, a)
            if b != a
                || before.status != after.status
                || before.consent_expiration_time != after.consent_expiration_time =>
        {
            Finding::StateChanged
        }
        _ => Finding::Unchanged,
    }
}

fn failed(item: &ItemRecord, step: &str, e: &(dyn std::error::Error + 'static)) -> Vec<Finding> {
    tracing::warn!(
        event = "sweep_item_failed",
        item_id = %item.item_id,
        step,
        error = %crate::telemetry::chain(e),
        "sweep could not check an item; the next run tries again"
    );
    vec![Finding::Failed]
}

/// The invocation's CloudWatch Embedded Metric Format lines.
pub fn metric_lines(summary: &SweepSummary, namespace: &str, timestamp_ms: i64) -> Vec<serde_json::Value> {
    use serde_json::json;
    let c = &summary.invocation;
    let findings = [
        Finding::Unchanged,
        Finding::ErrorFound,
        Finding::Repaired,
        Finding::StateChanged,
        Finding::WebhookFixed,
        Finding::GoneAtPlaid,
        Finding::Failed,
    ];
    let mut metrics = vec![
        json!({ "Name": "SweepScanned", "Unit": "Count" }),
        json!({ "Name": "SweepChecked", "Unit": "Count" }),
        json!({ "Name": "SweepPlaidCalls", "Unit": "Count" }),
        json!({ "Name": "SweepInvocationDuration", "Unit": "Milliseconds" }),
    ];
    let mut line = json!({
        "event": "sweep_metrics",
        "run_id": summary.run_id,
        "Mode": if summary.dry_run { "dry_run" } else { "apply" },
        "SweepScanned": c.scanned,
        "SweepChecked": c.checked,
        "SweepPlaidCalls": summary.plaid_calls,
        "SweepInvocationDuration": summary.duration_ms,
    });
    for f in findings {
        let name = format!("Sweep_{}", f.as_str());
        metrics.push(json!({ "Name": name, "Unit": "Count" }));
        line[name.as_str()] = json!(c.findings.get(f.as_str()).copied().unwrap_or(0));
    }
    line["_aws"] = json!({
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [{ "Namespace": namespace, "Dimensions": [["Mode"]], "Metrics": metrics }],
    });
    vec![line]
}
