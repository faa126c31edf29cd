//! An offline emulator of Plaid's sandbox API (version 2020-09-14).
//!
//! It serves Plaid's endpoints at the root of its address, with Plaid's validation rules, error
//! objects, token formats and lifetimes, sandbox institutions and credentials, seeded transaction
//! histories behind `/transactions/sync`, signed webhooks with retries, and rate limits. A control
//! API under `/__emulator/` (and the in-process [`Control`] handle) lets tests simulate Link,
//! inject faults, put Items in error conditions, change transactions, advance the clock, rotate
//! the signing key and inspect deliveries and call counts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use plaid_emulator::{Emulator, EmulatorConfig};
//!
//! let emulator = Emulator::spawn(EmulatorConfig::new("client", "secret")).await?;
//! let base = emulator.base_url(); // e.g. http://127.0.0.1:43121
//! let item = emulator.control().create_item(&Default::default())?;
//! # let _ = (base, item);
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod api;
mod app;
mod clock;
mod config;
mod control;
mod faults;
mod http;
mod ids;
mod items;
mod keys;
mod link;
mod persist;
mod ratelimit;
mod sandbox;
mod server;
mod state;
mod transactions;
mod webhooks;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use crate::api::Endpoint;
pub use crate::app::CallCounts;
pub use crate::config::{DEFAULT_MAX_BODY_BYTES, EmulatorConfig};
pub use crate::control::{
    AdvanceClock, Control, CreateItem, CreatedItem, LinkEventsSetting, LinkStart, RotatedKey, StartedLink,
};
pub use crate::faults::{CustomError, Fault, FaultKind, FaultSpec};
pub use crate::items::{Condition, ModifyTransaction, MutationResult, NewTransaction, TransactionMutation};
pub use crate::keys::KeyError;
pub use crate::link::{LinkCompletion, LinkOutcome};
pub use crate::persist::PersistError;
pub use crate::ratelimit::{Limit, RateLimits};
pub use crate::webhooks::{Attempt, Delivery, DeliveryStatus, WebhookConfig};
pub use crate::wire::{ErrorExtra, ErrorType, PlaidError};

use crate::app::App;
use crate::clock::Clock;
use crate::state::State;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
    /// The state file exists but could not be loaded.
    #[error("cannot load the state file")]
    State(#[from] PersistError),
    /// The request schema built into the crate does not parse (a build defect).
    #[error("the embedded request schema is invalid")]
    Schema,
    /// [`Emulator::spawn_on_thread`] could not start its thread or runtime.
    #[error("cannot start the emulator's runtime")]
    Runtime(#[source] std::io::Error),
    /// [`Emulator::spawn_on_thread`]'s thread ended before the emulator was up.
    #[error("the emulator's thread stopped before it was ready")]
    ThreadGone,
}

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// Starts an emulator on the current tokio runtime.
    pub async fn spawn(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
        if !crate::wire::preload() {
            return Err(EmulatorError::Schema);
        }
        let start = config.start_time.unwrap_or_else(time::OffsetDateTime::now_utc);
        let clock = Clock::new(start);
        let snapshot = match &config.state_file {
            Some(path) => crate::persist::load(path)?,
            None => None,
        };
        let state = match snapshot {
            Some(snapshot) => {
                clock.set_offset(time::Duration::milliseconds(snapshot.clock_offset_ms));
                State::from_snapshot(snapshot, clock.unix()).map_err(|e| EmulatorError::State(PersistError::Key(e)))?
            }
            None => State::new(clock.unix()),
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| EmulatorError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| EmulatorError::Bind { addr: config.listen, source })?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let notify = config.state_file.as_ref().map(|_| Arc::new(Notify::new()));
        let state_file = config.state_file.clone();
        let ticking = !config.history_delay.is_zero();
        let app = Arc::new(App::new(
            config,
            clock,
            state,
            notify.clone(),
            format!("http://{addr}"),
            shutdown_rx.clone(),
            tokio::runtime::Handle::current(),
        ));
        let writer = match (state_file, notify) {
            (Some(path), Some(notify)) => {
                Some(tokio::spawn(crate::persist::writer(Arc::clone(&app), path, notify, shutdown_rx.clone())))
            }
            _ => None,
        };
        if ticking {
            tokio::spawn(ticker(Arc::clone(&app), shutdown_rx.clone()));
        }
        let router = crate::server::router(Arc::clone(&app));
        let mut stop = shutdown_rx;
        let server = tokio::spawn(async move {
            let graceful = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(graceful).await {
                tracing::error!(error = %e, "emulator server stopped");
            }
        });
        Ok(RunningEmulator {
            addr,
            control: Control::new(app),
            shutdown: shutdown_tx,
            server: Some(server),
            writer,
            thread: None,
        })
    }

    /// Starts an emulator on a runtime of its own, in a background thread: for synchronous tests
    /// or callers without a tokio runtime.
    pub fn spawn_on_thread(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("plaid-emulator".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(EmulatorError::Runtime(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    match Emulator::spawn(config).await {
                        Ok(mut running) => {
                            let mut stop = running.shutdown.subscribe();
                            let server = running.server.take();
                            let writer = running.writer.take();
                            let _ = tx.send(Ok(running));
                            let _ = stop.wait_for(|s| *s).await;
                            if let Some(s) = server {
                                let _ = s.await;
                            }
                            if let Some(w) = writer {
                                let _ = w.await;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(EmulatorError::Runtime)?;
        let mut running = rx.recv().map_err(|_| EmulatorError::ThreadGone)??;
        running.thread = Some(thread);
        Ok(running)
    }
}

/// Checks delayed histories now and then (only runs when a history delay is configured).
async fn ticker(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.changed() => return,
        }
        let now = app.clock.now();
        let out = crate::items::ready_webhooks(&mut app.lock_state(), now);
        if !out.is_empty() {
            app.send_webhooks(out);
            app.changed();
        }
    }
}

/// A running emulator. Dropping it stops the server (in-flight webhook retries end too).
pub struct RunningEmulator {
    addr: SocketAddr,
    control: Control,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the Plaid base URL to give clients.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The in-process control handle.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// The client id the emulator accepts.
    pub fn client_id(&self) -> &str {
        self.control.client_id()
    }

    /// The secret the emulator accepts.
    pub fn secret(&self) -> &str {
        self.control.secret()
    }

    /// Stops the server and waits for it (and for the last state file write).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
        if let Some(w) = self.writer.take() {
            let _ = w.await;
        }
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    /// Stops the server (for callers without a runtime, e.g. after [`Emulator::spawn_on_thread`]):
    /// signals shutdown and waits for the emulator's thread, if it has one.
    pub fn shutdown_blocking(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
