//! `bench-churn-sim`: the churn remover's own throughput bound, and a simulated month-end run of a million
//! churned items, on the in-memory doubles (`weft::doubles`).
//!
//! 1. **The remover's own bound**: `--bound-items` churned items in a [`MemoryStore`], Plaid the
//!    [`ScriptedPlaid`] (answering at once), no rate limit and no pacing (`removals_per_minute` at its
//!    maximum), on one current-thread runtime as a Lambda invocation runs it, real time. Then the same
//!    against the Plaid emulator over HTTP (rate limits off, on its own thread: one core each).
//! 2. **The month-end simulation**: `--items` churned items (inactive users' items, and unresolved errors of
//!    active users) plus young errors that must stay, under a virtual clock: every invocation is a fresh
//!    paused tokio runtime (time advances only when every task waits) given Lambda's 900 s; Plaid is the
//!    [`ScriptedPlaid`] behind [`LimitedPlaid`] (Plaid's production per-client limit of 2,000 `/item/remove`
//!    a minute, a sliding window on one clock across invocations, and 300 ms per answer); the remover runs
//!    with its production settings (16 in flight, paced at 1,800 a minute). An invocation the deadline stops
//!    is continued with the input it hands its continuation; `--kills` invocations are dropped at a random
//!    moment (in-flight removals and all) and resumed with the run id. At the end every `/item/remove` is
//!    counted per item at the fake Plaid: zero items removed twice, zero churned items missed, zero kept
//!    items touched.
//!
//! The store double answers each churn page by scanning the whole store, so the population has few users
//! with many items each (`--items-per-user`) and pages of 1,000 entries (the DynamoDB adapter reads 25
//! users or 100 items per page); neither changes what the remover does per item.
//!
//! ```sh
//! cargo run --release -p weft-tests --bin bench-churn-sim
//! ```
//!
//! Prints the figures on stderr (stdout carries the remover's metric lines); asserts nothing about time.

use clap::Parser;
use plaid_emulator::{CreateItem, Emulator, EmulatorConfig, RateLimits};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use weft::domain::{
    AccessToken, Account, AccountId, Balances, ChurnInput, Institution, InstitutionId, ItemError, ItemId, ItemRecord,
    ItemStatus, SealedItem, UserId,
};
use weft::doubles::{LimitedPlaid, MemoryStore, PRODUCTION_ITEM_REMOVE_PER_MINUTE, SimClock, TestServices};
use weft::ports::{ItemStore, KeyVault, StaticCredentials, UserStore};
use weft::services::churn::{self, ChurnSummary, RunStatus};

#[derive(Parser)]
#[command(about = "The churn remover's own bound, and a simulated month-end run of a million churned items")]
struct Args {
    /// Churned items in the month-end simulation.
    #[arg(long, default_value_t = 1_000_000)]
    items: usize,
    /// Items per user (see the module docs).
    #[arg(long, default_value_t = 1_000)]
    items_per_user: usize,
    /// Share of the churned items that belong to inactive users (the rest: unresolved errors of active users).
    #[arg(long, default_value_t = 0.2)]
    inactive_share: f64,
    /// Young errors that must stay (scanned every run, never removed).
    #[arg(long, default_value_t = 1_000)]
    keep: usize,
    /// Invocations dropped at a random moment and resumed.
    #[arg(long, default_value_t = 3)]
    kills: usize,
    /// Plaid's answer time for `/item/remove` in the simulation, ms (virtual).
    #[arg(long, default_value_t = 300)]
    latency_ms: u64,
    /// Plaid's per-client `/item/remove` limit a minute in the simulation.
    #[arg(long, default_value_t = PRODUCTION_ITEM_REMOVE_PER_MINUTE)]
    plaid_limit: u32,
    /// The remover's pace in the simulation (default: its production default, 90% of Plaid's limit).
    #[arg(long)]
    removals_per_minute: Option<u32>,
    /// Churned items for the remover's own bound (in memory).
    #[arg(long, default_value_t = 100_000)]
    bound_items: usize,
    /// Churned items for the bound against the Plaid emulator over HTTP (0: skipped).
    #[arg(long, default_value_t = 20_000)]
    http_bound_items: usize,
    /// Seed of the kill schedule.
    #[arg(long, default_value_t = 15)]
    seed: u64,
    /// Only the simulation.
    #[arg(long)]
    skip_bound: bool,
    /// Only the bounds.
    #[arg(long)]
    skip_sim: bool,
}

/// Entries per churn index page (see the module docs).
const PAGE: usize = 1_000;
/// Lambda's longest timeout: what each invocation is given.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(900);
/// From one invocation's end to its continuation's start (an asynchronous self-invocation).
const CONTINUATION_GAP: Duration = Duration::from_millis(100);
/// The run id every invocation of the simulated run carries.
const RUN_ID: &str = "month-end-2026-11";

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("bench-churn-sim failed: {e}");
        std::process::exit(1);
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn current_thread() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(err)
}

fn run(args: &Args) -> Result<(), String> {
    eprintln!("machine: {}, load average {}", machine(), load_average());
    if !args.skip_bound {
        bound_in_memory(args)?;
        if args.http_bound_items > 0 {
            bound_over_http(args)?;
        }
    }
    if !args.skip_sim {
        simulate(args)?;
    }
    eprintln!("load average after: {}", load_average());
    Ok(())
}

/// The doubles with production settings (the remover's default pace: 1,800 a minute) and big pages.
fn services() -> TestServices {
    let t = TestServices::with_env(&[("WEFT_PLAID_ENV", "production")]);
    t.store.set_churn_page_size(PAGE);
    t
}

/// Who was seeded: the churned items and the ones that must stay.
struct Population {
    churned: Vec<(UserId, ItemId)>,
    kept: Vec<(UserId, ItemId)>,
}

/// Seeds `churned` churned items and `keep` young errors into `t`'s store, each item made at Plaid by
/// `make` (its id and access token) and sealed under its own data key. Inactive users (last active 90 days
/// ago, healthy items) own `inactive_share` of the churned items; active users (active yesterday) own the
/// rest, in error for 40 days, and the young errors (10 days).
async fn seed(
    t: &TestServices,
    churned: usize,
    keep: usize,
    args: &Args,
    mut make: impl FnMut() -> Result<(ItemId, AccessToken), String>,
) -> Result<Population, String> {
    let now = t.now();
    let days = |d: i64| now - time::Duration::days(d);
    let institution = Institution {
        institution_id: InstitutionId::parse("ins_109508").map_err(err)?,
        name: "First Platypus Bank".into(),
    };
    let accounts: Vec<Account> = ["checking", "savings"]
        .iter()
        .enumerate()
        .map(|(i, subtype)| {
            Ok(Account {
                account_id: AccountId::parse(format!("acc-template-{i}")).map_err(err)?,
                name: format!("Plaid {subtype}"),
                official_name: None,
                mask: Some(format!("{:04}", 1000 + i)),
                account_type: "depository".into(),
                subtype: Some((*subtype).into()),
                balances: Balances {
                    available: Some(100.0),
                    current: Some(110.0),
                    limit: None,
                    iso_currency_code: Some("USD".into()),
                    as_of: None,
                },
                persistent_account_id: None,
                revoked_at: None,
            })
        })
        .collect::<Result<_, String>>()?;
    let inactive = ((churned as f64) * args.inactive_share).round() as usize;
    let per_user = args.items_per_user.max(1);
    let mut population = Population { churned: Vec::with_capacity(churned), kept: Vec::with_capacity(keep) };
    // (how many, inactive?, error since)
    let groups = [(inactive, true, None), (churned - inactive, false, Some(days(40))), (keep, false, Some(days(10)))];
    let mut user_no = 0usize;
    for (group, (count, is_inactive, error_since)) in groups.into_iter().enumerate() {
        for i in 0..count {
            if i % per_user == 0 {
                user_no += 1;
            }
            let user = UserId::parse(format!("user-{user_no:07}")).map_err(err)?;
            if i % per_user == 0 {
                t.store.touch_user(&user, if is_inactive { days(90) } else { days(1) }).await.map_err(err)?;
            }
            let (item_id, token) = make()?;
            let created = days(200);
            let record = ItemRecord {
                user_id: user.clone(),
                item_id: item_id.clone(),
                institution: institution.clone(),
                accounts: accounts.clone(),
                status: if error_since.is_some() { ItemStatus::LoginRequired } else { ItemStatus::Healthy },
                error: error_since.map(|since| ItemError {
                    error_type: "ITEM_ERROR".into(),
                    error_code: "ITEM_LOGIN_REQUIRED".into(),
                    since,
                }),
                consent_expiration_time: None,
                pending_disconnect_at: None,
                new_accounts_available: false,
                webhook_url: None,
                ignored_prompts: 0,
                created_at: created,
                updated_at: error_since.unwrap_or(created),
                event_times: weft::domain::EventTimes { error: error_since, ..Default::default() },
                transactions_sync: Default::default(),
                checked_at: None,
                version: 0,
            };
            let (key, wrapped_key) = t.vault.new_item_key(&item_id).await.map_err(err)?;
            let sealed = SealedItem { wrapped_key, access_token: key.seal_access_token(&token).map_err(err)? };
            // One exchange record per user (the store double walks them on every deletion).
            t.store.insert_item(&record, &sealed, "seed").await.map_err(err)?;
            if group == 2 {
                population.kept.push((user, item_id));
            } else {
                population.churned.push((user, item_id));
            }
        }
    }
    Ok(population)
}

/// Checks that every churned item is gone from the store and every kept one is still there.
async fn check_store(store: &MemoryStore, p: &Population) -> Result<(), String> {
    for (user, item) in &p.churned {
        if store.get_item(user, item).await.map_err(err)?.is_some() {
            return Err(format!("churned item {item} is still stored"));
        }
    }
    for (user, item) in &p.kept {
        if store.get_item(user, item).await.map_err(err)?.is_none() {
            return Err(format!("kept item {item} was deleted"));
        }
    }
    Ok(())
}

/// The input of an unpaced run.
fn unpaced(run_id: &str) -> ChurnInput {
    ChurnInput { run_id: Some(run_id.into()), removals_per_minute: Some(u32::MAX), ..Default::default() }
}

/// Runs `input` to completion on `rt` (real time, a deadline far away); the items removed and the time.
fn run_to_end(rt: &tokio::runtime::Runtime, t: &TestServices, input: ChurnInput) -> Result<(u64, Duration), String> {
    let started = Instant::now();
    let summary =
        rt.block_on(churn::run(&t.services, input, Instant::now() + Duration::from_secs(24 * 3600))).map_err(err)?;
    if summary.status != RunStatus::Complete || summary.totals.failed > 0 {
        return Err(format!("the run did not complete cleanly: {:?} {:?}", summary.status, summary.totals));
    }
    Ok((summary.totals.removed, started.elapsed()))
}

fn per_minute(items: u64, took: Duration) -> f64 {
    items as f64 / took.as_secs_f64() * 60.0
}

fn bound_in_memory(args: &Args) -> Result<(), String> {
    let rt = current_thread()?;
    let t = services();
    let keep = args.keep.min(args.bound_items / 10);
    let population = rt.block_on(seed(&t, args.bound_items, keep, args, || Ok(t.plaid.add_item(&ins()?))))?;
    let cpu_before = process_cpu();
    let (removed, took) = run_to_end(&rt, &t, unpaced("bound"))?;
    let cpu = process_cpu().saturating_sub(cpu_before);
    rt.block_on(check_store(&t.store, &population))?;
    let rate = per_minute(removed, took);
    eprintln!(
        "\nthe remover's own bound, in memory ({} churned items, {} kept, {} items per user, pages of {PAGE}; \
         16 in flight, no pacing, one current-thread runtime):",
        population.churned.len(),
        population.kept.len(),
        args.items_per_user
    );
    eprintln!(
        "  {removed} removed in {:.2} s: {:.0} items/s = {:.0}/min = {:.1}× Plaid's production limit of 2,000/min; \
         {:.1} µs of CPU per item (the store double's page scans included)",
        took.as_secs_f64(),
        removed as f64 / took.as_secs_f64(),
        rate,
        rate / f64::from(PRODUCTION_ITEM_REMOVE_PER_MINUTE),
        cpu.as_secs_f64() * 1e6 / removed.max(1) as f64,
    );
    Ok(())
}

fn ins() -> Result<Institution, String> {
    Ok(Institution {
        institution_id: InstitutionId::parse("ins_109508").map_err(err)?,
        name: "First Platypus Bank".into(),
    })
}

fn bound_over_http(args: &Args) -> Result<(), String> {
    // The emulator on its own runtime thread; the remover on this thread: one core each.
    let emulator_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().map_err(err)?;
    let mut config = EmulatorConfig::new("bench-client", "bench-secret");
    config.rate_limits = RateLimits::unlimited();
    let emulator = emulator_rt.block_on(Emulator::spawn(config)).map_err(err)?;
    let control = emulator.control().clone();
    let rt = current_thread()?;
    let mut t = services();
    t.services.plaid = Arc::new(
        rt.block_on(async {
            weft::adapters::plaid_http::PlaidClient::new(
                emulator.base_url(),
                Arc::new(StaticCredentials::new("bench-client", "bench-secret")),
            )
        })
        .map_err(err)?,
    );
    let n = args.http_bound_items;
    let keep = args.keep.min(n / 10);
    let population = rt.block_on(seed(&t, n, keep, args, || {
        let created = control.create_item(&CreateItem::default()).map_err(err)?;
        Ok((ItemId::parse(created.item_id).map_err(err)?, AccessToken::parse(created.access_token).map_err(err)?))
    }))?;
    let calls_before = control.call_count("/item/remove", None);
    let (removed, took) = run_to_end(&rt, &t, unpaced("bound-http"))?;
    let calls = control.call_count("/item/remove", None) - calls_before;
    rt.block_on(check_store(&t.store, &population))?;
    let rate = per_minute(removed, took);
    eprintln!(
        "\nthe remover's own bound against the Plaid emulator over HTTP ({n} churned items, rate limits off, \
         the emulator on its own thread):"
    );
    eprintln!(
        "  {removed} removed ({calls} /item/remove calls) in {:.2} s: {:.0} items/s = {:.0}/min = {:.1}× Plaid's \
         production limit",
        took.as_secs_f64(),
        removed as f64 / took.as_secs_f64(),
        rate,
        rate / f64::from(PRODUCTION_ITEM_REMOVE_PER_MINUTE),
    );
    drop(emulator);
    Ok(())
}

/// The simulation's clock: the virtual time of the invocations so far, plus the current one's (on its
/// runtime's paused clock).
#[derive(Clone, Default)]
struct VirtualTime(Arc<Mutex<(Duration, Option<tokio::time::Instant>)>>);

impl VirtualTime {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Duration, Option<tokio::time::Instant>)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn now(&self) -> Duration {
        let g = self.lock();
        g.0 + g.1.map_or(Duration::ZERO, |start| start.elapsed())
    }
    /// An invocation starts (on its runtime).
    fn begin(&self) {
        self.lock().1 = Some(tokio::time::Instant::now());
    }
    /// It ended: its virtual duration.
    fn end(&self) -> Duration {
        let mut g = self.lock();
        let took = g.1.take().map_or(Duration::ZERO, |start| start.elapsed());
        g.0 += took;
        took
    }
    fn skip(&self, by: Duration) {
        self.lock().0 += by;
    }
}

/// How one invocation ended.
enum Ended {
    Returned(Box<Result<ChurnSummary, weft::services::ServiceError>>),
    Killed,
    /// Lambda's hard limit (never expected: the remover stops a margin before it).
    TimedOut,
}

fn simulate(args: &Args) -> Result<(), String> {
    let seed_rt = current_thread()?;
    let mut t = services();
    let vt = VirtualTime::default();
    let limited = Arc::new(
        LimitedPlaid::new(t.plaid.clone())
            .with_client_limit(weft::doubles::plaid::endpoints::ITEM_REMOVE, args.plaid_limit)
            .with_latency(Duration::from_millis(args.latency_ms))
            .with_clock({
                let vt = vt.clone();
                Arc::new(move || vt.now()) as SimClock
            }),
    );
    t.services.plaid = limited.clone();
    eprintln!("\nseeding {} churned items and {} to keep...", args.items, args.keep);
    let seeding = Instant::now();
    let population = seed_rt.block_on(seed(&t, args.items, args.keep, args, || Ok(t.plaid.add_item(&ins()?))))?;
    drop(seed_rt);
    eprintln!("  seeded in {:.1} s; peak RSS {}", seeding.elapsed().as_secs_f64(), rss());

    let expected = args.items.div_ceil(25_000).max(2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut kills: HashMap<usize, Duration> = HashMap::new();
    while kills.len() < args.kills.min(expected) {
        let at = Duration::from_millis(rng.gen_range(30_000..830_000));
        kills.entry(rng.gen_range(0..expected)).or_insert(at);
    }

    let base =
        ChurnInput { run_id: Some(RUN_ID.into()), removals_per_minute: args.removals_per_minute, ..Default::default() };
    let mut input = base.clone();
    let mut log: Vec<(usize, Duration, String, u64)> = Vec::new();
    let mut last: Option<ChurnSummary> = None;
    let started = Instant::now();
    for invocation in 0.. {
        if invocation > 10 * expected + 10 {
            return Err(format!("the run did not end within {invocation} invocations"));
        }
        let kill_at = kills.get(&invocation).copied();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().map_err(err)?;
        let (ended, took) = rt.block_on(async {
            vt.begin();
            let wall = time::Duration::try_from(vt.now()).unwrap_or(time::Duration::ZERO);
            t.clock.set(TestServices::START + wall);
            let call = churn::invoke(&t.services, input.clone(), Some(LAMBDA_TIMEOUT));
            let limit = kill_at.unwrap_or(LAMBDA_TIMEOUT);
            let ended = tokio::select! {
                r = call => Ended::Returned(Box::new(r)),
                _ = tokio::time::sleep(limit) => if kill_at.is_some() { Ended::Killed } else { Ended::TimedOut },
            };
            (ended, vt.end())
        });
        drop(rt);
        let removed_so_far = population.churned.len() as u64 - remaining(&t, &population);
        match ended {
            Ended::Returned(result) => {
                let summary = result.map_err(|e| format!("invocation {invocation}: {e}"))?;
                let next = t.continuation.take();
                log.push((
                    invocation,
                    took,
                    format!("{:?} {:?}", summary.status, summary.paused_by),
                    summary.invocation.removed,
                ));
                eprintln!(
                    "  invocation {invocation:>3}: {:>6.1} s virtual, removed {:>6}, {} ({removed_so_far} gone so far, {:.0} s real)",
                    took.as_secs_f64(),
                    summary.invocation.removed,
                    summary.paused_by.map_or("complete".to_owned(), |p| format!("paused by {p:?}")),
                    started.elapsed().as_secs_f64()
                );
                let done = summary.status == RunStatus::Complete;
                last = Some(summary);
                if done {
                    break;
                }
                input = next.into_iter().next().ok_or("a paused run handed no continuation")?;
            }
            Ended::Killed | Ended::TimedOut => {
                let what = if kill_at.is_some() { "killed" } else { "timed out by Lambda" };
                log.push((invocation, took, what.into(), 0));
                eprintln!(
                    "  invocation {invocation:>3}: {what} after {:.1} s virtual ({removed_so_far} gone so far); resumed with the run id",
                    took.as_secs_f64()
                );
                t.continuation.take();
                input = base.clone();
            }
        }
        vt.skip(CONTINUATION_GAP);
    }
    let real = started.elapsed();
    let summary = last.ok_or("no invocation returned")?;

    // Every /item/remove the fake Plaid saw, per item.
    let mut per_item: HashMap<ItemId, (u32, u32)> = HashMap::with_capacity(population.churned.len());
    for call in t.plaid.remove_log() {
        let e = per_item.entry(call.item_id).or_default();
        e.0 += 1;
        e.1 += u32::from(call.removed);
    }
    let (mut missed, mut twice_removed, mut called_again, mut kept_touched) = (0u64, 0u64, 0u64, 0u64);
    for (_, item) in &population.churned {
        match per_item.get(item) {
            Some((calls, removed)) => {
                if *removed == 0 || !t.plaid.is_removed(item) {
                    missed += 1;
                }
                if *removed > 1 {
                    twice_removed += 1;
                }
                if *calls > 1 {
                    called_again += 1;
                }
            }
            None => missed += 1,
        }
    }
    for (_, item) in &population.kept {
        if per_item.contains_key(item) || t.plaid.is_removed(item) {
            kept_touched += 1;
        }
    }
    let store_left = remaining(&t, &population);
    let killed = log.iter().filter(|(_, _, what, _)| what == "killed").count();
    let timed_out = log.iter().filter(|(_, _, what, _)| what == "timed out by Lambda").count();
    let wall = vt.now();
    let calls: u64 = per_item.values().map(|(c, _)| u64::from(*c)).sum();
    let longest = log.iter().map(|(_, took, _, _)| *took).max().unwrap_or_default();

    eprintln!(
        "\nmonth-end simulation: {} churned items ({:.0}% of inactive users, the rest in error 40 days), {} young \
         errors kept; Plaid: {}/min per client on /item/remove (sliding minute), {} ms per answer; the remover: \
         {} in flight, paced at {}/min; invocations given {} s, {} killed at random and resumed",
        population.churned.len(),
        args.inactive_share * 100.0,
        population.kept.len(),
        args.plaid_limit,
        args.latency_ms,
        weft::domain::DEFAULT_CONCURRENCY,
        args.removals_per_minute.unwrap_or(churn::default_removals_per_minute(weft::config::PlaidEnv::Production)),
        LAMBDA_TIMEOUT.as_secs(),
        killed,
    );
    eprintln!(
        "  invocations: {} ({} completed or continued, {killed} killed, {timed_out} cut by Lambda's limit); longest {:.1} s",
        log.len(),
        log.len() - killed - timed_out,
        longest.as_secs_f64()
    );
    eprintln!(
        "  simulated wall time: {:.2} h ({:.0} s); {:.0} removals/min on average; {:.1} s of real time",
        wall.as_secs_f64() / 3600.0,
        wall.as_secs_f64(),
        summary.totals.removed as f64 / wall.as_secs_f64() * 60.0,
        real.as_secs_f64()
    );
    eprintln!(
        "  run totals: removed {}, failed {}, scanned {}; /item/remove calls {calls}; 429s from Plaid {}",
        summary.totals.removed,
        summary.totals.failed,
        summary.totals.scanned,
        limited.refused()
    );
    eprintln!(
        "  per item at the fake Plaid: removed twice {twice_removed}, churned but not removed {missed}, kept items \
         touched {kept_touched}; called again after a kill (answered ITEM_NOT_FOUND) {called_again}; churned \
         items left in the store {store_left}"
    );
    eprintln!("  peak RSS of this process: {}", rss());
    if missed > 0 || twice_removed > 0 || kept_touched > 0 || store_left > 0 {
        return Err("the simulation's counts are wrong (see above)".into());
    }
    Ok(())
}

/// Churned items still in the store.
fn remaining(t: &TestServices, p: &Population) -> u64 {
    (t.store.item_count() - p.kept.len().min(t.store.item_count())) as u64
}

/// This process's CPU time so far.
fn process_cpu() -> Duration {
    weft_tests::bench::process::cpu_time(std::process::id()).unwrap_or_default()
}

fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or("–".into(), |kib| format!("{:.2} GiB", kib / 1024.0 / 1024.0))
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, v)| v.trim().to_owned()))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({cpu}), {}", OffsetDateTime::now_utc().date())
}

fn load_average() -> String {
    let raw = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    raw.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}
