//! Domain values. Each is built only through a parsing constructor, so a value in hand is a valid one.

mod ids;
mod item;
mod lifecycle;
mod transaction;

pub use ids::{
    AccessToken, AccountId, IdError, InstitutionId, ItemId, LinkSessionId, LinkToken, PublicToken, TransactionId,
    UserId,
};
pub use item::{Account, Balances, EventTimes, Institution, ItemError, ItemRecord, ItemStatus, ItemView};
pub use lifecycle::{ItemEvent, Outcome};
pub use transaction::{Transaction, TransactionDetails};
