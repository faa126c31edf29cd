//! API errors: stable codes, HTTP statuses, safe messages.

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
    /// Plaid or another upstream failed; safe to retry later.
    UpstreamUnavailable,
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
            Self::DuplicateItem => "DUPLICATE_ITEM",
            Self::Conflict => "CONFLICT",
            Self::InvalidPublicToken => "INVALID_PUBLIC_TOKEN",
            Self::ItemError => "ITEM_ERROR",
            Self::RateLimited => "RATE_LIMITED",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidPublicToken | Self::ItemError => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::DuplicateItem | Self::Conflict => 409,
            Self::RateLimited => 429,
            Self::UpstreamUnavailable => 502,
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
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: Map::new() }
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
        let mut resp = super::json_response(self.status(), &self.body(request_id));
        if self.code == ErrorCode::RateLimited {
            resp.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("5"));
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
