//! The bus the app subscribes to (EventBridge when deployed): item events, each with its re-link URL when
//! the user must go through Link.

use crate::domain::AppEvent;
use async_trait::async_trait;
use time::OffsetDateTime;

/// An event as published: the event, and for one that asks the user to go through Link, a ready
/// update-mode link (Plaid's Hosted Link) the app can put in an email or a text.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEvent {
    pub event: AppEvent,
    pub relink: Option<Relink>,
}

/// A Hosted Link URL for update mode, and until when it works.
#[derive(Debug, Clone, PartialEq)]
pub struct Relink {
    pub url: String,
    pub expires_at: OffsetDateTime,
}

/// An event's `detail` on the bus (EventBridge's `detail`; `docs/events.schema.json` is its JSON Schema): the
/// event's fields, and for one the user should act on, a ready re-link URL.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: AppEvent,
    /// A Hosted Link URL that runs Link in update mode for the item, with no app page (put it in an email
    /// or a text). Set on `item.needs_login`, `item.expiring`, `item.new_accounts` and `item.reminder` when
    /// Plaid made one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relink_url: Option<String>,
    /// Until when `relink_url` works.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub relink_expires_at: Option<OffsetDateTime>,
}

impl OutgoingEvent {
    /// The event's `detail` on the bus.
    pub fn detail(&self) -> serde_json::Value {
        let detail = EventDetail {
            event: self.event.clone(),
            relink_url: self.relink.as_ref().map(|r| r.url.clone()),
            relink_expires_at: self.relink.as_ref().map(|r| r.expires_at),
        };
        serde_json::to_value(&detail).unwrap_or_default()
    }
}

/// Why publishing failed as a whole (entries a bus refused one by one are in the `Ok` answer).
#[derive(Debug, thiserror::Error)]
#[error("event bus: {0}")]
pub struct EventBusError(pub String);

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes `events` (at most [`MAX_BATCH`] at once); the ids of those the bus did not take.
    async fn publish(&self, events: &[OutgoingEvent]) -> Result<Vec<String>, EventBusError>;
}

/// The most events one [`EventBus::publish`] takes (EventBridge's PutEvents limit).
pub const MAX_BATCH: usize = 10;
