//! `bench-sweep`: the reconciliation sweep's throughput and calls per item, measured in-process.
//!
//! Starts its own moto server (behind the counting proxy, `weft_tests::bench::aws_counter`) and Plaid
//! emulator (Plaid's Sandbox rate limits: `/item/get` 5,000/min per client, 40/min per item), provisions a
//! table and key from the SAM template and seeds `--items` real items (created at the emulator, stored
//! through `DynamoStore` + `KmsEnvelope`, healthy, last heard of 30 days ago). `--in-error` of them are then
//! put in ITEM_LOGIN_REQUIRED at the emulator only: their ERROR webhooks are lost (the emulator has no webhook
//! URL for them), so only the sweep can find them. Then, each on `Services` built afresh (a cold KMS data-key
//! cache, as a daily sweep's invocation has):
//!
//! 1. **floors**: the raw emulator `/item/get` rate (the same Plaid client, `SWEEP_CONCURRENCY` in flight, no
//!    pacing, no rate limits, no store or KMS work), and the sweep's own bound: a dry run (`/item/get` per
//!    item, nothing applied) with no rate limits and no pacing to speak of (1,000,000/min);
//! 2. **(a)** a real run at the default pace (1,000/min) under the Sandbox limits: every item checked,
//!    `error_found` = `--in-error`, `failed` = 0;
//! 3. **(b)** `--in-error` other items put in error at the emulator, its `/item/get` per-client limit lowered
//!    to `--over-limit`/min and the sweep run at `--over-pace`/min (above it): the 429s, the retries, and
//!    whether any item failed.
//!
//! Every run uses `stale_after_hours = 0` (every item is stale). Figures: items swept per minute of wall
//! time, `/item/get` calls per item (refused ones included), other Plaid calls, and DynamoDB / KMS / Secrets
//! Manager calls per item as the counting proxy saw them. Exits 1 if a check fails (after the report).
//!
//! ```sh
//! cargo run --release -p weft-tests --bin bench-sweep                       # 300 items, 30 in error
//! cargo run --release -p weft-tests --bin bench-sweep -- --items 600 --over-limit 400 --over-pace 800
//! ```

use aws_config::SdkConfig;
use clap::Parser;
use futures::StreamExt;
use plaid_emulator::{Condition, Control, Emulator, EmulatorConfig, Limit, RateLimits};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use weft::domain::{AccessToken, ItemRecord, SWEEP_CONCURRENCY, SweepInput, UserId};
use weft::services::Services;
use weft::services::sweep::{self, SweepStatus, SweepSummary};
use weft_tests::bench::aws_counter::AwsCounter;
use weft_tests::bench::host::{load_average, machine};
use weft_tests::moto::Moto;
use weft_tests::seed::{INSTITUTIONS, Seeder};

#[derive(Parser, Debug)]
#[command(about = "Measure the reconciliation sweep: items per minute, calls per item, 429 handling")]
struct Args {
    /// Items to seed (all swept in every run).
    #[arg(long, default_value_t = 300)]
    items: usize,
    /// Items put in error at the emulator only (lost ERROR webhooks) before each of runs (a) and (b).
    #[arg(long, default_value_t = 30)]
    in_error: usize,
    /// Items per user (at most one per institution: 5).
    #[arg(long, default_value_t = 5)]
    items_per_user: usize,
    /// Run (b): the emulator's `/item/get` per-client limit (calls per minute), lowered so that a run of
    /// `--items` crosses it.
    #[arg(long, default_value_t = 200)]
    over_limit: u32,
    /// Run (b): the sweep's pace (`checks_per_minute`), above `--over-limit`.
    #[arg(long, default_value_t = 400)]
    over_pace: u32,
    /// Seeding concurrency.
    #[arg(long, default_value_t = 16)]
    seed_concurrency: usize,
    /// Skip the floors.
    #[arg(long)]
    skip_floor: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("bench-sweep failed: {e}");
            std::process::exit(1);
        }
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn days_ago(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::days(days)
}

/// An SDK config for an AWS endpoint (the counting proxy in front of moto).
async fn sdk_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// The stack one benchmark runs against.
struct Bench {
    sdk: SdkConfig,
    table: String,
    kms_key_id: String,
    plaid_url: String,
    control: Control,
    aws: AwsCounter,
}

impl Bench {
    /// `Services` built afresh (a cold data-key cache), their AWS calls through the counting proxy.
    fn app(&self) -> Result<Services, String> {
        Ok(weft_tests::seed::app(
            &self.sdk,
            &self.table,
            &self.kms_key_id,
            &self.plaid_url,
            weft_tests::stack::PLAID_CLIENT_ID,
            weft_tests::stack::PLAID_SECRET,
        )?
        .app)
    }
}

/// What one sweep run measured.
struct Measured {
    label: String,
    pace: u32,
    limit: String,
    summary: SweepSummary,
    secs: f64,
    /// `/item/get` requests the emulator received (refused ones included).
    item_get: u64,
    /// Other Plaid requests, by endpoint.
    other_plaid: BTreeMap<String, u64>,
    /// AWS calls by operation (`DynamoDB_20120810.GetItem`, ...).
    aws: BTreeMap<String, u64>,
    expected_errors: usize,
}

impl Measured {
    fn finding(&self, name: &str) -> u64 {
        self.summary.invocation.findings.get(name).copied().unwrap_or(0)
    }

    fn per_minute(&self) -> f64 {
        self.summary.invocation.checked as f64 / self.secs * 60.0
    }

    /// `/item/get` requests refused with 429: every request but one per item that got an answer (the
    /// emulator fails no other way here).
    fn refused(&self) -> u64 {
        let answered = self.summary.invocation.checked.saturating_sub(self.finding("failed"));
        self.item_get.saturating_sub(answered)
    }

    fn aws_total(&self, prefix: &str) -> u64 {
        self.aws.iter().filter(|(op, _)| op.starts_with(prefix)).map(|(_, n)| n).sum()
    }

    /// `3.07: GetItem 1.00, UpdateItem 1.00, Query ×34, PutItem ×3` (per item; whole-run counts with ×).
    fn aws_cell(&self, prefix: &str) -> String {
        let n = self.summary.invocation.checked.max(1) as f64;
        let ops: Vec<String> = self
            .aws
            .iter()
            .filter(|(op, _)| op.starts_with(prefix))
            .map(|(op, count)| {
                let name = op.split_once('.').map_or(op.as_str(), |(_, name)| name);
                format!("{name} {count} ({:.2}/item)", *count as f64 / n)
            })
            .collect();
        if ops.is_empty() {
            return "0".into();
        }
        format!("{:.2}/item: {}", self.aws_total(prefix) as f64 / n, ops.join(", "))
    }

    /// The checks this run must pass, with what it measured.
    fn checks(&self, items: usize) -> Vec<(String, bool)> {
        let s = &self.summary;
        vec![
            (format!("{}: status {:?}, complete", self.label, s.status), s.status == SweepStatus::Complete),
            (
                format!("{}: checked {} of {items} items", self.label, s.invocation.checked),
                s.invocation.checked == items as u64,
            ),
            (
                format!(
                    "{}: error_found {} (expected {})",
                    self.label,
                    self.finding("error_found"),
                    self.expected_errors
                ),
                self.finding("error_found") == self.expected_errors as u64,
            ),
            (format!("{}: failed {} (expected 0)", self.label, self.finding("failed")), self.finding("failed") == 0),
        ]
    }
}

async fn run(args: Args) -> Result<bool, String> {
    if args.in_error * 2 > args.items {
        return Err("--in-error must be at most half of --items (runs (a) and (b) each put that many in error)".into());
    }
    let machine = machine();
    let load_before = load_average();
    println!("machine: {machine}, load average {load_before}");
    let moto = Moto::start(&std::env::temp_dir().join(format!("bench-sweep-moto-{}.log", std::process::id())))?;
    let prefix = format!("benchsweep{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let endpoint = moto.endpoint.clone();
    let resources = tokio::task::spawn_blocking(move || {
        weft_tests::provision::provision(
            &endpoint,
            &prefix,
            weft_tests::stack::PLAID_CLIENT_ID,
            weft_tests::stack::PLAID_SECRET,
        )
    })
    .await
    .map_err(err)??;
    let emulator =
        Emulator::spawn(EmulatorConfig::new(weft_tests::stack::PLAID_CLIENT_ID, weft_tests::stack::PLAID_SECRET))
            .await
            .map_err(err)?;
    let control = emulator.control().clone();
    let sandbox_limits = control.rate_limits();
    let item_get_limit = sandbox_limits.0.get("/item/get").copied();
    println!("emulator /item/get limits: {item_get_limit:?}");
    let aws = AwsCounter::start(&moto.endpoint).await.map_err(|e| format!("AWS counter: {e}"))?;
    let bench = Bench {
        sdk: sdk_for(&aws.endpoint).await,
        table: resources.table_name.clone(),
        kms_key_id: resources.kms_key_id.clone(),
        plaid_url: emulator.base_url(),
        control: control.clone(),
        aws,
    };

    // ---- seeding (not measured; straight to moto, not through the counter) -------------------------------
    let seeder = Seeder::new(&moto.sdk_config().await, &resources.table_name, &resources.kms_key_id, control.clone());
    let seeding = Instant::now();
    let items = seed(&seeder, &args).await?;
    let seed_secs = seeding.elapsed().as_secs_f64();
    println!("seeded {} items in {seed_secs:.1} s", items.len());
    // Lost ERROR webhooks: in error at Plaid, healthy here. Every `step`-th item for run (a), the ones next
    // to them for run (b).
    let step = items.len() / args.in_error.max(1);
    let errors_a: Vec<&ItemRecord> = items.iter().step_by(step.max(1)).take(args.in_error).collect();
    let errors_b: Vec<&ItemRecord> = items.iter().skip(1).step_by(step.max(1)).take(args.in_error).collect();
    put_in_error(&control, &errors_a)?;

    // ---- floors -----------------------------------------------------------------------------------------
    let mut floor_raw = None;
    let mut floor_dry = None;
    if !args.skip_floor {
        control.set_rate_limits(RateLimits::unlimited());
        let app = bench.app()?;
        let tokens = tokens(&app, &items).await?;
        let before = control.call_count("/item/get", None);
        let started = Instant::now();
        let answered: Vec<bool> = futures::stream::iter(tokens.iter())
            .map(|t| async { app.plaid.item_get(t).await.is_ok() })
            .buffer_unordered(SWEEP_CONCURRENCY)
            .collect()
            .await;
        let secs = started.elapsed().as_secs_f64();
        let calls = control.call_count("/item/get", None) - before;
        let ok = answered.iter().filter(|a| **a).count();
        println!("floor: {calls} raw /item/get calls in {secs:.2} s ({ok} answered)");
        floor_raw = Some((calls, secs, ok));
        let dry = measure(
            &bench,
            "dry run, unpaced, no rate limits",
            SweepInput {
                stale_after_hours: Some(0),
                checks_per_minute: Some(1_000_000),
                dry_run: true,
                ..Default::default()
            },
            "none".into(),
            args.in_error,
        )
        .await?;
        floor_dry = Some(dry);
        control.set_rate_limits(sandbox_limits.clone());
    }

    // ---- (a) the default pace under the Sandbox limits -----------------------------------------------------
    let a = measure(
        &bench,
        "(a) default pace",
        SweepInput { stale_after_hours: Some(0), ..Default::default() },
        format!("Sandbox: {item_get_limit:?}"),
        args.in_error,
    )
    .await?;

    // ---- (b) above the emulator's per-client limit --------------------------------------------------------
    put_in_error(&control, &errors_b)?;
    let mut limits = sandbox_limits.clone();
    let per_item = item_get_limit.and_then(|l| l.per_item);
    limits.0.insert("/item/get".into(), Limit { per_item, per_client: Some(args.over_limit) });
    control.set_rate_limits(limits);
    let b = measure(
        &bench,
        "(b) above the limit",
        SweepInput { stale_after_hours: Some(0), checks_per_minute: Some(args.over_pace), ..Default::default() },
        format!("/item/get {}/min per client, {per_item:?}/min per item", args.over_limit),
        args.in_error,
    )
    .await?;
    control.set_rate_limits(sandbox_limits);

    // ---- report -------------------------------------------------------------------------------------------
    let runs: Vec<&Measured> = floor_dry.iter().chain([&a, &b]).collect();
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| machine | {machine} |");
    println!("| load average (1 min) before / after | {load_before} / {} |", load_average());
    println!(
        "| items | {} seeded in {seed_secs:.0} s (at most {} per user, last heard of 30 days ago); {} put in error at the emulator only before (a), {} more before (b) |",
        items.len(),
        args.items_per_user,
        errors_a.len(),
        errors_b.len()
    );
    if let Some((calls, secs, ok)) = floor_raw {
        println!(
            "| floor: raw `/item/get` against the emulator ({SWEEP_CONCURRENCY} in flight, no pacing, no limits) | {calls} calls ({ok} answered) in {secs:.2} s = **{:.0}/min** |",
            calls as f64 / secs * 60.0
        );
    }
    println!();
    println!(
        "| run | pace | emulator /item/get limit | wall time | **items swept per minute** | `/item/get` per item (429s) | other Plaid calls | DynamoDB calls | KMS calls | Secrets Manager | findings |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for m in &runs {
        let n = m.summary.invocation.checked.max(1) as f64;
        let other: Vec<String> = m.other_plaid.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let findings: Vec<String> = m.summary.invocation.findings.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "| {} | {}/min | {} | {:.1} s | **{:.0}** | {:.2} ({} refused) | {} | {} | {} | {} | {} |",
            m.label,
            m.pace,
            m.limit,
            m.secs,
            m.per_minute(),
            m.item_get as f64 / n,
            m.refused(),
            if other.is_empty() { "0".into() } else { other.join(", ") },
            m.aws_cell("DynamoDB"),
            m.aws_cell("TrentService"),
            m.aws_total("secretsmanager"),
            findings.join(", "),
        );
    }
    let other_aws: Vec<String> = runs
        .iter()
        .flat_map(|m| m.aws.keys())
        .filter(|op| {
            !op.starts_with("DynamoDB") && !op.starts_with("TrentService") && !op.starts_with("secretsmanager")
        })
        .cloned()
        .collect();
    if !other_aws.is_empty() {
        println!("\nother AWS calls: {}", other_aws.join(", "));
    }
    println!();
    let mut all_met = true;
    for m in [&a, &b].into_iter().chain(floor_dry.as_ref()) {
        for (check, met) in m.checks(items.len()) {
            println!("- {}: {check}", if met { "met" } else { "**NOT MET**" });
            all_met &= met;
        }
    }
    emulator.shutdown().await;
    Ok(all_met)
}

/// One sweep run on fresh `Services`, timed, with the calls it made.
async fn measure(
    bench: &Bench,
    label: &str,
    input: SweepInput,
    limit: String,
    expected_errors: usize,
) -> Result<Measured, String> {
    let app = bench.app()?;
    let pace = input.checks_per_minute.unwrap_or(app.config.sweep.checks_per_minute);
    let plaid_before = bench.control.call_counts().total;
    bench.aws.reset();
    let far = Instant::now() + Duration::from_secs(3600);
    println!("{label}: sweeping at {pace}/min...");
    let started = Instant::now();
    let summary = sweep::run(&app, input, far).await.map_err(err)?;
    let secs = started.elapsed().as_secs_f64();
    let aws = bench.aws.snapshot();
    let mut plaid: BTreeMap<String, u64> = bench
        .control
        .call_counts()
        .total
        .into_iter()
        .map(|(k, v)| {
            let d = v - plaid_before.get(&k).copied().unwrap_or(0);
            (k, d)
        })
        .filter(|(_, d)| *d > 0)
        .collect();
    let item_get = plaid.remove("/item/get").unwrap_or(0);
    println!(
        "  {} checked in {secs:.1} s, {item_get} /item/get, findings {:?}",
        summary.invocation.checked, summary.invocation.findings
    );
    Ok(Measured {
        label: label.to_owned(),
        pace,
        limit,
        summary,
        secs,
        item_get,
        other_plaid: plaid,
        aws,
        expected_errors,
    })
}

/// Every item's access token, unsealed through `app` (for the raw floor; not timed).
async fn tokens(app: &Services, items: &[ItemRecord]) -> Result<Vec<AccessToken>, String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let (_, sealed) =
            app.store.get_item_sealed(&item.user_id, &item.item_id).await.map_err(err)?.ok_or("item not stored")?;
        out.push(app.unseal(&item.item_id, &sealed).await.map_err(err)?.1);
    }
    Ok(out)
}

/// ITEM_LOGIN_REQUIRED at the emulator only (its ERROR webhook goes nowhere: the items have no webhook URL).
fn put_in_error(control: &Control, items: &[&ItemRecord]) -> Result<(), String> {
    for item in items {
        control.set_condition(item.item_id.as_str(), Condition::ItemLoginRequired, None).map_err(err)?;
    }
    Ok(())
}

/// Seeds `--items` healthy items, `--items-per-user` per user.
async fn seed(seeder: &Seeder, args: &Args) -> Result<Vec<ItemRecord>, String> {
    let per_user = args.items_per_user.clamp(1, INSTITUTIONS.len());
    let users: Vec<UserId> = futures::stream::iter(0..args.items.div_ceil(per_user))
        .map(|u| async move { seeder.user(&format!("bench-sweep-{u}"), days_ago(1)).await })
        .buffered(args.seed_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    futures::stream::iter(0..args.items)
        .map(|i| {
            let users = &users;
            async move { seeder.item(&users[i / per_user], INSTITUTIONS[i % INSTITUTIONS.len()], days_ago(30)).await }
        })
        .buffered(args.seed_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}
