//! The error object: Plaid's `error_type` values and [`PlaidError`], with a constructor for each
//! error the emulator produces.

use std::fmt;

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::json_response;

/// Plaid's `error_type` values that the emulator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorType {
    /// `INVALID_REQUEST`: the request is malformed (fields, headers, body).
    InvalidRequest,
    /// `INVALID_INPUT`: a value in the request is wrong (keys, tokens, ids).
    InvalidInput,
    /// `ITEM_ERROR`: the Item needs attention (login required, not found...).
    ItemError,
    /// `INSTITUTION_ERROR`: the institution is down or not responding.
    InstitutionError,
    /// `RATE_LIMIT_EXCEEDED`: too many calls (HTTP 429).
    RateLimitExceeded,
    /// `API_ERROR`: Plaid failed (HTTP 500, or 503 for planned maintenance).
    ApiError,
    /// `TRANSACTIONS_ERROR`: e.g. a mutation during `/transactions/sync` pagination.
    TransactionsError,
    /// `SANDBOX_ERROR`: a sandbox-only endpoint was misused.
    SandboxError,
}

impl ErrorType {
    /// The `error_type` string, e.g. `INVALID_REQUEST`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "INVALID_REQUEST",
            ErrorType::InvalidInput => "INVALID_INPUT",
            ErrorType::ItemError => "ITEM_ERROR",
            ErrorType::InstitutionError => "INSTITUTION_ERROR",
            ErrorType::RateLimitExceeded => "RATE_LIMIT_EXCEEDED",
            ErrorType::ApiError => "API_ERROR",
            ErrorType::TransactionsError => "TRANSACTIONS_ERROR",
            ErrorType::SandboxError => "SANDBOX_ERROR",
        }
    }

    /// Parses an `error_type` string.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "INVALID_REQUEST" => ErrorType::InvalidRequest,
            "INVALID_INPUT" => ErrorType::InvalidInput,
            "ITEM_ERROR" => ErrorType::ItemError,
            "INSTITUTION_ERROR" => ErrorType::InstitutionError,
            "RATE_LIMIT_EXCEEDED" => ErrorType::RateLimitExceeded,
            "API_ERROR" => ErrorType::ApiError,
            "TRANSACTIONS_ERROR" => ErrorType::TransactionsError,
            "SANDBOX_ERROR" => ErrorType::SandboxError,
            _ => return None,
        })
    }

    fn docs_slug(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid-request",
            ErrorType::InvalidInput => "invalid-input",
            ErrorType::ItemError => "item",
            ErrorType::InstitutionError => "institution",
            ErrorType::RateLimitExceeded => "rate-limit-exceeded",
            ErrorType::ApiError => "api",
            ErrorType::TransactionsError => "transactions",
            ErrorType::SandboxError => "sandbox",
        }
    }

    /// The HTTP status Plaid answers with for this error type (404 and 503 are set per code).
    fn default_status(self) -> u16 {
        match self {
            ErrorType::RateLimitExceeded => 429,
            ErrorType::ApiError => 500,
            _ => 400,
        }
    }
}

/// A Plaid error: what goes into the error object, plus the HTTP status it travels with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaidError {
    /// The HTTP status the error is answered with.
    pub http_status: u16,
    /// `error_type`.
    pub error_type: ErrorType,
    /// `error_code`, e.g. `ITEM_LOGIN_REQUIRED`.
    pub error_code: String,
    /// `error_message`.
    pub error_message: String,
    /// Rarely set keys (boxed to keep `Result<_, PlaidError>` small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Box<ErrorExtra>>,
}

/// The error object's optional keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorExtra {
    /// `display_message`: text meant for the end user.
    #[serde(default)]
    pub display_message: Option<String>,
    /// `error_code_reason`.
    #[serde(default)]
    pub error_code_reason: Option<String>,
    /// `causes`.
    #[serde(default)]
    pub causes: Option<Value>,
}

impl fmt::Display for PlaidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.error_type.as_str(), self.error_code, self.error_message)
    }
}

impl std::error::Error for PlaidError {}

impl PlaidError {
    pub(crate) fn new(error_type: ErrorType, code: &str, message: impl Into<String>) -> Self {
        Self {
            http_status: error_type.default_status(),
            error_type,
            error_code: code.to_owned(),
            error_message: message.into(),
            extra: None,
        }
    }

    /// The user-facing message (null unless set).
    pub fn display_message(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.display_message.as_deref())
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.http_status = status;
        self
    }

    /// The `documentation_url`: the error's entry in Plaid's errors reference.
    pub fn documentation_url(&self) -> String {
        format!(
            "https://plaid.com/docs/errors/{}/#{}",
            self.error_type.docs_slug(),
            self.error_code.to_ascii_lowercase()
        )
    }

    /// The error object as an API answer carries it.
    pub fn to_json(&self, request_id: &str) -> Value {
        let extra = self.extra.as_deref();
        let mut v = json!({
            "display_message": self.display_message(),
            "documentation_url": self.documentation_url(),
            "error_code": self.error_code,
            "error_code_reason": extra.and_then(|e| e.error_code_reason.as_deref()),
            "error_message": self.error_message,
            "error_type": self.error_type.as_str(),
            "request_id": request_id,
            "suggested_action": null,
        });
        if let (Some(causes), Some(obj)) = (extra.and_then(|e| e.causes.as_ref()), v.as_object_mut()) {
            obj.insert("causes".into(), causes.clone());
        }
        v
    }

    /// The error object as a webhook carries it (with `status`).
    pub fn to_webhook_json(&self, request_id: &str) -> Value {
        let mut v = self.to_json(request_id);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("status".into(), json!(self.http_status));
        }
        v
    }

    /// The HTTP answer for this error.
    pub(crate) fn into_response_with(self, request_id: &str) -> Response {
        let status = StatusCode::from_u16(self.http_status).unwrap_or(StatusCode::BAD_REQUEST);
        json_response(status, &self.to_json(request_id))
    }

    // ---- constructors for the codes the emulator uses -------------------------------------------

    pub(crate) fn invalid_api_keys() -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_API_KEYS", "invalid client_id or secret provided")
    }
    pub(crate) fn missing_fields(paths: &[String]) -> Self {
        Self::new(
            ErrorType::InvalidRequest,
            "MISSING_FIELDS",
            format!("the following required fields are missing: {}", paths.join(", ")),
        )
    }
    pub(crate) fn unknown_fields(paths: &[String]) -> Self {
        Self::new(
            ErrorType::InvalidRequest,
            "UNKNOWN_FIELDS",
            format!("the following fields are not recognized by this endpoint: {}", paths.join(", ")),
        )
    }
    pub(crate) fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidRequest, "INVALID_BODY", message)
    }
    pub(crate) fn invalid_field(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidRequest, "INVALID_FIELD", message)
    }
    pub(crate) fn invalid_headers(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidRequest, "INVALID_HEADERS", message)
    }
    pub(crate) fn not_found() -> Self {
        Self::new(ErrorType::InvalidRequest, "NOT_FOUND", "not found").with_status(404)
    }
    pub(crate) fn invalid_access_token() -> Self {
        Self::new(
            ErrorType::InvalidInput,
            "INVALID_ACCESS_TOKEN",
            "provided access token is in an invalid format. expected format: access-<environment>-<identifier>",
        )
    }
    pub(crate) fn unknown_access_token() -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_ACCESS_TOKEN", "could not find matching access token")
    }
    pub(crate) fn invalid_public_token(message: &str) -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_PUBLIC_TOKEN", message)
    }
    pub(crate) fn invalid_link_token(message: &str) -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_LINK_TOKEN", message)
    }
    pub(crate) fn invalid_institution() -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_INSTITUTION", "invalid institution_id provided")
    }
    pub(crate) fn invalid_product(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_PRODUCT", message)
    }
    pub(crate) fn invalid_account_id() -> Self {
        Self::new(
            ErrorType::InvalidInput,
            "INVALID_ACCOUNT_ID",
            "failed to find requested account ID for requested item",
        )
    }
    pub(crate) fn invalid_webhook_key_id() -> Self {
        Self::new(
            ErrorType::InvalidInput,
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
            "invalid key_id provided. note that key_ids are specific to Plaid environments, and verification requests must be made to the same environment that the webhook was sent from",
        )
    }
    pub(crate) fn item_not_found() -> Self {
        Self::new(
            ErrorType::ItemError,
            "ITEM_NOT_FOUND",
            "The Item you requested cannot be found. This Item does not exist, has been previously removed via /item/remove, or has had access removed by the user.",
        )
    }
    pub(crate) fn internal() -> Self {
        Self::new(ErrorType::ApiError, "INTERNAL_SERVER_ERROR", "an unexpected error occurred")
    }
    pub(crate) fn planned_maintenance() -> Self {
        Self::new(
            ErrorType::ApiError,
            "PLANNED_MAINTENANCE",
            "the Plaid API is temporarily unavailable due to planned maintenance. visit https://status.plaid.com/ for more information",
        )
        .with_status(503)
    }
    pub(crate) fn mutation_during_pagination() -> Self {
        Self::new(
            ErrorType::TransactionsError,
            "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
            "Underlying transaction data changed since last page was fetched. Please restart pagination from last update.",
        )
    }
    pub(crate) fn sandbox_webhook_invalid() -> Self {
        Self::new(
            ErrorType::SandboxError,
            "SANDBOX_WEBHOOK_INVALID",
            "Webhook for this item is either not set up, or invalid. Please update the item's webhook and try again.",
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn error_object_has_every_key() {
        let v = PlaidError::invalid_api_keys().to_json("abc");
        for key in [
            "display_message",
            "documentation_url",
            "error_code",
            "error_message",
            "error_type",
            "request_id",
            "suggested_action",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["documentation_url"], "https://plaid.com/docs/errors/invalid-input/#invalid_api_keys");
    }
}
