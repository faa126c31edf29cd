//! What a churn run reports: counts by reason and outcome (kept in the checkpoint across invocations), the
//! summary each invocation returns and logs, and its metrics in CloudWatch Embedded Metric Format.

use super::Outcome;
use crate::domain::{ChurnCheckpoint, Reason};
use serde::Serialize;
use std::collections::BTreeMap;

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
    pub(super) fn record(&mut self, outcome: &Outcome) {
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

    pub(super) fn plus(&self, other: &Counts) -> Counts {
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

    pub(super) fn from_checkpoint(cp: &ChurnCheckpoint) -> Counts {
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

    pub(super) fn write_to(&self, cp: &mut ChurnCheckpoint) {
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
    /// The churned items this invocation found (dry run) or acted on, at most [`super::MAX_LISTED`].
    pub items: Vec<ListedItem>,
    pub items_truncated: bool,
}

pub(super) fn log_summary(s: &ChurnSummary) {
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
    use crate::domain::Reason;

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
