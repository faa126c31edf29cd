//! Errors to HTTP, in one place: every error a client (an app, or Plaid delivering a webhook) sees is
//! decided here: its stable code, its status, its safe message. Internal details (AWS or Plaid messages,
//! sources) are logged, never returned.
//!
//! Every error body has the shape `{"error": {"code": "STABLE_CODE", "message": "what went wrong",
//! "request_id": "..."}}` (plus detail fields such as the `item_id` of a duplicate). Faults of ours
//! (including misconfiguration) are the 5xx class and logged at ERROR; the caller's mistakes are 4xx and
//! logged at INFO.

use crate::auth::{AuthError, VerifyError};
use crate::ports::{PlaidCallError, QueueError, StoreError, VaultError};
use crate::services::ServiceError;
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};

/// Stable error codes the app can switch on. Their string form never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The body is not JSON, or a field is missing, of the wrong type or not allowed.
    InvalidRequest,
    /// No bearer token, or one that does not verify.
    Unauthenticated,
    /// Authenticated, but not allowed to do this.
    Forbidden,
    /// No such resource for this caller (also for other users' items: no existence leak).
    NotFound,
    /// The body is not declared as JSON (`Content-Type`).
    UnsupportedMediaType,
    /// The item the user tries to link is already linked.
    DuplicateItem,
    /// Concurrent change: retry.
    Conflict,
    /// Plaid refused the public token (expired, used, malformed).
    InvalidPublicToken,
    /// The request is valid but Plaid refused it for the item's state (e.g. login required).
    ItemError,
    /// Too many requests (here or at Plaid).
    RateLimited,
    /// Plaid or another upstream failed; safe to retry later (also a webhook weft could not check or act on
    /// now: Plaid delivers it again).
    UpstreamUnavailable,
    /// weft's own storage, keys or queue (AWS) did not answer in time or failed: nothing was half-done;
    /// retry later. The same code as [`ErrorCode::UpstreamUnavailable`], status 503.
    StorageUnavailable,
    /// The request's work was not done by its deadline (a dependency that does not answer): the same code as
    /// [`ErrorCode::UpstreamUnavailable`], status 503; retry.
    TimedOut,
    /// Another request with the same public token is exchanging it: retry shortly to get its outcome.
    ExchangeInProgress,
    /// Plaid's answer to the exchange did not arrive: retry once with the same public token; an
    /// INVALID_PUBLIC_TOKEN then means Plaid did run it: link again.
    ExchangeOutcomeUnknown,
    /// Plaid made the item but weft could not store it (it is removed at Plaid): the public token is
    /// spent; link again.
    ExchangeUndone,
    /// Something broke on our side.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::DuplicateItem => "DUPLICATE_ITEM",
            Self::Conflict => "CONFLICT",
            Self::InvalidPublicToken => "INVALID_PUBLIC_TOKEN",
            Self::ItemError => "ITEM_ERROR",
            Self::RateLimited => "RATE_LIMITED",
            Self::UpstreamUnavailable | Self::StorageUnavailable | Self::TimedOut => "UPSTREAM_UNAVAILABLE",
            Self::ExchangeInProgress => "EXCHANGE_IN_PROGRESS",
            Self::ExchangeOutcomeUnknown => "EXCHANGE_OUTCOME_UNKNOWN",
            Self::ExchangeUndone => "EXCHANGE_UNDONE",
            Self::Internal => "INTERNAL",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidPublicToken | Self::ItemError => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::UnsupportedMediaType => 415,
            Self::DuplicateItem | Self::Conflict | Self::ExchangeInProgress => 409,
            Self::RateLimited => 429,
            Self::UpstreamUnavailable | Self::ExchangeOutcomeUnknown => 502,
            Self::StorageUnavailable | Self::ExchangeUndone | Self::TimedOut => 503,
            Self::Internal => 500,
        }
    }
}

/// An error on its way to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra fields for the error object (e.g. the existing `item_id` of a duplicate).
    pub details: Map<String, Value>,
    /// Seconds for the `Retry-After` header (rate limits).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: Map::new(), retry_after: None }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error; the request can be retried")
    }
    /// Adds a field to the error object.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The JSON body: `{"error": {"code", "message", "request_id", ...details}}`.
    pub fn body(&self, request_id: &str) -> Value {
        let mut obj = self.details.clone();
        obj.insert("code".into(), json!(self.code.as_str()));
        obj.insert("message".into(), json!(self.message));
        obj.insert("request_id".into(), json!(request_id));
        json!({ "error": obj })
    }

    pub fn into_response(self, request_id: &str) -> Response<Body> {
        if self.status() >= 500 {
            tracing::error!(code = self.code.as_str(), status = self.status(), message = %self.message, "request failed");
        } else {
            tracing::info!(code = self.code.as_str(), status = self.status(), message = %self.message, "request refused");
        }
        let mut resp = super::response::json_response(self.status(), &self.body(request_id));
        if matches!(self.code, ErrorCode::RateLimited | ErrorCode::ExchangeInProgress) {
            let seconds = self.retry_after.unwrap_or(5).max(1);
            resp.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        resp
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// A service's failure on an app route.
impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let api = match &e {
            ServiceError::Invalid(m) => ApiError::invalid(m.clone()),
            ServiceError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
            ServiceError::Duplicate { existing, reason } => ApiError::new(
                ErrorCode::DuplicateItem,
                format!("this bank login is already linked ({reason}); update the existing item instead"),
            )
            .with("item_id", existing.as_str()),
            ServiceError::RateLimited { limit, retry_after } => {
                let mut api = ApiError::new(ErrorCode::RateLimited, format!("limit reached ({limit}); retry later"))
                    .with("limit", *limit);
                api.retry_after = Some(retry_after.as_secs().max(1));
                api
            }
            ServiceError::Conflict | ServiceError::Store(StoreError::Conflict) => {
                ApiError::new(ErrorCode::Conflict, "the item changed concurrently; retry")
            }
            ServiceError::InvalidPublicToken(_) => ApiError::new(
                ErrorCode::InvalidPublicToken,
                "the public token is invalid, expired or already used; link again",
            ),
            ServiceError::PublicTokenUsed => ApiError::new(
                ErrorCode::InvalidPublicToken,
                "the public token was already exchanged and its item has been removed since; link again",
            ),
            ServiceError::ExchangeInProgress => {
                let mut api = ApiError::new(
                    ErrorCode::ExchangeInProgress,
                    "another request is exchanging this public token; retry shortly to get its outcome",
                );
                api.retry_after = Some(1);
                api
            }
            ServiceError::ExchangeUndone(_) => ApiError::new(
                ErrorCode::ExchangeUndone,
                "the new item could not be stored (weft removes it at Plaid); link again",
            ),
            ServiceError::ExchangeOutcomeUnknown(_) => ApiError::new(
                ErrorCode::ExchangeOutcomeUnknown,
                "Plaid's answer to the exchange did not arrive; retry once with the same public token \
                 (INVALID_PUBLIC_TOKEN then means link again)",
            ),
            ServiceError::Plaid(p) => plaid_to_api(p),
            ServiceError::PlaidData(_) => {
                ApiError::new(ErrorCode::UpstreamUnavailable, "Plaid answered unexpectedly; retry later")
            }
            ServiceError::Store(StoreError::Backend { .. })
            | ServiceError::Vault(VaultError::Backend { .. })
            | ServiceError::Queue(QueueError::Backend(_)) => {
                ApiError::new(ErrorCode::StorageUnavailable, "storage is unavailable; retry later")
            }
            ServiceError::Store(_)
            | ServiceError::Vault(_)
            | ServiceError::Sealing(_)
            | ServiceError::Queue(_)
            | ServiceError::Continuation(_) => ApiError::internal(),
        };
        if api.status() >= 500 {
            tracing::error!(code = api.code.as_str(), error = %crate::telemetry::chain(&e), "service failed");
        }
        api
    }
}

fn plaid_to_api(e: &PlaidCallError) -> ApiError {
    match e.api_error() {
        Some(p) if p.is_rate_limited() => ApiError::new(ErrorCode::RateLimited, "rate limited by Plaid; retry later")
            .with("plaid_error_code", p.error_code.clone()),
        Some(p) if p.error_type == "ITEM_ERROR" => ApiError::new(
            ErrorCode::ItemError,
            p.display_message.clone().unwrap_or_else(|| "the item needs attention".into()),
        )
        .with("plaid_error_code", p.error_code.clone()),
        Some(p) if p.error_type == "INVALID_REQUEST" || p.error_type == "INVALID_INPUT" => {
            ApiError::new(ErrorCode::InvalidRequest, "Plaid refused the request")
                .with("plaid_error_code", p.error_code.clone())
        }
        _ => ApiError::new(ErrorCode::UpstreamUnavailable, "Plaid is unavailable; retry later"),
    }
}

/// A bearer token that did not verify.
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        if e.is_retryable() {
            // The issuer's keys could not be fetched: the token was not checked, not found bad.
            tracing::error!(reason = e.reason(), error = %crate::telemetry::chain(&e), "bearer token could not be checked");
            return ApiError::new(ErrorCode::UpstreamUnavailable, "the identity provider is unavailable; retry");
        }
        tracing::info!(reason = e.reason(), "bearer token refused");
        ApiError::unauthenticated("the bearer token is not valid")
    }
}

/// A webhook that did not verify: a forgery is refused (401); one weft could not check is answered 502,
/// so Plaid delivers it again.
impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        if e.is_retryable() {
            tracing::error!(event = "webhook_retry", reason = e.reason(), error = %crate::telemetry::chain(&e), "webhook could not be checked; Plaid will retry");
            return ApiError::new(ErrorCode::UpstreamUnavailable, "webhook not processed; retry");
        }
        tracing::warn!(event = "webhook_rejected", reason = e.reason(), "webhook refused");
        ApiError::new(ErrorCode::Unauthenticated, "webhook verification failed")
    }
}

/// A verified webhook that could not be handled: whatever the cause, Plaid should deliver it again (every
/// effect is idempotent).
pub fn webhook_not_handled(e: &ServiceError) -> ApiError {
    tracing::error!(event = "webhook_retry", error = %crate::telemetry::chain(e), "webhook not processed; Plaid will retry");
    ApiError::new(ErrorCode::UpstreamUnavailable, "webhook not processed; retry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_message_request_id_and_details() {
        let err = ApiError::new(ErrorCode::DuplicateItem, "already linked").with("item_id", "abc");
        let body = err.body("req-1");
        assert_eq!(body["error"]["code"], "DUPLICATE_ITEM");
        assert_eq!(body["error"]["message"], "already linked");
        assert_eq!(body["error"]["request_id"], "req-1");
        assert_eq!(body["error"]["item_id"], "abc");
        assert_eq!(err.status(), 409);
    }

    #[test]
    fn response_is_json_with_status() {
        let resp = ApiError::not_found("no such item").into_response("r");
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()["content-type"], "application/json");
    }
}
