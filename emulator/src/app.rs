//! The shared context every handler works on: configuration, clock, state and the services around
//! it (webhook delivery, rate limiter, faults, call counts, persistence).
//!
//! Everything that reads or changes several of these at once lives here too: sending a webhook
//! (the Item notes it, a held Item's webhooks are only logged) and serving as the webhook
//! component's [`Host`] (clock and signing key).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::EmulatorConfig;
use crate::faults::Faults;
use crate::ratelimit::RateLimiter;
use crate::state::State;
use crate::webhooks::{Host, Outgoing, Webhooks};

/// Calls received per endpoint, in total and per Item.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CallCounts {
    /// Calls per endpoint path.
    pub total: BTreeMap<String, u64>,
    /// Calls per Item id, then per endpoint path (calls that named an Item's access token).
    pub by_item: BTreeMap<String, BTreeMap<String, u64>>,
    /// Calls per institution id, then per endpoint path (calls that named an `institution_id`).
    pub by_institution: BTreeMap<String, BTreeMap<String, u64>>,
}

/// The emulator.
#[derive(Debug)]
pub struct App {
    pub config: EmulatorConfig,
    pub clock: Clock,
    state: Mutex<State>,
    faults: Mutex<Faults>,
    limiter: Mutex<RateLimiter>,
    calls: Mutex<CallCounts>,
    /// Webhook delivery and its log.
    pub webhooks: Arc<Webhooks>,
    /// Wakes the state-file writer.
    pub persist_notify: Option<Arc<Notify>>,
    /// `http://<address it listens on>`: the base of the URLs it hands out (Hosted Link).
    pub base_url: String,
    /// Link events enabled (LINK webhooks and `/link/token/get` events for embedded sessions too).
    link_events: AtomicBool,
}

/// Locks a mutex, recovering the data if a previous holder panicked (state stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl App {
    /// The emulator around `state`; webhook deliveries run on `runtime` until `shutdown` flips.
    pub fn new(
        config: EmulatorConfig,
        clock: Clock,
        state: State,
        persist_notify: Option<Arc<Notify>>,
        base_url: String,
        shutdown: watch::Receiver<bool>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let limiter = RateLimiter::new(config.rate_limits.clone());
        let webhooks = Arc::new(Webhooks::new(config.webhooks.clone(), runtime, shutdown));
        let link_events = AtomicBool::new(config.link_events);
        Self {
            config,
            clock,
            state: Mutex::new(state),
            faults: Mutex::new(Faults::default()),
            limiter: Mutex::new(limiter),
            calls: Mutex::new(CallCounts::default()),
            webhooks,
            persist_notify,
            base_url,
            link_events,
        }
    }

    /// Whether Link events are enabled for embedded sessions.
    pub fn link_events(&self) -> bool {
        self.link_events.load(Ordering::Relaxed)
    }

    /// Enables or disables Link events for embedded sessions (sessions started later follow it).
    pub fn set_link_events(&self, enabled: bool) {
        self.link_events.store(enabled, Ordering::Relaxed);
    }

    pub fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
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

    /// Counts a call to `path` that named an institution.
    pub fn count_institution_call(&self, path: &str, institution_id: &str) {
        let mut calls = self.lock_calls();
        *calls.by_institution.entry(institution_id.to_owned()).or_default().entry(path.to_owned()).or_default() += 1;
    }

    /// The seed of everything generated.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// The configured history delay in whole seconds (rounded up).
    pub fn history_delay_secs(&self) -> i64 {
        let d = self.config.history_delay;
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        i64::try_from(secs).unwrap_or(i64::MAX)
    }

    /// Queues webhooks for asynchronous delivery (never waits for the receiver).
    pub fn send_webhooks(self: &Arc<Self>, outgoing: Vec<Outgoing>) {
        for wh in outgoing {
            self.send_webhook(wh);
        }
    }

    /// Queues one webhook for asynchronous delivery: the Item notes it as its last webhook; if
    /// the Item's webhooks are held, it is signed and logged but not sent.
    pub fn send_webhook(self: &Arc<Self>, wh: Outgoing) {
        let now = self.clock.now();
        let held = match self.lock_state().items.get_mut(&wh.item_id) {
            Some(item) => {
                item.last_webhook = Some((now.unix_timestamp(), wh.webhook_code().to_owned()));
                item.hold_webhooks
            }
            None => false,
        };
        let host: Arc<dyn Host> = Arc::clone(self) as Arc<dyn Host>;
        self.webhooks.send(host, wh, now, held);
        self.changed();
    }
}

impl Host for App {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn sign(&self, body: &[u8], iat: i64) -> Option<(String, String)> {
        let state = self.lock_state();
        state.keys.current().map(|key| (key.kid.clone(), key.sign_webhook(body, iat)))
    }
}
