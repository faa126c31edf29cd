//! Link sessions completed on the user's behalf.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Control, Shared, body_of, control, reply};
use crate::link::{self, LinkCompletion, LinkOutcome};
use crate::wire::PlaidError;

impl Control {
    /// Simulates a user completing (or failing) a Link session.
    pub fn complete_link(&self, completion: &LinkCompletion) -> Result<LinkOutcome, PlaidError> {
        link::complete(&self.app, completion)
    }
}

pub async fn complete(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: LinkCompletion = body_of(&app, &headers, body).await?;
        control(&app).complete_link(&req)
    }
    .await;
    reply(result)
}
