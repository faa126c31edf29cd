//! Plaid's wire format: the error object every non-2xx answer carries ([`PlaidError`], with
//! Plaid's documented texts per code), and request validation (unknown, missing and wrongly typed
//! fields) against the request schemas of Plaid's OpenAPI spec.
//!
//! The schemas live in `src/request_schema.json`, generated from plaid-python's models (which are
//! generated from the spec) by `tools/gen_request_schema.py`.

mod documented;
mod error;
mod schema;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub use documented::is_known_login_error;
pub use error::{ErrorExtra, ErrorType, PlaidError};
pub use schema::{preload, schema_for, validate};

/// A JSON answer with Plaid's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    (status, [(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")], bytes).into_response()
}
