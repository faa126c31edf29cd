//! The item state machine: what each ITEM webhook (or a completed update mode) does to an item.
//!
//! An item's state has independent parts (its error, its consent expiration, a pending disconnect, the
//! new-accounts flag, revocation), and the status the app sees is derived from them. Each part is
//! last-writer-wins on the time Plaid produced the event (the webhook JWT's `iat`): an event older than the
//! part's last change is ignored for that part. So a webhook delivered late cannot move an item backwards,
//! any delivery order ends in the same state, and applying an event twice changes nothing the second time.

use super::{AccountId, ItemError, ItemRecord, ItemStatus};
use time::OffsetDateTime;

/// Something that happened to an item.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemEvent {
    /// ITEM / ERROR (ITEM_LOGIN_REQUIRED and others).
    Error { error_type: String, error_code: String },
    /// ITEM / LOGIN_REPAIRED.
    LoginRepaired,
    /// The user finished Link in update mode for this item.
    UpdateModeCompleted,
    /// ITEM / PENDING_EXPIRATION.
    PendingExpiration { consent_expiration_time: Option<OffsetDateTime> },
    /// ITEM / PENDING_DISCONNECT.
    PendingDisconnect { disconnect_time: Option<OffsetDateTime> },
    /// ITEM / USER_PERMISSION_REVOKED: the whole item is gone for good.
    PermissionRevoked,
    /// ITEM / USER_ACCOUNT_REVOKED: one account only.
    AccountRevoked { account_id: AccountId },
    /// ITEM / NEW_ACCOUNTS_AVAILABLE.
    NewAccountsAvailable,
    /// ITEM / WEBHOOK_UPDATE_ACKNOWLEDGED.
    WebhookAcknowledged { new_webhook_url: String },
    /// What `/item/get` said of the item (the reconciliation sweep): its error, or none, and when its consent
    /// expires. Applied like the webhooks it stands in for: the error as ERROR or LOGIN_REPAIRED would, the
    /// consent expiration as PENDING_EXPIRATION would (only once it is within [`EXPIRATION_NOTICE`], when
    /// Plaid would have sent that webhook).
    Checked { error: Option<(String, String)>, consent_expiration_time: Option<OffsetDateTime> },
}

/// How long before consent expires Plaid sends PENDING_EXPIRATION (seven days).
pub const EXPIRATION_NOTICE: time::Duration = time::Duration::days(7);

/// The time on the state machine's scale of something weft itself observed at `observed` (a sync that met
/// an item error, the app reporting a finished update mode): one second earlier.
///
/// Plaid's events are dated by the webhook JWT's `iat`, whole seconds, truncated: an event Plaid signed at
/// real time `r` carries `floor(r)`. Moving weft's own observations back by a whole second puts them on that
/// scale conservatively: an event Plaid signed after an observation (`r > t`) has `floor(r) > t - 1 s`, so it
/// always outdates the observation, whichever is applied first; an observation outdates a Plaid event only
/// if Plaid signed it more than a second before. Between weft's own observations the order (and the
/// sub-second precision) is kept. Times a client supplies are never used.
pub fn observed_at(observed: OffsetDateTime) -> OffsetDateTime {
    observed - time::Duration::SECOND
}

impl ItemEvent {
    /// A stable name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Error { .. } => "error",
            Self::LoginRepaired => "login_repaired",
            Self::UpdateModeCompleted => "update_mode_completed",
            Self::PendingExpiration { .. } => "pending_expiration",
            Self::PendingDisconnect { .. } => "pending_disconnect",
            Self::PermissionRevoked => "permission_revoked",
            Self::AccountRevoked { .. } => "account_revoked",
            Self::NewAccountsAvailable => "new_accounts_available",
            Self::WebhookAcknowledged { .. } => "webhook_acknowledged",
            Self::Checked { .. } => "checked",
        }
    }
}

/// Why applying an event changed nothing (logged, so such a case can be read from the logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unchanged {
    /// The item already was in the state the event describes (a redelivery, or a repeat).
    AlreadySo,
    /// The event is older than the item's current state of what it describes (delivered late).
    Older,
    /// The item is revoked: nothing applies to it any more.
    Revoked,
}

impl Unchanged {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlreadySo => "already_so",
            Self::Older => "older",
            Self::Revoked => "revoked",
        }
    }
}

/// What applying an event asks the caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing changed, and why.
    Unchanged(Unchanged),
    /// The item changed: save it.
    Changed,
    /// The item is revoked: remove it at Plaid and delete its data.
    Remove,
}

/// Error codes the user fixes by logging in again through Link in update mode.
const LOGIN_CODES: [&str; 5] =
    ["ITEM_LOGIN_REQUIRED", "INVALID_CREDENTIALS", "INVALID_MFA", "INSUFFICIENT_CREDENTIALS", "ITEM_LOCKED"];

/// Last-writer-wins: whether an event at `at` may change a part last changed at `last`. Records in
/// `stale` that it may not.
fn newer(last: &mut Option<OffsetDateTime>, at: OffsetDateTime, stale: &mut bool) -> bool {
    if last.is_some_and(|l| at < l) {
        *stale = true;
        return false;
    }
    *last = Some(at);
    true
}

impl ItemRecord {
    /// Applies `event`, produced by Plaid at `at`.
    pub fn apply(&mut self, event: &ItemEvent, at: OffsetDateTime) -> Outcome {
        if self.status == ItemStatus::Revoked {
            return Outcome::Unchanged(Unchanged::Revoked);
        }
        let before = self.clone();
        let mut stale = false;
        let stale = &mut stale;
        let times = &mut self.event_times;
        match event {
            ItemEvent::Error { error_type, error_code } => {
                if newer(&mut times.error, at, stale) {
                    let since = match &self.error {
                        Some(e) if e.error_code == *error_code => e.since.min(at),
                        _ => at,
                    };
                    self.error =
                        Some(ItemError { error_type: error_type.clone(), error_code: error_code.clone(), since });
                }
            }
            ItemEvent::LoginRepaired | ItemEvent::UpdateModeCompleted => {
                if newer(&mut times.error, at, stale) {
                    self.error = None;
                }
                if newer(&mut times.expiration, at, stale) {
                    self.consent_expiration_time = None;
                }
                if newer(&mut times.disconnect, at, stale) {
                    self.pending_disconnect_at = None;
                }
                if *event == ItemEvent::UpdateModeCompleted && newer(&mut times.new_accounts, at, stale) {
                    self.new_accounts_available = false;
                }
            }
            ItemEvent::PendingExpiration { consent_expiration_time } => {
                if newer(&mut times.expiration, at, stale) {
                    self.consent_expiration_time = *consent_expiration_time;
                }
            }
            ItemEvent::PendingDisconnect { disconnect_time } => {
                if newer(&mut times.disconnect, at, stale) {
                    self.pending_disconnect_at = *disconnect_time;
                }
            }
            ItemEvent::PermissionRevoked => {
                self.status = ItemStatus::Revoked;
                self.updated_at = at.max(self.updated_at);
                return Outcome::Remove;
            }
            ItemEvent::AccountRevoked { account_id } => {
                for account in self.accounts.iter_mut().filter(|a| a.account_id == *account_id) {
                    account.revoked_at = Some(account.revoked_at.map_or(at, |r| r.min(at)));
                }
            }
            ItemEvent::NewAccountsAvailable => {
                if newer(&mut times.new_accounts, at, stale) {
                    self.new_accounts_available = true;
                }
            }
            ItemEvent::WebhookAcknowledged { new_webhook_url } => {
                self.webhook_url = Some(new_webhook_url.clone());
            }
            ItemEvent::Checked { error, consent_expiration_time } => {
                if newer(&mut times.error, at, stale) {
                    self.error = error.as_ref().map(|(error_type, error_code)| ItemError {
                        error_type: error_type.clone(),
                        error_code: error_code.clone(),
                        since: match &self.error {
                            Some(e) if e.error_code == *error_code => e.since.min(at),
                            _ => at,
                        },
                    });
                }
                if newer(&mut times.expiration, at, stale) {
                    self.consent_expiration_time = consent_expiration_time.filter(|on| *on - at <= EXPIRATION_NOTICE);
                }
            }
        }
        // Plaid told weft of the item: the sweep need not ask until it has been quiet a while.
        if self.checked_at.is_none_or(|c| c < at) {
            self.checked_at = Some(at);
        }
        self.status = self.derived_status();
        if *self == before {
            return Outcome::Unchanged(if *stale { Unchanged::Older } else { Unchanged::AlreadySo });
        }
        // A newer event that confirms the current state changes only the part times; they must be saved
        // all the same, or an older event delivered after it could still apply.
        let mut visible = self.clone();
        visible.event_times = before.event_times;
        visible.checked_at = before.checked_at;
        if visible != before {
            self.updated_at = at.max(self.updated_at);
        }
        Outcome::Changed
    }

    /// The status, derived from the parts of the state, most urgent first.
    fn derived_status(&self) -> ItemStatus {
        match &self.error {
            Some(e) if LOGIN_CODES.contains(&e.error_code.as_str()) => ItemStatus::LoginRequired,
            Some(_) => ItemStatus::Error,
            None if self.pending_disconnect_at.is_some() => ItemStatus::PendingDisconnect,
            None if self.consent_expiration_time.is_some() => ItemStatus::PendingExpiration,
            None => ItemStatus::Healthy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;
    use proptest::prelude::*;

    fn item() -> ItemRecord {
        let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        fixtures::item("item1", "ins_109508", vec![fixtures::account("acc1", None)], t0)
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + secs).unwrap()
    }

    fn login_required() -> ItemEvent {
        ItemEvent::Error { error_type: "ITEM_ERROR".into(), error_code: "ITEM_LOGIN_REQUIRED".into() }
    }

    #[test]
    fn login_required_then_repaired_is_healthy_again() {
        let mut it = item();
        assert_eq!(it.apply(&login_required(), at(10)), Outcome::Changed);
        assert_eq!(it.status, ItemStatus::LoginRequired);
        assert!(it.status.needs_update_mode());
        assert_eq!(it.apply(&ItemEvent::UpdateModeCompleted, at(20)), Outcome::Changed);
        assert_eq!(it.status, ItemStatus::Healthy);
        assert!(it.error.is_none());
    }

    fn checked(error: Option<&str>, expires: Option<OffsetDateTime>) -> ItemEvent {
        ItemEvent::Checked {
            error: error.map(|code| ("ITEM_ERROR".to_owned(), code.to_owned())),
            consent_expiration_time: expires,
        }
    }

    #[test]
    fn a_check_applies_plaids_error_or_its_absence_like_the_webhooks() {
        let mut it = item();
        assert_eq!(it.apply(&checked(Some("ITEM_LOGIN_REQUIRED"), None), at(10)), Outcome::Changed);
        assert_eq!((it.status, it.checked_at), (ItemStatus::LoginRequired, Some(at(10))));
        assert_eq!(it.error.as_ref().unwrap().since, at(10));
        // Still in error at the next check: the error's start is kept, only the check time moves.
        assert_eq!(it.apply(&checked(Some("ITEM_LOGIN_REQUIRED"), None), at(20)), Outcome::Changed);
        assert_eq!((it.error.as_ref().unwrap().since, it.checked_at), (at(10), Some(at(20))));
        let updated = it.updated_at;
        assert_eq!(updated, at(10), "a check that changes nothing visible leaves updated_at");
        // Plaid reports no error: repaired.
        assert_eq!(it.apply(&checked(None, None), at(30)), Outcome::Changed);
        assert_eq!(it.status, ItemStatus::Healthy);
        // A late ERROR webhook older than the check does not undo it.
        assert_eq!(it.apply(&login_required(), at(25)), Outcome::Unchanged(Unchanged::Older));
        // A newer one does.
        assert_eq!(it.apply(&login_required(), at(35)), Outcome::Changed);
        assert_eq!(it.status, ItemStatus::LoginRequired);
    }

    #[test]
    fn a_check_flags_a_consent_expiration_only_within_the_notice_period() {
        let mut it = item();
        let far = at(0) + time::Duration::days(60);
        it.apply(&checked(None, Some(far)), at(10));
        assert_eq!((it.status, it.consent_expiration_time), (ItemStatus::Healthy, None));
        let near = at(0) + time::Duration::days(5);
        it.apply(&checked(None, Some(near)), at(20));
        assert_eq!((it.status, it.consent_expiration_time), (ItemStatus::PendingExpiration, Some(near)));
        // Renewed (Plaid reports no expiration any more).
        it.apply(&checked(None, None), at(30));
        assert_eq!(it.status, ItemStatus::Healthy);
    }

    #[test]
    fn every_event_from_plaid_moves_the_check_time_forward_only() {
        let mut it = item();
        it.apply(&ItemEvent::NewAccountsAvailable, at(50));
        assert_eq!(it.checked_at, Some(at(50)));
        it.apply(&login_required(), at(40));
        assert_eq!(it.checked_at, Some(at(50)), "an older event does not move it back");
    }

    #[test]
    fn a_late_error_does_not_undo_a_repair() {
        let mut it = item();
        it.apply(&login_required(), at(30));
        it.apply(&ItemEvent::LoginRepaired, at(40));
        assert_eq!(it.apply(&login_required(), at(35)), Outcome::Unchanged(Unchanged::Older));
        assert_eq!(it.status, ItemStatus::Healthy);
    }

    #[test]
    fn a_repair_that_changes_nothing_visible_still_outdates_an_older_error() {
        // The ERROR is delayed; LOGIN_REPAIRED (newer) arrives first at a healthy item.
        let mut stored = item();
        let mut it = stored.clone();
        assert_eq!(it.apply(&ItemEvent::LoginRepaired, at(40)), Outcome::Changed, "its time must be saved");
        assert_eq!(it.status, ItemStatus::Healthy);
        assert_eq!(it.updated_at, stored.updated_at, "nothing visible changed");
        stored = it;
        let mut it = stored.clone();
        assert_eq!(it.apply(&login_required(), at(35)), Outcome::Unchanged(Unchanged::Older));
        assert_eq!(it.status, ItemStatus::Healthy);
    }

    #[test]
    fn a_webhook_signed_after_a_weft_observation_always_outdates_it() {
        let observed = time::macros::datetime!(2026-11-24 10:00:05.900 UTC);
        let iat = time::macros::datetime!(2026-11-24 10:00:05 UTC); // signed at 05.950
        assert!(observed_at(observed) < iat);
        assert_eq!(observed_at(observed), time::macros::datetime!(2026-11-24 10:00:04.900 UTC));
        // Two observations of weft's keep their order: a sync's error seen before a finished update mode
        // does not undo the repair.
        let mut repaired = item();
        repaired.apply(&login_required(), observed_at(time::macros::datetime!(2026-11-24 10:00:05.200 UTC)));
        repaired.apply(&ItemEvent::UpdateModeCompleted, observed_at(observed));
        assert_eq!(repaired.status, ItemStatus::Healthy);
        // Update mode finished at 05.3, NEW_ACCOUNTS_AVAILABLE signed at 05.8: the new accounts stay.
        let mut it = item();
        it.apply(&ItemEvent::UpdateModeCompleted, observed_at(time::macros::datetime!(2026-11-24 10:00:05.300 UTC)));
        it.apply(&ItemEvent::NewAccountsAvailable, iat);
        assert!(it.new_accounts_available);
    }

    #[test]
    fn redelivery_changes_nothing() {
        let mut it = item();
        assert_eq!(it.apply(&login_required(), at(10)), Outcome::Changed);
        assert_eq!(it.apply(&login_required(), at(10)), Outcome::Unchanged(Unchanged::AlreadySo));
    }

    #[test]
    fn error_since_is_kept_across_repeats() {
        let mut it = item();
        it.apply(&login_required(), at(10));
        it.apply(&login_required(), at(50));
        assert_eq!(it.error.as_ref().unwrap().since, at(10));
    }

    #[test]
    fn account_revoked_touches_one_account_only() {
        let mut it = item();
        let ev = ItemEvent::AccountRevoked { account_id: AccountId::parse("acc1").unwrap() };
        assert_eq!(it.apply(&ev, at(5)), Outcome::Changed);
        assert_eq!(it.status, ItemStatus::Healthy);
        assert_eq!(it.accounts[0].revoked_at, Some(at(5)));
    }

    #[test]
    fn permission_revoked_removes_the_item() {
        let mut it = item();
        assert_eq!(it.apply(&ItemEvent::PermissionRevoked, at(5)), Outcome::Remove);
        assert_eq!(it.status, ItemStatus::Revoked);
        assert_eq!(it.apply(&ItemEvent::LoginRepaired, at(6)), Outcome::Unchanged(Unchanged::Revoked));
    }

    #[test]
    fn pending_expiration_records_the_date() {
        let mut it = item();
        let when = at(86_400 * 7);
        it.apply(&ItemEvent::PendingExpiration { consent_expiration_time: Some(when) }, at(1));
        assert_eq!(it.status, ItemStatus::PendingExpiration);
        assert_eq!(it.view(), crate::domain::ItemView::Expiring { on: when });
    }

    #[test]
    fn new_accounts_flag_until_update_mode() {
        let mut it = item();
        it.apply(&ItemEvent::NewAccountsAvailable, at(1));
        assert_eq!(it.view(), crate::domain::ItemView::NewAccounts);
        it.apply(&ItemEvent::UpdateModeCompleted, at(2));
        assert!(!it.new_accounts_available);
    }

    fn any_event() -> impl Strategy<Value = ItemEvent> {
        prop_oneof![
            Just(login_required()),
            Just(ItemEvent::Error { error_type: "INSTITUTION_ERROR".into(), error_code: "INSTITUTION_DOWN".into() }),
            Just(ItemEvent::LoginRepaired),
            Just(ItemEvent::UpdateModeCompleted),
            Just(ItemEvent::PendingExpiration { consent_expiration_time: Some(at(999_999)) }),
            Just(ItemEvent::PendingDisconnect { disconnect_time: Some(at(888_888)) }),
            Just(ItemEvent::NewAccountsAvailable),
        ]
    }

    proptest! {
        /// Whatever order events arrive in (and however often), the item ends in the same state.
        #[test]
        fn delivery_order_and_duplicates_do_not_matter(
            events in proptest::collection::vec((any_event(), 0i64..1000), 1..12),
            order in proptest::collection::vec(any::<usize>(), 12),
        ) {
            let events: Vec<(ItemEvent, i64)> =
                events.into_iter().enumerate().map(|(i, (e, t))| (e, t * 100 + i as i64)).collect();
            let mut sorted = events.clone();
            sorted.sort_by_key(|e| e.1);
            // The caller saves the item only when `apply` says it changed: model that.
            let apply = |stored: &mut ItemRecord, e: &ItemEvent, t: i64| {
                let mut next = stored.clone();
                if !matches!(next.apply(e, at(t)), Outcome::Unchanged(_)) {
                    *stored = next;
                }
            };
            let mut in_order = item();
            for (e, t) in &sorted { apply(&mut in_order, e, *t); }
            let mut shuffled = events.clone();
            for (i, k) in order.iter().enumerate().take(shuffled.len()) {
                let j = k % shuffled.len();
                shuffled.swap(i, j);
            }
            shuffled.extend(events.iter().cloned()); // every event delivered twice
            let mut any_order = item();
            for (e, t) in &shuffled { apply(&mut any_order, e, *t); }
            prop_assert_eq!(in_order.status, any_order.status);
            prop_assert_eq!(&in_order.error.as_ref().map(|e| &e.error_code), &any_order.error.as_ref().map(|e| &e.error_code));
            prop_assert_eq!(in_order.consent_expiration_time, any_order.consent_expiration_time);
            prop_assert_eq!(in_order.new_accounts_available, any_order.new_accounts_available);
        }
    }
}
