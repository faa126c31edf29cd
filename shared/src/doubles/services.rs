//! [`TestServices`]: [`Services`] assembled from the doubles, with a handle on each double so a test can
//! set it up and look inside.

use super::{FixedClock, MemoryStore, MemoryVault, RecordingBus, RecordingContinuation, RecordingQueue, ScriptedPlaid};
use crate::config::Config;
use crate::ports::Clock;
use crate::services::{Ports, Services};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use time::macros::datetime;

/// The test configuration's variables; [`TestServices::with_env`] adds to or overrides them.
pub const TEST_ENV: [(&str, &str); 7] = [
    ("WEFT_TABLE_NAME", "weft-test"),
    ("WEFT_KMS_KEY_ID", "alias/weft-test"),
    ("WEFT_PLAID_SECRET_ID", "weft/test/plaid"),
    ("WEFT_PLAID_ENV", "sandbox"),
    ("WEFT_AUTH_ISSUER", "https://issuer.example"),
    ("WEFT_AUTH_AUDIENCE", "app"),
    // Small pages, so syncs page.
    ("WEFT_SYNC_PAGE_SIZE", "3"),
];

/// [`Services`] on the doubles. Every double is shared with `services`: what a test does through a handle
/// the services see, and the other way round.
pub struct TestServices {
    pub services: Services,
    pub store: Arc<MemoryStore>,
    pub plaid: Arc<ScriptedPlaid>,
    pub vault: Arc<MemoryVault>,
    pub queue: Arc<RecordingQueue>,
    pub continuation: Arc<RecordingContinuation>,
    pub clock: Arc<FixedClock>,
    pub bus: Arc<RecordingBus>,
}

impl std::fmt::Debug for TestServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServices").field("now", &self.clock.now()).finish_non_exhaustive()
    }
}

impl Default for TestServices {
    fn default() -> Self {
        Self::new()
    }
}

impl TestServices {
    /// When the test clock starts: 06:00 UTC on the last day of a month (when the churn remover runs).
    pub const START: OffsetDateTime = datetime!(2026-11-30 06:00 UTC);

    /// The doubles with [`TEST_ENV`], the clock at [`TestServices::START`].
    pub fn new() -> Self {
        Self::with_env(&[])
    }

    /// The doubles with [`TEST_ENV`] plus `overrides` (e.g. `("WEFT_CHURN_ERROR_DAYS", "7")`).
    pub fn with_env(overrides: &[(&str, &str)]) -> Self {
        let config = Self::config(overrides);
        let clock = Arc::new(FixedClock::new(Self::START));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let plaid = Arc::new(ScriptedPlaid::new(clock.clone()));
        let vault = Arc::new(MemoryVault::new().unwrap_or_else(|e| panic!("MemoryVault: {e}")));
        let queue = Arc::new(RecordingQueue::new());
        let continuation = Arc::new(RecordingContinuation::new());
        let bus = Arc::new(RecordingBus::default());
        let pseudonyms = crate::domain::UserPseudonyms::new(*b"the test deployment's pseudonym key, 32+")
            .unwrap_or_else(|e| panic!("test pseudonym key: {e}"));
        let services = Services::new(
            config,
            Ports {
                plaid: plaid.clone(),
                store: store.clone(),
                vault: vault.clone(),
                queue: queue.clone(),
                continuation: continuation.clone(),
                clock: clock.clone(),
                audit: store.clone(),
                bus: bus.clone(),
            },
        )
        .with_pseudonyms(pseudonyms);
        Self { services, store, plaid, vault, queue, continuation, clock, bus }
    }

    /// The test configuration: [`TEST_ENV`] plus `overrides`.
    pub fn config(overrides: &[(&str, &str)]) -> Config {
        let vars: HashMap<String, String> =
            TEST_ENV.iter().chain(overrides).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|k| vars.get(k).cloned()).unwrap_or_else(|e| panic!("test configuration: {e}"))
    }

    /// The clock's time.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}
