//! The services' error type. It says what went wrong in the services' terms; what a client sees (status,
//! code, message) is decided in one place at the edge, [`crate::api::error`].

use crate::domain::{IdError, ItemId, SealError};
use crate::ports::{ContinuationError, PlaidCallError, QueueError, StoreError, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The caller's request is not valid (the message says what to change).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// No such resource for this caller (also for other users' items: no existence leak).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The user tries to link an item that is already linked.
    #[error("this item is already linked as {existing}")]
    Duplicate { existing: ItemId, reason: &'static str },
    /// An abuse limit is reached: nothing was done; retry after `retry_after`.
    #[error("limit {limit} reached")]
    RateLimited { limit: &'static str, retry_after: std::time::Duration },
    /// The record changed concurrently, more often than retries allowed.
    #[error("concurrent update, retry")]
    Conflict,
    /// Plaid refused the public token (expired, used, malformed): link again.
    #[error("Plaid refused the public token")]
    InvalidPublicToken(#[source] PlaidCallError),
    /// Plaid answered with a value weft cannot take (an id of the wrong shape, …).
    #[error("unexpected data from Plaid")]
    PlaidData(#[source] IdError),
    /// A Plaid call failed.
    #[error("Plaid call failed")]
    Plaid(#[from] PlaidCallError),
    /// The store failed.
    #[error("store failed")]
    Store(#[from] StoreError),
    /// The key vault failed.
    #[error("key vault failed")]
    Vault(#[from] VaultError),
    /// A sealed value did not open (or could not be sealed).
    #[error("sealing failed")]
    Sealing(#[from] SealError),
    /// The sync could not be handed off.
    #[error("sync hand-off failed")]
    Queue(#[from] QueueError),
    /// A long run could not continue in a new invocation.
    #[error("continuation failed")]
    Continuation(#[from] ContinuationError),
}
