//! Transactions as weft stores them: keys and ordering fields in the clear, the rest sealed.

use super::{AccountId, ItemId, TransactionId};
use serde::{Deserialize, Serialize};

/// A transaction. Only `transaction_id`, `account_id`, `date` and `pending` are stored in the clear (they
/// key and order the records); [`TransactionDetails`] is encrypted with the item's data key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transaction {
    pub item_id: ItemId,
    pub transaction_id: TransactionId,
    pub account_id: AccountId,
    /// `YYYY-MM-DD`, as Plaid gives it.
    pub date: String,
    pub pending: bool,
    #[serde(flatten)]
    pub details: TransactionDetails,
}

/// The sensitive part of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransactionDetails {
    /// Positive: money out of the account (Plaid's sign convention).
    pub amount: f64,
    pub iso_currency_code: Option<String>,
    pub unofficial_currency_code: Option<String>,
    pub name: String,
    pub merchant_name: Option<String>,
    pub pending_transaction_id: Option<TransactionId>,
    pub authorized_date: Option<String>,
    pub payment_channel: String,
    pub category: Option<String>,
}
