//! Ports: the small traits the services need from the outside world, and the vocabulary they speak. They
//! depend on [`crate::domain`] only. Adapters implement them (named by technology, in
//! [`crate::adapters`]); test doubles implement them too (named by behaviour, in `crate::doubles`).

pub mod audit;
mod clock;
mod continuation;
mod events;
mod identity;
pub mod plaid;
mod queue;
pub mod store;
mod vault;

pub use audit::{Actor, AuditAction, AuditLog, AuditOutcome, AuditRecord};
pub use clock::{Clock, SystemClock};
pub use continuation::{Continuation, ContinuationError};
pub use events::{EventBus, EventBusError, EventDetail, MAX_BATCH as EVENT_BATCH, OutgoingEvent, Relink};
pub use identity::{Jwk, JwksError, JwksSource};
pub use plaid::{
    CredentialError, CredentialSource, PlaidApi, PlaidCallError, PlaidCredentials, PlaidError, PlaidInstitutions,
    PlaidItems, PlaidLink, PlaidTransactions, PlaidWebhookKeys, StaticCredentials, VerifiedWebhook, WebhookEvent,
};
pub use queue::{QueueError, SyncQueue, SyncReason, SyncRequest};
pub use store::{
    ChurnCandidate, ChurnPage, ChurnStore, ExchangeClaim, ExchangeRecords, IdleUser, ItemScanPage, ItemStore,
    LeaseError, LimitStore, LimitWindow, LinkStore, Outbox, QuietPage, RotationCheckpoint, RotationStore, Store,
    StoreError, SweepClaim, SweepStore, SyncStore, TransactionChange, TransactionPage, TransactionStore, UserProfile,
    UserRecords, UserStore, WebhookDedup,
};
pub use vault::{KeyVault, VaultError};
