//! The reconciliation sweep's input and checkpoint: asking Plaid (`/item/get`) about every item weft has not
//! heard from in a while, so a lost webhook is found by the next sweep at the latest.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Items not heard from for this long are asked about (default of [`SweepInput::stale_after_hours`]).
pub const DEFAULT_STALE_AFTER_HOURS: u32 = 72;
/// `/item/get` calls per minute by default: a fifth of Plaid's per-client limit (5,000/min in production),
/// the rest left to the other functions.
pub const DEFAULT_CHECKS_PER_MINUTE: u32 = 1_000;
/// `/item/get` calls in flight at once (each item is its own call; the pace is the real limit).
pub const SWEEP_CONCURRENCY: usize = 8;

/// What one invocation of the sweep is asked to do (the function's event; `{}` starts a new, real run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepInput {
    /// Ask Plaid and report what would change, changing nothing.
    pub dry_run: bool,
    /// Continue this run from its checkpoint (set by a continuation); a new run otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Ask about items not heard from for at least this many hours (default
    /// [`DEFAULT_STALE_AFTER_HOURS`]; `0`: every item).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_after_hours: Option<u32>,
    /// `/item/get` calls per minute at most (default [`DEFAULT_CHECKS_PER_MINUTE`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks_per_minute: Option<u32>,
    /// Ask about at most this many items in this invocation, then stop with a checkpoint (continue with the
    /// same `run_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// Stop after this many seconds and continue in a new invocation (the function's own deadline applies
    /// anyway; this only shortens it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_budget_secs: Option<u64>,
    /// Only ask Plaid about Link sessions nothing closed (`/link/token/get`), not about items: the hourly
    /// schedule's input (Plaid keeps a session's data six hours after it ends; the daily run alone would
    /// come too late for most).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub link_sessions_only: bool,
}

/// What the sweep found of one item (counted in the summary, keyed by [`Finding::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Plaid's view matched weft's.
    Unchanged,
    /// Plaid reports an error weft did not know of (a lost ERROR webhook).
    ErrorFound,
    /// Weft had the item in error; Plaid no longer does (a lost LOGIN_REPAIRED).
    Repaired,
    /// Another change of state (a different error code, a consent expiration now due or renewed).
    StateChanged,
    /// The item's webhook URL at Plaid is not the deployment's: set again with `/item/webhook/update`.
    WebhookFixed,
    /// Plaid no longer knows the item (ITEM_NOT_FOUND): marked in error for the churn remover.
    GoneAtPlaid,
    /// Plaid or the store failed for this item: left for the next sweep.
    Failed,
}

impl Finding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::ErrorFound => "error_found",
            Self::Repaired => "repaired",
            Self::StateChanged => "state_changed",
            Self::WebhookFixed => "webhook_fixed",
            Self::GoneAtPlaid => "gone_at_plaid",
            Self::Failed => "failed",
        }
    }
}

/// Which list of items a sweep is reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepPass {
    /// Items in error or waiting for update mode (the churn error index): first, since a lost repair or a
    /// lost change of error matters most.
    #[default]
    InError,
    /// Every other item (the quiet index), least recently heard of first.
    Quiet,
}

/// Where a sweep run stands (saved after every page, kept 30 days).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepCheckpoint {
    pub pass: SweepPass,
    pub shard: u8,
    /// The run's start: every invocation of the run uses the same staleness cutoff.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    pub dry_run: bool,
    pub stale_after_hours: u32,
    /// The page being worked on (`None`: the first page, or, once `complete`, nothing left).
    pub page_token: Option<String>,
    /// Item ids of that page already handled (a run stopped inside a page skips them when it reads it again).
    pub page_done: Vec<String>,
    pub complete: bool,
    /// Items read (every stored item is read once per run).
    pub scanned: u64,
    /// Items asked about (stale ones).
    pub checked: u64,
    /// Findings by [`Finding::as_str`].
    pub findings: BTreeMap<String, u64>,
}

impl SweepCheckpoint {
    pub fn count(&mut self, finding: Finding) {
        *self.findings.entry(finding.as_str().to_owned()).or_default() += 1;
    }
}
