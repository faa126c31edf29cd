//! Reading what the client sent.

use super::error::ApiError;
use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;

/// Largest JSON body an app-facing route accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The id of this invocation (the Lambda request id), echoed in every error body.
pub fn request_id(req: &Request) -> String {
    req.lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The time this request has: the invocation's deadline less a margin to answer.
pub fn deadline(req: &Request) -> crate::services::Deadline {
    crate::services::Deadline::of_invocation(req.lambda_context_ref().map(|c| c.deadline()))
}

/// The bearer token of the `Authorization` header, if any.
pub fn bearer_token(req: &Request) -> Option<&str> {
    let value = req.headers().get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The raw body bytes.
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => b"",
        Body::Text(s) => s.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    }
}

/// Whether the request says its body is JSON: `application/json` or `application/<something>+json`, with
/// any parameters (`; charset=utf-8`).
fn declares_json(req: &Request) -> bool {
    let Some(value) = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses the JSON body, an object, into `T`; unknown fields are refused by `T`'s own serde attributes. A body the
/// request does not declare as JSON is refused (415) before it is read.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    if !declares_json(req) {
        return Err(ApiError::new(
            super::ErrorCode::UnsupportedMediaType,
            "the body must be JSON, sent with Content-Type: application/json",
        ));
    }
    let bytes = body_bytes(req);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::invalid(format!("body is larger than {MAX_BODY_BYTES} bytes")));
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(ApiError::invalid("a JSON body is required")),
        // Every body is an object: serde would otherwise take a struct from an array of its fields in order.
        Some(b'{') => {}
        Some(_) => return Err(ApiError::invalid("the JSON body must be an object")),
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

/// The path's segments, without the API Gateway stage or the local `/lambda-url/<function>` prefix, so
/// routing works the same deployed and local.
pub fn path_segments(req: &Request) -> Vec<String> {
    let path = req.raw_http_path();
    let path = if path.is_empty() { req.uri().path() } else { path };
    let mut segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    if segs.first().map(String::as_str) == Some("lambda-url") && segs.len() >= 2 {
        segs.drain(..2);
    }
    segs
}

/// A query string parameter.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_owned)
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}
