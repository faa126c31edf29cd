//! The right to erasure, on the `items` function: `DELETE /users/me` (the caller) and, for operators,
//! `DELETE /users/{user_id}`. 200 `{"status":"erased"}` when nothing of the user is left, 202
//! `{"status":"in_progress","items_left":n}` when the invocation's time ran short (call again to continue).

use super::views::ErasureStatus;
use super::{ApiError, App, authenticate, authenticate_operator, json_response};
use crate::domain::UserId;
use crate::ports::Actor;
use crate::services::erasure::{self, Erasure};
use lambda_http::{Body, Request, RequestExt, Response};
use std::time::{Duration, SystemTime};

/// How long an erasure runs when the invocation gives no deadline (a local runtime).
const DEFAULT_TIME: Duration = Duration::from_secs(20);
/// Kept back from the invocation's deadline: the removals under way finish, the answer gets out.
const RESERVE: Duration = Duration::from_secs(5);

/// Whether a request is one of these routes.
pub(super) fn serves(method: &str, segs: &[&str]) -> bool {
    matches!((method, segs), ("DELETE", ["users", _]))
}

pub(super) async fn route(app: &App, req: &Request, segs: &[&str]) -> Result<Response<Body>, ApiError> {
    let services = &app.services;
    let (subject, actor) = match segs {
        ["users", "me"] => {
            let caller = authenticate(app, req).await?;
            let actor = Actor::user(&services.pseudonyms, &caller.user);
            (caller.user, actor)
        }
        ["users", id] => {
            let operator = authenticate_operator(app, req).await?;
            let subject = UserId::parse(*id).map_err(|_| ApiError::invalid("the path does not name a user id"))?;
            (subject, Actor::operator(&services.pseudonyms, &operator.user))
        }
        _ => return Err(super::no_route(req)),
    };
    let deadline = tokio::time::Instant::now() + time_to_work(req);
    match erasure::erase(services, &subject, actor, deadline).await? {
        Erasure::Done => Ok(json_response(200, &ErasureStatus::Erased)),
        Erasure::InProgress { items_left } => Ok(json_response(202, &ErasureStatus::InProgress { items_left })),
    }
}

/// The time this invocation may spend erasing: until its deadline less [`RESERVE`], or [`DEFAULT_TIME`]
/// without a usable deadline.
fn time_to_work(req: &Request) -> Duration {
    let remaining = req
        .lambda_context_ref()
        .filter(|c| c.deadline > 0)
        .and_then(|c| c.deadline().duration_since(SystemTime::now()).ok());
    budget(remaining)
}

fn budget(remaining: Option<Duration>) -> Duration {
    match remaining {
        // Lambda's longest timeout is 15 minutes: anything else is no deadline of an invocation.
        Some(left) if !left.is_zero() && left <= Duration::from_secs(900) => left.saturating_sub(RESERVE),
        _ => DEFAULT_TIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_reserve_and_has_a_default() {
        assert_eq!(budget(Some(Duration::from_secs(25))), Duration::from_secs(20));
        assert_eq!(budget(Some(Duration::from_secs(3))), Duration::ZERO, "one item is still tried");
        assert_eq!(budget(None), DEFAULT_TIME);
        assert_eq!(budget(Some(Duration::ZERO)), DEFAULT_TIME);
        assert_eq!(budget(Some(Duration::from_secs(3600))), DEFAULT_TIME);
        assert!(serves("DELETE", &["users", "me"]) && serves("DELETE", &["users", "u1"]));
        assert!(!serves("GET", &["users", "me"]) && !serves("DELETE", &["users"]));
    }
}
