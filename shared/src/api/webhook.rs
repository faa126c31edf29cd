//! `POST /webhooks/plaid`: Plaid's webhooks. No user auth; only a valid Plaid JWT gets in.

use crate::http::request::body_bytes;
use crate::http::{ApiError, ErrorCode, finish, json_response, request_id};
use crate::services::App;
use crate::services::webhook::{IntakeError, intake};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let rid = request_id(&req);
    if req.method() != http::Method::POST {
        return finish(&rid, Err(ApiError::not_found("webhooks are POSTed")));
    }
    let header = req.headers().get("plaid-verification").and_then(|v| v.to_str().ok());
    let result = match intake(app, header, body_bytes(&req)).await {
        Ok(handled) => Ok(json_response(200, &serde_json::json!({ "handled": handled }))),
        Err(IntakeError::Refused(e)) => {
            tracing::warn!(event = "webhook_rejected", reason = e.reason(), "webhook refused");
            Err(ApiError::new(ErrorCode::Unauthenticated, "webhook verification failed"))
        }
        Err(IntakeError::Retry(e)) => {
            tracing::error!(event = "webhook_retry", error = %e, "webhook not processed; Plaid will retry");
            Err(ApiError::new(ErrorCode::UpstreamUnavailable, "webhook not processed; retry"))
        }
    };
    finish(&rid, result)
}
