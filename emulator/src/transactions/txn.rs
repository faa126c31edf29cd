//! One transaction as stored, and as `/transactions/sync` serialises it.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

/// The 8 nullable keys of a transaction's `location`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub address: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub store_number: Option<String>,
}

/// The 8 nullable keys of a transaction's `payment_meta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaymentMeta {
    pub by_order_of: Option<String>,
    pub payee: Option<String>,
    pub payer: Option<String>,
    pub payment_method: Option<String>,
    pub payment_processor: Option<String>,
    pub ppd_id: Option<String>,
    pub reason: Option<String>,
    pub reference_number: Option<String>,
}

/// One transaction, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Txn {
    pub transaction_id: String,
    pub account_id: String,
    /// Amount in cents; positive is money out of the account (Plaid's convention).
    pub amount_cents: i64,
    pub iso_currency_code: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub authorized_date: Option<String>,
    pub name: String,
    pub merchant_name: Option<String>,
    pub pending: bool,
    pub pending_transaction_id: Option<String>,
    /// `online`, `in store` or `other`.
    pub payment_channel: String,
    /// `digital`, `place`, `special` or `unresolved`.
    pub transaction_type: String,
    pub category: Vec<String>,
    pub category_id: String,
    pub pfc_primary: String,
    pub pfc_detailed: String,
    pub location: Location,
    pub payment_meta: PaymentMeta,
    pub website: Option<String>,
}

impl Txn {
    pub fn amount(&self) -> f64 {
        self.amount_cents as f64 / 100.0
    }
}

/// Options of a sync that shape the transaction objects.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireOptions {
    pub include_personal_finance_category: bool,
    pub include_original_description: bool,
}

/// A transaction as `/transactions/sync` serialises it.
pub struct WireTxn<'a> {
    pub txn: &'a Txn,
    pub options: WireOptions,
}

impl Serialize for WireTxn<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.txn;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("account_id", &t.account_id)?;
        m.serialize_entry("account_owner", &None::<String>)?;
        m.serialize_entry("amount", &t.amount())?;
        m.serialize_entry("authorized_date", &t.authorized_date)?;
        m.serialize_entry("authorized_datetime", &None::<String>)?;
        m.serialize_entry("category", &t.category)?;
        m.serialize_entry("category_id", &t.category_id)?;
        m.serialize_entry("check_number", &None::<String>)?;
        m.serialize_entry("counterparties", &Vec::<()>::new())?;
        m.serialize_entry("date", &t.date)?;
        m.serialize_entry("datetime", &None::<String>)?;
        m.serialize_entry("iso_currency_code", &t.iso_currency_code)?;
        m.serialize_entry("location", &t.location)?;
        m.serialize_entry("logo_url", &None::<String>)?;
        m.serialize_entry("merchant_entity_id", &None::<String>)?;
        m.serialize_entry("merchant_name", &t.merchant_name)?;
        m.serialize_entry("name", &t.name)?;
        let original = self.options.include_original_description.then(|| t.name.to_uppercase());
        m.serialize_entry("original_description", &original)?;
        m.serialize_entry("payment_channel", &t.payment_channel)?;
        m.serialize_entry("payment_meta", &t.payment_meta)?;
        m.serialize_entry("pending", &t.pending)?;
        m.serialize_entry("pending_transaction_id", &t.pending_transaction_id)?;
        if self.options.include_personal_finance_category {
            m.serialize_entry(
                "personal_finance_category",
                &Pfc { primary: &t.pfc_primary, detailed: &t.pfc_detailed, confidence_level: "VERY_HIGH" },
            )?;
        }
        m.serialize_entry("transaction_code", &None::<String>)?;
        m.serialize_entry("transaction_id", &t.transaction_id)?;
        m.serialize_entry("transaction_type", &t.transaction_type)?;
        m.serialize_entry("unofficial_currency_code", &None::<String>)?;
        m.serialize_entry("website", &t.website)?;
        m.end()
    }
}

#[derive(Serialize)]
struct Pfc<'a> {
    primary: &'a str,
    detailed: &'a str,
    confidence_level: &'a str,
}
