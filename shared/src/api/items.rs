//! The item APIs: `GET /items`, `GET /items/{item_id}/transactions`, `DELETE /items/{item_id}`,
//! `POST /link/events`, `GET /link/conversion`, `GET /institutions/{institution_id}/health`.

use super::{authenticate, no_route};
use crate::http::{ApiError, finish, json_body, json_response, path_segments, query_param, request_id};
use crate::services::{App, institutions, items};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let rid = request_id(&req);
    finish(&rid, route(app, &req).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkEventsBody {
    events: Vec<items::LinkEventIn>,
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let segs = path_segments(req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = req.method().as_str();
    if !matches!(
        (method, segs.as_slice()),
        ("GET", ["items"])
            | ("GET", ["items", _, "transactions"])
            | ("DELETE", ["items", _])
            | ("POST", ["link", "events"])
            | ("GET", ["link", "conversion"])
            | ("GET", ["institutions", _, "health"])
    ) {
        return Err(no_route(req));
    }
    let user = authenticate(app, req).await?;
    match (method, segs.as_slice()) {
        ("GET", ["items"]) => {
            let list = items::list(app, &user).await?;
            Ok(json_response(200, &serde_json::json!({ "items": list })))
        }
        ("GET", ["items", item_id, "transactions"]) => {
            let limit = match query_param(req, "limit") {
                Some(l) => Some(l.parse::<u32>().map_err(|_| ApiError::invalid("limit must be a number"))?),
                None => None,
            };
            let page = items::transactions(app, &user, item_id, query_param(req, "cursor"), limit).await?;
            Ok(json_response(200, &page))
        }
        ("DELETE", ["items", item_id]) => {
            items::remove(app, &user, item_id).await?;
            Ok(json_response(200, &serde_json::json!({ "removed": item_id })))
        }
        ("POST", ["link", "events"]) => {
            let body: LinkEventsBody = json_body(req)?;
            let recorded = items::record_link_events(app, &user, body.events).await?;
            Ok(json_response(200, &serde_json::json!({ "recorded": recorded })))
        }
        ("GET", ["link", "conversion"]) => {
            let today = app.now().date();
            let date = |name: &str, default: time::Date| -> Result<time::Date, ApiError> {
                match query_param(req, name) {
                    None => Ok(default),
                    Some(s) => time::Date::parse(&s, time::macros::format_description!("[year]-[month]-[day]"))
                        .map_err(|_| ApiError::invalid(format!("{name} must be a date YYYY-MM-DD"))),
                }
            };
            let from = date("from", today - time::Duration::days(30))?;
            let to = date("to", today)?;
            let report = items::conversion_report(app, from, to).await?;
            Ok(json_response(200, &report))
        }
        ("GET", ["institutions", id, "health"]) => {
            let health = institutions::health(app, id).await?;
            Ok(json_response(200, &health))
        }
        _ => Err(no_route(req)),
    }
}
