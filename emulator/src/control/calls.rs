//! Call counts per endpoint, in total and per Item.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::json;

use super::{Control, Shared, control, query_param, reply};
use crate::app::CallCounts;

impl Control {
    /// Calls received per endpoint (total and per Item).
    pub fn call_counts(&self) -> CallCounts {
        self.app.lock_calls().clone()
    }

    /// Calls of one endpoint path, optionally for one Item.
    pub fn call_count(&self, endpoint: &str, item_id: Option<&str>) -> u64 {
        let calls = self.app.lock_calls();
        match item_id {
            Some(item) => calls.by_item.get(item).and_then(|m| m.get(endpoint)).copied().unwrap_or(0),
            None => calls.total.get(endpoint).copied().unwrap_or(0),
        }
    }

    /// Sets every call count back to zero.
    pub fn reset_call_counts(&self) {
        *self.app.lock_calls() = CallCounts::default();
    }
}

pub async fn get(State(app): Shared, RawQuery(query): RawQuery) -> Response {
    let counts = control(&app).call_counts();
    match query_param(query.as_deref(), "item_id") {
        Some(item) => {
            let by = counts.by_item.get(&item).cloned().unwrap_or_default();
            reply(Ok(json!({"item_id": item, "calls": by})))
        }
        None => reply(Ok(counts)),
    }
}

pub async fn clear(State(app): Shared) -> Response {
    control(&app).reset_call_counts();
    reply(Ok(CallCounts::default()))
}
