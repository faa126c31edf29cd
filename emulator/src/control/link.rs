//! Link sessions run on the user's behalf (completed at once, or started and left open), and the Link
//! events setting.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{Control, Shared, body_of, control, reply};
use crate::link::{self, LinkCompletion, LinkOutcome};
use crate::wire::PlaidError;

/// `POST /__emulator/link/start`: a session opened and left unfinished (a user who closes the tab).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkStart {
    /// The link token of the session.
    pub link_token: String,
    /// Pick this institution too (`SELECT_INSTITUTION`; ignored in update mode).
    #[serde(default)]
    pub institution_id: Option<String>,
}

/// A session started by [`Control::start_link`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedLink {
    /// Its `link_session_id` (give it to `complete_link` to finish the session).
    pub link_session_id: String,
    /// Whether it already ended (bad token, or an institution that cannot serve the token).
    pub finished: bool,
}

/// `POST /__emulator/config/link_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEventsSetting {
    /// Link events enabled for embedded sessions.
    pub enabled: bool,
}

impl Control {
    /// Simulates a user completing (or failing) a Link session; with `link_session_id`, finishes a session
    /// started by [`Control::start_link`].
    pub fn complete_link(&self, completion: &LinkCompletion) -> Result<LinkOutcome, PlaidError> {
        link::complete(&self.app, completion)
    }

    /// Starts a Link session and leaves it unfinished (`OPEN`, the institution list, `SELECT_INSTITUTION`
    /// when an institution is given): `/link/token/get` shows it with `finished_at: null`.
    pub fn start_link(&self, start: &LinkStart) -> Result<StartedLink, PlaidError> {
        let (link_session_id, finished) = link::start(&self.app, &start.link_token, start.institution_id.as_deref())?;
        Ok(StartedLink { link_session_id, finished })
    }

    /// Whether Link events are enabled for embedded sessions (LINK webhooks, `/link/token/get` events).
    pub fn link_events(&self) -> bool {
        self.app.link_events()
    }

    /// Enables or disables Link events for embedded sessions (sessions started from now on).
    pub fn set_link_events(&self, enabled: bool) {
        self.app.set_link_events(enabled);
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

pub async fn start(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: LinkStart = body_of(&app, &headers, body).await?;
        control(&app).start_link(&req)
    }
    .await;
    reply(result)
}

pub async fn link_events_get(State(app): Shared) -> Response {
    reply(Ok(LinkEventsSetting { enabled: control(&app).link_events() }))
}

pub async fn link_events_set(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: LinkEventsSetting = body_of(&app, &headers, body).await?;
        control(&app).set_link_events(req.enabled);
        Ok(req)
    }
    .await;
    reply(result)
}
