//! Item events for the app: what happened to a user's item that the app may want to tell the user about
//! (the item linked, its login broke, its consent expires, new accounts, repaired, removed, transactions
//! updated, a reminder while it stays broken). weft publishes them on an EventBridge bus; the app subscribes
//! with rules. Each event has a stable `event_id` (consumers deduplicate on it: delivery is at least once).
//!
//! Which events an item change makes is decided here, from the item before and after ([`changes_between`]):
//! pure, so every path that changes an item (webhooks, the sweep, a confirmed update mode) emits the same ones.

use super::{ItemId, ItemRecord, ItemStatus, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The `source` of every event on the bus.
pub const SOURCE: &str = "weft";

/// One event for the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppEvent {
    /// Unique per event; the same event published twice keeps its id.
    pub event_id: String,
    pub user_id: UserId,
    pub item_id: ItemId,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(flatten)]
    pub kind: AppEventKind,
}

/// What happened, with its details. `type` names it (`item.linked`, `item.needs_login`, ...); the
/// EventBridge `detail-type` is the same string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum AppEventKind {
    /// A new item was linked (exchanged and stored).
    #[serde(rename = "item.linked")]
    Linked { institution_id: String, institution_name: String },
    /// The user must log in again (update mode). `error_code` is Plaid's (e.g. `ITEM_LOGIN_REQUIRED`).
    #[serde(rename = "item.needs_login")]
    NeedsLogin { error_code: Option<String> },
    /// Consent expires, or the institution disconnects the item, on `on`, unless the user goes through
    /// update mode. `reason`: `pending_expiration` or `pending_disconnect`.
    #[serde(rename = "item.expiring")]
    Expiring {
        #[serde(with = "time::serde::rfc3339::option")]
        on: Option<OffsetDateTime>,
        reason: String,
    },
    /// The institution has new accounts the user may share (update mode with account selection).
    #[serde(rename = "item.new_accounts")]
    NewAccounts,
    /// The connection works again ("connection re-established").
    #[serde(rename = "item.repaired")]
    Repaired,
    /// The item was removed at Plaid and its data deleted. `reason`: `user`, `revoked`, `churn`, `erasure`,
    /// `duplicate`.
    #[serde(rename = "item.removed")]
    Removed { reason: String },
    /// A sync brought transaction changes.
    #[serde(rename = "item.transactions_updated")]
    TransactionsUpdated { added: u64, modified: u64, removed: u64 },
    /// The item still needs the user (`action`: `needs_login`, `expiring`, `new_accounts`), `number` reminders
    /// in, on the configured schedule.
    #[serde(rename = "item.reminder")]
    Reminder { action: String, number: u32 },
}

impl AppEventKind {
    /// The event's type (`item.linked`, ...): EventBridge's `detail-type`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Linked { .. } => "item.linked",
            Self::NeedsLogin { .. } => "item.needs_login",
            Self::Expiring { .. } => "item.expiring",
            Self::NewAccounts => "item.new_accounts",
            Self::Repaired => "item.repaired",
            Self::Removed { .. } => "item.removed",
            Self::TransactionsUpdated { .. } => "item.transactions_updated",
            Self::Reminder { .. } => "item.reminder",
        }
    }

    /// Whether the user must go through Link in update mode: the event carries a re-link URL.
    pub fn wants_relink(&self) -> bool {
        matches!(self, Self::NeedsLogin { .. } | Self::Expiring { .. } | Self::NewAccounts | Self::Reminder { .. })
    }
}

impl AppEvent {
    /// A new event about `item` (a fresh id).
    pub fn new(item: &ItemRecord, kind: AppEventKind, occurred_at: OffsetDateTime) -> Self {
        Self {
            event_id: uuid::Uuid::new_v4().to_string(),
            user_id: item.user_id.clone(),
            item_id: item.item_id.clone(),
            occurred_at,
            kind,
        }
    }

    /// The item's removal: one id per item, so a removal retried after a failure half-way publishes once.
    pub fn removed(item: &ItemRecord, reason: &str, occurred_at: OffsetDateTime) -> Self {
        Self {
            event_id: format!("removed-{}", item.item_id),
            user_id: item.user_id.clone(),
            item_id: item.item_id.clone(),
            occurred_at,
            kind: AppEventKind::Removed { reason: reason.to_owned() },
        }
    }
}

/// The events an item change makes: what the app should now tell the user, judged from the item before and
/// after. Nothing for a change the user need not hear of (an older event, balances, the webhook URL).
pub fn changes_between(before: &ItemRecord, after: &ItemRecord) -> Vec<AppEventKind> {
    let mut events = Vec::new();
    let was_broken = before.status != ItemStatus::Healthy;
    match after.status {
        ItemStatus::LoginRequired if before.status != ItemStatus::LoginRequired => {
            events.push(AppEventKind::NeedsLogin { error_code: after.error.as_ref().map(|e| e.error_code.clone()) });
        }
        ItemStatus::PendingExpiration
            if before.status != ItemStatus::PendingExpiration
                || before.consent_expiration_time != after.consent_expiration_time =>
        {
            events.push(AppEventKind::Expiring {
                on: after.consent_expiration_time,
                reason: "pending_expiration".into(),
            });
        }
        ItemStatus::PendingDisconnect
            if before.status != ItemStatus::PendingDisconnect
                || before.pending_disconnect_at != after.pending_disconnect_at =>
        {
            events
                .push(AppEventKind::Expiring { on: after.pending_disconnect_at, reason: "pending_disconnect".into() });
        }
        ItemStatus::Healthy if was_broken && before.status != ItemStatus::Revoked => {
            events.push(AppEventKind::Repaired)
        }
        _ => {}
    }
    if after.new_accounts_available && !before.new_accounts_available && after.status == ItemStatus::Healthy {
        events.push(AppEventKind::NewAccounts);
    }
    events
}

/// The reminder schedule while an item needs the user: days after it began needing them (e.g. 1, 3, 7),
/// then every `then_every_days`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderSchedule {
    pub days: Vec<u32>,
    pub then_every_days: u32,
}

impl Default for ReminderSchedule {
    fn default() -> Self {
        Self { days: vec![1, 3, 7], then_every_days: 7 }
    }
}

impl ReminderSchedule {
    /// The day (since the item began needing the user) reminder number `n` (0-based) is due.
    pub fn due_day(&self, n: u32) -> u32 {
        let index = n as usize;
        match self.days.get(index) {
            Some(day) => *day,
            None => {
                let last = self.days.last().copied().unwrap_or(0);
                let beyond = u32::try_from(index + 1 - self.days.len()).unwrap_or(u32::MAX);
                last.saturating_add(beyond.saturating_mul(self.then_every_days.max(1)))
            }
        }
    }

    /// Whether the reminder after `sent` reminders is due, `elapsed` after the item began needing the user.
    pub fn is_due(&self, sent: u32, elapsed: time::Duration) -> bool {
        elapsed >= time::Duration::days(i64::from(self.due_day(sent)))
    }

    /// How many reminders are due by `elapsed` (the schedule's days passed). A run that finds several due at
    /// once (the function did not run for a while) sends one, numbered this, not a burst.
    pub fn due_count(&self, elapsed: time::Duration) -> u32 {
        let mut n = 0;
        while n < 10_000 && self.is_due(n, elapsed) {
            n += 1;
        }
        n
    }

    /// Parses `"1,3,7"` (strictly increasing days, at least one).
    pub fn parse(days: &str, then_every_days: u32) -> Result<Self, String> {
        let parsed: Result<Vec<u32>, _> = days.split(',').map(|d| d.trim().parse::<u32>()).collect();
        let days = parsed.map_err(|_| format!("{days:?} must be days separated by commas, e.g. 1,3,7"))?;
        if days.is_empty() || days.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("{days:?} must be strictly increasing days"));
        }
        if then_every_days == 0 {
            return Err("the interval after the listed days must be at least one day".into());
        }
        Ok(Self { days, then_every_days })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn item() -> ItemRecord {
        fixtures::item("item-1", "ins_1", vec![], time::macros::datetime!(2026-11-01 00:00 UTC))
    }

    #[test]
    fn a_broken_login_then_a_repair_make_needs_login_then_repaired() {
        let healthy = item();
        let mut broken = healthy.clone();
        broken.status = ItemStatus::LoginRequired;
        assert!(matches!(changes_between(&healthy, &broken)[..], [AppEventKind::NeedsLogin { .. }]));
        assert_eq!(changes_between(&broken, &broken), vec![], "no change, no event");
        assert_eq!(changes_between(&broken, &healthy), vec![AppEventKind::Repaired]);
        assert_eq!(changes_between(&healthy, &healthy), vec![]);
    }

    #[test]
    fn expiring_dates_and_new_accounts() {
        let healthy = item();
        let mut expiring = healthy.clone();
        expiring.status = ItemStatus::PendingDisconnect;
        expiring.pending_disconnect_at = Some(time::macros::datetime!(2026-12-08 00:00 UTC));
        assert_eq!(
            changes_between(&healthy, &expiring),
            vec![AppEventKind::Expiring { on: expiring.pending_disconnect_at, reason: "pending_disconnect".into() }]
        );
        let mut new_accounts = healthy.clone();
        new_accounts.new_accounts_available = true;
        assert_eq!(changes_between(&healthy, &new_accounts), vec![AppEventKind::NewAccounts]);
        assert_eq!(changes_between(&new_accounts, &new_accounts), vec![]);
    }

    #[test]
    fn events_serialise_with_their_type() {
        let item = item();
        let event = AppEvent::removed(&item, "churn", time::macros::datetime!(2026-12-01 00:00 UTC));
        let json = serde_json::to_value(&event).expect("json");
        assert_eq!(json["type"], "item.removed");
        assert_eq!(json["reason"], "churn");
        assert_eq!(json["event_id"], format!("removed-{}", item.item_id));
        let back: AppEvent = serde_json::from_value(json).expect("back");
        assert_eq!(back, event);
    }

    #[test]
    fn the_reminder_schedule() {
        let s = ReminderSchedule::default();
        assert_eq!((0..6).map(|n| s.due_day(n)).collect::<Vec<_>>(), vec![1, 3, 7, 14, 21, 28]);
        assert!(!s.is_due(0, time::Duration::hours(23)));
        assert!(s.is_due(0, time::Duration::hours(24)));
        assert!(!s.is_due(1, time::Duration::days(2)));
        assert_eq!(s.due_count(time::Duration::hours(23)), 0);
        assert_eq!(s.due_count(time::Duration::days(3)), 2);
        assert_eq!(s.due_count(time::Duration::days(22)), 5, "1, 3, 7, 14, 21");
        assert!(ReminderSchedule::parse("1,3,7", 7).is_ok());
        assert!(ReminderSchedule::parse("3,1", 7).is_err());
        assert!(ReminderSchedule::parse("", 7).is_err());
        assert!(ReminderSchedule::parse("1", 0).is_err());
    }
}
