//! Domain values. Each is built only through a parsing constructor, so a value in hand is a valid one.
//! Pure: no I/O, no AWS, no HTTP.

mod churn;
mod contact;
mod duplicates;
mod events;
#[cfg(test)]
mod fixtures;
mod ids;
mod item;
mod lifecycle;
mod link;
mod pseudonym;
mod sealing;
mod sweep;
mod transaction;

pub use churn::{
    CHURN_SHARDS, ChurnCheckpoint, ChurnIndex, ChurnInput, ChurnPolicy, Cutoffs, DEFAULT_CONCURRENCY, MAX_CONCURRENCY,
    Reason, reason,
};
pub use contact::{ContactError, EmailAddress, PhoneNumber, ReturningUser};
pub use duplicates::{Duplicate, duplicate_of};
pub use events::{AppEvent, AppEventKind, ReminderSchedule, SOURCE as EVENT_SOURCE, changes_between};
pub use ids::{
    AccessToken, AccountId, IdError, InstitutionId, ItemId, LinkSessionId, LinkToken, PublicToken, TransactionId,
    UserId,
};
pub use item::{Account, Balances, EventTimes, Institution, ItemError, ItemRecord, ItemStatus, ItemView, SyncProgress};
pub use lifecycle::{EXPIRATION_NOTICE, ItemEvent, Outcome, Unchanged, observed_at};
pub use link::{LinkEventKind, LinkEventRecord, LinkEventSource, LinkMode, LinkTokenMark, LinkTokenRecord};
pub use pseudonym::{UserPseudonyms, WeakPseudonymKey};
pub use sealing::{FORMAT_V1, Field, ItemKey, SealError, SealedItem, WrappedKey};
pub use sweep::{
    DEFAULT_CHECKS_PER_MINUTE, DEFAULT_STALE_AFTER_HOURS, Finding, SWEEP_CONCURRENCY, SweepCheckpoint, SweepInput,
    SweepPass,
};
pub use transaction::{Transaction, TransactionDetails};
