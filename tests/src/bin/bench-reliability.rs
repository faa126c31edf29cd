//! `bench-reliability`: the fault campaign of issue 12, measured again on a local stack of its own (moto, the
//! Plaid emulator, the dev OIDC issuer, the functions as debug builds under `cargo lambda watch`, the SQS
//! trigger feeding the sync worker). Four scenarios, all driven by one seeded RNG (`--seed`):
//!
//! 1. **Webhook storm.** `--users` users link one item each (first sync mirrored), then the items' webhooks
//!    are held back at the emulator. `--rounds` rounds: every item's transactions change (new ones, changed
//!    amounts and names, removals, pending ones posted) with a webhook; Plaid faults are armed on
//!    `/transactions/sync` for the item (500, 429, a stall, a late answer, a mutation during pagination); every
//!    held webhook is posted 1 to `--copies` times, with some of the previous rounds' posted again, all
//!    shuffled and `--concurrency` at a time. Then the faults are cleared and, once the queue is empty and the
//!    sync worker quiet, every item's transactions as the app serves them (`GET /items/{id}/transactions`)
//!    are compared with Plaid's: lost, duplicated, stale (a field differs) and resurrected (removed at
//!    Plaid, still served). Also counted: POSTs, distinct webhooks, syncs queued, coalesced answers, the sync
//!    worker's runs and the `/transactions/sync` calls Plaid received.
//! 2. **Exchanges under faults** (the orphan scenario): `--exchanges` users link an item and exchange it as
//!    a double-clicking app would (3 copies at once, each retried on 5xx / 409 EXCHANGE_IN_PROGRESS / 429)
//!    with a Plaid fault armed on `/item/public_token/exchange` (500, 429, 503, a stall, a late answer);
//!    every other one then deletes its item with a fault on `/item/remove`.
//! 3. **Hostile input**: `--hostile` requests to every app route and the webhook route (malformed JSON,
//!    wrong content types, oversized bodies, missing / forged / expired / tampered bearer tokens, other users'
//!    item ids, path and query junk, forged webhook JWTs), `--concurrency` at a time; answers counted by
//!    status; any 5xx of a function is a finding (cargo-lambda's own 500s for invalid UTF-8 bodies and the
//!    webhook's retryable 502 when the cap on key fetches per minute refused a forged kid's fetch are listed
//!    apart), any 2xx to a changing or operator route is a finding (cargo-lambda's CORS answers to `OPTIONS`
//!    are listed apart), and every error body must be JSON with `error.code`. The victims' items must be
//!    intact afterwards.
//! 4. **Secrets at rest and orphans**: the whole table scanned for access tokens, public tokens and the
//!    Plaid secret in plain text (and the functions' log, for the same); items live at Plaid (exchanged, not
//!    removed) that no user's `GET /items` shows.
//!
//! `cargo run -p weft-tests --bin bench-reliability [-- --seed 12 --users 4 --rounds 12 --hostile 4000]`.
//! Prints a table of figures; asserts nothing about time; exits 1 if a correctness figure is not zero.

use clap::Parser;
use futures::stream::{self, StreamExt};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use weft_tests::app_client::{Answer, AppClient};
use weft_tests::dev_issuer::DevIssuer;
use weft_tests::flows::{self, Txn, unique_user};
use weft_tests::stack::{AUTH_AUDIENCE, LocalStack, PLAID_SECRET, StackOptions};

#[derive(Parser)]
#[command(
    about = "Fault campaign: webhook storm under Plaid faults, exchanges under faults, hostile input, secrets, orphans"
)]
struct Args {
    /// Seed of every random choice (mutations, faults, copies, order, hostile requests).
    #[arg(long, default_value_t = 12)]
    seed: u64,
    /// Users (one item each) in the webhook storm.
    #[arg(long, default_value_t = 4)]
    users: usize,
    /// Storm rounds (each changes every item's transactions once, with a webhook).
    #[arg(long, default_value_t = 12)]
    rounds: usize,
    /// Most copies of each webhook posted (at least 1).
    #[arg(long, default_value_t = 5)]
    copies: usize,
    /// Exchanges under faults (each a new user, 3 copies of the request at once).
    #[arg(long, default_value_t = 8)]
    exchanges: usize,
    /// Hostile requests.
    #[arg(long, default_value_t = 4000)]
    hostile: usize,
    /// Requests in flight at once (webhook posts, hostile requests).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Longest wait for the storm to settle (queue empty, worker quiet, every item mirrored), in seconds.
    #[arg(long, default_value_t = 420)]
    settle: u64,
    /// Where the stack's logs go (default: `$CARGO_TARGET_DIR/reliability-logs/<stack>` when that is set,
    /// else `target/test-logs/<stack>`).
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("bench-reliability: {e}");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Shared helpers

/// Counts of the functions' log messages that tell what the webhook function and the sync worker did.
fn log_counts(stack: &LocalStack) -> BTreeMap<&'static str, usize> {
    const MESSAGES: [(&str, &str); 7] = [
        ("sync queued", "queued"),
        ("a sync of the item is already queued; coalesced", "coalesced"),
        ("sync done", "sync_done"),
        ("transactions synced", "synced"),
        ("sync failed; will be retried", "sync_failed"),
        ("mutation during pagination; restarting from the starting cursor", "restarts"),
        ("lost the sync lease before saving the cursor", "lease_lost"),
    ];
    let mut counts: BTreeMap<&'static str, usize> = MESSAGES.iter().map(|(_, k)| (*k, 0)).collect();
    for line in flows::lambda_log(stack).lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let Some(message) = v["message"].as_str() else { continue };
        if let Some((_, key)) = MESSAGES.iter().find(|(m, _)| *m == message) {
            *counts.entry(key).or_default() += 1;
        }
    }
    counts
}

fn delta(after: &BTreeMap<&'static str, usize>, before: &BTreeMap<&'static str, usize>, key: &str) -> usize {
    after.get(key).copied().unwrap_or(0).saturating_sub(before.get(key).copied().unwrap_or(0))
}

async fn sync_calls(stack: &LocalStack) -> Result<u64, String> {
    flows::plaid_calls(stack, "/transactions/sync", None).await
}

/// Messages in the sync queue (visible + in flight + delayed).
async fn queue_depth(stack: &LocalStack) -> Result<u64, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let out = sqs
        .get_queue_attributes()
        .queue_url(&stack.resources.sync_queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| format!("get_queue_attributes: {:?}", aws_sdk_sqs::Error::from(e)))?;
    let attrs = out.attributes.unwrap_or_default();
    Ok([
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
        A::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .map(|a| attrs.get(a).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
    .sum())
}

/// Link token -> Link completed in the emulator -> (public token, Link's onSuccess metadata).
async fn link(app: &AppClient, stack: &LocalStack, institution: &str) -> Result<(String, Value), String> {
    let created = app.post("/link/token", &json!({})).await;
    if created.status != 200 {
        return Err(format!("POST /link/token: {} {}", created.status, created.text));
    }
    let token = created.body["link_token"].as_str().unwrap_or_default().to_owned();
    let outcome = stack.complete_link(&token, institution, "user_good", "pass_good").await?;
    if outcome["status"] != "success" {
        return Err(format!("Link did not succeed: {outcome}"));
    }
    let public_token = outcome["public_token"].as_str().ok_or("no public token")?.to_owned();
    Ok((public_token, outcome["metadata"].clone()))
}

/// Every transaction the app serves for the item, page by page, duplicates kept (unlike
/// [`flows::app_transactions`], which refuses them): `(id, txn)` in the order served.
async fn app_listing(app: &AppClient, item_id: &str) -> Result<Vec<(String, Txn)>, String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let path = match &cursor {
            Some(c) => format!("/items/{item_id}/transactions?limit=500&cursor={c}"),
            None => format!("/items/{item_id}/transactions?limit=500"),
        };
        let page = app.get(&path).await;
        if page.status != 200 {
            return Err(format!("GET {path}: {} {}", page.status, page.text));
        }
        for t in page.body["transactions"].as_array().ok_or_else(|| format!("no transactions in {}", page.text))? {
            let field = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
            all.push((
                field("transaction_id"),
                Txn {
                    account_id: field("account_id"),
                    amount: t["amount"].as_f64().unwrap_or(f64::NAN),
                    date: field("date"),
                    pending: t["pending"].as_bool().unwrap_or(false),
                    name: field("name"),
                },
            ));
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(all),
        }
    }
    Err("more than 10,000 pages".into())
}

/// The app's transactions of one item against Plaid's.
#[derive(Debug, Default, Clone, Copy)]
struct Comparison {
    plaid: usize,
    served: usize,
    lost: usize,
    duplicated: usize,
    stale: usize,
    resurrected: usize,
}

impl Comparison {
    fn clean(&self) -> bool {
        self.lost + self.duplicated + self.stale + self.resurrected == 0
    }
}

async fn compare(app: &AppClient, stack: &LocalStack, item_id: &str) -> Result<Comparison, String> {
    let plaid = flows::emulator_transactions(stack, item_id).await?;
    let served = app_listing(app, item_id).await?;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (id, _) in &served {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let mut c = Comparison { plaid: plaid.len(), served: served.len(), ..Default::default() };
    c.duplicated = seen.values().map(|n| n - 1).sum();
    c.lost = plaid.keys().filter(|k| !seen.contains_key(k.as_str())).count();
    c.resurrected = seen.keys().filter(|k| !plaid.contains_key(**k)).count();
    let mut counted = BTreeSet::new();
    for (id, txn) in &served {
        if let Some(p) = plaid.get(id)
            && p != txn
            && counted.insert(id.clone())
        {
            c.stale += 1;
        }
    }
    Ok(c)
}

// ---------------------------------------------------------------------------------------------------------
// 1. Webhook storm

struct StormItem {
    app: AppClient,
    item_id: String,
    access_token: String,
}

#[derive(Default)]
struct StormFigures {
    items: usize,
    rounds: usize,
    mutations: usize,
    added: usize,
    modified: usize,
    removed: usize,
    posted_pending: usize,
    faults: BTreeMap<String, usize>,
    distinct: usize,
    posts: usize,
    by_status: BTreeMap<u16, usize>,
    by_handled: BTreeMap<String, usize>,
    queued: usize,
    coalesced_logged: usize,
    sync_runs: usize,
    synced: usize,
    sync_failed: usize,
    restarts: usize,
    lease_lost: usize,
    plaid_sync_calls: u64,
    settled: Option<Duration>,
    compared: Vec<(String, Comparison)>,
    storm_time: Duration,
}

async fn storm(stack: &LocalStack, args: &Args, rng: &mut StdRng) -> Result<(StormFigures, Vec<StormItem>), String> {
    let institutions = ["ins_109508", "ins_109509", "ins_109510", "ins_109511", "ins_109512"];
    let mut items = Vec::new();
    for u in 0..args.users {
        let app = AppClient::new(stack, &unique_user("storm"));
        let item_id = flows::link_and_exchange(&app, stack, institutions[u % institutions.len()]).await?;
        flows::wait_until_mirrored(&app, stack, &item_id, 500).await?;
        let access_token =
            stack.emulator().item(&item_id).await?["access_token"].as_str().ok_or("no access token")?.to_owned();
        stack.emulator().post(&format!("items/{item_id}/webhooks/hold"), json!({ "hold": true })).await?;
        items.push(StormItem { app, item_id, access_token });
    }
    println!("storm: {} items linked and mirrored; their webhooks are held", items.len());

    let mut f = StormFigures { items: items.len(), rounds: args.rounds, ..Default::default() };
    let logs_before = log_counts(stack);
    let calls_before = sync_calls(stack).await?;
    let started = Instant::now();
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    // The deliveries of the last two rounds (posted again, late and out of order, in the next ones).
    let mut recent: Vec<Vec<Value>> = Vec::new();
    let emulator = stack.emulator();
    for round in 0..args.rounds {
        for item in &items {
            // A change of the item's transactions, with its webhook.
            let current = flows::emulator_transactions(stack, &item.item_id).await?;
            let ids: Vec<&String> = current.keys().collect();
            let pending: Vec<&String> = current.iter().filter(|(_, t)| t.pending).map(|(k, _)| k).collect();
            let mut mutation = json!({ "webhook": true });
            let big = round == args.rounds / 2 && item.item_id == items[0].item_id;
            mutation["generate"] = json!(if big { 1200 } else { rng.gen_range(0..=4) });
            let mut modify = Vec::new();
            let mut remove: Vec<String> = Vec::new();
            for _ in 0..rng.gen_range(0..=3) {
                if let Some(id) = ids.choose(rng) {
                    modify.push(json!({
                        "transaction_id": id,
                        "amount": (rng.gen_range(100..100_000) as f64) / 100.0,
                        "name": format!("Changed r{round}-{}", rng.gen_range(0..1000)),
                    }));
                }
            }
            for _ in 0..rng.gen_range(0..=2) {
                if let Some(id) = ids.choose(rng)
                    && !modify.iter().any(|m| m["transaction_id"] == json!(id))
                    && !remove.contains(*id)
                {
                    remove.push((*id).clone());
                }
            }
            let post: Vec<String> = pending
                .iter()
                .filter(|id| !remove.contains(**id) && !modify.iter().any(|m| m["transaction_id"] == json!(id)))
                .take(rng.gen_range(0..=1))
                .map(|id| (*id).clone())
                .collect();
            if modify.is_empty() && remove.is_empty() && post.is_empty() && mutation["generate"] == 0 {
                mutation["generate"] = json!(1);
            }
            mutation["modify"] = json!(modify);
            mutation["remove"] = json!(remove);
            mutation["post_pending"] = json!(post);
            let done = emulator.mutate_transactions(&item.item_id, mutation).await?;
            f.mutations += 1;
            f.added += done["added"].as_array().map_or(0, Vec::len);
            f.modified += done["modified"].as_array().map_or(0, Vec::len);
            f.removed += done["removed"].as_array().map_or(0, Vec::len);
            f.posted_pending += post.len();

            // Plaid misbehaves for the item's next syncs.
            if rng.gen_bool(0.7) {
                let kind = ["internal_server_error", "rate_limit", "stall", "late"][rng.gen_range(0..4)];
                let mut spec = json!({
                    "endpoint": "/transactions/sync",
                    "kind": kind,
                    "count": rng.gen_range(1..=5),
                    "item_id": item.item_id,
                });
                if kind == "stall" || kind == "late" {
                    spec["stall_ms"] = json!(rng.gen_range(500..4000));
                }
                emulator.fault(spec).await?;
                *f.faults.entry(kind.to_owned()).or_default() += 1;
            }
            if big || rng.gen_bool(0.25) {
                emulator.post(&format!("items/{}/transactions/fail_next_page", item.item_id), json!({})).await?;
                *f.faults.entry("mutation_during_pagination".to_owned()).or_default() += 1;
            }
        }

        // This round's held webhooks, each posted 1..=copies times, with some of the last rounds' again.
        let mut fresh = Vec::new();
        for item in &items {
            let log = flows::eventually("the round's held webhooks", flows::WAIT, || async {
                let log = flows::deliveries(stack, &item.item_id, None).await.ok()?;
                let new: Vec<Value> = log
                    .into_iter()
                    .filter(|d| d["status"] == "held" && !d["id"].as_u64().is_some_and(|id| seen.contains(&id)))
                    .collect();
                (!new.is_empty()).then_some(new)
            })
            .await?;
            for d in log {
                if let Some(id) = d["id"].as_u64() {
                    seen.insert(id);
                }
                fresh.push(d);
            }
        }
        f.distinct += fresh.len();
        let mut posts: Vec<Value> = Vec::new();
        for d in &fresh {
            for _ in 0..rng.gen_range(1..=args.copies.max(1)) {
                posts.push(d.clone());
            }
        }
        for old in recent.iter().flatten() {
            if rng.gen_bool(0.3) {
                posts.push(old.clone());
            }
        }
        posts.shuffle(rng);
        recent.push(fresh);
        if recent.len() > 2 {
            recent.remove(0);
        }
        let answers: Vec<Result<flows::WebhookAnswer, String>> = stream::iter(posts.iter())
            .map(|d| flows::redeliver(stack, d))
            .buffer_unordered(args.concurrency.max(1))
            .collect()
            .await;
        for a in answers {
            let a = a?;
            f.posts += 1;
            *f.by_status.entry(a.status).or_default() += 1;
            let handled = a.body["handled"].as_str().map_or_else(|| format!("({})", a.status), str::to_owned);
            *f.by_handled.entry(handled).or_default() += 1;
        }
        // Let syncs run while the next change comes.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..1500))).await;
        println!("storm: round {} of {} posted ({} POSTs so far)", round + 1, args.rounds, f.posts);
    }
    f.storm_time = started.elapsed();

    // Quiet: faults cleared, the queue empty, the worker's log unchanged for 8 s and every item mirrored.
    emulator.delete("faults").await?;
    let settle_started = Instant::now();
    let mut last_counts = log_counts(stack);
    let mut quiet_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let counts = log_counts(stack);
        if counts != last_counts {
            last_counts = counts;
            quiet_since = Instant::now();
        }
        let depth = queue_depth(stack).await?;
        let mut all_clean = true;
        if depth == 0 && quiet_since.elapsed() >= Duration::from_secs(8) {
            for item in &items {
                if !compare(&item.app, stack, &item.item_id).await?.clean() {
                    all_clean = false;
                    break;
                }
            }
            if all_clean {
                f.settled = Some(settle_started.elapsed());
                break;
            }
        }
        if settle_started.elapsed() >= Duration::from_secs(args.settle) {
            println!("storm: not settled within {} s (queue depth {depth})", args.settle);
            break;
        }
    }
    for item in &items {
        f.compared.push((item.item_id.clone(), compare(&item.app, stack, &item.item_id).await?));
    }
    let logs_after = log_counts(stack);
    f.queued = delta(&logs_after, &logs_before, "queued");
    f.coalesced_logged = delta(&logs_after, &logs_before, "coalesced");
    f.sync_runs = delta(&logs_after, &logs_before, "sync_done");
    f.synced = delta(&logs_after, &logs_before, "synced");
    f.sync_failed = delta(&logs_after, &logs_before, "sync_failed");
    f.restarts = delta(&logs_after, &logs_before, "restarts");
    f.lease_lost = delta(&logs_after, &logs_before, "lease_lost");
    f.plaid_sync_calls = sync_calls(stack).await? - calls_before;
    Ok((f, items))
}

// ---------------------------------------------------------------------------------------------------------
// 2. Exchanges under faults

#[derive(Default)]
struct ExchangeFigures {
    links: usize,
    requests: usize,
    outcomes: BTreeMap<String, usize>,
    stored: usize,
    deletes: usize,
    delete_outcomes: BTreeMap<String, usize>,
    faults: BTreeMap<String, usize>,
}

fn outcome_label(a: &Answer) -> String {
    if a.status == 200 { "200".into() } else { format!("{} {}", a.status, a.code()) }
}

/// One copy of the app's exchange request, retried as an app would on an answer that says "retry".
async fn exchange_retrying(app: &AppClient, body: &Value) -> (Answer, usize) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let a = app.post("/items/exchange", body).await;
        let retry = a.status >= 500 && a.code() != "EXCHANGE_UNDONE"
            || a.status == 429
            || a.code() == "EXCHANGE_IN_PROGRESS"
            || a.status == 0;
        if !retry || attempts >= 8 {
            return (a, attempts);
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
}

async fn exchanges(
    stack: &LocalStack,
    args: &Args,
    rng: &mut StdRng,
) -> Result<(ExchangeFigures, Vec<(AppClient, Option<String>)>, Vec<String>), String> {
    let emulator = stack.emulator();
    let mut f = ExchangeFigures::default();
    let mut users = Vec::new();
    let mut public_tokens = Vec::new();
    for i in 0..args.exchanges {
        let app = AppClient::new(stack, &unique_user("exch"));
        let (public_token, metadata) = link(&app, stack, ["ins_109508", "ins_109510", "ins_109512"][i % 3]).await?;
        public_tokens.push(public_token.clone());
        f.links += 1;
        let kind = ["none", "internal_server_error", "rate_limit", "planned_maintenance", "stall", "late"][i % 6];
        if kind != "none" {
            let mut spec =
                json!({ "endpoint": "/item/public_token/exchange", "kind": kind, "count": rng.gen_range(1..=2) });
            if kind == "stall" || kind == "late" {
                spec["stall_ms"] = json!(rng.gen_range(2000..6000));
            }
            emulator.fault(spec).await?;
        }
        *f.faults.entry(kind.to_owned()).or_default() += 1;
        let body = json!({ "public_token": public_token, "metadata": metadata });
        let copies = futures::future::join_all((0..3).map(|_| exchange_retrying(&app, &body))).await;
        emulator.delete("faults").await?;
        let mut item_id = None;
        for (a, attempts) in copies {
            f.requests += attempts;
            *f.outcomes.entry(outcome_label(&a)).or_default() += 1;
            if let Some(id) = a.body["item"]["item_id"].as_str().or(a.body["error"]["item_id"].as_str()) {
                item_id = Some(id.to_owned());
            }
        }
        if item_id.is_some() {
            f.stored += 1;
        }
        users.push((app, item_id));
    }
    // Every other stored item is deleted by its user while Plaid's /item/remove misbehaves once.
    for (n, (app, item_id)) in users.iter_mut().enumerate() {
        let Some(id) = item_id.clone() else { continue };
        if n % 2 == 1 {
            continue;
        }
        let kind = ["internal_server_error", "late", "rate_limit"][n / 2 % 3];
        let mut spec = json!({ "endpoint": "/item/remove", "kind": kind, "count": 1 });
        if kind == "late" {
            spec["stall_ms"] = json!(3000);
        }
        emulator.fault(spec).await?;
        *f.faults.entry(format!("remove:{kind}")).or_default() += 1;
        let mut last = None;
        for _ in 0..6 {
            let a = app.delete(&format!("/items/{id}")).await;
            f.deletes += 1;
            let done = a.status < 500 && a.status != 429 && a.status != 0;
            last = Some(a);
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
        emulator.delete("faults").await?;
        if let Some(a) = last {
            *f.delete_outcomes.entry(outcome_label(&a)).or_default() += 1;
            if a.status == 200 || a.status == 404 {
                *item_id = None;
            }
        }
    }
    Ok((f, users, public_tokens))
}

// ---------------------------------------------------------------------------------------------------------
// 3. Hostile input

#[derive(Clone)]
struct Hostile {
    route: &'static str,
    function: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    attack: String,
}

#[derive(Default)]
struct HostileFigures {
    requests: usize,
    by_status: BTreeMap<u16, usize>,
    by_route: BTreeMap<&'static str, BTreeMap<u16, usize>>,
    server_errors: Vec<String>,
    /// 5xx answered by cargo-lambda itself (its problem+json body), not by a function.
    local_server_errors: Vec<String>,
    /// 2xx answers to a route that changes something or needs an operator (a correctness figure: none is
    /// expected, the attacker's own token has no data and no operator claim, every other token is refused).
    accepted: Vec<String>,
    /// `OPTIONS` answered 2xx with no body by cargo-lambda's default CORS layer (no function is invoked; the
    /// deployed HTTP API has no CORS configuration and no OPTIONS routes), by route.
    cors_preflights: BTreeMap<&'static str, usize>,
    /// Webhook 5xx whose request the log shows refused a key fetch for the per-minute cap on fetches (forged
    /// kids beyond the cap cannot be told from a key Plaid just rotated in: weft asks Plaid to deliver again).
    throttled_key_fetches: Vec<String>,
    not_json_errors: Vec<String>,
    transport_errors: usize,
    /// Requests whose first attempt got no answer (not a timeout) and were sent again on a new connection.
    resent: Vec<String>,
    victims_harmed: usize,
    elapsed: Duration,
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unsigned_jwt(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
}

/// A valid token with its payload replaced (the signature no longer matches).
fn tampered(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return token.to_owned();
    }
    format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2])
}

/// ES256 JWT signed by a key of ours (not Plaid's / not the issuer's).
fn rogue_es256(kid: &str, claims: &Value) -> String {
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let Ok(der) = secret.to_pkcs8_der() else { return String::new() };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes())).unwrap_or_default()
}

struct HostileContext {
    issuer_url: String,
    attacker: String,
    attacker_token: String,
    victims: Vec<(String, String)>, // (user id, item id)
    rogue: DevIssuer,
    /// A victim's token, expired (signed by the real issuer).
    expired_token: String,
    plaid_kid: String,
    real_webhooks: Vec<(String, String)>, // (body, Plaid-Verification)
}

fn hostile_requests(ctx: &HostileContext, n: usize, rng: &mut StdRng) -> Vec<Hostile> {
    const ROUTES: [(&str, &str, &str); 14] = [
        ("link-token", "POST", "/link/token"),
        ("link-token", "GET", "/link/token/resume"),
        ("exchange", "POST", "/items/exchange"),
        ("items", "GET", "/items"),
        ("items", "GET", "/items/{item}/transactions"),
        ("items", "DELETE", "/items/{item}"),
        ("items", "POST", "/items/{item}/balances/refresh"),
        ("items", "POST", "/link/events"),
        ("items", "GET", "/link/conversion"),
        ("items", "GET", "/institutions/{inst}/health"),
        ("items", "DELETE", "/users/{user}"),
        ("items", "POST", "/operator/items/{item}/rotate-token"),
        ("items", "POST", "/operator/token-rotations"),
        ("webhook", "POST", "/webhooks/plaid"),
    ];
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |sub: &str, extra: Value| {
        let mut c = json!({ "iss": ctx.issuer_url, "sub": sub, "aud": AUTH_AUDIENCE, "iat": now, "nbf": now, "exp": now + 3600 });
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        c
    };
    let junk_ids = [
        "..%2F..%2Fusers%2Fme".to_owned(),
        "%00".to_owned(),
        "A".repeat(3000),
        "%C3%ADtem-%F0%9F%92%A5".to_owned(),
        "'%3B%20DROP%20TABLE%20items%3B--".to_owned(),
        "%7B%7B7*7%7D%7D".to_owned(),
        "%FF%FE%FD".to_owned(),
        "ITEM%23x%2FTXN%23".to_owned(),
        "%20".to_owned(),
        "null".to_owned(),
    ];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (function, method, template) = ROUTES[i % ROUTES.len()];
        let route = template;
        let mut attack: Vec<String> = Vec::new();
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut method = method;
        let victim = ctx.victims.choose(rng).cloned().unwrap_or_default();

        if function == "webhook" {
            let (real_body, real_header) = ctx.real_webhooks.choose(rng).cloned().unwrap_or_default();
            // The claims of the real header (its body's hash), with a fresh iat: forgeries of a real body.
            let real_claims = {
                use base64::Engine as _;
                let payload = real_header.split('.').nth(1).unwrap_or_default();
                let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
                let mut c: Value = serde_json::from_slice(&decoded).unwrap_or_else(|_| json!({}));
                c["iat"] = json!(now);
                c
            };
            let (label, header, b): (&str, Option<String>, Vec<u8>) = match rng.gen_range(0..14) {
                0 => ("no header", None, real_body.clone().into_bytes()),
                1 => ("garbage header", Some("not-a-jwt".into()), real_body.clone().into_bytes()),
                2 => {
                    let b = real_body.replacen("\"sandbox\"", "\"production\"", 1).into_bytes();
                    ("body changed under a real header", Some(real_header.clone()), b)
                }
                3 => {
                    let h = json!({ "alg": "none", "typ": "JWT", "kid": ctx.plaid_kid });
                    ("alg none", Some(unsigned_jwt(&h, &real_claims)), real_body.clone().into_bytes())
                }
                4 => {
                    let h = rogue_es256(&ctx.plaid_kid, &real_claims);
                    ("rogue key with Plaid's kid", Some(h), real_body.clone().into_bytes())
                }
                5 => {
                    let kid = format!("rogue-{}", rng.gen_range(0..1_000_000));
                    let h = rogue_es256(&kid, &real_claims);
                    ("rogue key, unknown kid", Some(h), real_body.clone().into_bytes())
                }
                13 => {
                    let forged = json!({ "webhook_type": "ITEM", "webhook_code": "USER_PERMISSION_REVOKED", "item_id": victim.1, "environment": "sandbox" }).to_string();
                    ("a victim's item revoked, under a real header", Some(real_header.clone()), forged.into_bytes())
                }
                6 => ("malformed JSON under a real header", Some(real_header.clone()), b"{\"webhook_type\": ".to_vec()),
                7 => ("oversized body", Some(real_header.clone()), vec![b'{'; 300 * 1024]),
                8 => ("huge header", Some("e".repeat(16 * 1024)), real_body.clone().into_bytes()),
                9 => {
                    method = ["GET", "PUT", "DELETE", "PATCH"][rng.gen_range(0..4)];
                    ("wrong method", Some(real_header.clone()), real_body.clone().into_bytes())
                }
                10 => {
                    let mut c = real_claims.clone();
                    c["iat"] = json!(now - 3600);
                    let h = json!({ "alg": "ES256", "typ": "JWT", "kid": ctx.plaid_kid });
                    (
                        "stale iat, bad signature",
                        Some(format!(
                            "{}.{}.{}",
                            b64(h.to_string().as_bytes()),
                            b64(c.to_string().as_bytes()),
                            b64(&[7; 64])
                        )),
                        real_body.clone().into_bytes(),
                    )
                }
                _ => ("invalid UTF-8 body", Some(real_header.clone()), vec![0xff, 0xfe, 0x00, 0xc3]),
            };
            attack.push(label.into());
            if let Some(h) = header {
                headers.push(("plaid-verification".into(), h));
            }
            if rng.gen_bool(0.2) {
                let ct = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"];
                let ct = ct[rng.gen_range(0..ct.len())];
                headers.push(("content-type".into(), ct.into()));
                attack.push(format!("content-type {ct}"));
            } else {
                headers.push(("content-type".into(), "application/json".into()));
            }
            out.push(Hostile {
                route,
                function,
                method,
                path: "/webhooks/plaid".into(),
                headers,
                body: Some(b),
                attack: attack.join(", "),
            });
            continue;
        }

        // Who is calling.
        let auth: Option<String> = match rng.gen_range(0..20) {
            0 => {
                attack.push("no token".into());
                None
            }
            1 => {
                attack.push("empty bearer".into());
                Some("Bearer ".into())
            }
            2 => {
                attack.push("garbage bearer".into());
                Some("Bearer not.a.jwt".into())
            }
            3 => {
                attack.push("basic auth".into());
                Some("Basic YWRtaW46YWRtaW4=".into())
            }
            4 => {
                attack.push("expired token".into());
                Some(format!("Bearer {}", ctx.expired_token))
            }
            5 => {
                attack.push("another issuer".into());
                Some(format!("Bearer {}", ctx.rogue.mint(&victim.0, 3600)))
            }
            6 => {
                attack.push("rogue key claiming the issuer".into());
                Some(format!("Bearer {}", ctx.rogue.mint_with_issuer(&victim.0, &ctx.issuer_url)))
            }
            7 => {
                attack.push("alg none".into());
                Some(format!(
                    "Bearer {}",
                    unsigned_jwt(&json!({ "alg": "none", "typ": "JWT" }), &claims(&victim.0, json!({})))
                ))
            }
            8 => {
                attack.push("payload swapped to a victim".into());
                Some(format!("Bearer {}", tampered(&ctx.attacker_token, &claims(&victim.0, json!({})))))
            }
            9 => {
                attack.push("payload swapped to an operator".into());
                let c = claims(&ctx.attacker, json!({ "cognito:groups": ["weft-operators"] }));
                Some(format!("Bearer {}", tampered(&ctx.attacker_token, &c)))
            }
            10 => {
                attack.push("huge token".into());
                Some(format!("Bearer {}", "e".repeat(16 * 1024)))
            }
            11 => {
                attack.push("HS256 with a guessed secret".into());
                let c = claims(&victim.0, json!({}));
                let t = jsonwebtoken::encode(
                    &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                    &c,
                    &jsonwebtoken::EncodingKey::from_secret(AUTH_AUDIENCE.as_bytes()),
                )
                .unwrap_or_default();
                Some(format!("Bearer {t}"))
            }
            _ => {
                attack.push("attacker's valid token".into());
                Some(format!("Bearer {}", ctx.attacker_token))
            }
        };
        if let Some(a) = auth {
            headers.push(("authorization".into(), a));
        }

        // Where.
        let item = match rng.gen_range(0..4) {
            0 | 1 => {
                attack.push("a victim's item".into());
                victim.1.clone()
            }
            2 => {
                attack.push("path junk".into());
                junk_ids.choose(rng).cloned().unwrap_or_default()
            }
            _ => {
                attack.push("unknown item".into());
                format!("{}", uuid::Uuid::new_v4().simple())
            }
        };
        let mut path = template
            .replace("{item}", &item)
            .replace("{inst}", if rng.gen_bool(0.5) { "ins_109508" } else { &item })
            .replace("{user}", if rng.gen_bool(0.5) { &victim.0 } else { &item });
        if method == "GET" && rng.gen_bool(0.5) {
            let q = [
                "limit=-1",
                "limit=99999999999999999999",
                "limit=0",
                "limit=abc",
                "cursor=garbage",
                "cursor=eyJpdGVtIjoieCJ9",
                "from=2026-13-45&to=yesterday",
                "limit=1&limit=2",
                "cursor=%00%00",
            ];
            let q = q[rng.gen_range(0..q.len())];
            path = format!("{path}?{q}&junk={}", "x".repeat(rng.gen_range(0..2000)));
            attack.push(format!("query {q}"));
        }

        // What.
        let body_kind = rng.gen_range(0..12);
        let (label, b): (&str, Option<Vec<u8>>) = match body_kind {
            0 => ("malformed JSON", Some(b"{\"public_token\": \"x\",".to_vec())),
            1 => ("JSON null", Some(b"null".to_vec())),
            2 => ("JSON array", Some(b"[1,2,3]".to_vec())),
            3 => (
                "wrong types",
                Some(
                    json!({ "public_token": 5, "metadata": "x", "item_id": [1], "events": {} })
                        .to_string()
                        .into_bytes(),
                ),
            ),
            4 => (
                "unknown fields",
                Some(json!({ "admin": true, "user_id": victim.0, "item_id": victim.1 }).to_string().into_bytes()),
            ),
            5 => (
                "oversized body",
                Some(
                    format!("{{\"public_token\": \"{}\"}}", "x".repeat(rng.gen_range(70_000..1_000_000))).into_bytes(),
                ),
            ),
            6 => ("deeply nested", Some(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes())),
            7 => ("invalid UTF-8", Some(vec![0x7b, 0xff, 0xfe, 0x7d])),
            8 => ("empty body", Some(Vec::new())),
            9 => (
                "plausible body naming a victim",
                Some(
                    json!({
                        "public_token": "public-sandbox-00000000-0000-0000-0000-000000000000",
                        "metadata": { "institution": { "institution_id": "ins_109508", "name": "x" }, "accounts": [] },
                        "item_id": victim.1,
                        "events": [{ "kind": "SUCCESS", "link_session_id": "x", "link_token": "link-sandbox-x" }],
                    })
                    .to_string()
                    .into_bytes(),
                ),
            ),
            10 => ("huge number", Some(b"{\"per_minute\": 1e999999, \"days_requested\": -1}".to_vec())),
            _ => ("no body", None),
        };
        attack.push(label.into());
        let body = b;
        match rng.gen_range(0..8) {
            0 => {
                headers.push(("content-type".into(), "text/plain".into()));
                attack.push("content-type text/plain".into());
            }
            1 => attack.push("no content-type".into()),
            2 => {
                headers.push(("content-type".into(), "application/json; charset=utf-16".into()));
                attack.push("content-type utf-16".into());
            }
            3 => {
                headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
                attack.push("content-type form".into());
            }
            _ => headers.push(("content-type".into(), "application/json".into())),
        }
        if rng.gen_bool(0.08) {
            method = ["PUT", "PATCH", "OPTIONS", "TRACE"][rng.gen_range(0..4)];
            attack.push(format!("method {method}"));
        }
        out.push(Hostile { route, function, method, path, headers, body, attack: attack.join(", ") });
    }
    out.shuffle(rng);
    out
}

/// The answer's status (0: no answer) and body, and the error of a first attempt that got no answer for
/// another reason than a timeout (a pooled connection the local server had closed: the request is sent
/// once more, on a new connection; a timeout is never retried, it stays a finding).
async fn send_hostile(http: &reqwest::Client, base: &str, h: &Hostile) -> (u16, String, Option<String>) {
    let url = format!("{base}/lambda-url/{}{}", h.function, h.path);
    let method = reqwest::Method::from_bytes(h.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut first_error = None;
    loop {
        let mut req = http.request(method.clone(), &url);
        for (k, v) in &h.headers {
            req = req.header(k, v);
        }
        if let Some(b) = &h.body {
            req = req.body(b.clone());
        }
        if first_error.is_some() {
            req = req.header("connection", "close");
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                return (status, resp.text().await.unwrap_or_default(), first_error);
            }
            Err(e) if first_error.is_none() && !e.is_timeout() => first_error = Some(error_chain(&e)),
            Err(e) => return (0, error_chain(&e), first_error),
        }
    }
}

/// An error with its sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

async fn hostile(stack: &LocalStack, ctx: &HostileContext, args: &Args, rng: &mut StdRng) -> HostileFigures {
    let requests = hostile_requests(ctx, args.hostile, rng);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap_or_default();
    let base = stack.lambda.base_url.clone();
    let started = Instant::now();
    let answers: Vec<(Hostile, u16, String, Option<String>)> = stream::iter(requests)
        .map(|h| {
            let http = http.clone();
            let base = base.clone();
            async move {
                let (status, text, first_error) = send_hostile(&http, &base, &h).await;
                (h, status, text, first_error)
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let mut f = HostileFigures { requests: answers.len(), elapsed: started.elapsed(), ..Default::default() };
    let throttled = throttled_requests(stack);
    for (h, status, text, first_error) in answers {
        *f.by_status.entry(status).or_default() += 1;
        *f.by_route.entry(h.route).or_default().entry(status).or_default() += 1;
        let what = || {
            format!(
                "{} {}{} [{}] -> {status} {}",
                h.method,
                h.function,
                h.path.chars().take(80).collect::<String>(),
                h.attack,
                text.chars().take(200).collect::<String>()
            )
        };
        if let Some(e) = first_error {
            let request =
                format!("{} {}{} [{}]", h.method, h.function, h.path.chars().take(80).collect::<String>(), h.attack);
            f.resent.push(format!("{request}: first attempt {e}; then {status}"));
        }
        if status == 0 {
            f.transport_errors += 1;
            f.server_errors.push(what());
            continue;
        }
        if status >= 500 && text.contains("httpstatuses.com") {
            f.local_server_errors.push(what());
            continue;
        }
        if status >= 500 {
            let request_id: Option<String> = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|b| b["error"]["request_id"].as_str().map(str::to_owned));
            if h.function == "webhook" && request_id.is_some_and(|id| throttled.contains(&id)) {
                f.throttled_key_fetches.push(what());
            } else {
                f.server_errors.push(what());
            }
        }
        // No weft answer has an empty body; cargo-lambda's default CORS layer (`--disable-cors` turns it off)
        // answers every OPTIONS itself, 200 with no body, and no function logs the request.
        if (200..300).contains(&status) && h.method == "OPTIONS" && text.is_empty() {
            *f.cors_preflights.entry(h.route).or_default() += 1;
        } else if (200..300).contains(&status)
            && (h.method != "GET" || h.route == "/link/conversion")
            && h.route != "/link/token"
        {
            f.accepted.push(what());
        }
        if status >= 400 {
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if body["error"]["code"].as_str().is_none_or(str::is_empty) {
                f.not_json_errors.push(what());
            }
        }
    }
    f
}

/// The Lambda request ids whose webhook key fetch the cap on fetches per minute refused (the log's
/// `webhook_key_fetch_throttled` events).
fn throttled_requests(stack: &LocalStack) -> BTreeSet<String> {
    flows::lambda_log(stack)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["event"] == "webhook_key_fetch_throttled")
        .flat_map(|v| {
            v["spans"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["requestId"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// 4. Secrets at rest, orphans

#[derive(Default)]
struct SecretFigures {
    records: usize,
    access_tokens: usize,
    public_tokens: usize,
    plaid_secret: usize,
    known_tokens: usize,
    log_lines: usize,
    log_leaks: usize,
}

async fn secrets(stack: &LocalStack, known: &[String]) -> Result<SecretFigures, String> {
    let mut f = SecretFigures::default();
    for (_, _, text) in flows::table_rows(stack).await? {
        f.records += 1;
        f.access_tokens += usize::from(text.contains("access-sandbox-") || text.contains("access-production-"));
        f.public_tokens += usize::from(text.contains("public-sandbox-") || text.contains("public-production-"));
        f.plaid_secret += usize::from(text.contains(PLAID_SECRET));
        f.known_tokens += usize::from(known.iter().any(|k| text.contains(k.as_str())));
    }
    let log = flows::lambda_log(stack);
    for line in log.lines() {
        f.log_lines += 1;
        if line.contains("access-sandbox-")
            || line.contains(PLAID_SECRET)
            || known.iter().any(|k| line.contains(k.as_str()))
        {
            f.log_leaks += 1;
        }
    }
    Ok(f)
}

#[derive(Default)]
struct OrphanFigures {
    at_plaid: usize,
    live: usize,
    held: usize,
    orphans: Vec<String>,
    ghosts: Vec<String>,
}

async fn orphans(stack: &LocalStack, apps: &[&AppClient]) -> Result<OrphanFigures, String> {
    let listed = stack.emulator().get("items").await?;
    let mut f = OrphanFigures::default();
    let mut held = BTreeSet::new();
    for app in apps {
        let list = app.get("/items").await;
        if list.status != 200 {
            return Err(format!("GET /items: {} {}", list.status, list.text));
        }
        for i in list.body["items"].as_array().into_iter().flatten() {
            if let Some(id) = i["item_id"].as_str() {
                held.insert(id.to_owned());
            }
        }
    }
    f.held = held.len();
    for item in listed["items"].as_array().into_iter().flatten() {
        let id = item["item_id"].as_str().unwrap_or_default().to_owned();
        if !item["exchanged"].as_bool().unwrap_or(false) {
            continue;
        }
        f.at_plaid += 1;
        let removed = item["removed"].as_bool().unwrap_or(false);
        if !removed {
            f.live += 1;
            if !held.contains(&id) {
                f.orphans.push(id.clone());
            }
        } else if held.contains(&id) {
            f.ghosts.push(id.clone());
        }
    }
    Ok(f)
}

// ---------------------------------------------------------------------------------------------------------

fn counts<K: std::fmt::Display>(m: &BTreeMap<K, usize>) -> String {
    m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
}

async fn run(args: Args) -> Result<bool, String> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let name = format!("rel{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let log_dir = args.log_dir.clone().or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("reliability-logs").join(&name))
    });
    let stack = LocalStack::start(StackOptions { name: Some(name), log_dir, ..Default::default() }).await?;
    flows::relax_emulator(&stack).await?;
    println!("local stack up in {:.1} s (logs: {})", started.elapsed().as_secs_f64(), stack.log_dir.display());

    // 1.
    let (storm, storm_items) = storm(&stack, &args, &mut rng).await?;
    println!("storm done: {} POSTs in {:.0} s", storm.posts, storm.storm_time.as_secs_f64());

    // 2.
    let (exch, exch_users, public_tokens) = exchanges(&stack, &args, &mut rng).await?;
    println!("exchanges done: {} links, {} requests", exch.links, exch.requests);

    // 3. Victims: the storm's users and the exchange users that kept their item.
    let mut victims: Vec<(String, String)> = Vec::new();
    for item in &storm_items {
        victims.push((user_of(&item.app.token), item.item_id.clone()));
    }
    for (app, item) in &exch_users {
        if let Some(id) = item {
            victims.push((user_of(&app.token), id.clone()));
        }
    }
    let attacker = unique_user("mallory");
    let attacker_app = AppClient::new(&stack, &attacker);
    let before_hostile: Vec<(String, Comparison)> = {
        let mut v = Vec::new();
        for item in &storm_items {
            v.push((item.item_id.clone(), compare(&item.app, &stack, &item.item_id).await?));
        }
        v
    };
    let mut real_webhooks = Vec::new();
    for item in &storm_items {
        for d in flows::deliveries(&stack, &item.item_id, None).await?.iter().rev().take(5) {
            if let (Some(b), Some(h)) = (d["body"].as_str(), d["plaid_verification"].as_str()) {
                real_webhooks.push((b.to_owned(), h.to_owned()));
            }
        }
    }
    let keys = stack.emulator().get("keys").await?;
    let ctx = HostileContext {
        issuer_url: stack.issuer.issuer_url(),
        attacker: attacker.clone(),
        attacker_token: attacker_app.token.clone(),
        victims: victims.clone(),
        rogue: DevIssuer::spawn(AUTH_AUDIENCE).await?,
        expired_token: stack.issuer.mint_expired(&victims.first().map(|v| v.0.clone()).unwrap_or_default()),
        plaid_kid: keys["current_kid"].as_str().unwrap_or_default().to_owned(),
        real_webhooks,
    };
    println!("hostile: {} requests, {} at a time...", args.hostile, args.concurrency);
    let mut hostile_figures = hostile(&stack, &ctx, &args, &mut rng).await;
    // The victims' items are intact: still listed, transactions unchanged.
    for (user, item_id) in &victims {
        let app = AppClient::with_token(&stack, stack.token(user));
        if flows::app_item(&app, item_id).await?.is_none_or(|i| i["status"] != "healthy") {
            hostile_figures.victims_harmed += 1;
        }
    }
    for (item, (id, before)) in storm_items.iter().zip(&before_hostile) {
        let after = compare(&item.app, &stack, id).await?;
        if (after.served, after.lost, after.stale, after.resurrected, after.duplicated)
            != (before.served, before.lost, before.stale, before.resurrected, before.duplicated)
        {
            hostile_figures.victims_harmed += 1;
        }
    }

    // 4.
    let emulator_items = stack.emulator().get("items").await?;
    let mut known: Vec<String> = emulator_items["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["access_token"].as_str().map(str::to_owned))
        .collect();
    known.extend(storm_items.iter().map(|i| i.access_token.clone()));
    known.extend(public_tokens);
    known.sort();
    known.dedup();
    let secret_figures = secrets(&stack, &known).await?;
    let mut apps: Vec<&AppClient> = storm_items.iter().map(|i| &i.app).collect();
    apps.extend(exch_users.iter().map(|(a, _)| a));
    apps.push(&attacker_app);
    let orphan_figures = orphans(&stack, &apps).await?;

    // Report.
    let lost: usize = storm.compared.iter().map(|(_, c)| c.lost).sum();
    let duplicated: usize = storm.compared.iter().map(|(_, c)| c.duplicated).sum();
    let stale: usize = storm.compared.iter().map(|(_, c)| c.stale).sum();
    let resurrected: usize = storm.compared.iter().map(|(_, c)| c.resurrected).sum();
    let plaid_total: usize = storm.compared.iter().map(|(_, c)| c.plaid).sum();
    let coalesced = storm.by_handled.get("coalesced").copied().unwrap_or(0);
    let fivexx = hostile_figures.server_errors.len() - hostile_figures.transport_errors;
    let storm_5xx: usize = storm.by_status.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum();

    println!();
    println!(
        "== reliability (seed {}; functions as debug builds under cargo lambda watch, moto, the Plaid emulator)",
        args.seed
    );
    println!(
        "1. webhook storm: {} items, {} rounds, {} transaction changes (+{} added, {} modified, {} removed, {} posted from pending)",
        storm.items, storm.rounds, storm.mutations, storm.added, storm.modified, storm.removed, storm.posted_pending
    );
    println!("   Plaid faults armed on /transactions/sync: {}", counts(&storm.faults));
    println!(
        "   {} POSTs of {} distinct webhooks (shuffled, {} at a time) in {:.0} s; answers: {}",
        storm.posts,
        storm.distinct,
        args.concurrency,
        storm.storm_time.as_secs_f64(),
        counts(&storm.by_status)
    );
    println!("   handled: {}", counts(&storm.by_handled));
    println!(
        "   syncs queued {} (coalesced answers {}, logged {}); worker runs {} ({} fetched, {} failed and retried, {} restarts after a mutation during pagination, {} lease lost); /transactions/sync calls at Plaid {}",
        storm.queued,
        coalesced,
        storm.coalesced_logged,
        storm.sync_runs,
        storm.synced,
        storm.sync_failed,
        storm.restarts,
        storm.lease_lost,
        storm.plaid_sync_calls
    );
    match storm.settled {
        Some(d) => println!(
            "   settled (queue empty, worker quiet, every item mirrored) {:.0} s after the last POST",
            d.as_secs_f64()
        ),
        None => println!("   NOT settled within {} s", args.settle),
    }
    println!(
        "   transactions at Plaid {plaid_total}: lost {lost}, duplicated {duplicated}, stale {stale}, resurrected {resurrected}"
    );
    for (id, c) in &storm.compared {
        if !c.clean() {
            println!("     item {id}: {c:?}");
        }
    }
    println!(
        "2. exchanges under faults: {} links, faults {}; {} exchange requests (3 copies each, retried): final answers {}; {} items stored",
        exch.links,
        counts(&exch.faults),
        exch.requests,
        counts(&exch.outcomes),
        exch.stored
    );
    println!(
        "   deletes under /item/remove faults: {} requests, final answers {}",
        exch.deletes,
        counts(&exch.delete_outcomes)
    );
    println!(
        "3. hostile input: {} requests in {:.0} s; answers {}",
        hostile_figures.requests,
        hostile_figures.elapsed.as_secs_f64(),
        counts(&hostile_figures.by_status)
    );
    for (route, by) in &hostile_figures.by_route {
        println!("     {route:<36} {}", counts(by));
    }
    println!(
        "   function 5xx {fivexx}, no answer {}, error bodies without JSON error.code {}, victims' items harmed {}",
        hostile_figures.transport_errors,
        hostile_figures.not_json_errors.len(),
        hostile_figures.victims_harmed
    );
    println!(
        "   5xx answered by cargo-lambda itself, not a function (its problem+json body): {}",
        hostile_figures.local_server_errors.len()
    );
    for e in hostile_figures.local_server_errors.iter().take(3) {
        println!("     cargo-lambda: {e}");
    }
    println!(
        "   webhook 5xx after a key fetch refused by the cap on fetches per minute (forged kids; Plaid would deliver again): {}",
        hostile_figures.throttled_key_fetches.len()
    );
    for e in hostile_figures.throttled_key_fetches.iter().take(3) {
        println!("     throttled: {e}");
    }
    println!("   sent again after a first attempt got no answer (not a timeout): {}", hostile_figures.resent.len());
    for e in hostile_figures.resent.iter().take(3) {
        println!("     resent: {e}");
    }
    println!(
        "   OPTIONS answered 2xx with no body by cargo-lambda's CORS layer (no function invoked): {} ({})",
        hostile_figures.cors_preflights.values().sum::<usize>(),
        counts(&hostile_figures.cors_preflights)
    );
    println!(
        "   2xx answers to a changing or operator route (a function accepted a hostile request): {}",
        hostile_figures.accepted.len()
    );
    for e in &hostile_figures.accepted {
        println!("     2xx: {e}");
    }
    for e in hostile_figures.server_errors.iter().take(8) {
        println!("     5xx: {e}");
    }
    for e in hostile_figures.not_json_errors.iter().take(8) {
        println!("     not JSON: {e}");
    }
    println!(
        "4. secrets at rest: {} records scanned: access tokens {}, public tokens {}, Plaid secret {}, any of {} known tokens {}; log lines with a token or the secret {} of {}",
        secret_figures.records,
        secret_figures.access_tokens,
        secret_figures.public_tokens,
        secret_figures.plaid_secret,
        known.len(),
        secret_figures.known_tokens,
        secret_figures.log_leaks,
        secret_figures.log_lines
    );
    println!(
        "   orphans: {} items exchanged at Plaid, {} live, {} held by weft; live at Plaid but not held: {} {:?}; held but removed at Plaid: {} {:?}",
        orphan_figures.at_plaid,
        orphan_figures.live,
        orphan_figures.held,
        orphan_figures.orphans.len(),
        orphan_figures.orphans,
        orphan_figures.ghosts.len(),
        orphan_figures.ghosts
    );
    println!("   storm webhook 5xx answers {storm_5xx}");
    println!("total time {:.0} s", started.elapsed().as_secs_f64());

    let correct = lost + duplicated + stale + resurrected == 0
        && storm.settled.is_some()
        && fivexx == 0
        && hostile_figures.transport_errors == 0
        && hostile_figures.not_json_errors.is_empty()
        && hostile_figures.victims_harmed == 0
        && hostile_figures.accepted.is_empty()
        && secret_figures.access_tokens
            + secret_figures.public_tokens
            + secret_figures.plaid_secret
            + secret_figures.known_tokens
            == 0
        && secret_figures.log_leaks == 0
        && orphan_figures.orphans.is_empty()
        && orphan_figures.ghosts.is_empty();
    Ok(correct)
}

/// The `sub` of one of the dev issuer's tokens.
fn user_of(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
    serde_json::from_slice::<Value>(&decoded)
        .ok()
        .and_then(|c| c["sub"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
