//! `churn-remover`: removes churned items near the end of the month (scheduled on the last day), or when
//! invoked by hand (`{"dry_run": true}` reports without removing). The event is a
//! [`ChurnInput`](weft::services::churn::ChurnInput); the answer the run's summary.
//!
//! An invocation stops starting new work a margin before its deadline, saves its checkpoint, and re-invokes
//! this function asynchronously (`InvocationType::Event`) with the run id, so a run of any size continues
//! invocation after invocation until it is complete. Each invocation logs its summary
//! (`event = churn_summary`) and its metrics as CloudWatch Embedded Metric Format lines in
//! `WEFT_METRICS_NAMESPACE`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use weft::config::ConfigError;
use weft::services::churn::{self, ChurnInput, ChurnSummary, PauseReason};

/// The most an invocation keeps in reserve before its deadline (in-flight removals finish within it).
const MAX_MARGIN: Duration = Duration::from_secs(60);
/// Lambda's longest timeout (the function's own, in `infra/template.yaml`).
const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(900);

struct State {
    app: weft::services::App,
    lambda: aws_sdk_lambda::Client,
    settings: Settings,
}

/// The function's own settings, read once at init.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    /// `WEFT_METRICS_NAMESPACE`: where the EMF metrics go.
    metrics_namespace: String,
    /// `WEFT_CHURN_REMOVALS_PER_MINUTE`: overrides the default pace (a raised Plaid limit).
    removals_per_minute: Option<u32>,
}

impl Settings {
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| lookup(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let metrics_namespace = get("WEFT_METRICS_NAMESPACE").ok_or(ConfigError::Missing("WEFT_METRICS_NAMESPACE"))?;
        if metrics_namespace.len() > 255 || metrics_namespace.starts_with(':') {
            return Err(ConfigError::Invalid {
                var: "WEFT_METRICS_NAMESPACE",
                reason: "must be 1 to 255 characters, not starting with ':'".into(),
            });
        }
        let removals_per_minute = match get("WEFT_CHURN_REMOVALS_PER_MINUTE") {
            None => None,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=100_000).contains(&n) => Some(n),
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "WEFT_CHURN_REMOVALS_PER_MINUTE",
                        reason: format!("{v:?} must be a whole number from 1 to 100000"),
                    });
                }
            },
        };
        Ok(Self { metrics_namespace, removals_per_minute })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    weft::telemetry::init();
    let settings = Settings::from_lookup(|k| std::env::var(k).ok())?;
    let (app, sdk) = tokio::join!(weft::services::App::from_env(), weft::config::aws::load_sdk_config());
    let state = Arc::new(State { app: app?, lambda: aws_sdk_lambda::Client::new(&sdk), settings });
    run(service_fn(move |event: LambdaEvent<Value>| {
        let state = state.clone();
        async move { handle(&state, event).await }
    }))
    .await
}

async fn handle(state: &State, event: LambdaEvent<Value>) -> Result<ChurnSummary, Error> {
    let mut input: ChurnInput =
        serde_json::from_value(event.payload).map_err(|e| Error::from(format!("invalid churn input: {e}")))?;
    if input.removals_per_minute.is_none() {
        input.removals_per_minute = state.settings.removals_per_minute;
    }
    let remaining = match event.context.deadline().duration_since(SystemTime::now()) {
        Ok(left) if !left.is_zero() => left,
        // Lambda always sends a deadline ahead; a local runtime may not. Assume Lambda's longest timeout
        // (stopping late is safe: every step is idempotent and the next run finishes the job).
        _ => {
            tracing::warn!(event = "churn_no_deadline", "the runtime gave no usable deadline; assuming 15 minutes");
            LAMBDA_MAX_TIMEOUT
        }
    };
    let stop_at = stop_at(Instant::now(), remaining, input.time_budget_secs);
    tracing::info!(
        event = "churn_invocation",
        run_id = input.run_id.as_deref().unwrap_or("(new)"),
        dry_run = input.dry_run,
        remaining_ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX),
        "churn invocation started"
    );
    let summary = churn::run(&state.app, input.clone(), stop_at).await.map_err(|e| {
        tracing::error!(event = "churn_failed", error = %e, "churn run failed");
        Error::from(e.to_string())
    })?;
    emit_metrics(&summary, &state.settings.metrics_namespace);
    if let Some(next) = continuation(&input, &summary) {
        continue_later(state, &next).await?;
    }
    Ok(summary)
}

/// When to stop starting new work: a margin before the deadline (a tenth of the time left, at most a
/// minute), or sooner if the input set a time budget.
fn stop_at(now: Instant, remaining: Duration, time_budget_secs: Option<u64>) -> Instant {
    let margin = (remaining / 10).min(MAX_MARGIN);
    let by_deadline = now + remaining.saturating_sub(margin);
    match time_budget_secs {
        Some(secs) => by_deadline.min(now + Duration::from_secs(secs)),
        None => by_deadline,
    }
}

/// The event that continues a run the deadline stopped (a run stopped by `max_items` waits for its caller).
fn continuation(input: &ChurnInput, summary: &ChurnSummary) -> Option<ChurnInput> {
    (summary.paused_by == Some(PauseReason::Deadline)).then(|| ChurnInput {
        run_id: Some(summary.run_id.clone()),
        dry_run: summary.dry_run,
        ..input.clone()
    })
}

/// The metrics, one EMF line each, straight to stdout (CloudWatch Logs extracts them).
fn emit_metrics(summary: &ChurnSummary, namespace: &str) {
    let now_ms = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for line in churn::metric_lines(summary, namespace, now_ms) {
        if let Err(e) = writeln!(out, "{line}") {
            tracing::warn!(error = %e, "could not write the churn metrics");
        }
    }
    let _ = out.flush();
}

/// Re-invokes this function asynchronously to continue the run from its checkpoint.
async fn continue_later(state: &State, next: &ChurnInput) -> Result<(), Error> {
    let run_id = next.run_id.as_deref().unwrap_or_default();
    let Some(function) = state.app.config.churn.function_name.clone() else {
        tracing::warn!(run_id, "WEFT_CHURN_FUNCTION_NAME is not set; the run stays paused until invoked again");
        return Ok(());
    };
    let payload = serde_json::to_vec(next)?;
    let sent = state
        .lambda
        .invoke()
        .function_name(function)
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .send()
        .await;
    match sent {
        Ok(_) => {
            tracing::info!(event = "churn_continued", run_id, "churn run continues in a new invocation");
            Ok(())
        }
        Err(e) => {
            // Failing the invocation lets Lambda retry it (with the same event: a new run, which only re-reads
            // what this one already did) and trips the function's error alarm.
            let e = aws_sdk_lambda::Error::from(e);
            tracing::error!(event = "churn_continuation_failed", run_id, error = %e, "could not continue the churn run");
            Err(Error::from(format!("re-invoking to continue run {run_id}: {e}")))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use weft::services::churn::{Counts, RunStatus};

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
    fn settings_name_the_variable_at_fault() {
        let load = |vars: &[(&str, &str)]| {
            let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Settings::from_lookup(|k| map.get(k).cloned())
        };
        assert_eq!(load(&[]).unwrap_err().var(), "WEFT_METRICS_NAMESPACE");
        let ok = load(&[("WEFT_METRICS_NAMESPACE", "weft/prod")]).unwrap();
        assert_eq!(ok, Settings { metrics_namespace: "weft/prod".into(), removals_per_minute: None });
        let bad = load(&[("WEFT_METRICS_NAMESPACE", "weft/prod"), ("WEFT_CHURN_REMOVALS_PER_MINUTE", "0")]);
        assert_eq!(bad.unwrap_err().var(), "WEFT_CHURN_REMOVALS_PER_MINUTE");
        let set = load(&[("WEFT_METRICS_NAMESPACE", "weft/prod"), ("WEFT_CHURN_REMOVALS_PER_MINUTE", "1500")]);
        assert_eq!(set.unwrap().removals_per_minute, Some(1500));
    }
}
