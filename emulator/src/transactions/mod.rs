//! Transactions: a seeded, deterministic history per Item, an append-only change log, opaque
//! cursors into that log, and `/transactions/sync` paging over the net changes since a cursor.
//!
//! The log is the single source of truth. A cursor names a position in it; a sync page returns the
//! net effect of the entries between the cursor's position and the log's end (a transaction added
//! and then removed in that span does not appear at all; one that existed before and changed
//! appears once, in `modified`, with its latest version). While a client pages through one span
//! (`has_more` true), its cursors also carry the span's end; if the log grew since, the next page
//! fails with TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION, as Plaid's does.

mod cursor;
mod history;
mod log;
mod merchants;
mod sync;
mod txn;

pub use cursor::Cursor;
pub use history::{control_txn_id, generate_new, initial_history};
pub use log::{Change, TxLog};
pub use sync::{SyncError, sync_page};
pub use txn::{Txn, WireOptions, WireTxn};
