//! Asynchronous delivery: each webhook is logged, then POSTed in a background task that retries on
//! Plaid's schedule (per-attempt timeout, waits between attempts) until a receiver answers 200.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::body::{Outgoing, plaid_body};
use super::log::{Attempt, Delivery, DeliveryLog, DeliveryStatus};
use crate::clock::rfc3339;

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

/// What delivery needs from the emulator it runs in.
pub trait Host: Send + Sync + 'static {
    /// The emulator clock's reading.
    fn now(&self) -> OffsetDateTime;

    /// Signs `body` with the current webhook key for the given `iat`: `(kid, Plaid-Verification
    /// header)`, or `None` when there is no key.
    fn sign(&self, body: &[u8], iat: i64) -> Option<(String, String)>;
}

/// Webhook delivery: settings, the HTTP client, the delivery log, and the background tasks that
/// send (and retry) each webhook.
#[derive(Debug)]
pub struct Webhooks {
    config: Mutex<WebhookConfig>,
    log: Mutex<DeliveryLog>,
    http: OnceLock<Option<reqwest::Client>>,
    /// The runtime deliveries run on.
    runtime: tokio::runtime::Handle,
    /// Flips to true at shutdown (ends pending retries).
    shutdown: watch::Receiver<bool>,
}

/// Locks a mutex, recovering the data if a previous holder panicked (the log stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Webhooks {
    /// Delivery with `config`, on `runtime`, until `shutdown` flips.
    pub fn new(config: WebhookConfig, runtime: tokio::runtime::Handle, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            config: Mutex::new(config),
            log: Mutex::new(DeliveryLog::default()),
            http: OnceLock::new(),
            runtime,
            shutdown,
        }
    }

    /// The delivery settings in force.
    pub fn config(&self) -> WebhookConfig {
        lock(&self.config).clone()
    }

    /// Replaces the delivery settings (deliveries started later follow them).
    pub fn set_config(&self, config: WebhookConfig) {
        *lock(&self.config) = config;
    }

    /// Logged deliveries matching the filters, oldest first.
    pub fn deliveries(&self, item_id: Option<&str>, webhook_code: Option<&str>) -> Vec<Delivery> {
        lock(&self.log).list(item_id, webhook_code)
    }

    /// How many deliveries the log holds.
    pub fn logged(&self) -> usize {
        lock(&self.log).len()
    }

    /// Empties the delivery log.
    pub fn clear(&self) {
        lock(&self.log).clear();
    }

    /// The HTTP client for webhook delivery, built on first use (keeps start-up fast).
    fn http_client(&self) -> Option<&reqwest::Client> {
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .map_err(|e| tracing::error!(error = %e, "cannot build the webhook HTTP client"))
                    .ok()
            })
            .as_ref()
    }

    /// Logs a webhook fired at `now` and queues it for asynchronous delivery (never waits for the
    /// receiver). A `held` webhook is signed and logged but not sent.
    pub fn send(self: &Arc<Self>, host: Arc<dyn Host>, wh: Outgoing, now: OffsetDateTime, held: bool) {
        let bytes = plaid_body(&wh.body);
        let held_header =
            held.then(|| host.sign(&bytes, now.unix_timestamp()).map(|(_, header)| header).unwrap_or_default());
        let id = lock(&self.log).start(Delivery {
            id: 0,
            item_id: wh.item_id.clone(),
            url: wh.url.clone(),
            webhook_type: wh.webhook_type().to_owned(),
            webhook_code: wh.webhook_code().to_owned(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
            fired_at: rfc3339(now),
            status: if held { DeliveryStatus::Held } else { DeliveryStatus::Pending },
            plaid_verification: held_header.unwrap_or_default(),
            attempts: Vec::new(),
        });
        if held {
            return;
        }
        let webhooks = Arc::clone(self);
        self.runtime.spawn(async move { webhooks.deliver(host, id, wh.url, bytes).await });
    }

    async fn deliver(self: Arc<Self>, host: Arc<dyn Host>, id: u64, url: String, bytes: Vec<u8>) {
        let config = self.config();
        let mut shutdown = self.shutdown.clone();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let (kid, header) = host.sign(&bytes, host.now().unix_timestamp()).unwrap_or_default();
            let at = rfc3339(host.now());
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
                let mut log = lock(&self.log);
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
