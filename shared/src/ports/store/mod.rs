//! Everything weft keeps, as small capability traits named by what they do, composed into [`Store`]:
//!
//! | trait | what it keeps |
//! |---|---|
//! | [`ItemStore`] | items with their sealed secrets (and, written with a new item, its exchange record) |
//! | [`ExchangeRecords`] | which item an exchange request made (idempotent retries) |
//! | [`SyncStore`] | an item's sync lease and cursor |
//! | [`TransactionStore`] | transactions, details sealed under the item's key |
//! | [`UserStore`] | users' last activity |
//! | [`LinkStore`] | Link tokens and the Link events the app forwarded |
//! | [`WebhookDedup`] | webhooks already handled |
//! | [`ChurnStore`] | the churn index and churn run checkpoints |
//! | [`LimitStore`] | abuse limits: per-user counters and blocks |
//! | [`RotationStore`] | access-token rotation: every item page by page, sealed secrets replaced, run checkpoints |
//! | [`UserRecords`] | erasing a user's own records (everything but their items) |
//! | [`Outbox`] | item events for the app not yet published, written atomically with the item change |
//! | [`SweepStore`] | the reconciliation sweep: items not heard of since a cutoff, oldest first; run checkpoints |
//!
//! The layout is `docs/data-model.md` (one DynamoDB table). Adapter: [`crate::adapters::dynamodb`]; double:
//! `crate::doubles::MemoryStore`.

mod churn;
mod erasure;
mod items;
mod limits;
mod link;
mod outbox;
mod rotation;
mod sweep;
mod sync;
mod transactions;
mod users;
mod webhooks;

pub use churn::{ChurnCandidate, ChurnPage, ChurnStore, IdleUser};
pub use erasure::UserRecords;
pub use items::{ExchangeClaim, ExchangeRecords, ItemStore};
pub use limits::{LimitStore, LimitWindow};
pub use link::LinkStore;
pub use outbox::Outbox;
pub use rotation::{ItemScanPage, RotationCheckpoint, RotationStore};
pub use sweep::{QuietPage, SweepClaim, SweepStore};
pub use sync::{LeaseError, SyncStore};
pub use transactions::{TransactionChange, TransactionPage, TransactionStore};
pub use users::{UserProfile, UserStore};
pub use webhooks::WebhookDedup;

use crate::domain::SealError;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the store could not do what was asked.
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
    /// A pagination cursor that this store did not issue for this listing (the caller's input).
    #[error("invalid pagination cursor")]
    InvalidCursor,
    /// An argument the store cannot key a record with.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Sealing or opening a record's encrypted part failed.
    #[error("sealing or opening a record failed")]
    Sealing(#[from] SealError),
    /// The backend failed (a call, a throttled batch, a record of the wrong shape): the source says which.
    #[error("store backend: {op} failed")]
    Backend {
        op: &'static str,
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// A backend failure with its source.
    pub fn backend(op: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Backend { op, source: source.into() }
    }
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict)
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }
}

/// Everything weft keeps: every capability at once, for wiring. Services use the capabilities they need.
pub trait Store:
    ItemStore
    + ExchangeRecords
    + SyncStore
    + TransactionStore
    + UserStore
    + LinkStore
    + WebhookDedup
    + ChurnStore
    + LimitStore
    + UserRecords
    + RotationStore
    + SweepStore
    + Outbox
{
}

impl<T> Store for T where
    T: ItemStore
        + ExchangeRecords
        + SyncStore
        + TransactionStore
        + UserStore
        + LinkStore
        + WebhookDedup
        + ChurnStore
        + LimitStore
        + UserRecords
        + RotationStore
        + SweepStore
        + Outbox
        + ?Sized
{
}
