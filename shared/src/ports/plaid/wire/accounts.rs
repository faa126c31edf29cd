//! `/accounts/get`.

use super::*;

// ---------------------------------------------------------------------------------------------------------
// /accounts/get

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountsGetResponse {
    #[serde(default, deserialize_with = "de_null_default")]
    pub accounts: Vec<Account>,
    pub item: Item,
    #[serde(default)]
    pub request_id: String,
}

/// Plaid's account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub account_id: AccountId,
    #[serde(default, deserialize_with = "de_null_default")]
    pub name: String,
    #[serde(default)]
    pub official_name: Option<String>,
    #[serde(default)]
    pub mask: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "de_null_default")]
    pub account_type: String,
    #[serde(default)]
    pub subtype: Option<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub balances: AccountBalances,
    #[serde(default)]
    pub verification_status: Option<String>,
    #[serde(default)]
    pub persistent_account_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AccountBalances {
    #[serde(default)]
    pub available: Option<f64>,
    #[serde(default)]
    pub current: Option<f64>,
    #[serde(default)]
    pub limit: Option<f64>,
    #[serde(default)]
    pub iso_currency_code: Option<String>,
    #[serde(default)]
    pub unofficial_currency_code: Option<String>,
    #[serde(default)]
    pub last_updated_datetime: Option<String>,
}

impl From<Account> for domain::Account {
    fn from(a: Account) -> Self {
        domain::Account {
            account_id: a.account_id,
            name: a.name,
            official_name: a.official_name,
            mask: a.mask,
            account_type: a.account_type,
            subtype: a.subtype,
            balances: domain::Balances {
                available: a.balances.available,
                current: a.balances.current,
                limit: a.balances.limit,
                iso_currency_code: a.balances.iso_currency_code,
                as_of: None,
            },
            persistent_account_id: a.persistent_account_id,
            revoked_at: None,
        }
    }
}
