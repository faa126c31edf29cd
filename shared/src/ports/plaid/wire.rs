//! Plaid's request and response bodies (API version 2020-09-14), as weft uses them.
//!
//! Requests serialise only the fields that are set (Plaid refuses unknown fields, and `null` is not the same
//! as absent for some). Responses parse leniently: unknown fields are ignored, nullable fields are `Option`,
//! and lists and flags Plaid may omit default to empty / `false`, so a newer Plaid does not break an older
//! weft. Identifiers the services rely on (`item_id`, `account_id`, tokens) are parsed into domain types.

use super::PlaidError;
use crate::domain::{self, AccessToken, AccountId, InstitutionId, ItemId, LinkToken, TransactionId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// A response body that carries Plaid's `request_id` (logged for every call).
pub trait PlaidResponse: serde::de::DeserializeOwned + Send {
    fn request_id(&self) -> &str;
}

macro_rules! plaid_response {
    ($($t:ty),* $(,)?) => {
        $(impl PlaidResponse for $t {
            fn request_id(&self) -> &str {
                &self.request_id
            }
        })*
    };
}

plaid_response!(
    LinkTokenCreateResponse,
    PublicTokenExchangeResponse,
    ItemGetResponse,
    ItemRemoveResponse,
    AccountsGetResponse,
    InstitutionsGetByIdResponse,
    TransactionsSyncResponse,
    WebhookVerificationKeyGetResponse,
    ItemWebhookUpdateResponse,
);

// ---------------------------------------------------------------------------------------------------------
// Secrets on the wire: tokens have no Serialize/Deserialize of their own (so they cannot leak into a log
// line or a stored document by accident); these helpers are the one place they are written and read.

fn ser_opt_access_token<S: Serializer>(t: &Option<AccessToken>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(t.expose()),
        None => s.serialize_none(),
    }
}

fn de_access_token<'de, D: Deserializer<'de>>(d: D) -> Result<AccessToken, D::Error> {
    let s = String::deserialize(d)?;
    // The error names the rule broken, never the value.
    AccessToken::parse(s).map_err(serde::de::Error::custom)
}

fn de_null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------------------
// /link/token/create

/// `/link/token/create` request. `access_token` set means update mode (then no `products`).
#[derive(Debug, Clone, Serialize)]
pub struct LinkTokenCreateRequest {
    pub client_name: String,
    pub language: String,
    pub country_codes: Vec<String>,
    pub user: LinkTokenUser,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_access_token")]
    pub access_token: Option<AccessToken>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub android_package_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_customization_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<LinkTokenUpdate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_filters: Option<AccountFilters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<LinkTokenTransactions>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkTokenUser {
    pub client_user_id: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkTokenUpdate {
    pub account_selection_enabled: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkTokenTransactions {
    pub days_requested: u32,
}

/// Which account types (and subtypes) Link offers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccountFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depository: Option<AccountSubtypes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<AccountSubtypes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loan: Option<AccountSubtypes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investment: Option<AccountSubtypes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<AccountSubtypes>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccountSubtypes {
    pub account_subtypes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LinkTokenCreateResponse {
    pub link_token: LinkToken,
    #[serde(with = "time::serde::rfc3339")]
    pub expiration: OffsetDateTime,
    #[serde(default)]
    pub request_id: String,
}

// ---------------------------------------------------------------------------------------------------------
// /item/public_token/exchange

/// The access token is parsed straight into [`AccessToken`] (redacted `Debug`, no `Serialize`).
#[derive(Debug, Clone, Deserialize)]
pub struct PublicTokenExchangeResponse {
    #[serde(deserialize_with = "de_access_token")]
    pub access_token: AccessToken,
    pub item_id: ItemId,
    #[serde(default)]
    pub request_id: String,
}

// ---------------------------------------------------------------------------------------------------------
// /item/get, /item/webhook/update, /item/remove

/// Plaid's Item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub item_id: ItemId,
    #[serde(default)]
    pub institution_id: Option<String>,
    #[serde(default)]
    pub institution_name: Option<String>,
    #[serde(default)]
    pub webhook: Option<String>,
    #[serde(default)]
    pub error: Option<PlaidError>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub available_products: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub billed_products: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub products: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub consented_products: Vec<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub consent_expiration_time: Option<OffsetDateTime>,
    /// `background` or `user_present_required`.
    #[serde(default)]
    pub update_type: Option<String>,
    #[serde(default)]
    pub auth_method: Option<String>,
    /// RFC 3339, as Plaid gives it.
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemGetResponse {
    pub item: Item,
    #[serde(default)]
    pub status: Option<ItemStatusInfo>,
    #[serde(default)]
    pub request_id: String,
}

/// `/item/get`'s `status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ItemStatusInfo {
    #[serde(default)]
    pub transactions: Option<ItemTransactionsStatus>,
    #[serde(default)]
    pub last_webhook: Option<ItemLastWebhook>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ItemTransactionsStatus {
    #[serde(default)]
    pub last_successful_update: Option<String>,
    #[serde(default)]
    pub last_failed_update: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ItemLastWebhook {
    #[serde(default)]
    pub sent_at: Option<String>,
    #[serde(default)]
    pub code_sent: Option<String>,
}

/// Why an item is removed (`reason_code`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ItemRemoveReasonCode {
    ConnectionIsNonFunctional,
    FraudAbuse,
    FraudFalseIdentity,
    FraudFirstParty,
    FraudOther,
    Other,
}

/// `/item/remove`'s optional fields.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ItemRemoveRequestOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<ItemRemoveReasonCode>,
    /// At most 512 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemRemoveResponse {
    #[serde(default)]
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemWebhookUpdateResponse {
    pub item: Item,
    #[serde(default)]
    pub request_id: String,
}

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
            },
            revoked_at: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// /institutions/get_by_id

/// `/institutions/get_by_id`'s `options`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct InstitutionsGetByIdOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_status: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_optional_metadata: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstitutionsGetByIdResponse {
    pub institution: Institution,
    #[serde(default)]
    pub request_id: String,
}

/// Plaid's institution (with `status` when asked for).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Institution {
    pub institution_id: InstitutionId,
    #[serde(default, deserialize_with = "de_null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub products: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub country_codes: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub routing_numbers: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub dtc_numbers: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub oauth: bool,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub logo: Option<String>,
    #[serde(default)]
    pub primary_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<InstitutionStatus>,
}

/// Institution health per product.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InstitutionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_logins: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions_updates: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investments_updates: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liabilities_updates: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investments: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liabilities: Option<ProductStatus>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProductStatus {
    /// `HEALTHY`, `DEGRADED` or `DOWN`.
    #[serde(default, deserialize_with = "de_null_default")]
    pub status: String,
    #[serde(default)]
    pub last_status_change: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<ProductStatusBreakdown>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProductStatusBreakdown {
    #[serde(default)]
    pub success: Option<f64>,
    #[serde(default)]
    pub error_plaid: Option<f64>,
    #[serde(default)]
    pub error_institution: Option<f64>,
    #[serde(default)]
    pub refresh_interval: Option<String>,
}

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

// ---------------------------------------------------------------------------------------------------------
// /webhook_verification_key/get

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookVerificationKeyGetResponse {
    pub key: WebhookVerificationKey,
    #[serde(default)]
    pub request_id: String,
}

/// The JWK Plaid signs webhooks with. `x` and `y` are base64url 32-byte big-endian coordinates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookVerificationKey {
    #[serde(default, deserialize_with = "de_null_default")]
    pub alg: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub crv: String,
    pub kid: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub kty: String,
    #[serde(rename = "use", default, deserialize_with = "de_null_default")]
    pub key_use: String,
    pub x: String,
    pub y: String,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Unix seconds; set once Plaid rotated the key away. A webhook signed by an expired key is refused.
    #[serde(default)]
    pub expired_at: Option<i64>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn link_token_request_serialises_only_what_is_set_and_exposes_the_token_only_on_the_wire() {
        let req = LinkTokenCreateRequest {
            client_name: "weft".into(),
            language: "en".into(),
            country_codes: vec!["US".into()],
            user: LinkTokenUser { client_user_id: "u1".into() },
            products: None,
            webhook: None,
            access_token: Some(AccessToken::parse("access-sandbox-123").unwrap()),
            redirect_uri: None,
            android_package_name: None,
            link_customization_name: None,
            update: Some(LinkTokenUpdate { account_selection_enabled: true }),
            account_filters: None,
            transactions: None,
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(
            v,
            json!({"client_name": "weft", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u1"},
                   "access_token": "access-sandbox-123", "update": {"account_selection_enabled": true}})
        );
        assert!(!format!("{req:?}").contains("access-sandbox-123"));
    }

    #[test]
    fn responses_ignore_unknown_fields_and_accept_nulls() {
        let v = json!({
            "added": null, "modified": [], "removed": [{"transaction_id": "t1", "account_id": "a1"}],
            "next_cursor": "c1", "has_more": false, "accounts": [], "request_id": "r1", "brand_new": {"x": 1}
        });
        let r: TransactionsSyncResponse = serde_json::from_value(v).unwrap();
        assert!(r.added.is_empty());
        assert_eq!(r.removed[0].transaction_id, "t1");
        assert_eq!(r.request_id(), "r1");
    }

    #[test]
    fn an_exchange_decode_error_does_not_echo_the_token() {
        let e = serde_json::from_value::<PublicTokenExchangeResponse>(
            json!({"access_token": "public-sandbox-xyz", "item_id": "i", "request_id": "r"}),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("xyz"), "{e}");
    }

    #[test]
    fn transaction_into_domain_picks_the_category() {
        let t: Transaction = serde_json::from_value(json!({
            "transaction_id": "t1", "account_id": "a1", "amount": 12.5, "iso_currency_code": "USD",
            "unofficial_currency_code": null, "date": "2024-01-02", "pending": false,
            "pending_transaction_id": null, "payment_channel": "online", "name": "Coffee",
            "merchant_name": null, "category": ["Food and Drink", "Coffee"],
            "personal_finance_category": null, "location": {"city": null}, "payment_meta": {}
        }))
        .unwrap();
        let d = t.into_domain(&ItemId::parse("item1").unwrap()).unwrap();
        assert_eq!(d.details.category.as_deref(), Some("Food and Drink > Coffee"));
        assert_eq!(d.details.amount, 12.5);
    }
}
