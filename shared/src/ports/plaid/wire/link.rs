//! `/link/token/create` and `/item/public_token/exchange`.

use super::*;

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
    /// Hosted Link: Plaid hosts the Link page at `hosted_link_url` (for a link sent by email or text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosted_link: Option<HostedLink>,
}

/// `hosted_link` of `/link/token/create` (`LinkTokenCreateHostedLink`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostedLink {
    /// Where the user goes when Link is done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_redirect_uri: Option<String>,
    /// How long the URL works (Plaid allows up to 21 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_lifetime_seconds: Option<u32>,
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
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
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

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountSubtypes {
    pub account_subtypes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LinkTokenCreateResponse {
    pub link_token: LinkToken,
    #[serde(with = "time::serde::rfc3339")]
    pub expiration: OffsetDateTime,
    /// Set when the request asked for Hosted Link.
    #[serde(default)]
    pub hosted_link_url: Option<String>,
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
