//! The app API's OpenAPI 3.1 document, derived from the code: request bodies are the handlers' own body
//! types, answers their view types ([`super::views`] and the services' reports), error statuses and codes
//! [`ErrorCode`]'s own. `docs/openapi.json` is this document, committed; a test fails when they differ
//! (regenerate with `cargo run -p weft --example openapi > docs/openapi.json`), and another checks its
//! routes against the HTTP API's routes in `infra/template.yaml`.
//!
//! The functions below only carry each operation's description: the routes themselves are served by the
//! handlers of [`super::link_token`], [`super::exchange`], [`super::items`], [`super::users`],
//! `operator` and [`super::webhook`].

#![allow(dead_code, clippy::missing_const_for_fn)]

use super::error::ErrorCode;
use super::exchange::{ExchangeBody, LinkAccount, LinkInstitution, LinkSuccessMetadata};
use super::items::{LinkEventBody, LinkEventsBody};
use super::link_token::LinkTokenBody;
use super::operator::RotateAllBody;
use super::views::{
    ErasureStatus, ItemEnvelope, ItemList, ItemSummary, Recorded, Removed, Rotated, TransactionPage,
    TransactionsProgress, WebhookHandled,
};
use crate::services::institutions::InstitutionHealth;
use crate::services::link::LinkTokenCreated;
use crate::services::link_events::{ConversionReport, Funnel};
use crate::services::rotation::RotationSummary;
use std::collections::BTreeMap;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// Every error's body.
#[derive(Debug, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// `{"code", "message", "request_id"}`, plus detail fields some errors add (a duplicate's `item_id`, Plaid's
/// `plaid_error_code`, ...).
#[derive(Debug, ToSchema)]
pub struct ErrorDetail {
    /// A stable code to switch on (see each response's description for the codes it may carry).
    pub code: String,
    /// What went wrong, for people (safe to show; never an internal detail).
    pub message: String,
    /// The request's id (give it when reporting a problem).
    pub request_id: String,
}

/// Every error code, for the error responses' descriptions.
const ALL_CODES: [ErrorCode; 17] = [
    ErrorCode::InvalidRequest,
    ErrorCode::Unauthenticated,
    ErrorCode::Forbidden,
    ErrorCode::NotFound,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::DuplicateItem,
    ErrorCode::Conflict,
    ErrorCode::InvalidPublicToken,
    ErrorCode::ItemError,
    ErrorCode::RateLimited,
    ErrorCode::UpstreamUnavailable,
    ErrorCode::StorageUnavailable,
    ErrorCode::TimedOut,
    ErrorCode::ExchangeInProgress,
    ErrorCode::ExchangeOutcomeUnknown,
    ErrorCode::ExchangeUndone,
    ErrorCode::Internal,
];

/// Does not compile when [`ErrorCode`] gains a variant: list it in [`ALL_CODES`] too.
const fn all_codes_listed(code: ErrorCode) {
    match code {
        ErrorCode::InvalidRequest
        | ErrorCode::Unauthenticated
        | ErrorCode::Forbidden
        | ErrorCode::NotFound
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::DuplicateItem
        | ErrorCode::Conflict
        | ErrorCode::InvalidPublicToken
        | ErrorCode::ItemError
        | ErrorCode::RateLimited
        | ErrorCode::UpstreamUnavailable
        | ErrorCode::StorageUnavailable
        | ErrorCode::TimedOut
        | ErrorCode::ExchangeInProgress
        | ErrorCode::ExchangeOutcomeUnknown
        | ErrorCode::ExchangeUndone
        | ErrorCode::Internal => {}
    }
}

/// The error responses for `statuses`, each described with the codes [`ErrorCode`] answers it with.
fn error_responses(statuses: &[u16], codes: &[ErrorCode]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|&status| {
            let mut names: Vec<&str> = codes.iter().filter(|c| c.status() == status).map(|c| c.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            let mut description = format!("Error: {}", names.join(", "));
            if status == 429 {
                description.push_str(" (the `Retry-After` header says when to try again)");
            }
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// The codes any app route may answer: bad input, no or bad token, no such thing, a body not sent as JSON,
/// a limit, and our or Plaid's faults.
const APP_STATUSES: [u16; 8] = [400, 401, 404, 415, 429, 500, 502, 503];
const APP_CODES: [ErrorCode; 12] = [
    ErrorCode::InvalidRequest,
    ErrorCode::ItemError,
    ErrorCode::Unauthenticated,
    ErrorCode::NotFound,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::RateLimited,
    ErrorCode::Internal,
    ErrorCode::UpstreamUnavailable,
    ErrorCode::StorageUnavailable,
    ErrorCode::TimedOut,
    ErrorCode::Conflict,
    ErrorCode::InvalidPublicToken,
];

/// Errors of the user routes.
pub struct AppErrors;
impl IntoResponses for AppErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut codes = APP_CODES.to_vec();
        codes.retain(|c| *c != ErrorCode::InvalidPublicToken && *c != ErrorCode::Conflict);
        error_responses(&APP_STATUSES, &codes)
    }
}

/// Errors of the operator routes: an ordinary user's token gets 403.
pub struct OperatorErrors;
impl IntoResponses for OperatorErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut codes = APP_CODES.to_vec();
        codes.retain(|c| *c != ErrorCode::InvalidPublicToken && *c != ErrorCode::Conflict);
        codes.push(ErrorCode::Forbidden);
        let mut statuses = APP_STATUSES.to_vec();
        statuses.push(403);
        statuses.sort_unstable();
        error_responses(&statuses, &codes)
    }
}

/// Errors of the exchange: besides the app's, a duplicate item or an exchange of the same token in flight
/// (409) and the exchange's own outcomes.
pub struct ExchangeErrors;
impl IntoResponses for ExchangeErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut statuses = APP_STATUSES.to_vec();
        statuses.push(409);
        statuses.sort_unstable();
        error_responses(
            &statuses,
            &ALL_CODES.iter().copied().filter(|c| *c != ErrorCode::Forbidden).collect::<Vec<_>>(),
        )
    }
}

/// Errors of Plaid's webhook route: a forgery (401), a malformed delivery (400), and a delivery weft could
/// not check or act on now (5xx: Plaid delivers it again).
pub struct WebhookErrors;
impl IntoResponses for WebhookErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(
            &[400, 401, 404, 500, 502, 503],
            &[
                ErrorCode::InvalidRequest,
                ErrorCode::Unauthenticated,
                ErrorCode::NotFound,
                ErrorCode::Internal,
                ErrorCode::UpstreamUnavailable,
                ErrorCode::StorageUnavailable,
                ErrorCode::TimedOut,
            ],
        )
    }
}

/// The bearer scheme: a JWT from the app's identity provider (issuer and audience set at deployment).
struct BearerAuth;
impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An ID or access token from the app's OpenID Connect provider (issuer and audience set \
                         at deployment). Operator routes need the operator group in the configured claim \
                         (default `cognito:groups` holding `weft-operators`).",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "weft",
        description = "weft's app API: Plaid Link tokens, item exchange, items and their transactions, Link \
                       analytics, erasure, and operator actions. Every route but Plaid's webhook takes a bearer \
                       token; a user reaches only their own data. Errors have one shape: \
                       `{\"error\": {\"code\", \"message\", \"request_id\"}}`.",
        license(name = "Apache-2.0")
    ),
    paths(
        link_token_create,
        link_token_resume,
        items_exchange,
        items_list,
        item_remove,
        item_balances_refresh,
        item_transactions,
        link_events,
        link_conversion,
        institution_health,
        erase_me,
        erase_user,
        rotate_item_token,
        rotate_all_tokens,
        plaid_webhook,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        LinkTokenBody,
        LinkTokenCreated,
        ExchangeBody,
        LinkSuccessMetadata,
        LinkInstitution,
        LinkAccount,
        ItemSummary,
        TransactionsProgress,
        ItemList,
        ItemEnvelope,
        TransactionPage,
        Removed,
        LinkEventsBody,
        LinkEventBody,
        Recorded,
        ConversionReport,
        Funnel,
        InstitutionHealth,
        ErasureStatus,
        Rotated,
        RotateAllBody,
        RotationSummary,
        WebhookHandled,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "link", description = "Plaid Link: tokens, and the callbacks the app forwards"),
        (name = "items", description = "The caller's items, accounts and transactions"),
        (name = "users", description = "The right to erasure"),
        (name = "operators", description = "Operators only (the operator claim), never ordinary users"),
        (name = "plaid", description = "Called by Plaid, not by apps"),
    )
)]
pub struct ApiDoc;

/// The item events' `detail` (what an app's EventBridge rule delivers), for its JSON Schema.
#[derive(OpenApi)]
#[openapi(components(schemas(crate::ports::EventDetail)))]
struct EventsDoc;

/// The JSON Schema (2020-12) of an item event's `detail`, as committed in `docs/events.schema.json`: derived
/// from the type the functions publish ([`crate::ports::EventDetail`]).
pub fn events_schema() -> String {
    let components = serde_json::to_value(EventsDoc::openapi().components.unwrap_or_default()).unwrap_or_default();
    let defs = components.get("schemas").cloned().unwrap_or_default();
    let schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/weft/weft/docs/events.schema.json",
        "title": "weft item event detail",
        "description": "The `detail` of every event weft publishes on its EventBridge bus (source `weft`; `detail-type` is the event's `type`).",
        "$ref": "#/$defs/EventDetail",
        "$defs": defs,
    });
    let mut json =
        serde_json::to_string_pretty(&schema).unwrap_or_default().replace("#/components/schemas/", "#/$defs/");
    json.push('\n');
    json
}

/// The document as committed in `docs/openapi.json` (pretty-printed, with a final newline).
pub fn document() -> String {
    let mut json = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

/// Create a Link token: a new link, or update mode for one of the caller's items (`item_id`).
#[utoipa::path(post, path = "/link/token", tag = "link",
    request_body(content = LinkTokenBody, description = "Every field is optional: `{}` links a new item with the deployment's products and countries"),
    responses((status = 200, description = "The link token for Plaid Link", body = LinkTokenCreated), AppErrors))]
fn link_token_create() {}

/// The caller's latest unexpired link token again, to re-initialise Link after an OAuth redirect.
#[utoipa::path(get, path = "/link/token/resume", tag = "link",
    responses((status = 200, description = "The link token to resume Link with", body = LinkTokenCreated), AppErrors))]
fn link_token_resume() {}

/// Exchange Link's public token: the item is confirmed with Plaid and stored (the access token never leaves
/// weft). Idempotent for the same public token.
#[utoipa::path(post, path = "/items/exchange", tag = "items", request_body = ExchangeBody,
    responses((status = 200, description = "The item as stored", body = ItemEnvelope), ExchangeErrors))]
fn items_exchange() {}

/// The caller's items, each with what the app should show (`action`).
#[utoipa::path(get, path = "/items", tag = "items",
    responses((status = 200, description = "The caller's items", body = ItemList), AppErrors))]
fn items_list() {}

/// Remove one of the caller's items: at Plaid, then every record of it here.
#[utoipa::path(delete, path = "/items/{item_id}", tag = "items",
    params(("item_id" = String, Path, description = "One of the caller's items")),
    responses((status = 200, description = "Removed", body = Removed), AppErrors))]
fn item_remove() {}

/// Real-time balances from Plaid (billed by Plaid: limited per user per day).
#[utoipa::path(post, path = "/items/{item_id}/balances/refresh", tag = "items",
    params(("item_id" = String, Path, description = "One of the caller's items")),
    responses((status = 200, description = "The item with fresh balances", body = ItemEnvelope), AppErrors))]
fn item_balances_refresh() {}

/// A page of an item's transactions, newest first.
#[utoipa::path(get, path = "/items/{item_id}/transactions", tag = "items",
    params(
        ("item_id" = String, Path, description = "One of the caller's items"),
        ("limit" = Option<u32>, Query, description = "Page size (default 100, at most 500)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, description = "A page", body = TransactionPage), AppErrors))]
fn item_transactions() {}

/// Forward Link's callbacks (`onEvent`, `onExit`, `onSuccess`): the conversion funnel, and a hint to act on
/// (an update-mode success is confirmed with Plaid before it changes anything).
#[utoipa::path(post, path = "/link/events", tag = "link", request_body = LinkEventsBody,
    responses((status = 200, description = "Recorded (a resent event counts once)", body = Recorded), AppErrors))]
fn link_events() {}

/// Operators: the Link funnel over a range of days (at most 92), per Link session: each unique
/// `link_session_id` counts once, whichever sources saw it (the app's `POST /link/events`, Plaid's LINK
/// webhooks, `/link/token/get` for sessions nothing closed). Conversion is Plaid's definition: sessions that
/// reached HANDOFF over sessions (EXIT never fires when a tab is closed, so exits are not required). By step
/// (reached, and where the others dropped off), by institution and by error code.
#[utoipa::path(get, path = "/link/conversion", tag = "operators",
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 30 days ago)"),
        ("to" = Option<String>, Query, description = "Last day, `YYYY-MM-DD` (default: today)"),
    ),
    responses((status = 200, description = "The funnel", body = ConversionReport), OperatorErrors))]
fn link_conversion() {}

/// An institution's health as Plaid reports it (cached for a few minutes).
#[utoipa::path(get, path = "/institutions/{institution_id}/health", tag = "items",
    params(("institution_id" = String, Path, description = "Plaid's institution id, e.g. `ins_109508`")),
    responses((status = 200, description = "The institution's health", body = InstitutionHealth), AppErrors))]
fn institution_health() {}

/// Erase the caller: every item removed at Plaid, every record and data key deleted. Resumable: on 202,
/// call again.
#[utoipa::path(delete, path = "/users/me", tag = "users",
    responses(
        (status = 200, description = "Erased", body = ErasureStatus),
        (status = 202, description = "In progress: call again", body = ErasureStatus),
        AppErrors
    ))]
fn erase_me() {}

/// Operators: erase another user.
#[utoipa::path(delete, path = "/users/{user_id}", tag = "operators",
    params(("user_id" = String, Path, description = "The user's id (the token subject)")),
    responses(
        (status = 200, description = "Erased", body = ErasureStatus),
        (status = 202, description = "In progress: call again", body = ErasureStatus),
        OperatorErrors
    ))]
fn erase_user() {}

/// Operators (incident response): rotate one item's access token.
#[utoipa::path(post, path = "/operator/items/{item_id}/rotate-token", tag = "operators",
    params(("item_id" = String, Path, description = "Any user's item")),
    responses((status = 200, description = "Rotated", body = Rotated), OperatorErrors))]
fn rotate_item_token() {}

/// Operators (incident response): rotate every item's access token, paced; on 202, call again with the
/// run id.
#[utoipa::path(post, path = "/operator/token-rotations", tag = "operators",
    request_body(content = Option<RotateAllBody>, description = "Optional: `{}` starts a run"),
    responses(
        (status = 200, description = "Complete", body = RotationSummary),
        (status = 202, description = "In progress: call again with `run_id`", body = RotationSummary),
        OperatorErrors
    ))]
fn rotate_all_tokens() {}

/// Plaid's webhooks. Only a delivery with a valid `Plaid-Verification` JWT (ES256, Plaid's key, body hash)
/// gets in; a 5xx makes Plaid deliver it again.
#[utoipa::path(post, path = "/webhooks/plaid", tag = "plaid", security(()),
    params(("Plaid-Verification" = String, Header, description = "Plaid's signed JWT over the body")),
    request_body(content = Object, description = "Plaid's webhook (`webhook_type`, `webhook_code`, `item_id`, ...)"),
    responses((status = 200, description = "Handled", body = WebhookHandled), WebhookErrors))]
fn plaid_webhook() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_route() {
        let doc: serde_json::Value = serde_json::from_str(&document()).expect("json");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")));
        assert_eq!(doc["paths"].as_object().map(|p| p.len()), Some(15));
        assert_eq!(doc["paths"]["/webhooks/plaid"]["post"]["security"], serde_json::json!([{}]));
        assert!(doc["paths"]["/link/conversion"]["get"]["responses"]["403"].is_object());
    }
}
