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
    /// The public token was exchanged before, and the item it made has been removed since: link again.
    #[error("the public token was already exchanged; its item is gone")]
    PublicTokenUsed,
    /// Another request with the same public token is exchanging it and did not finish in this request's
    /// time: retry (the retry gets its outcome).
    #[error("the exchange of this public token is in progress")]
    ExchangeInProgress,
    /// Plaid may have exchanged the public token, but its answer did not arrive in time: retry once with
    /// the same public token; if Plaid did run it, the retry is refused as INVALID_PUBLIC_TOKEN (link again).
    #[error("the outcome of the exchange at Plaid is unknown")]
    ExchangeOutcomeUnknown(#[source] Option<PlaidCallError>),
    /// Plaid made the item but it could not be stored (it is removed at Plaid, or logged as
    /// `plaid_item_orphaned` with its id if that failed too): the public token is spent; link again. The
    /// source is why it could not be stored.
    #[error("the new item could not be stored")]
    ExchangeUndone(#[source] Box<ServiceError>),
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
