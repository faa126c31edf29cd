//! The emulator clock: read it, move it forward.

use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::{Control, Shared, body_of, control, reply};
use crate::clock::{MAX_ADVANCE_SECS, rfc3339};
use crate::items;
use crate::wire::PlaidError;

/// Body of `POST /__emulator/clock/advance`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvanceClock {
    /// Seconds to add.
    #[serde(default)]
    pub seconds: Option<i64>,
    /// Minutes to add.
    #[serde(default)]
    pub minutes: Option<i64>,
    /// Hours to add.
    #[serde(default)]
    pub hours: Option<i64>,
    /// Days to add.
    #[serde(default)]
    pub days: Option<i64>,
}

impl Control {
    /// The emulator clock's current time.
    pub fn now(&self) -> OffsetDateTime {
        self.app.clock.now()
    }

    /// Moves the emulator clock forward (token expiry, webhook `iat`, rate-limit windows and
    /// delayed histories follow it). Returns the new time.
    pub fn advance_clock(&self, by: StdDuration) -> Result<OffsetDateTime, PlaidError> {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        if secs > MAX_ADVANCE_SECS {
            return Err(PlaidError::invalid_field("the clock can advance at most 100 years at once"));
        }
        let by = time::Duration::try_from(by).map_err(|_| PlaidError::invalid_field("duration too large"))?;
        let now = self.app.clock.advance(by);
        let out = items::ready_webhooks(&mut self.app.lock_state(), now);
        self.app.send_webhooks(out);
        self.app.changed();
        Ok(now)
    }
}

pub async fn get(State(app): Shared) -> Response {
    reply(Ok(json!({
        "now": rfc3339(app.clock.now()),
        "unix": app.clock.unix(),
        "offset_seconds": app.clock.offset().whole_seconds(),
    })))
}

pub async fn advance(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: AdvanceClock = body_of(&app, &headers, body).await?;
        let parts = [(req.seconds, 1i64), (req.minutes, 60), (req.hours, 3600), (req.days, 86_400)];
        let mut total: i64 = 0;
        for (v, mult) in parts {
            if let Some(v) = v {
                if v < 0 {
                    return Err(PlaidError::invalid_field("the clock only moves forward"));
                }
                total = v
                    .checked_mul(mult)
                    .and_then(|x| total.checked_add(x))
                    .filter(|t| *t <= MAX_ADVANCE_SECS)
                    .ok_or_else(|| PlaidError::invalid_field("the clock can advance at most 100 years at once"))?;
            }
        }
        let secs = u64::try_from(total).unwrap_or(0);
        let now = control(&app).advance_clock(StdDuration::from_secs(secs))?;
        Ok(json!({"now": rfc3339(now), "unix": now.unix_timestamp(), "advanced_seconds": total}))
    }
    .await;
    reply(result)
}
