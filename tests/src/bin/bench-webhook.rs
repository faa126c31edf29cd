//! `bench-webhook`: how fast the webhook function answers Plaid while a big sync is handed off, and how long
//! the sync worker then takes to store it.
//!
//! On the local stack (moto, the Plaid emulator, the functions under `cargo lambda watch`, i.e. **debug**
//! builds of the functions, one instance each, and the SQS trigger that feeds the sync worker):
//!
//! 1. an item is linked and exchanged through the app's API and its first sync awaited;
//! 2. its webhooks are held back, and the emulator adds `--transactions` (10,000) transactions to it;
//! 3. the held DEFAULT_UPDATE (the webhook that hands the sync off) is posted to the webhook function, timed
//!    from the POST to its 200 (**hand-off latency**), and the clock starts for the **sync**: until the worker
//!    logs the sync done and the table holds every transaction of the item;
//! 4. intake latency: real signed webhooks (SYNC_UPDATES_AVAILABLE of a second item, each signed in a new
//!    second, so none is a duplicate and each queues a sync) posted and timed, `--samples` of them before the
//!    big change, while its sync runs, and after it;
//! 5. the floor: a request refused before any I/O (no header), through the same HTTP and cargo-lambda path.
//!
//! Webhook verification throughput (warm key cache, per core) is `shared/examples/bench_webhook_verify.rs`:
//! `cargo run --release -p weft --example bench_webhook_verify`.
//!
//! `cargo run -p weft-tests --bin bench-webhook [-- --transactions 10000 --samples 15]` (the bench itself may
//! run in release; the functions it measures are what `cargo lambda watch` serves). Asserts nothing about time.

use clap::Parser;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use weft_tests::app_client::AppClient;
use weft_tests::flows::{self, eventually, link_and_exchange, unique_user, wait_until_mirrored};
use weft_tests::stack::{LocalStack, StackOptions};

#[derive(Parser)]
#[command(about = "Webhook intake latency while a big sync is handed off, and the time to store that sync")]
struct Args {
    /// Transactions the emulator adds to the item in one change.
    #[arg(long, default_value_t = 10_000)]
    transactions: usize,
    /// Timed webhooks before the sync, during it (at most), and after it.
    #[arg(long, default_value_t = 15)]
    samples: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("bench-webhook: {e}");
        std::process::exit(1);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median, p90 and max of some durations, in ms.
fn summary(samples: &[Duration]) -> String {
    let mut v: Vec<f64> = samples.iter().copied().map(ms).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return "no samples".into();
    }
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!("median {:.1} ms, p90 {:.1} ms, max {:.1} ms (n = {})", at(0.5), at(0.9), at(1.0), v.len())
}

async fn hold(stack: &LocalStack, item_id: &str) -> Result<(), String> {
    stack.emulator().post(&format!("items/{item_id}/webhooks/hold"), json!({ "hold": true })).await.map(|_| ())
}

/// Fires SYNC_UPDATES_AVAILABLE for a (held) item, signed in a second no earlier delivery used, and posts it.
async fn timed_webhook(stack: &LocalStack, item_id: &str, access_token: &str) -> Result<Duration, String> {
    let before = flows::deliveries(stack, item_id, Some("SYNC_UPDATES_AVAILABLE")).await?;
    if let Some(last) = before.last() {
        let fired = last["fired_at"].as_str().unwrap_or_default().to_owned();
        let fired = time::OffsetDateTime::parse(&fired, &time::format_description::well_known::Rfc3339)
            .map_err(|e| e.to_string())?;
        eventually("the emulator clock to tick", flows::WAIT, || async {
            let now = stack.emulator().get("clock").await.ok()?;
            (now["unix"].as_i64()? > fired.unix_timestamp()).then_some(())
        })
        .await?;
    }
    let fired = stack
        .http
        .post(format!("{}/sandbox/item/fire_webhook", stack.plaid.base_url()))
        .json(&json!({
            "client_id": weft_tests::stack::PLAID_CLIENT_ID,
            "secret": weft_tests::stack::PLAID_SECRET,
            "access_token": access_token,
            "webhook_code": "SYNC_UPDATES_AVAILABLE",
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !fired.status().is_success() {
        return Err(format!("fire_webhook: {}", fired.status()));
    }
    let held_before = before.iter().filter(|d| d["status"] == "held").count();
    let held = flows::wait_for_deliveries(stack, item_id, "SYNC_UPDATES_AVAILABLE", "held", held_before + 1).await?;
    let delivery = held.last().ok_or("no held delivery")?;
    let answer = flows::redeliver(stack, delivery).await?;
    if answer.status != 200 || answer.body["handled"] != "sync_queued" {
        return Err(format!("webhook answered {} {}", answer.status, answer.body));
    }
    Ok(answer.elapsed)
}

/// The webhook function's item look-up (a `GSI1` query) against moto, timed from here.
async fn gsi_lookups(stack: &LocalStack, item_id: &str, n: usize) -> Result<Vec<Duration>, String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let mut samples = Vec::new();
    for _ in 0..n {
        let start = Instant::now();
        dynamo
            .query()
            .table_name(&stack.resources.table_name)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk AND GSI1SK = :sk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("ITEM#{item_id}")))
            .expression_attribute_values(":sk", AttributeValue::S("ITEM".into()))
            .send()
            .await
            .map_err(|e| format!("query: {e:?}"))?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

async fn run(args: Args) -> Result<(), String> {
    let started = Instant::now();
    let stack = LocalStack::start(StackOptions::default()).await?;
    flows::relax_emulator(&stack).await?;
    println!("local stack up in {:.1} s (logs: {})", started.elapsed().as_secs_f64(), stack.log_dir.display());

    let app = AppClient::new(&stack, &unique_user("bench"));
    let item_id = link_and_exchange(&app, &stack, "ins_109508").await?;
    let initial = wait_until_mirrored(&app, &stack, &item_id, 500).await?;
    let other_app = AppClient::new(&stack, &unique_user("bench"));
    let other_item = link_and_exchange(&other_app, &stack, "ins_109508").await?;
    wait_until_mirrored(&other_app, &stack, &other_item, 500).await?;
    let other_token =
        stack.emulator().item(&other_item).await?["access_token"].as_str().ok_or("no access token")?.to_owned();
    hold(&stack, &item_id).await?;
    hold(&stack, &other_item).await?;
    // Warm the path once (the function instances and the key cache are warm from the initial webhooks), then
    // time intake with the worker idle and a small table.
    timed_webhook(&stack, &other_item, &other_token).await?;
    let mut before = Vec::new();
    for _ in 0..args.samples {
        before.push(timed_webhook(&stack, &other_item, &other_token).await?);
    }
    let lookups_before = gsi_lookups(&stack, &other_item, args.samples).await?;

    let mutated = stack
        .emulator()
        .mutate_transactions(&item_id, json!({ "generate": args.transactions, "webhook": true }))
        .await?;
    let added = mutated["added"].as_array().map_or(0, Vec::len);
    let expected = initial.len() + added;
    let handoff = flows::wait_for_deliveries(&stack, &item_id, "DEFAULT_UPDATE", "held", 1).await?;
    let synced_lines =
        |log: &str| log.lines().filter(|l| l.contains("transactions synced") && l.contains(&item_id)).count();
    let syncs_before = synced_lines(&flows::lambda_log(&stack));

    let sync_started = Instant::now();
    let answer = flows::redeliver(&stack, &handoff[0]).await?;
    if answer.status != 200 || answer.body["handled"] != "sync_queued" {
        return Err(format!("the hand-off webhook answered {} {}", answer.status, answer.body));
    }
    let handoff_latency = answer.elapsed;

    // Intake while the worker stores the big sync (samples taken while it is still running).
    let mut during = Vec::new();
    let sync_done = |log: &str| synced_lines(log) > syncs_before;
    while during.len() < args.samples && !sync_done(&flows::lambda_log(&stack)) {
        let latency = timed_webhook(&stack, &other_item, &other_token).await?;
        if !sync_done(&flows::lambda_log(&stack)) {
            during.push(latency);
        }
    }
    let sync_logged = eventually("the big sync", Duration::from_secs(1800), || async {
        sync_done(&flows::lambda_log(&stack)).then(|| sync_started.elapsed())
    })
    .await?;
    let stored = flows::stored_transaction_count(&stack, &item_id).await?;
    let sync_stored = sync_started.elapsed();
    if stored != expected {
        return Err(format!("the table holds {stored} transactions of the item, expected {expected}"));
    }
    let synced_line = flows::lambda_log(&stack)
        .lines()
        .rfind(|l| l.contains("transactions synced") && l.contains(&item_id))
        .map(str::to_owned)
        .unwrap_or_default();
    let synced: Value = serde_json::from_str(&synced_line).unwrap_or(Value::Null);

    // Intake with the worker idle.
    let mut idle = Vec::new();
    for _ in 0..args.samples {
        idle.push(timed_webhook(&stack, &other_item, &other_token).await?);
    }

    let lookups_after = gsi_lookups(&stack, &other_item, args.samples).await?;

    // The floor: a request refused before any I/O (no Plaid-Verification header), through the same HTTP and
    // cargo-lambda path.
    let mut floor = Vec::new();
    for _ in 0..args.samples {
        let answer = flows::post_webhook(&stack, None, b"{}").await?;
        if answer.status != 401 {
            return Err(format!("an unsigned webhook answered {}", answer.status));
        }
        floor.push(answer.elapsed);
    }

    println!();
    println!("webhooks and sync: functions as debug builds under cargo lambda watch, moto, the Plaid emulator");
    println!("  item with {} transactions, then {added} added in one change", initial.len());
    println!("  hand-off webhook (DEFAULT_UPDATE -> sync queued), POST to 200: {:.1} ms", ms(handoff_latency));
    println!(
        "  sync of {added} transactions ({} pages of 500): worker logged it done after {:.1} s; all {expected} in the table after {:.1} s",
        synced["pages"],
        sync_logged.as_secs_f64(),
        sync_stored.as_secs_f64()
    );
    println!("  intake (SYNC_UPDATES_AVAILABLE -> sync queued), POST to 200:");
    println!("    before, worker idle, ~{} rows in the table: {}", 2 * initial.len(), summary(&before));
    println!("    during that sync:                           {}", summary(&during));
    println!("    after it, worker idle, ~{} rows:          {}", expected + initial.len(), summary(&idle));
    println!(
        "  moto alone, the item look-up (GSI1 query) from here: before {}; after {}",
        summary(&lookups_before),
        summary(&lookups_after)
    );
    println!("  refused before any I/O (no header, 401), the HTTP + cargo-lambda floor: {}", summary(&floor));
    println!("  total bench time {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
