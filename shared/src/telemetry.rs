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

/// Writes JSON lines straight to stdout (CloudWatch Embedded Metric Format lines: CloudWatch Logs turns
/// them into metrics, no API call).
pub fn emit_lines(lines: &[serde_json::Value]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines {
        if let Err(e) = writeln!(out, "{line}") {
            tracing::warn!(error = %e, "could not write a metrics line");
        }
    }
    let _ = out.flush();
}

/// An error and its sources, one line (`outer: inner: innermost`), for logs: an error's own `Display`
/// says only its layer's part.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !out.ends_with(&next) {
            out.push_str(": ");
            out.push_str(&next);
        }
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_names_every_layer() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(super::chain(&e), "outer: inner");
    }
}
