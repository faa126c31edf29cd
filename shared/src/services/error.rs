//! The services' error type, and its mapping to HTTP (the one place that decides statuses and codes).

use crate::domain::ItemId;
use crate::http::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("this item is already linked as {existing}")]
    Duplicate { existing: ItemId, reason: &'static str },
    #[error("concurrent update, retry")]
    Conflict,
    #[error("Plaid refused the public token: {0}")]
    InvalidPublicToken(String),
    #[error("Plaid: {0}")]
    Plaid(#[source] crate::plaid::PlaidClientError),
    #[error("store: {0}")]
    Store(#[from] crate::ports::StoreError),
    #[error("crypto: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("queue: {0}")]
    Queue(#[from] crate::ports::QueueError),
}

impl From<crate::plaid::PlaidClientError> for ServiceError {
    fn from(e: crate::plaid::PlaidClientError) -> Self {
        Self::Plaid(e)
    }
}

impl From<&ServiceError> for ApiError {
    fn from(e: &ServiceError) -> Self {
        match e {
            ServiceError::Invalid(m) => ApiError::invalid(m.clone()),
            ServiceError::Unauthenticated(m) => ApiError::unauthenticated(m.clone()),
            ServiceError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
            ServiceError::Duplicate { existing, reason } => ApiError::new(
                ErrorCode::DuplicateItem,
                format!("this bank login is already linked ({reason}); update the existing item instead"),
            )
            .with("item_id", existing.as_str()),
            ServiceError::Conflict => ApiError::new(ErrorCode::Conflict, "the item changed concurrently; retry"),
            ServiceError::InvalidPublicToken(m) => ApiError::new(ErrorCode::InvalidPublicToken, m.clone()),
            ServiceError::Plaid(p) => plaid_to_api(p),
            ServiceError::Store(e) if e.is_conflict() => {
                ApiError::new(ErrorCode::Conflict, "the item changed concurrently; retry")
            }
            ServiceError::Store(e) if e.is_invalid_cursor() => {
                ApiError::invalid("the cursor is not valid for this list")
            }
            ServiceError::Store(_) | ServiceError::Crypto(_) | ServiceError::Queue(_) => ApiError::internal(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        if matches!(
            e,
            ServiceError::Store(_) | ServiceError::Crypto(_) | ServiceError::Queue(_) | ServiceError::Plaid(_)
        ) {
            tracing::error!(error = %e, "service failed");
        }
        ApiError::from(&e)
    }
}

fn plaid_to_api(e: &crate::plaid::PlaidClientError) -> ApiError {
    match e.api_error() {
        Some(p) if p.status == Some(429) || p.error_type == "RATE_LIMIT_EXCEEDED" => {
            ApiError::new(ErrorCode::RateLimited, "rate limited by Plaid; retry later")
                .with("plaid_error_code", p.error_code.clone())
        }
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
