//! The HTTP handlers of the app-facing functions and the webhook: each turns an API Gateway request into a
//! service call and the result into a response. The function binaries only wire them to the runtime.

pub mod exchange;
pub mod items;
pub mod link_token;
pub mod webhook;

use crate::domain::UserId;
use crate::http::{ApiError, ErrorCode, bearer_token};
use crate::services::App;
use lambda_http::Request;

/// The verified caller. The deployed API Gateway authorizer checks the token too, but the function never
/// trusts an identity it has not verified itself.
pub async fn authenticate(app: &App, req: &Request) -> Result<UserId, ApiError> {
    let token =
        bearer_token(req).ok_or_else(|| ApiError::unauthenticated("an Authorization: Bearer token is required"))?;
    let user = app.authenticate(token).await.map_err(|e| {
        if e.is_retryable() {
            // The issuer's keys could not be fetched: the token was not checked, not found bad.
            tracing::error!(reason = e.reason(), "bearer token could not be checked");
            return ApiError::new(ErrorCode::UpstreamUnavailable, "the identity provider is unavailable; retry");
        }
        tracing::info!(reason = e.reason(), "bearer token refused");
        ApiError::unauthenticated("the bearer token is not valid")
    })?;
    // Last activity feeds the churn remover; failing to record it must not fail the request.
    if let Err(e) = app.store.touch_user(&user, app.now()).await {
        tracing::warn!(error = %e, "could not record user activity");
    }
    Ok(user)
}

/// 405 / 404 for paths and methods a function does not serve.
pub fn no_route(req: &Request) -> ApiError {
    ApiError::not_found(format!("no route for {} {}", req.method(), req.uri().path()))
}
