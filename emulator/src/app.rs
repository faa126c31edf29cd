//! The shared context every handler works on: configuration, clock, state and the services around
//! it (webhook delivery, rate limiter, faults, call counts, persistence).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::EmulatorConfig;
use crate::faults::Faults;
use crate::ratelimit::RateLimiter;
use crate::state::State;
use crate::webhooks::{DeliveryLog, WebhookConfig};

/// Calls received per endpoint, in total and per Item.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CallCounts {
    pub total: BTreeMap<String, u64>,
    pub by_item: BTreeMap<String, BTreeMap<String, u64>>,
}

/// The emulator.
#[derive(Debug)]
pub struct App {
    pub config: EmulatorConfig,
    pub clock: Clock,
    state: Mutex<State>,
    deliveries: Mutex<DeliveryLog>,
    faults: Mutex<Faults>,
    limiter: Mutex<RateLimiter>,
    calls: Mutex<CallCounts>,
    webhook_config: Mutex<WebhookConfig>,
    http: OnceLock<Option<reqwest::Client>>,
    /// Wakes the state-file writer.
    pub persist_notify: Option<Arc<Notify>>,
    /// Flips to true at shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// The runtime background work (webhook delivery) runs on.
    pub runtime: tokio::runtime::Handle,
}

/// Locks a mutex, recovering the data if a previous holder panicked (state stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl App {
    pub fn new(
        config: EmulatorConfig,
        clock: Clock,
        state: State,
        persist_notify: Option<Arc<Notify>>,
        shutdown: watch::Receiver<bool>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let limiter = RateLimiter::new(config.rate_limits.clone());
        let webhook_config = config.webhooks.clone();
        Self {
            config,
            clock,
            state: Mutex::new(state),
            deliveries: Mutex::new(DeliveryLog::default()),
            faults: Mutex::new(Faults::default()),
            limiter: Mutex::new(limiter),
            calls: Mutex::new(CallCounts::default()),
            webhook_config: Mutex::new(webhook_config),
            http: OnceLock::new(),
            persist_notify,
            shutdown,
            runtime,
        }
    }

    pub fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
    pub fn lock_deliveries(&self) -> MutexGuard<'_, DeliveryLog> {
        lock(&self.deliveries)
    }
    pub fn lock_faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }
    pub fn lock_limiter(&self) -> MutexGuard<'_, RateLimiter> {
        lock(&self.limiter)
    }
    pub fn lock_calls(&self) -> MutexGuard<'_, CallCounts> {
        lock(&self.calls)
    }

    pub fn webhook_config(&self) -> WebhookConfig {
        lock(&self.webhook_config).clone()
    }

    pub fn set_webhook_config(&self, config: WebhookConfig) {
        *lock(&self.webhook_config) = config;
    }

    /// The HTTP client for webhook delivery, built on first use (keeps start-up fast).
    pub fn http_client(&self) -> Option<&reqwest::Client> {
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

    /// Records that state changed (the state file writer picks it up).
    pub fn changed(&self) {
        if let Some(n) = &self.persist_notify {
            n.notify_one();
        }
    }

    /// Counts a call to `path`.
    pub fn count_call(&self, path: &str) {
        let mut calls = self.lock_calls();
        *calls.total.entry(path.to_owned()).or_default() += 1;
    }

    /// Counts a call to `path` for an Item.
    pub fn count_item_call(&self, path: &str, item_id: &str) {
        let mut calls = self.lock_calls();
        *calls.by_item.entry(item_id.to_owned()).or_default().entry(path.to_owned()).or_default() += 1;
    }

    /// The seed of everything generated.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }
}
