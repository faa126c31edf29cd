//! Everything weft keeps: items with their sealed secrets, transactions, sync cursors and leases, users'
//! activity, Link tokens and events, idempotency and dedup records, churn index and checkpoints.
//!
//! The layout is `docs/data-model.md` (one DynamoDB table). Adapter: [`crate::store::DynamoStore`].

use crate::crypto::CryptoError;
use crate::domain::{AccountId, ItemId, ItemRecord, LinkSessionId, LinkToken, Transaction, TransactionId, UserId};
use crate::ports::{ItemKey, WrappedKey};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use time::{Date, OffsetDateTime};

/// The churn indexes are spread over this many shards (`00`..`15`).
pub const CHURN_SHARDS: u8 = 16;

/// An item's secrets as stored: the KMS-wrapped data key and the access token sealed under it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedItem {
    pub wrapped_key: WrappedKey,
    pub access_token: Vec<u8>,
}

impl std::fmt::Debug for SealedItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedItem")
            .field("wrapped_key", &self.wrapped_key)
            .field("access_token", &format_args!("{} sealed bytes", self.access_token.len()))
            .finish()
    }
}

/// One change to an item's transactions.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactionChange {
    /// Added or modified: stored whole (details sealed).
    Upsert(Box<Transaction>),
    /// Removed at Plaid.
    Remove(TransactionId),
}

/// A page of transactions, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionPage {
    pub transactions: Vec<Transaction>,
    /// Opaque; pass back for the next page. `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A Link token created for a user (kept until it expires, for OAuth resume and update mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTokenRecord {
    pub link_token: LinkToken,
    #[serde(with = "time::serde::rfc3339")]
    pub expiration: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The item, for an update-mode token.
    pub item_id: Option<ItemId>,
    /// Created with a redirect URI (an OAuth flow may resume with it).
    pub oauth: bool,
}

/// One Link callback (`onEvent`, `onExit`, `onSuccess`) the app forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkEventRecord {
    pub user_id: UserId,
    pub link_session_id: LinkSessionId,
    /// `EVENT`, `EXIT` or `SUCCESS`.
    pub kind: String,
    pub event_name: Option<String>,
    pub link_token: Option<String>,
    pub request_id: Option<String>,
    pub institution_id: Option<String>,
    pub institution_name: Option<String>,
    pub error_type: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub exit_status: Option<String>,
    pub view_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// Position in the batch the app sent (orders events with the same timestamp).
    pub seq: u32,
}

/// A user's profile: last activity (for the churn remover) and unacted re-link prompts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub user_id: UserId,
    pub last_active_at: Option<OffsetDateTime>,
    pub ignored_prompts: u32,
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

/// An item the churn remover should look at.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnCandidate {
    pub item: ItemRecord,
    /// The user's last activity, when the candidate came from [`ChurnIndex::Inactive`].
    pub user_last_active: Option<OffsetDateTime>,
}

/// A user in [`ChurnIndex::Inactive`] with no items left (all removed, or never linked): nothing to remove,
/// so the profile only costs every later run a read. See [`ItemStore::forget_idle_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleUser {
    pub user_id: UserId,
    /// The activity the index showed; the profile is kept if the user has been active since.
    pub last_active_at: OffsetDateTime,
}

/// A page of one churn index shard.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnPage {
    pub candidates: Vec<ChurnCandidate>,
    /// Inactive users of this page with no items (always empty for [`ChurnIndex::InError`]).
    pub idle_users: Vec<IdleUser>,
    /// Opaque; pass back for the next page of the same index, shard and cutoff. `None` when the shard is done.
    pub next_page: Option<String>,
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

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed since it was read (optimistic lock on `version`): read again and retry.
    #[error("the record changed concurrently (version conflict)")]
    Conflict,
    /// A conditional create found the record already there.
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The record to change does not exist (any more).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// A pagination cursor that this store did not issue for this listing.
    #[error("invalid pagination cursor")]
    InvalidCursor,
    /// An argument the store cannot key a record with.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A DynamoDB call failed.
    #[error("DynamoDB {op} failed: {message}")]
    Dynamo {
        op: &'static str,
        message: String,
        #[source]
        source: BoxError,
    },
    /// BatchWriteItem kept returning unprocessed items (throttling).
    #[error("DynamoDB {op}: {remaining} writes still unprocessed after retries")]
    Unprocessed { op: &'static str, remaining: usize },
    /// A stored record does not have the expected shape.
    #[error("stored {what} is malformed")]
    Corrupt {
        what: &'static str,
        #[source]
        source: Option<BoxError>,
    },
    /// A record could not be converted to or from DynamoDB attributes.
    #[error("record conversion failed")]
    Serde(#[from] serde_dynamo::Error),
    /// Sealing or opening a record's encrypted part failed.
    #[error("sealing or opening a record failed")]
    Crypto(#[from] CryptoError),
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict)
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }
    /// A client error (a cursor it sent): map to 400, not 500.
    pub fn is_invalid_cursor(&self) -> bool {
        matches!(self, Self::InvalidCursor)
    }
}

/// Why a sync lease could not be taken or used.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another worker holds an unexpired lease on the item (or took it over after ours expired).
    #[error("the item's sync lease is held by another worker")]
    Held,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait ItemStore: Send + Sync {
    // ---- items -----------------------------------------------------------------------------------

    /// Stores a new item with its sealed secrets. [`StoreError::AlreadyExists`] if the item is there.
    async fn put_new_item(&self, item: &ItemRecord, sealed: &SealedItem) -> Result<(), StoreError>;

    /// Stores a new item with its sealed secrets and the idempotency record of the exchange that made it
    /// (see [`ItemStore::put_exchange`]), atomically: both or neither. [`StoreError::AlreadyExists`] if the
    /// item is there.
    async fn put_exchanged_item(
        &self,
        item: &ItemRecord,
        sealed: &SealedItem,
        exchange_key: &str,
    ) -> Result<(), StoreError>;

    /// One of `user`'s items (strongly consistent).
    async fn get_item(&self, user: &UserId, item_id: &ItemId) -> Result<Option<ItemRecord>, StoreError>;

    /// An item by its id alone (webhooks, the sync worker); eventually consistent.
    async fn find_item(&self, item_id: &ItemId) -> Result<Option<ItemRecord>, StoreError>;

    /// [`ItemStore::get_item`] with the item's sealed secrets, in one read.
    async fn get_item_sealed(
        &self,
        user: &UserId,
        item_id: &ItemId,
    ) -> Result<Option<(ItemRecord, SealedItem)>, StoreError>;

    /// [`ItemStore::find_item`] with the item's sealed secrets, in one read.
    async fn find_item_sealed(&self, item_id: &ItemId) -> Result<Option<(ItemRecord, SealedItem)>, StoreError>;

    /// All of `user`'s items.
    async fn list_items(&self, user: &UserId) -> Result<Vec<ItemRecord>, StoreError>;

    /// Saves `item` if its stored version is still `item.version`, then increments `item.version`.
    /// [`StoreError::Conflict`] if it changed meanwhile, [`StoreError::NotFound`] if it is gone.
    /// Maintains the churn index (`CHURN#ERROR`) from the item's error / status.
    async fn update_item(&self, item: &mut ItemRecord) -> Result<(), StoreError>;

    /// The item's sealed secrets.
    async fn load_sealed(&self, user: &UserId, item_id: &ItemId) -> Result<Option<SealedItem>, StoreError>;

    /// Deletes the item and all its data: transactions first, then the item record with its wrapped key
    /// (crypto-shredding anything left anywhere), then any transaction a concurrent sync wrote meanwhile.
    /// Idempotent and safe to retry after a failure at any point.
    async fn delete_item(&self, user: &UserId, item_id: &ItemId) -> Result<(), StoreError>;

    // ---- transactions sync -------------------------------------------------------------------------

    /// Takes the item's sync lease for `ttl` if it is free, expired or already `owner`'s; returns the
    /// saved sync cursor (`None` before the first sync). [`LeaseError::Held`] otherwise.
    async fn acquire_sync_lease(
        &self,
        user: &UserId,
        item_id: &ItemId,
        owner: &str,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<Option<String>, LeaseError>;

    /// Saves the sync cursor if the lease is still `owner`'s ([`LeaseError::Held`] otherwise).
    async fn save_sync_cursor(
        &self,
        user: &UserId,
        item_id: &ItemId,
        owner: &str,
        cursor: &str,
    ) -> Result<(), LeaseError>;

    /// Releases `owner`'s lease (nothing happens if it is no longer theirs).
    async fn release_sync_lease(&self, user: &UserId, item_id: &ItemId, owner: &str) -> Result<(), StoreError>;

    /// Applies upserts (details sealed with `key`) and removals, in batches. Each change is idempotent.
    async fn apply_transaction_changes(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        changes: &[TransactionChange],
    ) -> Result<(), StoreError>;

    /// Stores transactions (details sealed with `key`).
    async fn upsert_transactions(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        transactions: &[Transaction],
    ) -> Result<(), StoreError> {
        let changes: Vec<TransactionChange> =
            transactions.iter().map(|t| TransactionChange::Upsert(Box::new(t.clone()))).collect();
        self.apply_transaction_changes(item_id, key, &changes).await
    }

    /// Deletes transactions by id (no key needed).
    async fn delete_transactions(&self, item_id: &ItemId, ids: &[TransactionId]) -> Result<(), StoreError>;

    /// Deletes every stored transaction of one account of the item (the user revoked access to it);
    /// returns how many.
    async fn delete_account_transactions(&self, item_id: &ItemId, account_id: &AccountId) -> Result<usize, StoreError>;

    /// The item's transactions by date, newest first, opened with `key`. `limit` is clamped to 1..=500.
    async fn list_transactions(
        &self,
        item_id: &ItemId,
        key: &ItemKey,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<TransactionPage, StoreError>;

    // ---- users ------------------------------------------------------------------------------------------

    /// Records that `user` was active at `now` (never moves the time backwards).
    async fn touch_user(&self, user: &UserId, now: OffsetDateTime) -> Result<(), StoreError>;

    async fn get_user(&self, user: &UserId) -> Result<Option<UserProfile>, StoreError>;

    /// Counts a re-link prompt shown to `user`; returns the new count.
    async fn record_relink_prompt(&self, user: &UserId) -> Result<u32, StoreError>;

    /// The user acted on the prompt: back to zero.
    async fn reset_relink_prompts(&self, user: &UserId) -> Result<(), StoreError>;

    // ---- Link --------------------------------------------------------------------------------------------

    /// Keeps a Link token until it expires.
    async fn put_link_token(&self, user: &UserId, record: &LinkTokenRecord) -> Result<(), StoreError>;

    /// The user's newest Link token that has not expired at `now` (OAuth resume).
    async fn latest_link_token(
        &self,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<Option<LinkTokenRecord>, StoreError>;

    /// One of the user's (unexpired) Link tokens by its value.
    async fn get_link_token(&self, user: &UserId, link_token: &str) -> Result<Option<LinkTokenRecord>, StoreError>;

    /// Stores Link events (idempotent: the same event stored twice is one record).
    async fn put_link_events(&self, events: &[LinkEventRecord]) -> Result<(), StoreError>;

    /// Every Link event of the UTC days `from..=to`, by day and time.
    async fn link_events_between(&self, from: Date, to: Date) -> Result<Vec<LinkEventRecord>, StoreError>;

    // ---- idempotency and dedup ---------------------------------------------------------------------

    /// Records that the exchange keyed `key` (e.g. hex SHA-256 of the public token) made `item_id`, for a
    /// day. Returns `false` (and changes nothing) if a record for `key` already exists.
    async fn put_exchange(&self, user: &UserId, key: &str, item_id: &ItemId) -> Result<bool, StoreError>;

    async fn get_exchange(&self, user: &UserId, key: &str) -> Result<Option<ItemId>, StoreError>;

    /// Whether a webhook keyed `key` (e.g. hex SHA-256 of its body and its `iat`) was handled in the last
    /// three days.
    async fn webhook_seen(&self, key: &str) -> Result<bool, StoreError>;

    /// Marks the webhook handled for three days. Returns whether it was new (`false`: already marked).
    async fn mark_webhook_seen(&self, key: &str) -> Result<bool, StoreError>;

    /// Forgets a webhook marked seen (the sync it queued has started: an identical delivery from now on
    /// may carry news that sync missed). Nothing happens if it is not marked.
    async fn forget_webhook(&self, key: &str) -> Result<(), StoreError>;

    // ---- churn -----------------------------------------------------------------------------------------

    /// One page of a churn index shard (`shard < CHURN_SHARDS`): entries older than `cutoff`, oldest first.
    async fn churn_candidates(
        &self,
        index: ChurnIndex,
        shard: u8,
        cutoff: OffsetDateTime,
        page_token: Option<&str>,
    ) -> Result<ChurnPage, StoreError>;

    /// Deletes an idle user's profile (and so its entry in the inactive index), unless the user has been
    /// active since `idle.last_active_at`: a returning user's next request writes a new one. Whether it was
    /// deleted.
    async fn forget_idle_user(&self, idle: &IdleUser) -> Result<bool, StoreError>;

    async fn get_churn_checkpoint(&self, run_id: &str) -> Result<Option<ChurnCheckpoint>, StoreError>;

    async fn put_churn_checkpoint(&self, run_id: &str, checkpoint: &ChurnCheckpoint) -> Result<(), StoreError>;
}
