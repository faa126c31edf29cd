//! The edge: each function's handler turns its event (an API Gateway request, an SQS batch, a scheduled
//! invocation) into a service call, and the result into its answer. Requests are parsed here into the
//! services' commands (parse, don't validate); errors become HTTP in one place ([`error`]).
//!
//! | module | function | routes / event |
//! |---|---|---|
//! | [`link_token`] | `link-token` | `POST /link/token`, `GET /link/token/resume` |
//! | [`exchange`] | `exchange` | `POST /items/exchange` |
//! | [`items`] | `items` | `GET /items`, `GET /items/{id}/transactions`, `DELETE /items/{id}`, `POST /link/events`, `GET /link/conversion`, `GET /institutions/{id}/health`; [`users`]: `DELETE /users/me`, `DELETE /users/{id}` |
//! | `operator` (on `items`) | `items` | operators only: `POST /operator/items/{id}/rotate-token`, `POST /operator/token-rotations` |
//! | [`webhook`] | `webhook` | `POST /webhooks/plaid` |
//! | [`sync_worker`] | `sync-worker` | SQS batches of sync requests |
//! | [`churn_remover`] | `churn-remover` | the monthly schedule, or a hand-made `ChurnInput` |
//! | [`sweep`] | `sweep` | the daily schedule, or a hand-made `SweepInput` |
//! | [`events`] | `events` | every 5 minutes `{"task":"drain"}` (the outbox), daily `{"task":"remind"}` (reminders) |

pub mod churn_remover;
pub mod error;
pub mod events;
pub mod exchange;
pub mod items;
pub mod link_token;
pub mod openapi;
mod operator;
mod request;
mod response;
pub mod sweep;
pub mod sync_worker;
pub mod users;
mod views;
pub mod webhook;

pub use error::{ApiError, ErrorCode};
pub use response::json_response;

use crate::auth::{AuthVerifier, Caller, WebhookVerifier};
use crate::domain::UserId;
use crate::services::Services;
use lambda_http::{Body, Request, Response};
use request::bearer_token;

/// What a function's handler runs against: the services, and the checks of who is calling.
pub struct App {
    pub services: Services,
    /// The app users' bearer tokens.
    pub users: AuthVerifier,
    /// Plaid's webhook signatures.
    pub webhooks: WebhookVerifier,
}

/// The verified caller, with their activity recorded first. The deployed API Gateway authorizer checks the
/// token too, but the function never trusts an identity it has not verified itself.
async fn authenticate(app: &App, req: &Request) -> Result<Caller, ApiError> {
    let caller = verify(app, req).await?;
    record_activity(app, &caller.user).await;
    Ok(caller)
}

/// The verified caller, no activity recorded: for routes that record it alongside their work
/// ([`with_activity`]).
async fn verify(app: &App, req: &Request) -> Result<Caller, ApiError> {
    let token =
        bearer_token(req).ok_or_else(|| ApiError::unauthenticated("an Authorization: Bearer token is required"))?;
    Ok(app.users.verify_caller(token).await?)
}

/// Last activity feeds the churn remover (a write at most once per user per container every 15 minutes);
/// failing to record it must not fail the request.
async fn record_activity(app: &App, user: &UserId) {
    if let Err(e) = app.services.store.touch_user(user, app.services.now()).await {
        tracing::warn!(error = %crate::telemetry::chain(&e), "could not record user activity");
    }
}

/// `work` with the user's activity recorded at the same time: the activity write is off the request's critical
/// path, and both are done before the answer (Lambda may freeze the container once it is sent). Not for routes
/// that delete the user's records (erasure): there the write must come first, or it could outlive them.
async fn with_activity<T>(app: &App, user: &UserId, work: impl Future<Output = T>) -> T {
    let ((), out) = tokio::join!(record_activity(app, user), work);
    out
}

/// The caller, who must be an operator (operator routes: reports across users, actions on others' data).
async fn authenticate_operator(app: &App, req: &Request) -> Result<Caller, ApiError> {
    let caller = authenticate(app, req).await?;
    if !caller.operator {
        return Err(ApiError::new(ErrorCode::Forbidden, "this route is for operators"));
    }
    Ok(caller)
}

/// 404 for paths and methods a function does not serve.
fn no_route(req: &Request) -> ApiError {
    ApiError::not_found(format!("no route for {} {}", req.method(), req.uri().path()))
}

/// Runs a route, rendering its error with the request's id.
async fn respond<F>(req: &Request, route: F) -> Response<Body>
where
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    let rid = request::request_id(req);
    // Every request answers before its invocation's deadline, with a JSON error if its work is not done:
    // never cut off by Lambda half-way with no answer. What a route bounds itself (the exchange's own
    // deadline, compensation included) ends first: this is the last resort, a moment later.
    let budget = request::deadline(req).remaining() + LAST_RESORT_GRACE;
    match tokio::time::timeout(budget, route).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(err)) => err.into_response(&rid),
        Err(_elapsed) => {
            tracing::error!(
                event = "request_deadline",
                budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
                "the request's work was not done by its deadline; answered 503"
            );
            ApiError::new(ErrorCode::TimedOut, "the request could not be completed in time; retry").into_response(&rid)
        }
    }
}

/// How long after a route's own deadline the last-resort answer comes (still before Lambda's deadline, which
/// is [`crate::services::Deadline::ANSWER_MARGIN`] later).
const LAST_RESORT_GRACE: std::time::Duration = std::time::Duration::from_millis(250);
