//! Plaid's errors as the Plaid client reports them ([`PlaidCallError::Api`]), for scripts and for the
//! answers of [`super::ScriptedPlaid`].

use super::endpoints;
use crate::ports::{PlaidCallError, PlaidError};

/// Plaid's error object.
pub fn plaid_error(error_type: &str, error_code: &str, status: u16) -> PlaidError {
    PlaidError {
        error_type: error_type.to_owned(),
        error_code: error_code.to_owned(),
        error_message: format!("{error_code} (scripted)"),
        display_message: None,
        request_id: Some(format!("req-{}", uuid::Uuid::new_v4().simple())),
        status: Some(status),
        ..Default::default()
    }
}

/// A call to `endpoint` answered with Plaid's error object.
pub fn api(endpoint: &'static str, error_type: &str, error_code: &str, status: u16) -> PlaidCallError {
    PlaidCallError::Api { endpoint, error: Box::new(plaid_error(error_type, error_code, status)) }
}

/// ITEM_ERROR / ITEM_LOGIN_REQUIRED (400): the item's error object (see
/// [`super::ScriptedPlaid::set_item_error`]).
pub fn login_required() -> PlaidError {
    plaid_error("ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 400)
}

/// `endpoint` answered ITEM_ERROR / ITEM_LOGIN_REQUIRED (400).
pub fn item_login_required(endpoint: &'static str) -> PlaidCallError {
    api(endpoint, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 400)
}

/// `endpoint` answered ITEM_ERROR / ITEM_NOT_FOUND (400): the item was removed.
pub fn item_not_found(endpoint: &'static str) -> PlaidCallError {
    api(endpoint, "ITEM_ERROR", "ITEM_NOT_FOUND", 400)
}

/// INVALID_INPUT / INVALID_PUBLIC_TOKEN (400): the exchange of an unknown or used public token.
pub fn invalid_public_token() -> PlaidCallError {
    api(endpoints::PUBLIC_TOKEN_EXCHANGE, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN", 400)
}

/// INVALID_INPUT / INVALID_ACCESS_TOKEN (400): an access token Plaid never issued.
pub fn invalid_access_token(endpoint: &'static str) -> PlaidCallError {
    api(endpoint, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", 400)
}

/// RATE_LIMIT_EXCEEDED (429).
pub fn rate_limited(endpoint: &'static str) -> PlaidCallError {
    api(endpoint, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT", 429)
}

/// API_ERROR / INTERNAL_SERVER_ERROR (500).
pub fn server_error(endpoint: &'static str) -> PlaidCallError {
    api(endpoint, "API_ERROR", "INTERNAL_SERVER_ERROR", 500)
}

/// TRANSACTIONS_ERROR / TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION (400).
pub fn mutation_during_pagination() -> PlaidCallError {
    api(endpoints::TRANSACTIONS_SYNC, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION", 400)
}
