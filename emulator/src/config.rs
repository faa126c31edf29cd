//! The emulator's configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use crate::ratelimit::RateLimits;
use crate::webhooks::WebhookConfig;

/// Default largest request body accepted (bytes).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// How the emulator is set up. `EmulatorConfig::default()` listens on a random loopback port with
/// client id `test-client-id` and secret `test-secret`.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on (port 0 = pick a free one).
    pub listen: SocketAddr,
    /// The only `client_id` accepted.
    pub client_id: String,
    /// The only `secret` accepted.
    pub secret: String,
    /// Seed of every generated dataset (with the Item id).
    pub seed: u64,
    /// Persist state to this JSON file (loaded at start, written on change).
    pub state_file: Option<PathBuf>,
    /// Debounce of state file writes.
    pub persist_debounce: Duration,
    /// Rate limits per endpoint.
    pub rate_limits: RateLimits,
    /// Webhook delivery timeout and retries.
    pub webhooks: WebhookConfig,
    /// Delay (emulator clock) between Item creation and its transaction history being ready.
    pub history_delay: Duration,
    /// The emulator clock's reading at start (default: the real time).
    pub start_time: Option<OffsetDateTime>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Link events enabled for the client (Plaid enables them on request): LINK webhooks (`EVENTS`,
    /// `SESSION_FINISHED`) and `/link/token/get` events for embedded Link sessions too, not only Hosted Link
    /// ones. Default off, as Plaid's; `POST /__emulator/config/link_events` changes it at run time.
    pub link_events: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: "test-client-id".to_owned(),
            secret: "test-secret".to_owned(),
            seed: 0,
            state_file: None,
            persist_debounce: Duration::from_millis(200),
            rate_limits: RateLimits::default(),
            webhooks: WebhookConfig::default(),
            history_delay: Duration::ZERO,
            start_time: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            link_events: false,
        }
    }
}

impl EmulatorConfig {
    /// Default configuration with the given credentials.
    pub fn new(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self { client_id: client_id.into(), secret: secret.into(), ..Self::default() }
    }
}
