//! Operator actions on the items function (operators only: [`super::authenticate_operator`]; users get 403):
//!
//! - `POST /operator/items/{item_id}/rotate-token`: rotates one item's access token; 200
//!   `{"rotated": item_id}`.
//! - `POST /operator/token-rotations`, body optional (`{"run_id": "...", "per_minute": n}`): rotates every
//!   item's access token, or continues the run `run_id`; 200 `{"status": "complete", "run_id", "rotated",
//!   "skipped", "failed", "failed_items"}` when done, else 202 with `"status": "in_progress"` and the same
//!   counts: call again with the run id.
//!
//! A call stops starting new items well before API Gateway's 30 s integration timeout (and the function's
//! own deadline); see [`crate::services::rotation`].

use super::request::{body_bytes, json_body};
use super::views::Rotated;
use super::{ApiError, App, authenticate_operator, json_response};
use crate::domain::ItemId;
use crate::services::rotation::{self, RotateAllOptions, RunStatus};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use std::time::{Duration, SystemTime};

/// The longest a call of `POST /operator/token-rotations` keeps starting new items.
const CALL_BUDGET: Duration = Duration::from_secs(15);
/// Kept in reserve before the function's deadline (an item started just before the stop must finish).
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);
/// The fastest pace a caller may ask for.
const MAX_PER_MINUTE: u32 = 1000;

/// Serves the operator routes; `None` for any other path (the caller answers it).
pub(super) async fn route(
    app: &App,
    req: &Request,
    method: &str,
    segs: &[&str],
) -> Option<Result<Response<Body>, ApiError>> {
    match (method, segs) {
        ("POST", ["operator", "items", item_id, "rotate-token"]) => Some(rotate_one(app, req, item_id).await),
        ("POST", ["operator", "token-rotations"]) => Some(rotate_all(app, req).await),
        _ => None,
    }
}

async fn rotate_one(app: &App, req: &Request, item_id: &str) -> Result<Response<Body>, ApiError> {
    let operator = authenticate_operator(app, req).await?;
    let item_id = ItemId::parse(item_id).map_err(|_| ApiError::not_found("no such item"))?;
    rotation::rotate_item(&app.services, &operator.user, &item_id).await?;
    Ok(json_response(200, &Rotated { rotated: item_id.as_str().to_owned() }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateAllBody {
    run_id: Option<String>,
    per_minute: Option<u32>,
}

async fn rotate_all(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let operator = authenticate_operator(app, req).await?;
    let body: RotateAllBody =
        if body_bytes(req).iter().all(u8::is_ascii_whitespace) { RotateAllBody::default() } else { json_body(req)? };
    let mut options = RotateAllOptions::default();
    if let Some(per_minute) = body.per_minute {
        if !(1..=MAX_PER_MINUTE).contains(&per_minute) {
            return Err(ApiError::invalid(format!("per_minute must be between 1 and {MAX_PER_MINUTE}")));
        }
        options.per_minute = per_minute;
    }
    let remaining = req
        .lambda_context_ref()
        .and_then(|c| c.deadline().duration_since(SystemTime::now()).ok())
        .filter(|left| !left.is_zero());
    let budget = match remaining {
        Some(left) => left.saturating_sub(DEADLINE_MARGIN).min(CALL_BUDGET),
        None => CALL_BUDGET,
    };
    let deadline = tokio::time::Instant::now() + budget;
    let summary =
        rotation::rotate_all(&app.services, &operator.user, body.run_id.as_deref(), deadline, options).await?;
    let status = match summary.status {
        RunStatus::Complete => 200,
        RunStatus::InProgress => 202,
    };
    Ok(json_response(status, &summary))
}
