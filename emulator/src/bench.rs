//! `plaid-emulator bench` (hidden): start-up time of this binary and `/transactions/sync` latency
//! for pages of 500. Build with `--release` for meaningful figures.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Options of the benchmark.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Start-up measurements (process spawn to first HTTP answer).
    #[arg(long, default_value_t = 21)]
    startup_runs: usize,
    /// `/transactions/sync` calls measured (after 50 warm-up calls).
    #[arg(long, default_value_t = 2000)]
    sync_calls: usize,
    /// Page size of the measured syncs.
    #[arg(long, default_value_t = 500)]
    count: u32,
}

const STARTUP_LIMIT_MS: f64 = 100.0;
const SYNC_LIMIT_MS: f64 = 5.0;

fn free_port() -> Option<u16> {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).ok().map(|a| a.port())
}

/// One raw HTTP/1.1 GET; `Some(status)` if the server answered.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(50)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split(' ').nth(1)?.parse().ok()
}

fn spawn_emulator(port: u16, extra: &[&str]) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    Command::new(exe)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

struct Stats {
    median: f64,
    p99: f64,
    min: f64,
    max: f64,
    mean: f64,
}

fn stats(mut ms: Vec<f64>) -> Stats {
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        let idx = ((ms.len() as f64 - 1.0) * q).round() as usize;
        ms.get(idx).copied().unwrap_or(f64::NAN)
    };
    Stats {
        median: pick(0.5),
        p99: pick(0.99),
        min: ms.first().copied().unwrap_or(f64::NAN),
        max: ms.last().copied().unwrap_or(f64::NAN),
        mean: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
    }
}

fn measure_startup(runs: usize) -> Result<Vec<f64>, String> {
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        let port = free_port().ok_or("no free port")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        let mut child = spawn_emulator(port, &[]).map_err(|e| e.to_string())?;
        let mut answered = None;
        while started.elapsed() < Duration::from_secs(10) {
            if http_status(addr, "/__emulator/health") == Some(200) {
                answered = Some(started.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.kill();
        let _ = child.wait();
        let elapsed = answered.ok_or("the emulator did not answer within 10 s")?;
        out.push(elapsed.as_secs_f64() * 1000.0);
    }
    Ok(out)
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<Value, String> {
    let resp = client.post(url).json(body).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let v: Value = resp.json().await.map_err(|e| e.to_string())?;
    if status.is_success() { Ok(v) } else { Err(format!("{url}: {status} {v}")) }
}

async fn measure_sync(calls: usize, count: u32) -> Result<(Vec<f64>, usize, usize), String> {
    let port = free_port().ok_or("no free port")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut child = spawn_emulator(port, &["--no-rate-limits"]).map_err(|e| e.to_string())?;
    let result = async {
        let started = Instant::now();
        while http_status(addr, "/__emulator/health") != Some(200) {
            if started.elapsed() > Duration::from_secs(10) {
                return Err("the emulator did not start".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let base = format!("http://{addr}");
        let client = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
        let item = post(&client, &format!("{base}/__emulator/items"), &json!({})).await?;
        let access_token = item["access_token"].as_str().unwrap_or_default().to_owned();
        let item_id = item["item_id"].as_str().unwrap_or_default().to_owned();
        // Make sure the history holds more than one page.
        post(
            &client,
            &format!("{base}/__emulator/items/{item_id}/transactions"),
            &json!({"generate": count as usize + 100, "webhook": false}),
        )
        .await?;
        let url = format!("{base}/transactions/sync");
        let body = json!({
            "client_id": "test-client-id",
            "secret": "test-secret",
            "access_token": access_token,
            "count": count,
        });
        let mut bytes = 0;
        let mut added = 0;
        for _ in 0..50 {
            let v = post(&client, &url, &body).await?;
            added = v["added"].as_array().map_or(0, Vec::len);
        }
        let mut ms = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            let resp = client.post(&url).json(&body).send().await.map_err(|e| e.to_string())?;
            let b = resp.bytes().await.map_err(|e| e.to_string())?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            bytes = b.len();
        }
        Ok((ms, added, bytes))
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// Runs the benchmark and prints a report.
pub async fn run(args: &BenchArgs) -> ExitCode {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "plaid-emulator bench ({} build, {cores} cores)",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    let startup = match tokio::task::spawn_blocking({
        let runs = args.startup_runs.max(1);
        move || measure_startup(runs)
    })
    .await
    {
        Ok(Ok(v)) => stats(v),
        Ok(Err(e)) => {
            eprintln!("start-up measurement failed: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("start-up measurement failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "startup (spawn -> first HTTP answer), {} runs: median {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms",
        args.startup_runs.max(1),
        startup.median,
        startup.p99,
        startup.min,
        startup.max
    );
    let (sync, added, bytes) = match measure_sync(args.sync_calls.max(1), args.count).await {
        Ok((ms, added, bytes)) => (stats(ms), added, bytes),
        Err(e) => {
            eprintln!("sync measurement failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "/transactions/sync page of {added} ({bytes} bytes), {} calls over HTTP keep-alive: median {:.2} ms, p99 {:.2} ms, mean {:.2} ms, min {:.2} ms, max {:.2} ms",
        args.sync_calls.max(1),
        sync.median,
        sync.p99,
        sync.mean,
        sync.min,
        sync.max
    );
    let ok = startup.median < STARTUP_LIMIT_MS && sync.median < SYNC_LIMIT_MS;
    println!(
        "targets: startup median < {STARTUP_LIMIT_MS} ms, sync median < {SYNC_LIMIT_MS} ms: {}",
        if ok { "met" } else { "NOT met" }
    );
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
