//! `bench-churn`: the churn remover's throughput over seeded populations, measured in-process.
//!
//! Starts its own moto server and Plaid emulator (with the emulator's default Sandbox rate limits, or none),
//! provisions a table and key from the SAM template, then, round after round, seeds `--round` real churned
//! items (created at the emulator, stored through `DynamoStore` + `KmsEnvelope`, many per user) plus a few
//! to keep, and calls `weft::services::churn::run` on `Services` built against them, timed. Every round checks
//! that each candidate was removed at the emulator and here and the kept items were not. The throughput is
//! the items removed over the remover's time alone (seeding excluded).
//!
//! Why rounds: moto answers every `Query` by walking the whole table in Python, so its cost grows with the
//! table (real DynamoDB reads only the partition). Removing 10,000 items out of a 10,000-item table would
//! measure moto; rounds keep the table small and measure the remover. The emulator is reset between rounds
//! (each item holds a generated transaction history in its memory).
//!
//! ```sh
//! cargo build -p weft-tests --bin bench-churn
//! target/debug/bench-churn --items 10000                  # emulator's Sandbox limits (/item/remove 500/min per client)
//! target/debug/bench-churn --items 2000 --rate-limits off --removals-per-minute 100000   # the remover's own bound
//! ```

use clap::{Parser, ValueEnum};
use futures::StreamExt;
use plaid_emulator::{Emulator, EmulatorConfig, RateLimits};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use weft::domain::ChurnInput;
use weft::domain::UserId;
use weft::ports::ItemStore;
use weft::services::churn::{self, RunStatus};
use weft_tests::bench::host::{load_average, machine};
use weft_tests::moto::Moto;
use weft_tests::seed::{INSTITUTIONS, Seeder};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Limits {
    /// The emulator's defaults: Plaid's published Sandbox limits (/item/remove 100/min per item, 500/min per client).
    Sandbox,
    /// No rate limits: the remover's own throughput (DynamoDB, KMS, Plaid calls) is the bound.
    Off,
}

#[derive(Parser, Debug)]
#[command(about = "Measure the churn remover's throughput over seeded populations")]
struct Args {
    /// Churned items to seed and remove, in all.
    #[arg(long, default_value_t = 10_000)]
    items: usize,
    /// Churned items per round.
    #[arg(long, default_value_t = 1_000)]
    round: usize,
    /// Items per inactive user (many items share few users).
    #[arg(long, default_value_t = 10)]
    items_per_user: usize,
    /// Share of the churned items that are in error for 31+ days (the rest belong to inactive users).
    #[arg(long, default_value_t = 0.2)]
    error_share: f64,
    /// Items to keep per round (errors of 5 days: scanned and skipped, in this and every later round).
    #[arg(long, default_value_t = 50)]
    keep: usize,
    /// Removals in flight.
    #[arg(long, default_value_t = weft::domain::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// The remover's pace (default: its own default for Sandbox, 90% of 500/min).
    #[arg(long)]
    removals_per_minute: Option<u32>,
    #[arg(long, value_enum, default_value_t = Limits::Sandbox)]
    rate_limits: Limits,
    /// Seeding concurrency.
    #[arg(long, default_value_t = 16)]
    seed_concurrency: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("bench-churn failed: {e}");
        std::process::exit(1);
    }
}

fn days_ago(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::days(days)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What one round measured.
#[derive(Default)]
struct Totals {
    removed: u64,
    scanned: u64,
    remover_secs: f64,
    dry_secs: f64,
    dry_scanned: u64,
    seed_secs: f64,
    seeded: usize,
    emulator_calls: u64,
    dynamo_calls: u64,
    plaid_calls: u64,
}

async fn run(args: Args) -> Result<(), String> {
    let machine = machine();
    let load_before = load_average();
    println!("machine: {machine}, load average {load_before}");
    let moto = Moto::start(&std::env::temp_dir().join(format!("bench-churn-moto-{}.log", std::process::id())))?;
    let prefix = format!("benchchurn{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
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
    let mut config = EmulatorConfig::new(weft_tests::stack::PLAID_CLIENT_ID, weft_tests::stack::PLAID_SECRET);
    if args.rate_limits == Limits::Off {
        config.rate_limits = RateLimits::unlimited();
    }
    let emulator = Emulator::spawn(config).await.map_err(err)?;
    let control = emulator.control().clone();
    let remove_limit = serde_json::to_value(control.rate_limits()).map_err(err)?["/item/remove"].clone();
    println!("emulator /item/remove limits: {remove_limit}");
    let sdk = moto.sdk_config().await;
    let seeder = Arc::new(Seeder::new(&sdk, &resources.table_name, &resources.kms_key_id, control.clone()));
    let weft_tests::seed::InProcess { app, store, plaid } = weft_tests::seed::app(
        &sdk,
        &resources.table_name,
        &resources.kms_key_id,
        &emulator.base_url(),
        weft_tests::stack::PLAID_CLIENT_ID,
        weft_tests::stack::PLAID_SECRET,
    )?;
    let pace = args.removals_per_minute.unwrap_or_else(|| churn::default_removals_per_minute(app.config.plaid.env));
    let input = ChurnInput {
        concurrency: Some(args.concurrency),
        removals_per_minute: args.removals_per_minute,
        ..Default::default()
    };
    let far = Instant::now() + Duration::from_secs(24 * 3600);
    let mut totals = Totals::default();
    let rounds = args.items.div_ceil(args.round.max(1));

    for round in 0..rounds {
        let churned = args.round.min(args.items - round * args.round);
        let kept_total = args.keep * (round + 1);
        println!("round {}/{rounds}: seeding {churned} churned items and {} to keep...", round + 1, args.keep);
        let seeding = Instant::now();
        let seeded = seed_round(&seeder, &args, round, churned).await?;
        let seed_secs = seeding.elapsed().as_secs_f64();
        totals.seed_secs += seed_secs;
        totals.seeded += seeded;
        println!("  seeded {seeded} items in {seed_secs:.1} s");

        if round == 0 {
            let started = Instant::now();
            let dry = churn::run(&app, ChurnInput { dry_run: true, ..input.clone() }, far).await.map_err(err)?;
            totals.dry_secs = started.elapsed().as_secs_f64();
            totals.dry_scanned = dry.totals.scanned;
            println!(
                "  dry run: {} scanned, {} candidates, {} skipped in {:.1} s",
                dry.totals.scanned, dry.totals.candidates, dry.totals.skipped, totals.dry_secs
            );
            if dry.totals.candidates != churned as u64 || dry.totals.removed != 0 {
                return Err(format!("the dry run found {} candidates, not {churned}", dry.totals.candidates));
            }
        }

        let (emulator_before, dynamo_before, plaid_before) =
            (control.call_count("/item/remove", None), store.calls(), plaid.total_calls());
        let started = Instant::now();
        let summary = churn::run(&app, input.clone(), far).await.map_err(err)?;
        let secs = started.elapsed().as_secs_f64();
        if summary.status != RunStatus::Complete
            || summary.totals.removed != churned as u64
            || summary.totals.failed != 0
            || summary.totals.skipped != kept_total as u64
        {
            return Err(format!(
                "round {round}: {:?}, removed {}, failed {}, skipped {} (expected {churned} removed, {kept_total} skipped)",
                summary.status, summary.totals.removed, summary.totals.failed, summary.totals.skipped
            ));
        }
        // Every candidate gone at Plaid; the kept ones live there and stored here.
        let live = control.items().iter().filter(|i| i["removed"] != true).count();
        if live != args.keep {
            return Err(format!("round {round}: {live} items live at the emulator, expected {}", args.keep));
        }
        let gone_user = UserId::parse(format!("bench-gone-{round}-0")).map_err(err)?;
        if !store.list_items(&gone_user).await.map_err(err)?.is_empty() {
            return Err("items of an inactive user are still stored".into());
        }
        let kept_user = UserId::parse(format!("bench-keep-{round}")).map_err(err)?;
        if store.list_items(&kept_user).await.map_err(err)?.len() != args.keep {
            return Err("kept items are missing".into());
        }
        totals.removed += summary.totals.removed;
        totals.scanned += summary.totals.scanned;
        totals.remover_secs += secs;
        totals.emulator_calls += control.call_count("/item/remove", None) - emulator_before;
        totals.dynamo_calls += store.calls() - dynamo_before;
        totals.plaid_calls += plaid.total_calls() - plaid_before;
        println!(
            "  removed {churned} in {secs:.1} s ({:.2} items/s); load average {}",
            churned as f64 / secs,
            load_average()
        );
        // The emulator keeps every item's generated history in memory: start the next round afresh.
        control.reset();
    }

    // ---- report --------------------------------------------------------------------------------------
    let rate = totals.removed as f64 / totals.remover_secs;
    let usable = 900.0 - 60.0;
    let per_invocation = rate * usable;
    let per_item = |n: u64| n as f64 / totals.removed.max(1) as f64;
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| machine | {machine} |");
    println!("| load average (1 min) before / after | {load_before} / {} |", load_average());
    println!("| emulator rate limits | {:?}: /item/remove {remove_limit} per minute |", args.rate_limits);
    println!("| remover pace / concurrency | {pace}/min / {} |", args.concurrency);
    println!(
        "| items removed | {} in {rounds} rounds of {} ({} kept per round); {} scanned |",
        totals.removed, args.round, args.keep, totals.scanned
    );
    println!("| seeding (not measured) | {} items in {:.0} s |", totals.seeded, totals.seed_secs);
    println!(
        "| dry run, round 1 | {:.1} s for {} items ({:.0} items/s) |",
        totals.dry_secs,
        totals.dry_scanned,
        totals.dry_scanned as f64 / totals.dry_secs
    );
    println!("| remover time | {:.1} s |", totals.remover_secs);
    println!("| **throughput** | **{rate:.2} items/s** ({:.0}/min) |", rate * 60.0);
    println!(
        "| /item/remove calls at the emulator (incl. refused) | {} for {} items |",
        totals.emulator_calls, totals.removed
    );
    println!(
        "| calls per item removed | {:.2} DynamoDB, {:.2} Plaid HTTP requests, 1 KMS Decrypt |",
        per_item(totals.dynamo_calls),
        per_item(totals.plaid_calls)
    );
    println!("| items per 15-min invocation (840 s usable) at this throughput | {per_invocation:.0} |");
    println!("| invocations for 1,000,000 items at this throughput | {:.0} |", (1e6 / per_invocation).ceil());
    for (label, per_minute) in [("the production pace, 1,800/min", 1800.0), ("production's limit, 2,000/min", 2000.0)] {
        let per_second: f64 = per_minute / 60.0;
        println!(
            "| invocations for 1,000,000 items at {label} | {:.0} ({:.1} h) |",
            (1e6 / (per_second * usable)).ceil(),
            1e6 / per_second / 3600.0
        );
    }
    emulator.shutdown().await;
    Ok(())
}

/// Seeds one round: inactive users with `items_per_user` items each, items of active users in error for
/// 31+ days, and `keep` items in error for 5 days (one user). Returns how many items it seeded.
async fn seed_round(seeder: &Arc<Seeder>, args: &Args, round: usize, churned: usize) -> Result<usize, String> {
    #[derive(Clone, Copy)]
    enum Kind {
        Inactive,
        OldError,
        Keep,
    }
    let in_error = ((churned as f64) * args.error_share).round() as usize;
    let inactive_items = churned - in_error;
    let per_user = args.items_per_user.max(1);
    let mut users: Vec<(String, OffsetDateTime)> = Vec::new();
    let mut items: Vec<(usize, Kind)> = Vec::new();
    for u in 0..inactive_items.div_ceil(per_user) {
        users.push((format!("bench-gone-{round}-{u}"), days_ago(61 + (u % 200) as i64)));
        for _ in 0..per_user.min(inactive_items - u * per_user) {
            items.push((users.len() - 1, Kind::Inactive));
        }
    }
    for u in 0..in_error.div_ceil(per_user) {
        users.push((format!("bench-here-{round}-{u}"), days_ago(1)));
        for _ in 0..per_user.min(in_error - u * per_user) {
            items.push((users.len() - 1, Kind::OldError));
        }
    }
    users.push((format!("bench-keep-{round}"), days_ago(1)));
    items.extend((0..args.keep).map(|_| (users.len() - 1, Kind::Keep)));

    let ids: Vec<UserId> = futures::stream::iter(users.iter())
        .map(|(name, last_active)| seeder.user(name, *last_active))
        .buffered(args.seed_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let done = AtomicUsize::new(0);
    let total = items.len();
    let results: Vec<Result<(), String>> = futures::stream::iter(items.into_iter().enumerate())
        .map(|(i, (user, kind))| {
            let (ids, done) = (&ids, &done);
            async move {
                let institution = INSTITUTIONS[i % INSTITUTIONS.len()];
                let mut item = seeder.item(&ids[user], institution, days_ago(365)).await?;
                match kind {
                    Kind::Inactive => {}
                    Kind::OldError => seeder.institution_error(&mut item, days_ago(31 + (i % 60) as i64)).await?,
                    Kind::Keep => seeder.institution_error(&mut item, days_ago(5)).await?,
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(1000) {
                    println!("    seeded {n}/{total}");
                }
                Ok(())
            }
        })
        .buffer_unordered(args.seed_concurrency)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(total)
}
