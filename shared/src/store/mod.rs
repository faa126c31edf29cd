//! The DynamoDB adapter of [`crate::ports::ItemStore`]: the single table of `docs/data-model.md`.
//!
//! - `keys`: the key layout, sortable timestamps, opaque cursors (pure);
//! - `convert`: domain records to and from attribute maps (with `serde_dynamo`);
//! - `dynamo`: [`DynamoStore`], its call helpers and the port implementation;
//! - `items`, `transactions`, `records`: the operations, by record family.
//!
//! SDK types never leave this module: callers see domain types, the port's records and [`StoreError`]s.
//!
//! [`StoreError`]: crate::ports::StoreError

mod convert;
mod dynamo;
mod items;
mod keys;
mod records;
mod transactions;

pub use dynamo::{DEFAULT_TOUCH_INTERVAL, DynamoStore};
pub use keys::churn_shard;
pub use transactions::MAX_PAGE;
