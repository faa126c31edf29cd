//! In-memory doubles of every port, named by behaviour, for service tests that run in milliseconds (and
//! for local tools). Built only with the `doubles` feature (the crate's own tests and `weft-tests` turn it
//! on; the functions never do).
//!
//! | double | port | behaves like |
//! |---|---|---|
//! | [`MemoryStore`] | [`Store`](crate::ports::Store) (every store capability) and [`AuditLog`](crate::ports::AuditLog) | the DynamoDB adapter, with fault injection, call counts and gates |
//! | [`ScriptedPlaid`] | [`PlaidApi`](crate::ports::PlaidApi) (every Plaid capability) | Plaid's sandbox over in-memory items, with a script of failures |
//! | [`MemoryVault`] | [`KeyVault`](crate::ports::KeyVault) | KMS (per-item data keys bound to their item) |
//! | [`RecordingQueue`] | [`SyncQueue`](crate::ports::SyncQueue) | SQS, keeping what it is given |
//! | [`RecordingBus`] | [`EventBus`](crate::ports::EventBus) | EventBridge, keeping what it is given, failing when told |
//! | [`RecordingContinuation`] | [`Continuation`](crate::ports::Continuation) | Lambda self-invocation, keeping the inputs |
//! | [`FixedClock`] | [`Clock`](crate::ports::Clock) | a clock that says what it is told |
//! | [`LimitedPlaid`] | [`PlaidApi`](crate::ports::PlaidApi), around another | Plaid's per-client rate limits and answer time, on a virtual clock |
//!
//! [`TestServices`] assembles [`crate::services::Services`] from them and keeps a handle on each.

mod bus;
mod clock;
mod limited_plaid;
pub mod plaid;
mod queue;
mod services;
pub mod store;
mod vault;

pub use bus::RecordingBus;
pub use clock::FixedClock;
pub use limited_plaid::{LimitedPlaid, PRODUCTION_ITEM_REMOVE_PER_MINUTE, SimClock};
pub use plaid::{ScriptedPlaid, SyncChange};
pub use queue::{RecordingContinuation, RecordingQueue};
pub use services::{TEST_ENV, TestServices};
pub use store::{Gate, MemoryStore};
pub use vault::MemoryVault;
