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

impl OutgoingEvent {
    /// The event's `detail` on the bus: the event's fields, with `relink_url` / `relink_expires_at` when set.
    pub fn detail(&self) -> serde_json::Value {
        let mut detail = serde_json::to_value(&self.event).unwrap_or_default();
        if let (Some(relink), Some(map)) = (&self.relink, detail.as_object_mut()) {
            map.insert("relink_url".into(), relink.url.clone().into());
            let expires = relink.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            map.insert("relink_expires_at".into(), expires.into());
        }
        detail
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
