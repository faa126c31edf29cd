//! The item APIs: `GET /items`, `GET /items/{item_id}/transactions`, `DELETE /items/{item_id}`,
//! `POST /link/events`, `GET /institutions/{institution_id}/health`, and for operators `GET /link/conversion`.

use super::request::{json_body, path_segments, query_param};
use super::views::{ItemEnvelope, ItemList, ItemSummary, Recorded, Removed, TransactionPage};
use super::{ApiError, App, authenticate_operator, json_response, no_route, respond, verify, with_activity};
use crate::domain::{InstitutionId, ItemId, LinkEventKind, LinkSessionId};
use crate::ports::{Actor, AuditAction, AuditOutcome};
use crate::services::link_events::{self, LinkEvent};
use crate::services::{audit, institutions, items};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    respond(&req, route(app, &req)).await
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let segs = path_segments(req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = req.method().as_str();
    if super::users::serves(method, &segs) {
        return super::users::route(app, req, &segs).await;
    }
    if let Some(answer) = super::operator::route(app, req, method, &segs).await {
        return answer;
    }
    if !matches!(
        (method, segs.as_slice()),
        ("GET", ["items"])
            | ("GET", ["items", _, "transactions"])
            | ("DELETE", ["items", _])
            | ("POST", ["items", _, "balances", "refresh"])
            | ("POST", ["link", "events"])
            | ("GET", ["link", "conversion"])
            | ("GET", ["institutions", _, "health"])
    ) {
        return Err(no_route(req));
    }
    let services = &app.services;
    if let ("GET", ["link", "conversion"]) = (method, segs.as_slice()) {
        let operator = authenticate_operator(app, req).await?;
        let today = services.now().date();
        let date = |name: &str, default: time::Date| -> Result<time::Date, ApiError> {
            match query_param(req, name) {
                None => Ok(default),
                Some(s) => time::Date::parse(&s, time::macros::format_description!("[year]-[month]-[day]"))
                    .map_err(|_| ApiError::invalid(format!("{name} must be a date YYYY-MM-DD"))),
            }
        };
        let from = date("from", today - time::Duration::days(30))?;
        let to = date("to", today)?;
        let report = link_events::conversion_report(services, from, to).await?;
        let actor = Actor::operator(&services.pseudonyms, &operator.user);
        audit::record(services, actor, AuditAction::ReportRead, AuditOutcome::Done, None, Some("link_conversion"))
            .await;
        return Ok(json_response(200, &report));
    }
    let user = verify(app, req).await?.user;
    with_activity(app, &user, user_route(app, req, method, &segs, &user)).await
}

/// The user's own routes (their activity is recorded alongside).
async fn user_route(
    app: &App,
    req: &Request,
    method: &str,
    segs: &[&str],
    user: &crate::domain::UserId,
) -> Result<Response<Body>, ApiError> {
    let services = &app.services;
    match (method, segs) {
        ("GET", ["items"]) => {
            let list = items::list(services, user).await?;
            let list: Vec<ItemSummary> = list.iter().map(ItemSummary::from).collect();
            Ok(json_response(200, &ItemList { items: list }))
        }
        ("GET", ["items", item_id, "transactions"]) => {
            let limit = match query_param(req, "limit") {
                Some(l) => l.parse::<u32>().map_err(|_| ApiError::invalid("limit must be a number"))?,
                None => items::DEFAULT_PAGE,
            };
            let cursor = query_param(req, "cursor");
            let page = items::transactions(services, user, &item_path(item_id)?, cursor.as_deref(), limit).await?;
            Ok(json_response(200, &TransactionPage { transactions: page.transactions, next_cursor: page.next_cursor }))
        }
        ("POST", ["items", item_id, "balances", "refresh"]) => {
            let item = items::refresh_balances(services, user, &item_path(item_id)?).await?;
            Ok(json_response(200, &ItemEnvelope { item: ItemSummary::from(&item) }))
        }
        ("DELETE", ["items", item_id]) => {
            items::remove(services, user, &item_path(item_id)?).await?;
            Ok(json_response(200, &Removed { removed: (*item_id).to_owned() }))
        }
        ("POST", ["link", "events"]) => {
            let body: LinkEventsBody = json_body(req)?;
            let events = parse_events(body.events)?;
            let recorded = link_events::record(services, user, events).await?;
            Ok(json_response(200, &Recorded { recorded }))
        }
        ("GET", ["institutions", id, "health"]) => {
            let id = InstitutionId::parse(*id).map_err(|e| ApiError::invalid(e.to_string()))?;
            let health = institutions::health(services, &id).await?;
            Ok(json_response(200, &health))
        }
        _ => Err(no_route(req)),
    }
}

/// An item id from the path: one that cannot be an item id is no item of the caller's (404, as for other
/// users' items: no existence leak).
fn item_path(raw: &str) -> Result<ItemId, ApiError> {
    ItemId::parse(raw).map_err(|_| ApiError::not_found("no such item"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkEventsBody {
    events: Vec<LinkEventBody>,
}

/// A Link callback the app forwards: `onEvent`, `onExit` or `onSuccess`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkEventBody {
    /// `EVENT` (onEvent), `EXIT` (onExit) or `SUCCESS` (onSuccess).
    kind: String,
    /// onEvent's eventName (OPEN, SELECT_INSTITUTION, SUBMIT_CREDENTIALS, HANDOFF, ERROR, EXIT, …).
    event_name: Option<String>,
    link_session_id: String,
    /// The link token the session ran with (lets an update-mode success repair its item).
    link_token: Option<String>,
    request_id: Option<String>,
    institution_id: Option<String>,
    institution_name: Option<String>,
    error_type: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    exit_status: Option<String>,
    view_name: Option<String>,
    /// When Link emitted it (RFC 3339).
    timestamp: Option<String>,
}

/// Every event parsed before any is acted on: a batch with one bad event changes nothing.
fn parse_events(events: Vec<LinkEventBody>) -> Result<Vec<LinkEvent>, ApiError> {
    if events.is_empty() || events.len() > link_events::MAX_EVENTS {
        return Err(ApiError::invalid(format!("events must hold 1 to {} events", link_events::MAX_EVENTS)));
    }
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let kind = match e.kind.as_str() {
                "EVENT" => LinkEventKind::Event,
                "EXIT" => LinkEventKind::Exit,
                "SUCCESS" => LinkEventKind::Success,
                _ => return Err(ApiError::invalid(format!("events[{i}].kind must be one of EVENT, EXIT, SUCCESS"))),
            };
            if kind == LinkEventKind::Event && e.event_name.is_none() {
                return Err(ApiError::invalid(format!("events[{i}].event_name is required for EVENT")));
            }
            let link_session_id = LinkSessionId::parse(e.link_session_id)
                .map_err(|err| ApiError::invalid(format!("events[{i}].link_session_id {}", err.reason)))?;
            let client_timestamp = match &e.timestamp {
                Some(t) => Some(
                    OffsetDateTime::parse(t, &Rfc3339)
                        .map_err(|_| ApiError::invalid(format!("events[{i}].timestamp must be RFC 3339")))?,
                ),
                None => None,
            };
            Ok(LinkEvent {
                kind,
                event_name: e.event_name,
                link_session_id,
                link_token: e.link_token,
                request_id: e.request_id,
                institution_id: e.institution_id,
                institution_name: e.institution_name,
                error_type: e.error_type,
                error_code: e.error_code,
                error_message: e.error_message,
                exit_status: e.exit_status,
                view_name: e.view_name,
                client_timestamp,
            })
        })
        .collect()
}
