//! `/link/token/create`, `/link/token/get` and `/item/public_token/exchange`.

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

/// `LinkTokenCreateRequestUser`. The phone number and email address are the user's own (Plaid's
/// returning-user flow): sent on the wire only, never printed (`Debug` shows whether they are set).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkTokenUser {
    pub client_user_id: String,
    /// E.164 (`+14155550123`), verified by the identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Verified by the identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
}

impl LinkTokenUser {
    /// Only the pseudonym.
    pub fn new(client_user_id: String) -> Self {
        Self { client_user_id, phone_number: None, email_address: None }
    }
}

impl std::fmt::Debug for LinkTokenUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkTokenUser")
            .field("client_user_id", &self.client_user_id)
            .field("phone_number", &self.phone_number.as_ref().map(|_| "***"))
            .field("email_address", &self.email_address.as_ref().map(|_| "***"))
            .finish()
    }
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
// /link/token/get

/// `LinkTokenGetResponse`: the token and its Link sessions (kept by Plaid up to six hours after a session
/// ends). Only what weft reads; everything else is ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct LinkTokenGetResponse {
    pub link_token: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expiration: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub link_sessions: Vec<LinkTokenGetSession>,
    #[serde(default)]
    pub request_id: String,
}

/// `LinkTokenGetSessionsResponse`: one Link session of the token.
#[derive(Debug, Clone, Deserialize)]
pub struct LinkTokenGetSession {
    pub link_session_id: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// `LinkSessionSuccess` (deprecated by Plaid for `results`, still sent for older integrations).
    #[serde(default)]
    pub on_success: Option<LinkSessionSuccess>,
    /// `LinkSessionExit`.
    #[serde(default)]
    pub exit: Option<LinkSessionExit>,
    /// `LinkSessionExitDeprecated`: the same, under its older name.
    #[serde(default)]
    pub on_exit: Option<LinkSessionExit>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub events: Vec<LinkSessionEvent>,
    #[serde(default)]
    pub results: Option<LinkSessionResults>,
}

/// `LinkSessionSuccess`.
#[derive(Debug, Clone, Deserialize)]
pub struct LinkSessionSuccess {
    #[serde(deserialize_with = "de_public_token")]
    pub public_token: PublicToken,
    #[serde(default)]
    pub metadata: Option<LinkSessionSuccessMetadata>,
}

/// `LinkSessionSuccessMetadata` (only the institution is read).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinkSessionSuccessMetadata {
    #[serde(default)]
    pub institution: Option<LinkSessionInstitution>,
}

/// `LinkSessionSuccessMetadataInstitution` / `LinkSessionExitMetadataInstitution`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinkSessionInstitution {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub institution_id: Option<String>,
}

/// `LinkSessionExit` / `LinkSessionExitDeprecated`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinkSessionExit {
    #[serde(default)]
    pub error: Option<PlaidError>,
    #[serde(default)]
    pub metadata: Option<LinkSessionExitMetadata>,
}

/// `LinkSessionExitMetadata`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinkSessionExitMetadata {
    #[serde(default)]
    pub institution: Option<LinkSessionInstitution>,
    /// Where the user left (`requires_credentials`, …).
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// `LinkSessionResults` (only `item_add_results` is read).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LinkSessionResults {
    #[serde(default, deserialize_with = "de_null_default")]
    pub item_add_results: Vec<LinkSessionItemAddResult>,
}

/// `LinkSessionItemAddResult`.
#[derive(Debug, Clone, Deserialize)]
pub struct LinkSessionItemAddResult {
    #[serde(deserialize_with = "de_public_token")]
    pub public_token: PublicToken,
    #[serde(default)]
    pub institution: Option<LinkSessionInstitution>,
}

/// `LinkEvent`: one event of a Link session, as the LINK / EVENTS webhook and `/link/token/get` carry it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LinkSessionEvent {
    pub event_name: String,
    /// ISO 8601.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// A UUID: with the session, what deduplicates an event Plaid sends again.
    pub event_id: String,
    #[serde(default)]
    pub event_metadata: LinkSessionEventMetadata,
}

/// `LinkEventMetadata` (what the funnel reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LinkSessionEventMetadata {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub error_type: Option<String>,
    #[serde(default)]
    pub exit_status: Option<String>,
    #[serde(default)]
    pub institution_id: Option<String>,
    #[serde(default)]
    pub institution_name: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub view_name: Option<String>,
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
