//! `plaid-emulator`: serves the Plaid sandbox emulator on a local address.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use plaid_emulator::{Emulator, EmulatorConfig, Limit, RateLimits, WebhookConfig};

mod bench;

/// Offline emulator of Plaid's sandbox API (version 2020-09-14).
///
/// Serves Plaid's endpoints at the root of --listen, plus a control API under /__emulator/
/// (see emulator/README.md). Stops on Ctrl-C / SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "plaid-emulator", version, about, long_about)]
struct Cli {
    /// Address to listen on (port 0 picks a free port; the address is printed on start).
    #[arg(long, env = "PLAID_EMULATOR_LISTEN", default_value = "127.0.0.1:8911")]
    listen: SocketAddr,

    /// The client_id the emulator accepts (header PLAID-CLIENT-ID or body client_id).
    #[arg(long, env = "PLAID_EMULATOR_CLIENT_ID", default_value = "test-client-id")]
    client_id: String,

    /// The secret the emulator accepts (header PLAID-SECRET or body secret).
    #[arg(long, env = "PLAID_EMULATOR_SECRET", default_value = "test-secret", hide_env_values = true)]
    secret: String,

    /// Seed of the generated data (transactions and ids derive from it and the Item id).
    #[arg(long, env = "PLAID_EMULATOR_SEED", default_value_t = 0)]
    seed: u64,

    /// Persist state (Items, tokens, signing keys, clock offset) to this JSON file: loaded at
    /// start, rewritten after changes (debounced, atomic rename).
    #[arg(long, env = "PLAID_EMULATOR_STATE_FILE")]
    state_file: Option<PathBuf>,

    /// Debounce of state file writes, in milliseconds.
    #[arg(long, default_value_t = 200)]
    state_debounce_ms: u64,

    /// Override one endpoint's per-minute rate limits: ENDPOINT=PER_ITEM/PER_CLIENT, "-" for
    /// none (e.g. /item/get=15/5000, /institutions/get_by_id=-/400). Repeatable. Defaults: Plaid's
    /// published limits (sandbox values where published).
    #[arg(long = "rate-limit", value_name = "ENDPOINT=PER_ITEM/PER_CLIENT", value_parser = parse_rate_limit)]
    rate_limits: Vec<(String, Limit)>,

    /// Disable every rate limit (before applying --rate-limit overrides).
    #[arg(long)]
    no_rate_limits: bool,

    /// How long a webhook receiver has to answer, in milliseconds (Plaid: 10 s).
    #[arg(long, default_value_t = 10_000)]
    webhook_timeout_ms: u64,

    /// Waits before webhook retries, in milliseconds, comma-separated; the last one repeats.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,4000,8000")]
    webhook_retry_backoff_ms: Vec<u64>,

    /// Webhook delivery attempts in total (1 = never retry).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    webhook_max_attempts: u32,

    /// Delay between an Item's creation and its transaction history being ready, in seconds of
    /// the emulator clock (0 = ready at once). Until then /transactions/sync answers
    /// next_cursor "" with empty arrays.
    #[arg(long, default_value_t = 0)]
    history_delay_secs: u64,

    /// Start the emulator clock at this RFC 3339 time instead of now.
    #[arg(long, value_parser = parse_time)]
    start_time: Option<time::OffsetDateTime>,

    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = plaid_emulator::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,

    /// Enable Link events for embedded Link sessions (as Plaid does for a client on request): LINK webhooks
    /// (EVENTS, SESSION_FINISHED) and /link/token/get events for them too, not only for Hosted Link.
    #[arg(long)]
    link_events: bool,

    /// Log filter (tracing EnvFilter syntax), e.g. info or plaid_emulator=debug.
    #[arg(long, env = "PLAID_EMULATOR_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measures start-up time and /transactions/sync latency (see README).
    #[command(hide = true)]
    Bench(bench::BenchArgs),
}

fn parse_rate_limit(s: &str) -> Result<(String, Limit), String> {
    let (endpoint, limits) = s.split_once('=').ok_or_else(|| "expected ENDPOINT=PER_ITEM/PER_CLIENT".to_owned())?;
    let (item, client) = limits.split_once('/').ok_or_else(|| "expected PER_ITEM/PER_CLIENT".to_owned())?;
    let num = |v: &str| -> Result<Option<u32>, String> {
        match v.trim() {
            "-" | "" => Ok(None),
            n => n.parse().map(Some).map_err(|e| format!("{n}: {e}")),
        }
    };
    if plaid_emulator::Endpoint::from_path(endpoint).is_none() {
        return Err(format!("{endpoint} is not an emulated Plaid endpoint"));
    }
    Ok((endpoint.to_owned(), Limit { per_item: num(item)?, per_client: num(client)? }))
}

fn parse_time(s: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|e| e.to_string())
}

impl Cli {
    fn config(&self) -> EmulatorConfig {
        let mut limits = if self.no_rate_limits { RateLimits::unlimited() } else { RateLimits::default() };
        limits.0.extend(self.rate_limits.iter().cloned());
        let backoff = if self.webhook_retry_backoff_ms.is_empty() {
            vec![Duration::from_secs(1)]
        } else {
            self.webhook_retry_backoff_ms.iter().map(|ms| Duration::from_millis(*ms)).collect()
        };
        EmulatorConfig {
            listen: self.listen,
            client_id: self.client_id.clone(),
            secret: self.secret.clone(),
            seed: self.seed,
            state_file: self.state_file.clone(),
            persist_debounce: Duration::from_millis(self.state_debounce_ms),
            rate_limits: limits,
            webhooks: WebhookConfig {
                timeout: Duration::from_millis(self.webhook_timeout_ms),
                retry_backoff: backoff,
                max_attempts: self.webhook_max_attempts,
            },
            history_delay: Duration::from_secs(self.history_delay_secs),
            start_time: self.start_time,
            max_body_bytes: self.max_body_bytes,
            link_events: self.link_events,
        }
    }
}

fn init_tracing(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plaid-emulator: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(Command::Bench(args)) = &cli.command {
        return runtime.block_on(bench::run(args));
    }
    runtime.block_on(async {
        let config = cli.config();
        let running = match Emulator::spawn(config).await {
            Ok(r) => r,
            Err(e) => {
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    source = s.source();
                }
                eprintln!("plaid-emulator: {msg}");
                return std::process::ExitCode::FAILURE;
            }
        };
        println!("plaid-emulator listening on {}", running.base_url());
        shutdown_signal().await;
        running.shutdown().await;
        std::process::ExitCode::SUCCESS
    })
}
