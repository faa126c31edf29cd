//! `/item/get`, `/item/webhook/update`, `/item/remove`, `/item/access_token/invalidate`.

use super::*;

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
// /item/access_token/invalidate

/// `/item/access_token/invalidate`: the item's new access token (the old one stops working at once). Parsed
/// straight into [`AccessToken`] (redacted `Debug`, no `Serialize`), like the exchange's.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemAccessTokenInvalidateResponse {
    #[serde(deserialize_with = "de_access_token")]
    pub new_access_token: AccessToken,
    #[serde(default)]
    pub request_id: String,
}
