//! `/transactions/sync`.

use super::*;

// ---------------------------------------------------------------------------------------------------------
// /transactions/sync

/// `/transactions/sync`'s `options`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TransactionsSyncOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_original_description: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_personal_finance_category: Option<bool>,
    /// 1..=730; only honoured on the first sync of an item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_requested: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

impl TransactionsSyncOptions {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransactionsSyncResponse {
    #[serde(default, deserialize_with = "de_null_default")]
    pub added: Vec<Transaction>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub modified: Vec<Transaction>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub removed: Vec<RemovedTransaction>,
    /// `""` with empty lists: the item's history is not ready yet.
    #[serde(default, deserialize_with = "de_null_default")]
    pub next_cursor: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub has_more: bool,
    #[serde(default, deserialize_with = "de_null_default")]
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub transactions_update_status: Option<String>,
    #[serde(default)]
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RemovedTransaction {
    pub transaction_id: String,
    #[serde(default)]
    pub account_id: Option<String>,
}

/// Plaid's transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    pub transaction_id: String,
    pub account_id: String,
    /// Positive: money out of the account.
    pub amount: f64,
    #[serde(default)]
    pub iso_currency_code: Option<String>,
    #[serde(default)]
    pub unofficial_currency_code: Option<String>,
    /// `YYYY-MM-DD`.
    pub date: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub pending: bool,
    #[serde(default)]
    pub pending_transaction_id: Option<String>,
    #[serde(default)]
    pub account_owner: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub payment_channel: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub name: String,
    #[serde(default)]
    pub merchant_name: Option<String>,
    #[serde(default)]
    pub original_description: Option<String>,
    #[serde(default)]
    pub authorized_date: Option<String>,
    #[serde(default)]
    pub authorized_datetime: Option<String>,
    #[serde(default)]
    pub datetime: Option<String>,
    #[serde(default)]
    pub transaction_code: Option<String>,
    #[serde(default)]
    pub category: Option<Vec<String>>,
    #[serde(default)]
    pub category_id: Option<String>,
    #[serde(default)]
    pub personal_finance_category: Option<PersonalFinanceCategory>,
    #[serde(default)]
    pub logo_url: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub payment_meta: Option<PaymentMeta>,
    #[serde(default)]
    pub location: Option<Location>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PersonalFinanceCategory {
    #[serde(default, deserialize_with = "de_null_default")]
    pub primary: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub detailed: String,
    #[serde(default)]
    pub confidence_level: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PaymentMeta {
    #[serde(default)]
    pub by_order_of: Option<String>,
    #[serde(default)]
    pub payee: Option<String>,
    #[serde(default)]
    pub payer: Option<String>,
    #[serde(default)]
    pub payment_method: Option<String>,
    #[serde(default)]
    pub payment_processor: Option<String>,
    #[serde(default)]
    pub ppd_id: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub reference_number: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Location {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub store_number: Option<String>,
}

impl Transaction {
    /// The transaction as weft stores it. The category is the personal-finance category's primary value,
    /// or else the legacy category path joined with `" > "`.
    pub fn into_domain(self, item_id: &ItemId) -> Result<domain::Transaction, domain::IdError> {
        let transaction_id = TransactionId::parse(self.transaction_id)?;
        let account_id = AccountId::parse(self.account_id)?;
        let pending_transaction_id = match self.pending_transaction_id {
            Some(p) => Some(TransactionId::parse(p)?),
            None => None,
        };
        let category = match self.personal_finance_category {
            Some(pfc) if !pfc.primary.is_empty() => Some(pfc.primary),
            _ => self.category.filter(|c| !c.is_empty()).map(|c| c.join(" > ")),
        };
        Ok(domain::Transaction {
            item_id: item_id.clone(),
            transaction_id,
            account_id,
            date: self.date,
            pending: self.pending,
            details: domain::TransactionDetails {
                amount: self.amount,
                iso_currency_code: self.iso_currency_code,
                unofficial_currency_code: self.unofficial_currency_code,
                name: self.name,
                merchant_name: self.merchant_name,
                pending_transaction_id,
                authorized_date: self.authorized_date,
                payment_channel: self.payment_channel,
                category,
            },
        })
    }
}
