//! Plaid's error object, and a failed Plaid call ([`PlaidCallError`]).

use serde::{Deserialize, Serialize};

/// Plaid's error object: the body of every non-2xx answer, and the `error` of ITEM webhooks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaidError {
    #[serde(default)]
    pub error_type: String,
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub error_message: String,
    /// Safe to show the user, when Plaid has one.
    #[serde(default)]
    pub display_message: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    /// The HTTP status (Plaid puts it in webhook errors; the client fills it from the response otherwise).
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error_code_reason: Option<String>,
    #[serde(default)]
    pub documentation_url: Option<String>,
    #[serde(default)]
    pub suggested_action: Option<String>,
}

impl std::fmt::Display for PlaidError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.error_type, self.error_code)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " request_id={id}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlaidError {}

impl PlaidError {
    pub fn is(&self, error_type: &str, error_code: &str) -> bool {
        self.error_type == error_type && self.error_code == error_code
    }
    pub fn is_item_login_required(&self) -> bool {
        self.error_code == "ITEM_LOGIN_REQUIRED"
    }
    pub fn is_item_error(&self) -> bool {
        self.error_type == "ITEM_ERROR"
    }
    pub fn is_item_not_found(&self) -> bool {
        self.error_code == "ITEM_NOT_FOUND"
    }
    pub fn is_rate_limited(&self) -> bool {
        self.error_type == "RATE_LIMIT_EXCEEDED" || self.status == Some(429)
    }
    pub fn is_mutation_during_pagination(&self) -> bool {
        self.error_code == "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"
    }
    pub fn is_invalid_api_keys(&self) -> bool {
        self.error_code == "INVALID_API_KEYS"
    }
    pub fn is_invalid_public_token(&self) -> bool {
        self.error_code == "INVALID_PUBLIC_TOKEN"
    }
    pub fn is_invalid_access_token(&self) -> bool {
        self.error_code == "INVALID_ACCESS_TOKEN"
    }
    pub fn is_product_not_ready(&self) -> bool {
        self.error_code == "PRODUCT_NOT_READY"
    }
    /// Plaid's side failed (API_ERROR, 5xx): worth retrying later.
    pub fn is_server_error(&self) -> bool {
        self.error_type == "API_ERROR" || self.status.is_some_and(|s| s >= 500)
    }
}

/// A failed Plaid call.
#[derive(Debug, thiserror::Error)]
pub enum PlaidCallError {
    /// Plaid answered with its error object.
    #[error("Plaid {endpoint}: {error}")]
    Api {
        endpoint: &'static str,
        #[source]
        error: Box<PlaidError>,
    },
    /// Plaid answered a status without a readable error object (a proxy's 502 page, …).
    #[error("Plaid {endpoint}: HTTP {status} without a Plaid error object")]
    Status { endpoint: &'static str, status: u16 },
    /// The call did not finish in time (its outcome at Plaid is unknown).
    #[error("Plaid {endpoint}: timed out")]
    Timeout { endpoint: &'static str },
    /// Connecting failed: nothing reached Plaid.
    #[error("Plaid {endpoint}: could not connect")]
    Connect {
        endpoint: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The connection broke after the request may have been sent (its outcome at Plaid is unknown).
    #[error("Plaid {endpoint}: transport error")]
    Transport {
        endpoint: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A 2xx body that is not what Plaid documents. Only the position and field names are kept: a decode
    /// message may quote a value, and values can be tokens.
    #[error("Plaid {endpoint}: unreadable response ({detail}) request_id={request_id:?}")]
    Decode { endpoint: &'static str, request_id: Option<String>, detail: String },
    /// The credentials could not be loaded.
    #[error("Plaid credentials: {0}")]
    Credentials(#[from] super::CredentialError),
    /// The request could not be built (a bug, or a bad base URL).
    #[error("Plaid {endpoint}: cannot build the request: {detail}")]
    Request { endpoint: &'static str, detail: String },
}

impl PlaidCallError {
    /// Plaid's error object, when Plaid answered with one.
    pub fn api_error(&self) -> Option<&PlaidError> {
        match self {
            Self::Api { error, .. } => Some(error),
            _ => None,
        }
    }
    pub fn error_code(&self) -> Option<&str> {
        self.api_error().map(|e| e.error_code.as_str())
    }
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api { error, .. } => error.request_id.as_deref(),
            Self::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }
    /// The HTTP status Plaid answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { error, .. } => error.status,
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
    pub fn is_item_login_required(&self) -> bool {
        self.api_error().is_some_and(PlaidError::is_item_login_required)
    }
    pub fn is_item_error(&self) -> bool {
        self.api_error().is_some_and(PlaidError::is_item_error)
    }
    pub fn is_item_not_found(&self) -> bool {
        self.api_error().is_some_and(PlaidError::is_item_not_found)
    }
    pub fn is_rate_limited(&self) -> bool {
        self.api_error().is_some_and(PlaidError::is_rate_limited) || self.status() == Some(429)
    }
    pub fn is_mutation_during_pagination(&self) -> bool {
        self.api_error().is_some_and(PlaidError::is_mutation_during_pagination)
    }
    pub fn is_invalid_public_token(&self) -> bool {
        self.api_error().is_some_and(PlaidError::is_invalid_public_token)
    }
    pub fn is_invalid_access_token(&self) -> bool {
        self.api_error().is_some_and(PlaidError::is_invalid_access_token)
    }
    pub fn is_invalid_api_keys(&self) -> bool {
        self.api_error().is_some_and(PlaidError::is_invalid_api_keys)
    }
    /// Plaid's side failed (API_ERROR or a 5xx status).
    pub fn is_server_error(&self) -> bool {
        self.api_error().is_some_and(PlaidError::is_server_error) || self.status().is_some_and(|s| s >= 500)
    }
    /// Worth trying again later (rate limit, Plaid's 5xx, timeout, transport): the caller's queue or the app
    /// may retry; the client has already retried as far as was safe.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { error, .. } => error.is_rate_limited() || error.is_server_error(),
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Timeout { .. } | Self::Transport { .. } | Self::Connect { .. } | Self::Credentials(_) => true,
            Self::Decode { .. } | Self::Request { .. } => false,
        }
    }
}
