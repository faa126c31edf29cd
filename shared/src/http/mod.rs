//! The HTTP edge shared by the app-facing functions: JSON bodies in, JSON bodies out, and the one place
//! where errors become HTTP responses.
//!
//! Every error a client sees has the shape
//! `{"error": {"code": "STABLE_CODE", "message": "what went wrong", "request_id": "..."}}`
//! (plus optional detail fields such as the `item_id` of a duplicate), with the matching HTTP status.
//! Internal details (stack traces, AWS or Plaid messages) are logged, never returned.

mod error;
pub(crate) mod request;

pub use error::{ApiError, ErrorCode};
pub use request::{bearer_token, json_body, path_segments, query_param, request_id};

use lambda_http::{Body, Response};
use serde::Serialize;

/// A JSON response with the given status.
pub fn json_response<T: Serialize>(status: u16, body: &T) -> Response<Body> {
    match serde_json::to_vec(body) {
        Ok(bytes) => raw_json(status, bytes),
        Err(e) => {
            tracing::error!(error = %e, "response serialisation failed");
            raw_json(500, br#"{"error":{"code":"INTERNAL","message":"internal error"}}"#.to_vec())
        }
    }
}

pub(crate) fn raw_json(status: u16, bytes: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Body::Binary(bytes));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    resp
}

/// Turns a handler's result into the response, rendering an error with the request id.
pub fn finish(request_id: &str, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    match result {
        Ok(resp) => resp,
        Err(err) => err.into_response(request_id),
    }
}
