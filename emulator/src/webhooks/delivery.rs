//! Webhooks: Plaid's body serialisation, signing, asynchronous delivery with retries, and the
//! delivery log the control API exposes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::app::App;
use crate::clock::rfc3339;

/// Serialises a webhook body the way Plaid does (and signs): keys sorted, 2-space indentation,
/// `": "` separators, no trailing newline.
pub fn plaid_body(value: &Value) -> Vec<u8> {
    // Rebuild every object with its keys inserted in sorted order, so the output is sorted even
    // if serde_json's `preserve_order` feature is enabled somewhere in the build.
    let sorted = sort_keys(value);
    serde_json::to_vec_pretty(&sorted).unwrap_or_default()
}

fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                if let Some(v) = map.get(k) {
                    out.insert(k.clone(), sort_keys(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// Delivery settings: per-attempt timeout and retry schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookConfig {
    /// How long to wait for the receiver's answer (Plaid: 10 s).
    pub timeout: Duration,
    /// Waits before the 2nd, 3rd, ... attempt; the last value repeats.
    pub retry_backoff: Vec<Duration>,
    /// Attempts in total (1 = no retry).
    pub max_attempts: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retry_backoff: vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4),
                Duration::from_secs(8),
            ],
            max_attempts: 5,
        }
    }
}

impl WebhookConfig {
    fn backoff(&self, attempt: u32) -> Duration {
        let idx = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.retry_backoff.get(idx).or(self.retry_backoff.last()).copied().unwrap_or(Duration::from_secs(1))
    }
}

/// A webhook to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub item_id: String,
    pub body: Value,
}

/// Builds a webhook body: `webhook_type`, `webhook_code`, `item_id`, `environment` plus `extra`.
pub fn body(webhook_type: &str, webhook_code: &str, item_id: &str, extra: Value) -> Value {
    let mut v = json!({
        "environment": "sandbox",
        "item_id": item_id,
        "webhook_code": webhook_code,
        "webhook_type": webhook_type,
    });
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
        obj.extend(extra);
    }
    v
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub at: String,
    /// HTTP status of the receiver's answer; `None` when it did not answer in time or at all.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
    pub kid: String,
    /// The `Plaid-Verification` header sent.
    pub plaid_verification: String,
}

/// State of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
    /// Signed and logged but not sent: the Item's webhooks are held (control API).
    Held,
}

/// One webhook and every attempt to deliver it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub id: u64,
    pub item_id: String,
    pub url: String,
    pub webhook_type: String,
    pub webhook_code: String,
    /// The exact body bytes sent (UTF-8).
    pub body: String,
    pub fired_at: String,
    pub status: DeliveryStatus,
    /// The `Plaid-Verification` header of the latest attempt (for a held delivery: the header it
    /// would have been sent with), so a test can redeliver the webhook byte for byte.
    pub plaid_verification: String,
    pub attempts: Vec<Attempt>,
}

/// Most deliveries the log keeps (oldest dropped first).
const LOG_CAPACITY: usize = 10_000;

/// The delivery log.
#[derive(Debug, Default)]
pub struct DeliveryLog {
    next_id: u64,
    entries: VecDeque<Delivery>,
}

impl DeliveryLog {
    fn start(&mut self, delivery: Delivery) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        if self.entries.len() >= LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(Delivery { id, ..delivery });
        id
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Delivery> {
        self.entries.iter_mut().rev().find(|d| d.id == id)
    }

    /// Deliveries matching the filters, oldest first.
    pub fn list(&self, item_id: Option<&str>, code: Option<&str>) -> Vec<Delivery> {
        self.entries
            .iter()
            .filter(|d| item_id.is_none_or(|i| d.item_id == i))
            .filter(|d| code.is_none_or(|c| d.webhook_code == c))
            .cloned()
            .collect()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

impl App {
    /// Queues webhooks for asynchronous delivery (never waits for the receiver).
    pub fn send_webhooks(self: &Arc<Self>, outgoing: Vec<Outgoing>) {
        for wh in outgoing {
            self.send_webhook(wh);
        }
    }

    /// Queues one webhook for asynchronous delivery.
    pub fn send_webhook(self: &Arc<Self>, wh: Outgoing) {
        let bytes = plaid_body(&wh.body);
        let webhook_type = wh.body["webhook_type"].as_str().unwrap_or_default().to_owned();
        let webhook_code = wh.body["webhook_code"].as_str().unwrap_or_default().to_owned();
        let now = self.clock.now();
        let held_header = {
            let mut state = self.lock_state();
            let held = match state.items.get_mut(&wh.item_id) {
                Some(item) => {
                    item.last_webhook = Some((now.unix_timestamp(), webhook_code.clone()));
                    item.hold_webhooks
                }
                None => false,
            };
            if held {
                Some(state.keys.current().map(|k| k.sign_webhook(&bytes, now.unix_timestamp())).unwrap_or_default())
            } else {
                None
            }
        };
        let id = self.lock_deliveries().start(Delivery {
            id: 0,
            item_id: wh.item_id.clone(),
            url: wh.url.clone(),
            webhook_type,
            webhook_code,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            fired_at: rfc3339(now),
            status: if held_header.is_some() { DeliveryStatus::Held } else { DeliveryStatus::Pending },
            plaid_verification: held_header.clone().unwrap_or_default(),
            attempts: Vec::new(),
        });
        self.changed();
        if held_header.is_some() {
            return;
        }
        let app = Arc::clone(self);
        self.runtime.spawn(async move { app.deliver(id, wh.url, bytes).await });
    }

    async fn deliver(self: Arc<Self>, id: u64, url: String, bytes: Vec<u8>) {
        let config = self.webhook_config();
        let mut shutdown = self.shutdown.clone();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let (kid, header) = {
                let state = self.lock_state();
                match state.keys.current() {
                    Some(key) => (key.kid.clone(), key.sign_webhook(&bytes, self.clock.unix())),
                    None => (String::new(), String::new()),
                }
            };
            let at = rfc3339(self.clock.now());
            let started = std::time::Instant::now();
            let result = match self.http_client() {
                Some(client) => {
                    client
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .header("Plaid-Verification", &header)
                        .timeout(config.timeout)
                        .body(bytes.clone())
                        .send()
                        .await
                }
                None => {
                    tracing::warn!("webhook HTTP client unavailable");
                    return;
                }
            };
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let (status, error) = match result {
                Ok(resp) => (Some(resp.status().as_u16()), None),
                Err(e) if e.is_timeout() => (None, Some("timed out".to_owned())),
                Err(e) => (None, Some(error_chain(&e))),
            };
            let delivered = status == Some(200);
            let give_up = !delivered && attempt >= config.max_attempts.max(1);
            {
                let mut log = self.lock_deliveries();
                if let Some(d) = log.get_mut(id) {
                    d.plaid_verification.clone_from(&header);
                    d.attempts.push(Attempt { at, status, error, elapsed_ms, kid, plaid_verification: header });
                    if delivered {
                        d.status = DeliveryStatus::Delivered;
                    } else if give_up {
                        d.status = DeliveryStatus::Failed;
                    }
                }
            }
            if delivered || give_up {
                return;
            }
            let wait = config.backoff(attempt);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Serialising the JSON value of Plaid's own signed webhook gives exactly the bytes Plaid
    /// signed.
    #[test]
    fn serialisation_matches_plaid_signed_vector() {
        let vector: Value = serde_json::from_str(include_str!("../testdata/plaid-webhook-2020.json")).unwrap();
        let body = vector["body"].as_str().unwrap();
        let value: Value = serde_json::from_str(body).unwrap();
        assert_eq!(String::from_utf8(plaid_body(&value)).unwrap(), body);
        // Same bytes from a value built in another key order.
        let rebuilt = json!({
            "webhook_type": "TRANSACTIONS",
            "webhook_code": "HISTORICAL_UPDATE",
            "new_transactions": 390,
            "item_id": "yxQbxDjnD8hr69pKbQpbcKeVn3GL9QuyA7NV3",
            "error": null,
        });
        assert_eq!(String::from_utf8(plaid_body(&rebuilt)).unwrap(), body);
    }

    #[test]
    fn nested_and_empty_values() {
        let v = json!({"b": {"z": 1, "a": []}, "a": {}});
        assert_eq!(
            String::from_utf8(plaid_body(&v)).unwrap(),
            "{\n  \"a\": {},\n  \"b\": {\n    \"a\": [],\n    \"z\": 1\n  }\n}"
        );
    }

    #[test]
    fn backoff_schedule_repeats_last() {
        let c = WebhookConfig {
            timeout: Duration::from_secs(1),
            retry_backoff: vec![Duration::from_millis(10), Duration::from_millis(20)],
            max_attempts: 5,
        };
        assert_eq!(c.backoff(1), Duration::from_millis(10));
        assert_eq!(c.backoff(2), Duration::from_millis(20));
        assert_eq!(c.backoff(4), Duration::from_millis(20));
    }
}
