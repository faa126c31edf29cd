//! Webhook signing keys: list them, rotate them.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Control, Shared, control, reply};

/// Result of a key rotation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RotatedKey {
    /// The new signing key id.
    pub kid: String,
    /// The previous key id (now with `expired_at` set, still served).
    pub expired_kid: Option<String>,
}

impl Control {
    /// Rotates the webhook signing key.
    pub fn rotate_webhook_key(&self) -> RotatedKey {
        let now = self.app.clock.unix();
        let (kid, expired_kid) = self.app.lock_state().keys.rotate(now);
        self.app.changed();
        RotatedKey { kid, expired_kid }
    }

    /// Every signing key as its JWK (newest last).
    pub fn webhook_keys(&self) -> Vec<Value> {
        self.app.lock_state().keys.all().iter().filter_map(|k| k.jwk().ok()).collect()
    }
}

pub async fn get(State(app): Shared) -> Response {
    let c = control(&app);
    let current = app.lock_state().keys.current().map(|k| k.kid.clone());
    reply(Ok(json!({"current_kid": current, "keys": c.webhook_keys()})))
}

pub async fn rotate(State(app): Shared) -> Response {
    reply(Ok(control(&app).rotate_webhook_key()))
}
