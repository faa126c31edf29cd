//! Webhook deliveries: the log (read, wait for, clear) and the delivery settings.

use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Control, Shared, body_of, control, query_param, reply};
use crate::webhooks::{Delivery, WebhookConfig};
use crate::wire::PlaidError;

/// Body of `PUT /__emulator/webhooks/config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookConfigBody {
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    retry_backoff_ms: Option<Vec<u64>>,
    #[serde(default)]
    max_attempts: Option<u32>,
}

impl Control {
    /// The webhook delivery log (oldest first), optionally for one Item and/or code.
    pub fn deliveries(&self, item_id: Option<&str>, webhook_code: Option<&str>) -> Vec<Delivery> {
        self.app.webhooks.deliveries(item_id, webhook_code)
    }

    /// Waits until at least `n` deliveries match (any status), or `timeout` passes; returns them.
    pub async fn wait_for_deliveries(
        &self,
        item_id: Option<&str>,
        webhook_code: Option<&str>,
        n: usize,
        timeout: StdDuration,
    ) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.deliveries(item_id, webhook_code);
            if found.len() >= n || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
    }

    /// Empties the delivery log.
    pub fn clear_deliveries(&self) {
        self.app.webhooks.clear();
    }

    /// The webhook delivery settings in force.
    pub fn webhook_config(&self) -> WebhookConfig {
        self.app.webhooks.config()
    }

    /// Replaces the webhook delivery settings (for webhooks fired from now on).
    pub fn set_webhook_config(&self, config: WebhookConfig) {
        self.app.webhooks.set_config(config);
    }
}

pub async fn list(State(app): Shared, RawQuery(query): RawQuery) -> Response {
    let item = query_param(query.as_deref(), "item_id");
    let code = query_param(query.as_deref(), "webhook_code");
    reply(Ok(json!({"deliveries": control(&app).deliveries(item.as_deref(), code.as_deref())})))
}

pub async fn clear(State(app): Shared) -> Response {
    control(&app).clear_deliveries();
    reply(Ok(json!({"deliveries": []})))
}

/// The settings as the control API shows them (milliseconds).
pub fn config_json(c: &WebhookConfig) -> Value {
    json!({
        "timeout_ms": u64::try_from(c.timeout.as_millis()).unwrap_or(u64::MAX),
        "retry_backoff_ms": c.retry_backoff.iter().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).collect::<Vec<_>>(),
        "max_attempts": c.max_attempts,
    })
}

pub async fn config_get(State(app): Shared) -> Response {
    reply(Ok(config_json(&control(&app).webhook_config())))
}

pub async fn config_set(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: WebhookConfigBody = body_of(&app, &headers, body).await?;
        let c = control(&app);
        let mut config = c.webhook_config();
        if let Some(ms) = req.timeout_ms {
            config.timeout = StdDuration::from_millis(ms);
        }
        if let Some(list) = req.retry_backoff_ms {
            if list.is_empty() {
                return Err(PlaidError::invalid_field("retry_backoff_ms must not be empty"));
            }
            config.retry_backoff = list.into_iter().map(StdDuration::from_millis).collect();
        }
        if let Some(n) = req.max_attempts {
            if n == 0 {
                return Err(PlaidError::invalid_field("max_attempts must be at least 1"));
            }
            config.max_attempts = n;
        }
        c.set_webhook_config(config.clone());
        Ok(config_json(&config))
    }
    .await;
    reply(result)
}
