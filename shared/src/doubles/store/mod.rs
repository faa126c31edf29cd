//! [`MemoryStore`]: every store port ([`crate::ports::Store`]) in memory, with the DynamoDB adapter's
//! semantics ([`crate::adapters::dynamodb`]):
//!
//! - a new item is stored with its exchange record atomically, [`StoreError::AlreadyExists`] if it is there;
//!   only sealed secrets are accepted;
//! - `update_item` is an optimistic lock on `version` ([`StoreError::Conflict`] / [`StoreError::NotFound`]),
//!   increments it, and never writes `ignored_prompts` (only `count_relink_prompt` / `reset_relink_prompts`
//!   do, without touching the version);
//! - `delete_item` removes the item, its transactions and the user's records that name it;
//! - the sync lease is taken if free, expired or already the owner's; the cursor is saved only by the holder;
//! - transactions' details are sealed with the item key (`Field::Transaction(id)`), so a wrong key fails;
//!   listings are newest first with opaque cursors ([`StoreError::InvalidCursor`] for a foreign one);
//! - expiring records (exchange records 1 day, webhook marks 3 days, churn checkpoints 30 days, Link tokens
//!   at their expiration) expire by the store's clock;
//! - abuse-limit counters count atomically up to their limit, blocks keep the later end (to the second);
//! - the audit trail ([`AuditLog`](crate::ports::AuditLog)) is kept in order, read by UTC day;
//! - the outbox ([`Outbox`](crate::ports::Outbox)) is written in the same step as the item change (one lock),
//!   read oldest first;
//! - the churn index: inactive users (profiles last active before the cutoff, each expanded to their items,
//!   users without items as [`IdleUser`](crate::ports::IdleUser)s) and items in error or waiting for update
//!   mode, sharded by [`churn_shard`](crate::adapters::dynamodb::churn_shard), oldest first, in small pages
//!   ([`MemoryStore::set_churn_page_size`]) with opaque page tokens. Like DynamoDB, a full page has a next
//!   page token even when nothing follows it.
//!
//! Times the adapter keeps as sort keys (activity, lease expiry, churn index) are kept to the millisecond,
//! as the adapter does.
//!
//! For tests: [`MemoryStore::fail_next`] makes the next calls of an operation fail with
//! [`StoreError::Backend`] (a failed call changes nothing), [`MemoryStore::calls`] counts calls per
//! operation, and [`MemoryStore::pause_next`] holds the next call of an operation at its start until the
//! test releases it (to interleave two use cases deterministically).

mod churn;
mod erasure;
mod faults;
mod items;
mod limits;
mod outbox;
mod records;
mod rotation;
mod sweep;

pub use faults::{Gate, InjectedFault, OPERATIONS};

use crate::domain::{
    AccountId, ChurnCheckpoint, ItemId, ItemRecord, LinkEventRecord, LinkTokenRecord, SealedItem, TransactionId, UserId,
};
use crate::ports::{AuditRecord, Clock, RotationCheckpoint, StoreError};
use faults::{Faults, lock};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;

/// Churn index entries per page unless told otherwise (small, so tests page).
pub const DEFAULT_CHURN_PAGE_SIZE: usize = 3;

/// Every store port in memory (see the module docs).
pub struct MemoryStore {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    churn_page_size: AtomicUsize,
    faults: Faults,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

/// A record that expires (DynamoDB TTL; readers check the expiry themselves).
#[derive(Debug, Clone)]
struct Expiring<T> {
    value: T,
    /// Epoch seconds, as the adapter's `ttl`.
    ttl: i64,
}

impl<T> Expiring<T> {
    fn new(value: T, expires: OffsetDateTime) -> Self {
        Self { value, ttl: expires.unix_timestamp() }
    }
    fn live_at(&self, now: OffsetDateTime) -> Option<&T> {
        (self.ttl > now.unix_timestamp()).then_some(&self.value)
    }
}

#[derive(Debug, Clone)]
struct StoredItem {
    record: ItemRecord,
    sealed: SealedItem,
    cursor: Option<String>,
    /// Owner and expiry (milliseconds).
    lease: Option<(String, OffsetDateTime)>,
}

#[derive(Debug, Clone)]
struct StoredTransaction {
    account_id: AccountId,
    date: String,
    pending: bool,
    /// The details, sealed with the item key as `Field::Transaction(id)`.
    sealed: Vec<u8>,
}

#[derive(Default)]
struct State {
    /// Items by (user, item), as the table's key.
    items: BTreeMap<(UserId, ItemId), StoredItem>,
    /// The item each user holds of an institution (the adapter's institution guard).
    institutions: HashMap<(UserId, crate::domain::InstitutionId), ItemId>,
    /// Exchange records by (user, idempotency key): the item made, or `None` while in progress.
    exchanges: HashMap<(UserId, String), Expiring<Option<ItemId>>>,
    /// Each item's partition of transactions.
    transactions: HashMap<ItemId, BTreeMap<TransactionId, StoredTransaction>>,
    /// User profiles: last activity (milliseconds).
    profiles: BTreeMap<UserId, OffsetDateTime>,
    /// Link tokens by (user, created_at, token hash), as the adapter's sort key.
    link_tokens: BTreeMap<(UserId, String, String), LinkTokenRecord>,
    /// Link events by (session, time, seq).
    link_events: BTreeMap<(String, String, String), LinkEventRecord>,
    /// The Link sessions each user reported events of (the adapter's markers in the user's partition).
    link_sessions: std::collections::BTreeSet<(UserId, String)>,
    webhooks: HashMap<String, Expiring<()>>,
    checkpoints: HashMap<String, Expiring<ChurnCheckpoint>>,
    rotation_checkpoints: HashMap<String, Expiring<RotationCheckpoint>>,
    sweep_checkpoints: HashMap<String, Expiring<crate::domain::SweepCheckpoint>>,
    /// The sweep's lease: the run holding it and until when (epoch seconds).
    sweep_lease: Option<(String, i64)>,
    /// Abuse-limit counters by (user, name, window start in epoch seconds).
    limits: HashMap<(UserId, String, i64), limits::Counter>,
    /// Blocks by (user, name): until, in epoch seconds.
    blocks: HashMap<(UserId, String), i64>,
    /// The audit trail, in the order it was kept.
    audit: Vec<AuditRecord>,
    /// The outbox of item events, by (occurred_at, event id), as the adapter's sort key.
    outbox: BTreeMap<(OffsetDateTime, String), crate::domain::AppEvent>,
}

impl MemoryStore {
    /// An empty store whose expiring records age by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            clock,
            churn_page_size: AtomicUsize::new(DEFAULT_CHURN_PAGE_SIZE),
            faults: Faults::default(),
        }
    }

    /// Entries per churn index page (at least 1).
    pub fn set_churn_page_size(&self, entries: usize) {
        self.churn_page_size.store(entries.max(1), Ordering::Relaxed);
    }

    /// Makes the next `times` calls of `op` (a method name of a store port, see [`OPERATIONS`]) fail with
    /// [`StoreError::Backend`] without doing anything. Adds to failures already pending.
    pub fn fail_next(&self, op: &'static str, times: usize) {
        self.faults.fail_next(op, times);
    }

    /// Holds the next call of `op` at its start (before it reads or writes anything) until the returned
    /// gate is released or dropped. Gates of one operation hold its calls in order.
    pub fn pause_next(&self, op: &'static str) -> Gate {
        self.faults.pause_next(op)
    }

    /// Calls of `op` so far (failed ones included).
    pub fn calls(&self, op: &str) -> usize {
        self.faults.calls(op)
    }

    /// Calls of every operation so far.
    pub fn total_calls(&self) -> usize {
        self.faults.total_calls()
    }

    // ---- inspection (not counted, never failing) -----------------------------------------------------

    /// How many items are stored.
    pub fn item_count(&self) -> usize {
        self.lock().items.len()
    }

    /// The saved sync cursor of an item.
    pub fn sync_cursor(&self, item_id: &ItemId) -> Option<String> {
        self.lock().items.values().find(|i| &i.record.item_id == item_id).and_then(|i| i.cursor.clone())
    }

    /// Who holds an item's sync lease (expired or not).
    pub fn lease_owner(&self, item_id: &ItemId) -> Option<String> {
        self.lock()
            .items
            .values()
            .find(|i| &i.record.item_id == item_id)
            .and_then(|i| i.lease.as_ref().map(|(owner, _)| owner.clone()))
    }

    /// The ids of an item's stored transactions, in id order.
    pub fn transaction_ids(&self, item_id: &ItemId) -> Vec<TransactionId> {
        self.lock().transactions.get(item_id).map(|t| t.keys().cloned().collect()).unwrap_or_default()
    }

    /// A stored transaction's sealed details, as kept at rest.
    pub fn sealed_transaction(&self, item_id: &ItemId, transaction_id: &TransactionId) -> Option<Vec<u8>> {
        self.lock().transactions.get(item_id).and_then(|t| t.get(transaction_id)).map(|t| t.sealed.clone())
    }

    /// The audit trail, in the order it was kept.
    pub fn audit_records(&self) -> Vec<AuditRecord> {
        self.lock().audit.clone()
    }

    /// Whether a webhook mark is stored (expired or not).
    pub fn has_webhook_mark(&self, key: &str) -> bool {
        self.lock().webhooks.contains_key(key)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

/// The time to the millisecond (the adapter keeps such times as `sort_time` strings).
fn millis(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000).unwrap_or(t)
}

/// Whether `key` may be a caller-supplied key part: 1 to 128 of `[A-Za-z0-9_.:-]` (as the adapter checks).
fn check_key_part(key: &str, what: &'static str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok { Ok(()) } else { Err(StoreError::Invalid(what)) }
}

/// Opaque cursors: URL-safe base64 of a JSON value.
mod cursor {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    pub(super) fn encode<T: Serialize>(value: &T) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
    }

    pub(super) fn decode<T: DeserializeOwned>(cursor: &str) -> Option<T> {
        if cursor.is_empty() || cursor.len() > 2048 {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()
    }
}
