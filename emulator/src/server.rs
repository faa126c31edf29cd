//! The HTTP surface: Plaid's API at the root (one pipeline for every endpoint), the control API
//! under `/__emulator/`, and Plaid-shaped errors for everything else (unknown paths, wrong
//! methods, unreadable bodies), so no answer ever has a non-Plaid shape.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::api::{self, Endpoint, Reply};
use crate::app::App;
use crate::faults::FaultAction;
use crate::http::read_body;
use crate::ids;
use crate::wire::{self, PlaidError, json_response};

/// The emulator's router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .merge(crate::control::routes())
        .merge(crate::link::routes())
        .fallback(api_entry)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

async fn method_not_allowed() -> Response {
    PlaidError::new(wire::ErrorType::InvalidRequest, "NOT_FOUND", "method not allowed for this path")
        .with_status(405)
        .into_response_with(&ids::request_id())
}

async fn api_entry(State(app): State<Arc<App>>, req: Request) -> Response {
    let request_id = ids::request_id();
    match api_pipeline(&app, req, &request_id).await {
        Ok(resp) => resp,
        Err(e) => e.into_response_with(&request_id),
    }
}

fn body_not_json() -> PlaidError {
    PlaidError::invalid_body("body could not be parsed as JSON")
}

/// Parses a request body that must be a JSON object.
fn parse_object(bytes: &[u8]) -> Result<Value, PlaidError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| body_not_json())?;
    if value.is_object() { Ok(value) } else { Err(body_not_json()) }
}

/// Plaid's documented causes: a missing header (typically Content-Type) is INVALID_HEADERS; a content type
/// that is not JSON is INVALID_BODY ("body could not be parsed as JSON").
fn check_content_type(headers: &HeaderMap) -> Result<(), PlaidError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Err(PlaidError::invalid_headers("the following required headers are missing: Content-Type"));
    };
    let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
    let mime = ct.split(';').next().unwrap_or_default().trim();
    if mime == "application/json" || mime.ends_with("+json") { Ok(()) } else { Err(body_not_json()) }
}

/// Credentials from headers (`PLAID-CLIENT-ID`, `PLAID-SECRET`, any case) or body.
fn check_credentials(app: &App, headers: &HeaderMap, body: &Value) -> Result<(), PlaidError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    let client_ok =
        [header("plaid-client-id"), field("client_id")].into_iter().flatten().any(|c| c == app.config.client_id);
    let secret_ok = [header("plaid-secret"), field("secret")].into_iter().flatten().any(|s| s == app.config.secret);
    if client_ok && secret_ok { Ok(()) } else { Err(PlaidError::invalid_api_keys()) }
}

async fn api_pipeline(app: &Arc<App>, req: Request, request_id: &str) -> Result<Response, PlaidError> {
    let (parts, body) = req.into_parts();
    let Some(endpoint) = Endpoint::from_path(parts.uri.path()) else {
        return Err(PlaidError::not_found());
    };
    if parts.method != Method::POST {
        return Err(PlaidError::not_found());
    }
    let path = endpoint.path();
    app.count_call(path);
    check_content_type(&parts.headers)?;
    let bytes = read_body(&parts.headers, body, app.config.max_body_bytes).await?;
    let body = parse_object(&bytes)?;
    check_credentials(app, &parts.headers, &body)?;

    let token = body.get("access_token").and_then(Value::as_str);
    let item_id = token.and_then(|t| app.lock_state().item_id_for_token(t).ok());
    if let Some(id) = &item_id {
        app.count_item_call(path, id);
    }
    // A public token's exchange counts for the Item it was made for (how many times one Item was exchanged).
    if let Some(public) = body.get("public_token").and_then(Value::as_str) {
        let made_for = app.lock_state().public_tokens.get(public).map(|p| p.item_id.clone());
        if let Some(id) = made_for {
            app.count_item_call(path, &id);
        }
    }
    if let Some(institution) = body.get("institution_id").and_then(Value::as_str) {
        app.count_institution_call(path, institution);
    }
    let fault = app.lock_faults().take(path, token, item_id.as_deref());
    let late = match fault {
        Some(FaultAction::Fail(e)) => return Err(e),
        Some(FaultAction::Stall(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        Some(FaultAction::Late(d)) => Some(d),
        None => None,
    };
    let schema = wire::schema_for(path).ok_or_else(PlaidError::internal)?;
    wire::validate(schema, &body)?;
    let now_ms = i64::try_from(app.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    app.lock_limiter().check(path, item_id.as_deref(), now_ms)?;

    let reply = api::handle(app, endpoint, &body, request_id).await;
    if let Some(d) = late {
        // Acted (or refused) already; a client that hangs up now changes nothing.
        tokio::time::sleep(d).await;
    }
    match reply? {
        Reply::Json(mut v) => {
            if let Some(obj) = v.as_object_mut() {
                obj.insert("request_id".into(), Value::String(request_id.to_owned()));
            }
            Ok(json_response(StatusCode::OK, &v))
        }
        Reply::Raw(bytes) => {
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], bytes).into_response())
        }
    }
}
