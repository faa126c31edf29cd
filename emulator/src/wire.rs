//! Plaid's wire format: the error object every non-2xx answer carries, and request validation
//! (unknown, missing and wrongly typed fields) against the request schemas of Plaid's OpenAPI spec.
//!
//! The schemas live in `request_schema.json`, generated from plaid-python's models (which are
//! generated from the spec) by `tools/gen_request_schema.py`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Plaid's `error_type` values that the emulator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorType {
    InvalidRequest,
    InvalidInput,
    ItemError,
    InstitutionError,
    RateLimitExceeded,
    ApiError,
    TransactionsError,
    SandboxError,
}

impl ErrorType {
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
    pub http_status: u16,
    pub error_type: ErrorType,
    pub error_code: String,
    pub error_message: String,
    /// Rarely set keys (boxed to keep `Result<_, PlaidError>` small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Box<ErrorExtra>>,
}

/// The error object's optional keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorExtra {
    #[serde(default)]
    pub display_message: Option<String>,
    #[serde(default)]
    pub error_code_reason: Option<String>,
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
    pub fn new(error_type: ErrorType, code: &str, message: impl Into<String>) -> Self {
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

    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = status;
        self
    }

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
    pub fn into_response_with(self, request_id: &str) -> Response {
        let status = StatusCode::from_u16(self.http_status).unwrap_or(StatusCode::BAD_REQUEST);
        json_response(status, &self.to_json(request_id))
    }

    // ---- constructors for the codes the emulator uses -------------------------------------------

    pub fn invalid_api_keys() -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_API_KEYS", "invalid client_id or secret provided")
    }
    pub fn missing_fields(paths: &[String]) -> Self {
        Self::new(
            ErrorType::InvalidRequest,
            "MISSING_FIELDS",
            format!("the following required fields are missing: {}", paths.join(", ")),
        )
    }
    pub fn unknown_fields(paths: &[String]) -> Self {
        Self::new(
            ErrorType::InvalidRequest,
            "UNKNOWN_FIELDS",
            format!("the following fields are not recognized by this endpoint: {}", paths.join(", ")),
        )
    }
    pub fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidRequest, "INVALID_BODY", message)
    }
    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidRequest, "INVALID_FIELD", message)
    }
    pub fn invalid_headers(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidRequest, "INVALID_HEADERS", message)
    }
    pub fn not_found() -> Self {
        Self::new(ErrorType::InvalidRequest, "NOT_FOUND", "not found").with_status(404)
    }
    pub fn invalid_access_token() -> Self {
        Self::new(
            ErrorType::InvalidInput,
            "INVALID_ACCESS_TOKEN",
            "provided access token is in an invalid format. expected format: access-<environment>-<identifier>",
        )
    }
    pub fn unknown_access_token() -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_ACCESS_TOKEN", "could not find matching access token")
    }
    pub fn invalid_public_token(message: &str) -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_PUBLIC_TOKEN", message)
    }
    pub fn invalid_link_token(message: &str) -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_LINK_TOKEN", message)
    }
    pub fn invalid_institution() -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_INSTITUTION", "invalid institution_id provided")
    }
    pub fn invalid_product(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidInput, "INVALID_PRODUCT", message)
    }
    pub fn invalid_account_id() -> Self {
        Self::new(
            ErrorType::InvalidInput,
            "INVALID_ACCOUNT_ID",
            "failed to find requested account ID for requested item",
        )
    }
    pub fn invalid_webhook_key_id() -> Self {
        Self::new(
            ErrorType::InvalidInput,
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
            "invalid key_id provided. note that key_ids are specific to Plaid environments, and verification requests must be made to the same environment that the webhook was sent from",
        )
    }
    pub fn item_not_found() -> Self {
        Self::new(
            ErrorType::ItemError,
            "ITEM_NOT_FOUND",
            "The Item you requested cannot be found. This Item does not exist, has been previously removed via /item/remove, or has had access removed by the user.",
        )
    }
    pub fn internal() -> Self {
        Self::new(ErrorType::ApiError, "INTERNAL_SERVER_ERROR", "an unexpected error occurred")
    }
    pub fn planned_maintenance() -> Self {
        Self::new(
            ErrorType::ApiError,
            "PLANNED_MAINTENANCE",
            "the Plaid API is temporarily unavailable due to planned maintenance. visit https://status.plaid.com/ for more information",
        )
        .with_status(503)
    }
    pub fn mutation_during_pagination() -> Self {
        Self::new(
            ErrorType::TransactionsError,
            "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
            "Underlying transaction data changed since last page was fetched. Please restart pagination from last update.",
        )
    }
    pub fn sandbox_webhook_invalid() -> Self {
        Self::new(
            ErrorType::SandboxError,
            "SANDBOX_WEBHOOK_INVALID",
            "Webhook for this item is either not set up, or invalid. Please update the item's webhook and try again.",
        )
    }
    /// A 429 for `endpoint` with `code`, with Plaid's message: per-Item limits say "this item",
    /// client-wide ones name the endpoint in words.
    pub fn rate_limit(code: &str, endpoint: &str) -> Self {
        match Self::documented(code) {
            Some(e) if e.error_type == ErrorType::RateLimitExceeded => e,
            _ => {
                let words = endpoint.trim_start_matches('/').replace(['/', '_'], " ");
                Self::new(
                    ErrorType::RateLimitExceeded,
                    code,
                    format!("rate limit exceeded for attempts to access \"{words}\". please try again later"),
                )
                .with_status(429)
            }
        }
    }

    /// An ITEM_ERROR or INSTITUTION_ERROR by code, with Plaid's messages for it
    /// (what `error_<CODE>` sandbox passwords produce). Unknown codes give INVALID_CREDENTIALS.
    pub fn login_error(code: &str) -> Self {
        Self::documented(code)
            .filter(|e| matches!(e.error_type, ErrorType::ItemError | ErrorType::InstitutionError))
            .unwrap_or_else(|| Self::documented("INVALID_CREDENTIALS").unwrap_or_else(Self::internal))
    }

    /// A Plaid error with Plaid's documented type, status, `error_message` and `display_message`
    /// for `code`, for codes whose texts are fixed.
    pub fn documented(code: &str) -> Option<Self> {
        let (error_type, status, message, display) = documented_error(code)?;
        let mut e = Self::new(error_type, code, message).with_status(status);
        if let Some(display) = display {
            e.extra = Some(Box::new(ErrorExtra { display_message: Some(display.to_owned()), ..ErrorExtra::default() }));
        }
        Some(e)
    }
}

const INSTITUTION_DISPLAY: &str =
    "This financial institution is not currently responding to requests. We apologize for the inconvenience.";

/// Plaid's documented error responses (errors reference, "API error response" blocks):
/// (type, HTTP status, error_message, display_message).
fn documented_error(code: &str) -> Option<(ErrorType, u16, &'static str, Option<&'static str>)> {
    use ErrorType::{InstitutionError as Inst, ItemError as Item};
    Some(match code {
        "INVALID_CREDENTIALS" => (
            Item,
            400,
            "the provided credentials were not correct",
            Some("The provided credentials were not correct. Please try again."),
        ),
        "INVALID_MFA" => (
            Item,
            400,
            "the provided MFA response(s) were not correct",
            Some("The provided MFA responses were not correct. Please try again."),
        ),
        "ITEM_LOCKED" => (
            Item,
            400,
            "the account is locked. prompt the user to visit the institution's site and unlock their account",
            Some(
                "The given account has been locked by the financial institution. Please visit your financial institution's website to unlock your account.",
            ),
        ),
        "ITEM_LOGIN_REQUIRED" => (
            Item,
            400,
            "the login details of this item have changed (credentials, MFA, or required user action) and a user login is required to update this information. use Link's update mode to restore the item to a good state",
            None,
        ),
        "ITEM_NOT_SUPPORTED" => (
            Item,
            400,
            "this account is currently not supported",
            Some(
                "The given account is not currently supported for this financial institution. We apologize for the inconvenience.",
            ),
        ),
        "MFA_NOT_SUPPORTED" => (
            Item,
            400,
            "this account requires a MFA type that we do not currently support for the institution",
            Some(
                "The multi-factor security features enabled on this account are not currently supported for this financial institution. We apologize for the inconvenience.",
            ),
        ),
        "NO_ACCOUNTS" => (
            Item,
            400,
            "no valid accounts were found for this item",
            Some(
                "No valid accounts were found at the financial institution. Please visit your financial institution's website to confirm accounts are available.",
            ),
        ),
        "INSUFFICIENT_CREDENTIALS" => (
            Item,
            400,
            "insufficient authorization was provided to complete the request",
            Some("INSUFFICIENT_CREDENTIALS"),
        ),
        "USER_SETUP_REQUIRED" => (
            Item,
            400,
            "the account has not been fully set up. prompt the user to visit the issuing institution's site and finish the setup process",
            Some(
                "The given account requires additional setup with the financial institution. Please visit your financial institution's website to complete the setup.",
            ),
        ),
        "PRODUCTS_NOT_SUPPORTED" => (Item, 400, "the requested products are not supported by this institution", None),
        "PRODUCT_NOT_READY" => (
            Item,
            400,
            "the requested product is not yet ready. please provide a webhook or try the request again later",
            None,
        ),
        "USER_PERMISSION_REVOKED" => (
            Item,
            400,
            "the holder of this account has revoked their permission for your application to access it",
            None,
        ),
        "ITEM_NOT_FOUND" => (
            Item,
            400,
            "The Item you requested cannot be found. This Item does not exist, has been previously removed via /item/remove, or has had access removed by the user.",
            None,
        ),
        "INSTITUTION_DOWN" | "INSTITUTION_NOT_RESPONDING" | "INSTITUTION_NOT_AVAILABLE" => (
            Inst,
            400,
            "this institution is not currently responding to this request. please try again soon",
            Some(INSTITUTION_DISPLAY),
        ),
        "INSTITUTION_NO_LONGER_SUPPORTED" => (
            Inst,
            400,
            "this institution is no longer supported",
            Some("This financial institution is no longer supported. We apologize for the inconvenience."),
        ),
        "INSTITUTION_NOT_FOUND" => (Inst, 400, "this institution was not found", None),
        "INVALID_API_KEYS" => (ErrorType::InvalidInput, 400, "invalid client_id or secret provided", None),
        "INVALID_ACCOUNT_ID" => {
            (ErrorType::InvalidInput, 400, "failed to find requested account ID for requested item", None)
        }
        "INVALID_INSTITUTION" => (ErrorType::InvalidInput, 400, "invalid institution_id provided", None),
        "INVALID_LINK_TOKEN" => (ErrorType::InvalidInput, 400, "invalid link_token provided", None),
        "INVALID_WEBHOOK_VERIFICATION_KEY_ID" => (
            ErrorType::InvalidInput,
            400,
            "invalid key_id provided. note that key_ids are specific to Plaid environments, and verification requests must be made to the same environment that the webhook was sent from",
            None,
        ),
        "INVALID_BODY" => (ErrorType::InvalidRequest, 400, "body could not be parsed as JSON", None),
        "NOT_FOUND" => (ErrorType::InvalidRequest, 404, "not found", None),
        "INTERNAL_SERVER_ERROR" => (ErrorType::ApiError, 500, "an unexpected error occurred", None),
        "PLANNED_MAINTENANCE" => (
            ErrorType::ApiError,
            503,
            "the Plaid API is temporarily unavailable due to planned maintenance. visit https://status.plaid.com/ for more information",
            None,
        ),
        "SANDBOX_WEBHOOK_INVALID" => (
            ErrorType::SandboxError,
            400,
            "Webhook for this item is either not set up, or invalid. Please update the item's webhook and try again.",
            None,
        ),
        "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION" => (
            ErrorType::TransactionsError,
            400,
            "Underlying transaction data changed since last page was fetched. Please restart pagination from last update.",
            None,
        ),
        "ACCOUNTS_LIMIT" | "BALANCE_LIMIT" | "ITEM_GET_LIMIT" | "TRANSACTIONS_SYNC_LIMIT" | "RATE_LIMIT" => {
            (ErrorType::RateLimitExceeded, 429, PER_ITEM_LIMIT_MESSAGE, None)
        }
        "INSTITUTIONS_GET_BY_ID_LIMIT" => (
            ErrorType::RateLimitExceeded,
            429,
            "rate limit exceeded for attempts to access \"institutions get by id\". please try again later",
            None,
        ),
        "ACCOUNTS_BALANCE_GET_LIMIT" => (
            ErrorType::RateLimitExceeded,
            429,
            "rate limit exceeded for attempts to access \"accounts balance get\". please try again later",
            None,
        ),
        _ => return None,
    })
}

/// Plaid's message for per-Item rate limits.
pub const PER_ITEM_LIMIT_MESSAGE: &str = "rate limit exceeded for attempts to access this item. please try again later";

/// Whether `code` is one a sandbox `error_<CODE>` password may ask for.
pub fn is_known_login_error(code: &str) -> bool {
    matches!(
        code,
        "INVALID_CREDENTIALS"
            | "INVALID_MFA"
            | "ITEM_LOCKED"
            | "ITEM_LOGIN_REQUIRED"
            | "ITEM_NOT_SUPPORTED"
            | "MFA_NOT_SUPPORTED"
            | "NO_ACCOUNTS"
            | "INSUFFICIENT_CREDENTIALS"
            | "USER_SETUP_REQUIRED"
            | "PRODUCTS_NOT_SUPPORTED"
            | "INSTITUTION_DOWN"
            | "INSTITUTION_NOT_RESPONDING"
            | "INSTITUTION_NOT_AVAILABLE"
            | "INSTITUTION_NO_LONGER_SUPPORTED"
            | "INSTITUTION_NOT_FOUND"
    )
}

/// A JSON answer with Plaid's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    (status, [(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], bytes).into_response()
}

// ---- request validation -----------------------------------------------------------------------

/// One node of a request schema (see `tools/gen_request_schema.py`).
#[derive(Debug, Deserialize)]
pub struct Node {
    t: Kind,
    #[serde(default)]
    null: bool,
    #[serde(default)]
    fields: BTreeMap<String, Node>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    items: Option<Box<Node>>,
    #[serde(default, rename = "enum")]
    allowed: Option<Vec<String>>,
    #[serde(default)]
    min_length: Option<usize>,
    #[serde(default)]
    max_length: Option<usize>,
    #[serde(default)]
    min_items: Option<usize>,
    #[serde(default)]
    max_items: Option<usize>,
    #[serde(default)]
    inclusive_minimum: Option<f64>,
    #[serde(default)]
    inclusive_maximum: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    String,
    Bool,
    Int,
    Number,
    Date,
    Datetime,
    Array,
    Object,
    /// An object whose fields are not checked (composed schemas in the spec).
    ObjectAny,
    /// A free-form map.
    Map,
    Any,
}

static SCHEMAS: OnceLock<Option<HashMap<String, Node>>> = OnceLock::new();

fn schemas() -> Option<&'static HashMap<String, Node>> {
    SCHEMAS.get_or_init(|| serde_json::from_str(include_str!("request_schema.json")).ok()).as_ref()
}

/// The request schema of an endpoint path.
pub fn schema_for(path: &str) -> Option<&'static Node> {
    schemas().and_then(|s| s.get(path))
}

/// Parses the schemas now (so the first request does not pay for it). Returns false if the
/// embedded schema file is broken.
pub fn preload() -> bool {
    schemas().is_some()
}

/// Checks a request body against the endpoint's schema, in Plaid's order: unknown fields, then
/// missing fields, then field types and values.
pub fn validate(schema: &Node, body: &Value) -> Result<(), PlaidError> {
    let mut unknown = Vec::new();
    collect_unknown(schema, body, "", &mut unknown);
    if !unknown.is_empty() {
        return Err(PlaidError::unknown_fields(&unknown));
    }
    let mut missing = Vec::new();
    collect_missing(schema, body, "", &mut missing);
    if !missing.is_empty() {
        return Err(PlaidError::missing_fields(&missing));
    }
    check_value(schema, body, "")
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") }
}

fn collect_unknown(node: &Node, value: &Value, prefix: &str, out: &mut Vec<String>) {
    match (node.t, value) {
        (Kind::Object, Value::Object(map)) => {
            for (key, v) in map {
                let path = join(prefix, key);
                match node.fields.get(key) {
                    None => {
                        if !out.contains(&path) {
                            out.push(path);
                        }
                    }
                    Some(child) => collect_unknown(child, v, &path, out),
                }
            }
        }
        (Kind::Array, Value::Array(items)) => {
            if let Some(item_node) = &node.items {
                for item in items {
                    collect_unknown(item_node, item, prefix, out);
                }
            }
        }
        _ => {}
    }
}

fn collect_missing(node: &Node, value: &Value, prefix: &str, out: &mut Vec<String>) {
    match (node.t, value) {
        (Kind::Object, Value::Object(map)) => {
            for key in &node.required {
                if map.get(key).is_none_or(Value::is_null) {
                    out.push(join(prefix, key));
                }
            }
            for (key, v) in map {
                if let Some(child) = node.fields.get(key) {
                    collect_missing(child, v, &join(prefix, key), out);
                }
            }
        }
        (Kind::Array, Value::Array(items)) => {
            if let Some(item_node) = &node.items {
                for item in items {
                    let before = out.len();
                    collect_missing(item_node, item, prefix, out);
                    if out.len() > before {
                        break;
                    }
                }
            }
        }
        _ => {}
    }
}

fn is_products_path(path: &str) -> bool {
    path.rsplit('.').next().is_some_and(|last| last.ends_with("products"))
}

fn check_value(node: &Node, value: &Value, path: &str) -> Result<(), PlaidError> {
    if value.is_null() {
        // Optional fields may be null (treated as absent); required ones were reported as missing.
        return Ok(());
    }
    let field = if path.is_empty() { "body" } else { path };
    match node.t {
        Kind::Any => Ok(()),
        Kind::String | Kind::Date | Kind::Datetime => {
            let Some(s) = value.as_str() else {
                return Err(PlaidError::invalid_field(format!("{field} must be a string")));
            };
            if node.t == Kind::Date && !is_date(s) {
                return Err(PlaidError::invalid_field(format!("{field} must be a date in the format YYYY-MM-DD")));
            }
            if node.t == Kind::Datetime
                && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_err()
            {
                return Err(PlaidError::invalid_field(format!("{field} must be an ISO 8601 timestamp")));
            }
            let len = s.chars().count();
            if node.min_length.is_some_and(|min| len < min) {
                return Err(PlaidError::invalid_field(format!("{field} must be a non-empty string")));
            }
            if node.max_length.is_some_and(|max| len > max) {
                return Err(PlaidError::invalid_field(format!(
                    "{field} must be at most {} characters long",
                    node.max_length.unwrap_or_default()
                )));
            }
            if let Some(allowed) = &node.allowed
                && !allowed.iter().any(|a| a == s)
            {
                if is_products_path(path) {
                    return Err(PlaidError::invalid_product(format!("invalid product names: [{s}]")));
                }
                return Err(PlaidError::invalid_field(format!("{field} must be one of: {}", allowed.join(", "))));
            }
            Ok(())
        }
        Kind::Bool => {
            if value.is_boolean() {
                Ok(())
            } else {
                Err(PlaidError::invalid_field(format!("{field} must be a boolean")))
            }
        }
        Kind::Int | Kind::Number => {
            let ok = if node.t == Kind::Int { value.is_i64() || value.is_u64() } else { value.is_number() };
            let n = value.as_f64();
            let in_range = n.is_some_and(|n| {
                node.inclusive_minimum.is_none_or(|min| n >= min) && node.inclusive_maximum.is_none_or(|max| n <= max)
            });
            if ok && in_range {
                return Ok(());
            }
            let kind = if node.t == Kind::Int { "an integer" } else { "a number" };
            let msg = match (node.inclusive_minimum, node.inclusive_maximum) {
                (Some(min), Some(max)) => format!("{field} must be {kind} between {min} and {max}"),
                (Some(min), None) => {
                    format!("{field} must be {kind} greater than or equal to {min}")
                }
                (None, Some(max)) => format!("{field} must be {kind} less than or equal to {max}"),
                (None, None) => format!("{field} must be {kind}"),
            };
            Err(PlaidError::invalid_field(msg))
        }
        Kind::Array => {
            let Some(items) = value.as_array() else {
                return Err(PlaidError::invalid_field(format!("{field} must be an array")));
            };
            if node.min_items.is_some_and(|min| items.len() < min) {
                return Err(PlaidError::invalid_field(format!("{field} must be a non-empty array")));
            }
            if let Some(max) = node.max_items
                && items.len() > max
            {
                return Err(PlaidError::invalid_field(format!("{field} must contain at most {max} items")));
            }
            if let Some(item_node) = &node.items {
                for item in items {
                    if item.is_null() && !item_node.null {
                        return Err(PlaidError::invalid_field(format!("{field} must not contain null values")));
                    }
                    check_value(item_node, item, path)?;
                }
            }
            Ok(())
        }
        Kind::Object | Kind::ObjectAny | Kind::Map => {
            let Some(map) = value.as_object() else {
                return Err(PlaidError::invalid_field(format!("{field} must be an object")));
            };
            if node.t == Kind::Object {
                for (key, v) in map {
                    if let Some(child) = node.fields.get(key) {
                        check_value(child, v, &join(path, key))?;
                    }
                }
            }
            Ok(())
        }
    }
}

fn is_date(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, &fmt).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn check(path: &str, body: Value) -> Result<(), PlaidError> {
        validate(schema_for(path).unwrap(), &body)
    }

    #[test]
    fn schema_loads_for_every_endpoint() {
        assert!(preload());
        for p in [
            "/link/token/create",
            "/item/public_token/exchange",
            "/item/get",
            "/item/remove",
            "/accounts/get",
            "/accounts/balance/get",
            "/institutions/get_by_id",
            "/transactions/sync",
            "/webhook_verification_key/get",
            "/item/webhook/update",
            "/sandbox/public_token/create",
            "/sandbox/item/reset_login",
            "/sandbox/item/fire_webhook",
        ] {
            assert!(schema_for(p).is_some(), "{p}");
        }
    }

    #[test]
    fn unknown_fields_are_dotted_and_nested() {
        let err = check(
            "/transactions/sync",
            json!({"access_token": "x", "options": {"include_personal_finance_category": true, "zzz": 1}, "foo": 2}),
        )
        .unwrap_err();
        assert_eq!(err.error_code, "UNKNOWN_FIELDS");
        assert_eq!(err.error_message, "the following fields are not recognized by this endpoint: foo, options.zzz");
    }

    #[test]
    fn missing_and_wrong_types() {
        let err = check("/transactions/sync", json!({})).unwrap_err();
        assert_eq!(err.error_code, "MISSING_FIELDS");
        assert_eq!(err.error_message, "the following required fields are missing: access_token");
        let err = check("/transactions/sync", json!({"access_token": "x", "count": "5"})).unwrap_err();
        assert_eq!(err.error_code, "INVALID_FIELD");
        let err = check("/transactions/sync", json!({"access_token": "x", "count": 501})).unwrap_err();
        assert_eq!(err.error_message, "count must be an integer between 1 and 500");
        assert!(check("/transactions/sync", json!({"access_token": "x", "count": 500})).is_ok());
        let err = check("/transactions/sync", json!({"access_token": 5})).unwrap_err();
        assert_eq!(err.error_code, "INVALID_FIELD");
        let err = check(
            "/link/token/create",
            json!({"client_name": "a", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"}, "products": ["nope"]}),
        )
        .unwrap_err();
        assert_eq!(err.error_code, "INVALID_PRODUCT");
        let err = check(
            "/link/token/create",
            json!({"client_name": "a", "language": "en", "country_codes": [], "user": {"client_user_id": "u"}}),
        )
        .unwrap_err();
        assert_eq!(err.error_message, "country_codes must be a non-empty array");
    }

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
