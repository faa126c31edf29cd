//! What a function's init costs step by step in a fresh process (each step's first touch of its code
//! included), and `weft::compose::from_env` whole, against a loopback server that answers every AWS call at
//! once: the logging set-up, the configuration, the HTTP client for Plaid and the issuer, the AWS SDK
//! configuration, the Secrets Manager and DynamoDB clients, the first `GetSecretValue` (a new connection,
//! signing, the answer parsed), then two more calls on the warm connection. The process's start (exec, the
//! dynamic loader, the runtime) is not in these figures: `bench-functions` measures whole inits.
//!
//! Each round starts this program twice more: once for the steps, once for `from_env` (a function that
//! serves events: the Plaid secret, no pseudonym key, no issuer keys). Times are wall-clock on one thread
//! with nothing to wait for but the loopback server (another thread): on an idle machine, CPU. Settings the
//! environment leaves out get placeholders (nothing connects anywhere but the loopback server).
//!
//! `cargo run --release -p weft --example bench_init_steps [-- ROUNDS]`
//!
//! Prints the figures; asserts nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/canned_aws.rs"]
mod canned_aws;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Set in a child: `steps` or `whole`.
const CHILD: &str = "WEFT_BENCH_INIT_STEPS_CHILD";
const STEPS: [&str; 10] = [
    "telemetry::init (JSON logs)",
    "Config::from_env",
    "reqwest client (the shared TLS configuration)",
    "load_sdk_config",
    "Secrets Manager client",
    "DynamoDB client",
    "first GetSecretValue (new connection)",
    "second GetSecretValue",
    "third GetSecretValue",
    "from_env, whole (another process)",
];
/// The settings init requires, with placeholders.
const SETTINGS: [(&str, &str); 14] = [
    ("AWS_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "placeholder"),
    ("AWS_SECRET_ACCESS_KEY", "placeholder"),
    ("WEFT_TABLE_NAME", "weft"),
    ("WEFT_KMS_KEY_ID", "placeholder"),
    ("WEFT_PLAID_SECRET_ID", "placeholder"),
    ("WEFT_PLAID_ENV", "sandbox"),
    ("WEFT_PLAID_PRODUCTS", "transactions"),
    ("WEFT_PLAID_COUNTRY_CODES", "US"),
    ("WEFT_PLAID_CLIENT_NAME", "weft"),
    ("WEFT_PLAID_LANGUAGE", "en"),
    ("WEFT_AUTH_AUDIENCE", "weft"),
    ("WEFT_AUTH_ISSUER", "https://issuer.example"),
    ("WEFT_PLAID_WEBHOOK_URL", "https://api.example/webhooks/plaid"),
];
/// What the loopback server answers: a Plaid secret.
const SECRET: &str = r#"{"Name":"placeholder","SecretString":"{\"client_id\":\"a\",\"secret\":\"b\"}"}"#;

/// Prints `index nanos` for each step as it ends.
struct Steps(Instant);

impl Steps {
    fn done(&mut self, i: usize) {
        let now = Instant::now();
        println!("{i} {}", (now - self.0).as_nanos());
        self.0 = now;
    }
}

async fn steps() {
    let mut steps = Steps(Instant::now());
    weft::telemetry::init();
    steps.done(0);
    let config = weft::config::Config::from_env().expect("configuration");
    steps.done(1);
    let http = weft::adapters::plaid_http::PlaidClientConfig::new(config.plaid.base_url.clone())
        .http_client()
        .expect("HTTP client");
    steps.done(2);
    let sdk = weft::compose::load_sdk_config().await;
    steps.done(3);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    steps.done(4);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    steps.done(5);
    for i in 6..9 {
        let got = secrets.get_secret_value().secret_id(&config.plaid_secret_id).send().await.expect("secret");
        assert!(got.secret_string.is_some());
        steps.done(i);
    }
    std::hint::black_box((http, dynamodb));
}

async fn whole() {
    let mut steps = Steps(Instant::now());
    weft::telemetry::init();
    let app = weft::compose::from_env(weft::compose::Serves::Events).await.expect("from_env");
    steps.done(9);
    std::hint::black_box(app);
}

fn main() {
    if let Ok(kind) = std::env::var(CHILD) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        match kind.as_str() {
            "steps" => runtime.block_on(steps()),
            _ => runtime.block_on(whole()),
        }
        return;
    }
    let rounds: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(30);
    let exe = std::env::current_exe().expect("this program");
    let endpoint = canned_aws::start("application/x-amz-json-1.1", SECRET);
    let mut samples: BTreeMap<usize, Vec<Duration>> = BTreeMap::new();
    for _ in 0..rounds {
        for kind in ["steps", "whole"] {
            let mut command = std::process::Command::new(&exe);
            command.env(CHILD, kind).env("AWS_ENDPOINT_URL", &endpoint).env("RUST_LOG", "info");
            for (key, value) in SETTINGS {
                if std::env::var_os(key).is_none() {
                    command.env(key, value);
                }
            }
            let out = command.output().expect("a child");
            assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let Some((i, nanos)) = line.split_once(' ') else { continue };
                let (Ok(i), Ok(nanos)) = (i.parse::<usize>(), nanos.parse::<u64>()) else { continue };
                samples.entry(i).or_default().push(Duration::from_nanos(nanos));
            }
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("{rounds} rounds of fresh processes; per step, median (min-max):");
    let mut sum = Duration::ZERO;
    for (i, mut v) in samples {
        v.sort_unstable();
        let median = v[v.len() / 2];
        if i == 9 {
            println!("  {:<46} {:.3} ms", "sum of the steps to the first call", ms(sum));
        } else if i < 7 {
            sum += median;
        }
        println!("  {:<46} {:.3} ms ({:.3}-{:.3})", STEPS[i], ms(median), ms(v[0]), ms(v[v.len() - 1]));
    }
}
