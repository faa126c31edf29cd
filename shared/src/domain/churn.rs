//! The churn policy: which items nobody will use again (so Plaid stops billing them), and the state of a
//! churn run. The remover itself is [`crate::services::churn`].

use super::{ItemRecord, ItemStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The churn indexes are spread over this many shards (`00`..`15`).
pub const CHURN_SHARDS: u8 = 16;

/// Removals in flight at once unless the input says otherwise. The pacer, not this, keeps the calls under
/// Plaid's limit; this only has to cover the latency of one removal (KMS, `/item/remove`, the deletes): at
/// production's 30 calls/s and ~0.5 s per removal, 16 keep up.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// The most removals in flight the input may ask for.
pub const MAX_CONCURRENCY: usize = 32;

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

/// Which churn index to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnIndex {
    /// Users by last activity (`CHURN#ACTIVE#<shard>`), older than the cutoff; each of their items is a candidate.
    #[default]
    Inactive,
    /// Items in error or waiting for update mode (`CHURN#ERROR#<shard>`), since before the cutoff.
    InError,
}

/// Where a churn run stands (saved after every page, kept 30 days).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChurnCheckpoint {
    pub index: ChurnIndex,
    pub shard: u8,
    pub page_token: Option<String>,
    pub scanned: u64,
    pub removed: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Counters by reason and outcome, keyed `<reason>.<outcome>` (e.g. `user_inactive.removed`).
    #[serde(default)]
    pub by_reason: BTreeMap<String, u64>,
    /// When the run began: every invocation of the run measures the thresholds from this instant.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// A dry run's checkpoint never continues a real run, nor the other way round.
    #[serde(default)]
    pub dry_run: bool,
    /// Item ids of the current page already handled: a run that stops inside a page reads it again and
    /// skips these (bounded by the page size).
    #[serde(default)]
    pub page_done: Vec<String>,
    /// Idle users forgotten so far (dry run: found).
    #[serde(default)]
    pub idle_users: u64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::domain::ItemError;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 06:00 UTC);

    fn cutoffs() -> Cutoffs {
        ChurnPolicy { inactive_days: 60, error_days: 30, max_ignored_prompts: 10 }.cutoffs(NOW)
    }

    fn item() -> ItemRecord {
        crate::domain::fixtures::item("i1", "ins_1", vec![], NOW - time::Duration::days(400))
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
    fn input_is_strict() {
        let input: ChurnInput = serde_json::from_str("{}").unwrap();
        assert_eq!(input, ChurnInput::default());
        let input: ChurnInput =
            serde_json::from_str(r#"{"dry_run": true, "run_id": "r1", "max_items": 5, "concurrency": 2}"#).unwrap();
        assert!(input.dry_run && input.max_items == Some(5));
        assert!(serde_json::from_str::<ChurnInput>(r#"{"dryrun": true}"#).is_err());
    }
}
