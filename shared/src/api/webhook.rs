//! `POST /webhooks/plaid`: Plaid's webhooks. No user auth; only a valid Plaid JWT gets in.

use super::error::webhook_not_handled;
use super::request::body_bytes;
use super::request::deadline;
use super::views::WebhookHandled;
use super::{ApiError, App, json_response, respond};
use crate::services::webhook::intake_within;
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    respond(&req, route(app, &req)).await
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    if req.method() != http::Method::POST {
        return Err(ApiError::not_found("webhooks are POSTed"));
    }
    let header = req.headers().get("plaid-verification").and_then(|v| v.to_str().ok());
    let verified = app.webhooks.verify(header, body_bytes(req)).await?;
    let handled = intake_within(&app.services, &verified, deadline(req)).await.map_err(|e| webhook_not_handled(&e))?;
    Ok(json_response(200, &WebhookHandled { handled }))
}
