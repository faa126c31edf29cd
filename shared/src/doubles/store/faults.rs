//! Fault injection and call counting for [`super::MemoryStore`]: make the next calls of an operation fail,
//! count calls per operation, and hold a call at its start until the test lets it go ([`Gate`]).

use crate::ports::StoreError;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// Every operation of the store ports, by its method name (what [`super::MemoryStore::fail_next`],
/// [`super::MemoryStore::pause_next`] and [`super::MemoryStore::calls`] take).
pub const OPERATIONS: [&str; 60] = [
    // ItemStore, ExchangeRecords
    "insert_item",
    "get_item",
    "find_item",
    "get_item_sealed",
    "find_item_sealed",
    "list_items",
    "update_item",
    "count_relink_prompt",
    "reset_relink_prompts",
    "delete_item",
    "exchange_result",
    "claim_exchange",
    "release_exchange",
    // SyncStore
    "acquire_sync_lease",
    "save_sync_cursor",
    "release_sync_lease",
    // TransactionStore
    "apply_transaction_changes",
    "delete_account_transactions",
    "list_transactions",
    // UserStore
    "touch_user",
    "get_user",
    // LinkStore
    "put_link_token",
    "latest_link_token",
    "get_link_token",
    "find_link_token",
    "mark_link_token",
    "open_link_tokens",
    "put_link_events",
    "link_events_between",
    // WebhookDedup
    "webhook_seen",
    "mark_webhook_seen",
    "forget_webhook",
    // ChurnStore
    "churn_candidates",
    "forget_idle_user",
    "get_churn_checkpoint",
    "put_churn_checkpoint",
    // LimitStore
    "take",
    "give_back",
    "reset",
    "record_failure",
    "block",
    "blocked_until",
    // UserRecords
    "erase_user_records",
    // RotationStore
    "scan_items",
    "replace_sealed",
    "get_rotation_checkpoint",
    "put_rotation_checkpoint",
    // Outbox
    "update_item_with_events",
    "insert_item_with_events",
    "add_events",
    "add_reminder",
    "pending_events",
    "remove_events",
    // SweepStore
    "claim_sweep",
    "release_sweep",
    "quiet_items",
    "get_sweep_checkpoint",
    "put_sweep_checkpoint",
    // AuditLog
    "record",
    "records_of",
];

/// The source of an injected failure.
#[derive(Debug, thiserror::Error)]
#[error("injected fault in {0}")]
pub struct InjectedFault(pub &'static str);

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn check(op: &str) {
    assert!(OPERATIONS.contains(&op), "MemoryStore has no operation {op:?}");
}

/// A call held at its start (see [`super::MemoryStore::pause_next`]). Dropping the gate lets the call go.
#[derive(Debug)]
pub struct Gate {
    op: &'static str,
    reached: Option<oneshot::Receiver<()>>,
    release: Option<oneshot::Sender<()>>,
}

impl Gate {
    /// Waits until the held call has started (and is waiting for [`Gate::release`]).
    pub async fn reached(&mut self) {
        if let Some(reached) = self.reached.take() {
            // An error means the store was dropped: nothing will arrive, nothing to wait for.
            let _ = reached.await;
        }
    }

    /// Lets the held call go on.
    pub fn release(mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }

    /// The operation this gate holds.
    pub fn operation(&self) -> &'static str {
        self.op
    }
}

type Held = (oneshot::Sender<()>, oneshot::Receiver<()>);

#[derive(Default)]
struct State {
    calls: HashMap<&'static str, usize>,
    failures: HashMap<&'static str, usize>,
    gates: HashMap<&'static str, VecDeque<Held>>,
}

/// Call counters, pending failures and gates, per operation.
#[derive(Default)]
pub(super) struct Faults {
    state: Mutex<State>,
}

impl Faults {
    /// The start of every operation: counts the call, waits at a gate if one is set, then fails if a
    /// failure is pending (a failed call changes nothing).
    pub(super) async fn enter(&self, op: &'static str) -> Result<(), StoreError> {
        let gate = {
            let mut s = lock(&self.state);
            *s.calls.entry(op).or_default() += 1;
            s.gates.get_mut(op).and_then(VecDeque::pop_front)
        };
        if let Some((reached, release)) = gate {
            let _ = reached.send(());
            // An error means the gate was dropped: go on.
            let _ = release.await;
        }
        let fail = {
            let mut s = lock(&self.state);
            match s.failures.get_mut(op) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        };
        if fail { Err(StoreError::backend(op, InjectedFault(op))) } else { Ok(()) }
    }

    pub(super) fn fail_next(&self, op: &'static str, times: usize) {
        check(op);
        *lock(&self.state).failures.entry(op).or_default() += times;
    }

    pub(super) fn pause_next(&self, op: &'static str) -> Gate {
        check(op);
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        lock(&self.state).gates.entry(op).or_default().push_back((reached_tx, release_rx));
        Gate { op, reached: Some(reached_rx), release: Some(release_tx) }
    }

    pub(super) fn calls(&self, op: &str) -> usize {
        check(op);
        lock(&self.state).calls.get(op).copied().unwrap_or(0)
    }

    pub(super) fn total_calls(&self) -> usize {
        lock(&self.state).calls.values().sum()
    }
}
