//! Link sessions as weft keeps them: the Link tokens it made and the callbacks the app forwarded.

use super::{ItemId, LinkSessionId, LinkToken, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Why a Link token was made: a new link, or update mode for an existing item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkMode {
    /// Link a new item.
    Create,
    /// Update mode: repair or extend an existing item.
    Update,
}

/// A Link token created for a user (kept until it expires, for OAuth resume and update mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTokenRecord {
    pub link_token: LinkToken,
    #[serde(with = "time::serde::rfc3339")]
    pub expiration: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The item, for an update-mode token.
    pub item_id: Option<ItemId>,
    /// Created with a redirect URI (an OAuth flow may resume with it).
    pub oauth: bool,
    /// When a session of it was closed: the app forwarded its onSuccess / onExit, or Plaid sent LINK /
    /// SESSION_FINISHED or ITEM_ADD_RESULT. A closed token is never asked about with `/link/token/get`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// When weft asked Plaid about it (`/link/token/get`), once, because nothing closed it in time.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub asked_at: Option<OffsetDateTime>,
}

impl LinkTokenRecord {
    pub fn mode(&self) -> LinkMode {
        if self.item_id.is_some() { LinkMode::Update } else { LinkMode::Create }
    }

    /// Whether nothing has told weft how its session ended yet, nor has weft asked Plaid.
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none() && self.asked_at.is_none()
    }
}

/// What a Link token record is marked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTokenMark {
    /// A session of it was closed (by the app's callbacks or a LINK webhook).
    Closed,
    /// Plaid was asked about it (`/link/token/get`).
    Asked,
}

/// Who told weft about a Link event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkEventSource {
    /// The app forwarded Link's callback (`POST /link/events`).
    #[default]
    Client,
    /// Plaid's LINK webhooks (`EVENTS`, `SESSION_FINISHED`, `ITEM_ADD_RESULT`).
    Webhook,
    /// `/link/token/get`, asked by weft for a session nothing closed in time.
    LinkTokenGet,
}

/// Which Link callback an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinkEventKind {
    /// `onEvent` (with an `event_name`).
    Event,
    /// `onExit`.
    Exit,
    /// `onSuccess`.
    Success,
}

/// One Link callback (`onEvent`, `onExit`, `onSuccess`) the app forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkEventRecord {
    pub user_id: UserId,
    pub link_session_id: LinkSessionId,
    pub kind: LinkEventKind,
    pub event_name: Option<String>,
    pub link_token: Option<String>,
    pub request_id: Option<String>,
    pub institution_id: Option<String>,
    pub institution_name: Option<String>,
    pub error_type: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub exit_status: Option<String>,
    pub view_name: Option<String>,
    /// When Link emitted it, by the client's clock, but never after weft received it (a client cannot file
    /// events ahead). Files the event under a day of the funnel; orders no state.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// Position in the batch the app sent (orders events of one batch).
    pub seq: u32,
    /// Plaid's `event_id` (events from Plaid's LINK / EVENTS webhook or `/link/token/get`): with the
    /// session, what makes an event resent by Plaid the same record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Who reported it.
    #[serde(default)]
    pub source: LinkEventSource,
}
