//! The AWS SDK's own CPU per call, against a floor in the same run: sequential DynamoDB `GetItem` calls
//! through the functions' SDK configuration ([`weft::compose::load_sdk_config`]: the shared HTTP
//! client, the timeouts) to a loopback server that answers every request at once with a canned item,
//! against the same request posted with a bare `reqwest` client (the HTTP exchange alone).
//!
//! The server runs in this process; the caller is this program again, started with the functions'
//! environment pointed at the server, on a current-thread runtime (as one Lambda vCPU runs it), and its CPU
//! is its thread's (`/proc/thread-self/schedstat`).
//!
//! `cargo run --release -p weft --example bench_sdk_call [-- CALLS]`
//!
//! Prints the figures; asserts nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/canned_aws.rs"]
mod canned_aws;

use std::time::{Duration, Instant};

const BODY: &str = r#"{"Item":{"pk":{"S":"USER#u1"},"sk":{"S":"PROFILE"},"n":{"N":"1"}}}"#;

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    Duration::from_nanos(text.split_whitespace().next().and_then(|n| n.parse().ok()).expect("ns"))
}

struct Figure {
    wall: Duration,
    cpu: Duration,
}

async fn measure<F, Fut>(calls: u32, mut call: F) -> Figure
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..calls / 10 {
        call().await;
    }
    let (t0, c0) = (Instant::now(), thread_cpu());
    for _ in 0..calls {
        call().await;
    }
    Figure { wall: t0.elapsed() / calls, cpu: (thread_cpu() - c0) / calls }
}

fn main() {
    let calls: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5_000);
    if std::env::var_os("BENCH_SDK_CALLER").is_some() {
        return caller(calls);
    }
    let endpoint = canned_aws::start("application/x-amz-json-1.0", BODY);
    let status = std::process::Command::new(std::env::current_exe().expect("this program"))
        .arg(calls.to_string())
        .env("BENCH_SDK_CALLER", "1")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .status()
        .expect("the caller");
    assert!(status.success(), "the caller failed");
}

fn caller(calls: u32) {
    let addr = std::env::var("AWS_ENDPOINT_URL").expect("endpoint");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let sdk = weft::compose::load_sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let get = || {
            let dynamodb = dynamodb.clone();
            async move {
                dynamodb
                    .get_item()
                    .table_name("weft")
                    .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("USER#u1".into()))
                    .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()))
                    .send()
                    .await
                    .expect("GetItem");
            }
        };
        let http = reqwest::Client::new();
        let url = format!("{addr}/");
        let floor = || {
            let http = http.clone();
            let url = url.clone();
            async move {
                let body = r#"{"TableName":"weft","Key":{"pk":{"S":"USER#u1"},"sk":{"S":"PROFILE"}}}"#;
                let answer = http
                    .post(url)
                    .header("x-amz-target", "DynamoDB_20120810.GetItem")
                    .header("content-type", "application/x-amz-json-1.0")
                    .body(body)
                    .send()
                    .await
                    .expect("POST");
                let bytes = answer.bytes().await.expect("body");
                let _: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
            }
        };
        let mut rows = Vec::new();
        for _ in 0..3 {
            rows.push((measure(calls, floor).await, measure(calls, get).await));
        }
        println!("{calls} sequential calls per round, 3 rounds; per call (wall / caller's CPU):");
        for (f, s) in &rows {
            println!(
                "  floor (reqwest POST + JSON parse) {:>6.1} / {:>6.1} µs   SDK GetItem {:>6.1} / {:>6.1} µs   SDK's own CPU {:>6.1} µs",
                f.wall.as_secs_f64() * 1e6,
                f.cpu.as_secs_f64() * 1e6,
                s.wall.as_secs_f64() * 1e6,
                s.cpu.as_secs_f64() * 1e6,
                (s.cpu.saturating_sub(f.cpu)).as_secs_f64() * 1e6
            );
        }
    });
}
