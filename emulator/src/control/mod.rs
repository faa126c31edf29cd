//! The control API: everything a test needs that Plaid's API does not offer (clock, faults, item
//! conditions, transaction changes, key rotation, delivery log, call counts, Link simulation).
//!
//! Two faces, same operations: [`Control`] for Rust code in the same process, and HTTP routes
//! under `/__emulator/` (documented in the crate's README) for everything else. Each concern has
//! a module holding both: its `impl Control` block and the route handlers that call it.

mod calls;
mod clock;
mod deliveries;
mod faults;
mod items;
mod keys;
mod link;
mod rate_limits;
mod transactions;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

pub use clock::AdvanceClock;
pub use items::{CreateItem, CreatedItem};
pub use keys::RotatedKey;
pub use link::{LinkEventsSetting, LinkStart, StartedLink};

use crate::app::App;
use crate::clock::rfc3339;
use crate::http::{form_field, parse_form, read_body};
use crate::wire::{ErrorType, PlaidError, json_response};

/// In-process handle on a running emulator's control operations.
#[derive(Clone, Debug)]
pub struct Control {
    app: Arc<App>,
}

impl Control {
    pub(crate) fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    /// The client id the emulator accepts.
    pub fn client_id(&self) -> &str {
        &self.app.config.client_id
    }

    /// The secret the emulator accepts.
    pub fn secret(&self) -> &str {
        &self.app.config.secret
    }

    /// Forgets every Item, token, delivery, fault and count (signing keys and clock stay).
    pub fn reset(&self) {
        {
            let mut state = self.app.lock_state();
            state.items.clear();
            state.access_tokens.clear();
            state.removed_items.clear();
            state.public_tokens.clear();
            state.link_tokens.clear();
            state.link_sessions.clear();
        }
        self.clear_deliveries();
        self.clear_faults();
        self.reset_call_counts();
        self.app.lock_limiter().reset();
        self.app.changed();
    }
}

// ---- HTTP routes ----------------------------------------------------------------------------

/// The control API's routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/__emulator/health", get(|| async { reply(Ok(json!({"ok": true}))) }))
        .route("/__emulator/state", get(state_summary))
        .route("/__emulator/reset", post(reset))
        .route("/__emulator/clock", get(clock::get))
        .route("/__emulator/clock/advance", post(clock::advance))
        .route("/__emulator/keys", get(keys::get))
        .route("/__emulator/keys/rotate", post(keys::rotate))
        .route("/__emulator/items", get(items::list).post(items::create))
        .route("/__emulator/items/{id}", get(items::get))
        .route("/__emulator/items/{id}/condition", post(items::condition))
        .route("/__emulator/items/{id}/reset_login", post(items::reset_login))
        .route("/__emulator/items/{id}/history_ready", post(items::history_ready))
        .route("/__emulator/items/{id}/webhooks/hold", post(items::hold_webhooks))
        .route("/__emulator/items/{id}/transactions", get(transactions::list).post(transactions::mutate))
        .route("/__emulator/items/{id}/transactions/fail_next_page", post(transactions::fail_next_page))
        .route("/__emulator/faults", get(faults::list).post(faults::add).delete(faults::clear))
        .route("/__emulator/webhooks", get(deliveries::list).delete(deliveries::clear))
        .route(
            "/__emulator/webhooks/config",
            get(deliveries::config_get).put(deliveries::config_set).post(deliveries::config_set),
        )
        .route("/__emulator/calls", get(calls::get).delete(calls::clear))
        .route("/__emulator/rate_limits", get(rate_limits::get).post(rate_limits::set))
        .route("/__emulator/link/complete", post(link::complete))
        .route("/__emulator/link/start", post(link::start))
        .route(
            "/__emulator/config/link_events",
            get(link::link_events_get).post(link::link_events_set).put(link::link_events_set),
        )
}

type Shared = State<Arc<App>>;

/// Answers with a JSON body or a Plaid-shaped error.
fn reply<T: Serialize>(result: Result<T, PlaidError>) -> Response {
    match result {
        Ok(v) => match serde_json::to_value(v) {
            Ok(v) => json_response(StatusCode::OK, &v),
            Err(_) => PlaidError::internal().into_response_with(&crate::ids::request_id()),
        },
        Err(e) => e.into_response_with(&crate::ids::request_id()),
    }
}

/// Parses a control request body (empty = `{}`).
async fn body_of<T: DeserializeOwned>(app: &App, headers: &HeaderMap, body: Body) -> Result<T, PlaidError> {
    let bytes = read_body(headers, body, app.config.max_body_bytes).await?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            PlaidError::invalid_field(e.to_string())
        } else {
            PlaidError::invalid_body("body could not be parsed as JSON")
        }
    })
}

/// A 404 for something the control API does not know.
fn not_found(what: &str) -> PlaidError {
    PlaidError::new(ErrorType::InvalidRequest, "NOT_FOUND", format!("{what} not found")).with_status(404)
}

/// A query parameter's value.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_field(&parse_form(query.unwrap_or_default()), name).map(str::to_owned)
}

fn control(app: &Arc<App>) -> Control {
    Control::new(Arc::clone(app))
}

async fn state_summary(State(app): Shared) -> Response {
    let c = control(&app);
    let (items, link_tokens, public_tokens) = {
        let s = app.lock_state();
        (s.items.len(), s.link_tokens.len(), s.public_tokens.len())
    };
    reply(Ok(json!({
        "now": rfc3339(c.now()),
        "clock_offset_seconds": app.clock.offset().whole_seconds(),
        "client_id": app.config.client_id,
        "seed": app.config.seed,
        "items": items,
        "link_tokens": link_tokens,
        "public_tokens": public_tokens,
        "keys": c.webhook_keys(),
        "deliveries": app.webhooks.logged(),
        "faults": c.faults(),
        "rate_limits": c.rate_limits(),
        "webhook_config": deliveries::config_json(&c.webhook_config()),
        "link_events": c.link_events(),
        "state_file": app.config.state_file.as_ref().map(|p| p.display().to_string()),
    })))
}

async fn reset(State(app): Shared) -> Response {
    control(&app).reset();
    reply(Ok(json!({"reset": true})))
}
