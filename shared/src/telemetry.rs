//! Structured JSON logs for CloudWatch.
//!
//! Every function calls [`init`] once at start-up. Secrets never reach a log: tokens are newtypes whose
//! `Debug` is redacted, request bodies are never logged, and the Plaid client logs only ids.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the JSON subscriber (level from `RUST_LOG`, default `info`). Safe to call twice.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .try_init();
}
