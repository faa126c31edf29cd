//! JSON responses.

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
