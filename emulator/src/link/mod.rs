//! Link simulation. Plaid Link is a browser SDK, so the emulator plays the user's part: given a
//! link token, an institution, credentials and an account selection, it completes the session
//! the way Link would (creating the Item, or repairing it in update mode) and returns what Link
//! would hand the app: `onSuccess` (public token + metadata), the `onEvent` stream, or `onExit`.
//!
//! The same flow is available to a person as plain HTML forms at `GET /__emulator/link?token=...`, and to a
//! web app through Plaid Link's web SDK (`GET /link/v2/stable/link-initialize.js`, see `web.rs`).

mod accounts;
mod events;
mod pages;
mod record;
mod session;
mod web;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use record::token_get;
pub use session::{complete, start};

/// The Link routes: the HTML walkthrough, and Plaid Link's web SDK with the pages it opens.
pub fn routes() -> axum::Router<std::sync::Arc<crate::app::App>> {
    pages::routes().merge(web::routes())
}

/// What the simulated user does in Link (`POST /__emulator/link/complete`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCompletion {
    /// The link token of the session (from `/link/token/create`).
    pub link_token: String,
    /// Institution picked (default `ins_109508`; ignored in update mode, where it is the Item's).
    #[serde(default)]
    pub institution_id: Option<String>,
    /// Default `user_good`.
    #[serde(default)]
    pub username: Option<String>,
    /// Default `pass_good`; `error_<CODE>` makes the login fail with that code.
    #[serde(default)]
    pub password: Option<String>,
    /// Accounts to select by id (update mode only: new Items have no ids before Link ends).
    #[serde(default)]
    pub account_ids: Option<Vec<String>>,
    /// Accounts to select by mask (e.g. `["0000", "1111"]`).
    #[serde(default)]
    pub account_masks: Option<Vec<String>>,
    /// Accounts to select by subtype (e.g. `["checking"]`).
    #[serde(default)]
    pub account_subtypes: Option<Vec<String>>,
    /// Finish this session (started by `POST /__emulator/link/start` and not finished) instead of a new one.
    #[serde(default)]
    pub link_session_id: Option<String>,
}

/// What Link would hand the app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkOutcome {
    /// `success` (onSuccess called) or `exit` (onExit called).
    pub status: String,
    /// onSuccess's public token (null in update mode and on exit).
    pub public_token: Option<String>,
    /// onSuccess metadata (null on exit).
    pub metadata: Option<Value>,
    /// onEvent calls, in order: `{"event_name": ..., "metadata": {...}}`.
    pub events: Vec<Value>,
    /// onExit arguments `{"error": ..., "metadata": {...}}` (null on success).
    pub exit: Option<Value>,
    /// Not part of Link: the Item created or updated, for test convenience.
    pub item_id: Option<String>,
}
