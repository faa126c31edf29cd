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
}

impl LinkTokenRecord {
    pub fn mode(&self) -> LinkMode {
        if self.item_id.is_some() { LinkMode::Update } else { LinkMode::Create }
    }
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
}
