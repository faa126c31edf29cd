//! The control API: rate limits, fault injection, call counts, clock, items view, reset,
//! persistence, and the two ways to start the emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{CLIENT_ID, Emu, SECRET, emulator};
use plaid_emulator::{Emulator, FaultKind, FaultSpec, Limit, RateLimits};
use serde_json::{Value, json};

#[tokio::test]
async fn rate_limits_per_item_and_per_client() {
    let emu = emulator().await;
    let (a, _) = emu.item(None).await;
    let (b, _) = emu.item(None).await;
    // Plaid's Sandbox limits: /item/get 40 per Item per minute.
    for _ in 0..40 {
        emu.plaid("/item/get", json!({"access_token": a})).await.ok();
    }
    let r = emu.plaid("/item/get", json!({"access_token": a})).await;
    let e = r.err(429, "RATE_LIMIT_EXCEEDED", "ITEM_GET_LIMIT");
    assert_eq!(e["error_message"], "rate limit exceeded for attempts to access this item. please try again later");
    // Another Item is not affected; the next minute of the emulator clock resets the window.
    emu.plaid("/item/get", json!({"access_token": b})).await.ok();
    emu.control().advance_clock(Duration::from_secs(60)).unwrap();
    emu.plaid("/item/get", json!({"access_token": a})).await.ok();

    for _ in 0..100 {
        emu.plaid("/accounts/get", json!({"access_token": b})).await.ok();
    }
    emu.plaid("/accounts/get", json!({"access_token": b})).await.err(429, "RATE_LIMIT_EXCEEDED", "ACCOUNTS_LIMIT");
    // /accounts/balance/get: 25 per Item (BALANCE_LIMIT), 100 per client (ACCOUNTS_BALANCE_GET_LIMIT).
    for _ in 0..25 {
        emu.plaid("/accounts/balance/get", json!({"access_token": a})).await.ok();
    }
    emu.plaid("/accounts/balance/get", json!({"access_token": a})).await.err(
        429,
        "RATE_LIMIT_EXCEEDED",
        "BALANCE_LIMIT",
    );
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(emu.control().create_item(&Default::default()).unwrap().access_token);
    }
    for t in &others {
        for _ in 0..25 {
            emu.plaid("/accounts/balance/get", json!({"access_token": t})).await.ok();
        }
    }
    let r = emu.plaid("/accounts/balance/get", json!({"access_token": b})).await;
    let e = r.err(429, "RATE_LIMIT_EXCEEDED", "ACCOUNTS_BALANCE_GET_LIMIT");
    assert_eq!(
        e["error_message"],
        "rate limit exceeded for attempts to access \"accounts balance get\". please try again later"
    );

    // Configurable through the control route: per-client limit on institutions.
    let r = emu
        .post(
            "/__emulator/rate_limits",
            json!({"limits": {"/institutions/get_by_id": {"per_item": null, "per_client": 2}}}),
        )
        .await;
    assert_eq!(r.ok()["limits"]["/institutions/get_by_id"]["per_client"], 2);
    let inst = json!({"institution_id": "ins_109508", "country_codes": ["US"]});
    emu.plaid("/institutions/get_by_id", inst.clone()).await.ok();
    emu.plaid("/institutions/get_by_id", inst.clone()).await.ok();
    emu.plaid("/institutions/get_by_id", inst.clone()).await.err(
        429,
        "RATE_LIMIT_EXCEEDED",
        "INSTITUTIONS_GET_BY_ID_LIMIT",
    );

    emu.control().set_rate_limits(RateLimits(
        [("/item/remove".to_owned(), Limit { per_item: None, per_client: Some(1) })].into_iter().collect(),
    ));
    emu.plaid("/item/remove", json!({"access_token": a})).await.ok();
    emu.plaid("/item/remove", json!({"access_token": b})).await.err(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT");
    let r = emu.post("/__emulator/rate_limits", json!({"replace": true})).await;
    assert_eq!(r.ok()["limits"], json!({}));
    let r = emu.post("/__emulator/rate_limits", json!({"limits": {"/nope": {"per_item": 1, "per_client": 1}}})).await;
    r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
}

#[tokio::test]
async fn sync_has_its_limit() {
    let emu = emulator().await;
    let (a, _) = emu.item(None).await;
    for _ in 0..50 {
        emu.plaid("/transactions/sync", json!({"access_token": a, "count": 1})).await.ok();
    }
    emu.plaid("/transactions/sync", json!({"access_token": a, "count": 1})).await.err(
        429,
        "RATE_LIMIT_EXCEEDED",
        "TRANSACTIONS_SYNC_LIMIT",
    );
}

#[tokio::test]
async fn fault_injection() {
    let emu = emulator().await;
    let (a, item_a) = emu.item(None).await;
    let (b, _) = emu.item(None).await;
    let r = emu
        .post("/__emulator/faults", json!({"endpoint": "/accounts/get", "kind": "internal_server_error", "count": 2}))
        .await;
    assert!(r.ok()["fault_id"].is_u64());
    emu.plaid("/accounts/get", json!({"access_token": a})).await.err(500, "API_ERROR", "INTERNAL_SERVER_ERROR");
    emu.plaid("/accounts/get", json!({"access_token": b})).await.err(500, "API_ERROR", "INTERNAL_SERVER_ERROR");
    emu.plaid("/accounts/get", json!({"access_token": a})).await.ok();

    // Scoped to one access token / Item.
    emu.control()
        .inject_fault(FaultSpec {
            endpoint: "/transactions/sync".into(),
            kind: FaultKind::PlannedMaintenance,
            count: 1,
            stall_ms: None,
            access_token: Some(a.clone()),
            item_id: None,
            error: None,
        })
        .unwrap();
    emu.plaid("/transactions/sync", json!({"access_token": b})).await.ok();
    emu.plaid("/transactions/sync", json!({"access_token": a})).await.err(503, "API_ERROR", "PLANNED_MAINTENANCE");
    emu.plaid("/transactions/sync", json!({"access_token": a})).await.ok();

    emu.post("/__emulator/faults", json!({"endpoint": "/item/get", "kind": "rate_limit", "item_id": item_a}))
        .await
        .ok();
    emu.plaid("/item/get", json!({"access_token": b})).await.ok();
    emu.plaid("/item/get", json!({"access_token": a})).await.err(429, "RATE_LIMIT_EXCEEDED", "ITEM_GET_LIMIT");

    emu.post(
        "/__emulator/faults",
        json!({"endpoint": "*", "kind": "error", "error": {"status": 400, "error_type": "INSTITUTION_ERROR", "error_code": "INSTITUTION_NOT_RESPONDING"}}),
    )
    .await
    .ok();
    let r = emu.plaid("/item/get", json!({"access_token": a})).await;
    let e = r.err(400, "INSTITUTION_ERROR", "INSTITUTION_NOT_RESPONDING");
    // A documented code gets Plaid's texts.
    assert_eq!(
        e["error_message"],
        "this institution is not currently responding to this request. please try again soon"
    );
    assert!(e["display_message"].is_string());

    emu.post("/__emulator/faults", json!({"endpoint": "/item/get", "kind": "stall", "stall_ms": 300})).await.ok();
    let started = Instant::now();
    emu.plaid("/item/get", json!({"access_token": a})).await.ok();
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Listing and clearing; bad specs are refused.
    emu.post("/__emulator/faults", json!({"endpoint": "/item/get", "kind": "internal_server_error", "count": 5}))
        .await
        .ok();
    let r = emu.get("/__emulator/faults").await;
    assert_eq!(r.ok()["faults"][0]["remaining"], 5);
    emu.delete("/__emulator/faults").await.ok();
    emu.plaid("/item/get", json!({"access_token": a})).await.ok();
    emu.post("/__emulator/faults", json!({"endpoint": "/nope", "kind": "stall", "stall_ms": 1})).await.err(
        400,
        "INVALID_REQUEST",
        "INVALID_FIELD",
    );
    emu.post("/__emulator/faults", json!({"endpoint": "/item/get", "kind": "explode"})).await.err(
        400,
        "INVALID_REQUEST",
        "INVALID_FIELD",
    );
    emu.post("/__emulator/faults", json!({"endpoint": "/item/get", "kind": "stall"})).await.err(
        400,
        "INVALID_REQUEST",
        "INVALID_FIELD",
    );
    let r = emu.raw("/__emulator/faults", &[], b"{not json".to_vec()).await;
    r.err(400, "INVALID_REQUEST", "INVALID_BODY");
}

#[tokio::test]
async fn call_counts() {
    let emu = emulator().await;
    let (a, item_a) = emu.item(None).await;
    let (b, _) = emu.item(None).await;
    emu.control().reset_call_counts();
    for _ in 0..3 {
        emu.plaid("/transactions/sync", json!({"access_token": a})).await.ok();
    }
    emu.plaid("/transactions/sync", json!({"access_token": b})).await.ok();
    emu.plaid("/item/get", json!({})).await;
    assert_eq!(emu.control().call_count("/transactions/sync", None), 4);
    assert_eq!(emu.control().call_count("/transactions/sync", Some(&item_a)), 3);
    assert_eq!(emu.control().call_count("/item/get", None), 1);
    let r = emu.get("/__emulator/calls").await;
    assert_eq!(r.ok()["total"]["/transactions/sync"], 4);
    let r = emu.get(&format!("/__emulator/calls?item_id={item_a}")).await;
    assert_eq!(r.ok()["calls"]["/transactions/sync"], 3);
    emu.delete("/__emulator/calls").await.ok();
    assert_eq!(emu.control().call_count("/transactions/sync", None), 0);
}

#[tokio::test]
async fn clock_items_reset_and_create_shortcut() {
    let emu = emulator().await;
    let before = emu.get("/__emulator/clock").await.ok()["unix"].as_i64().unwrap();
    let r = emu.post("/__emulator/clock/advance", json!({"hours": 2, "minutes": 1})).await;
    assert_eq!(r.ok()["advanced_seconds"], 7260);
    let after = emu.get("/__emulator/clock").await.ok()["unix"].as_i64().unwrap();
    assert!(after - before >= 7260);
    emu.post("/__emulator/clock/advance", json!({"seconds": -5})).await.err(400, "INVALID_REQUEST", "INVALID_FIELD");
    emu.post("/__emulator/clock/advance", json!({"days": 1_000_000_000})).await.err(
        400,
        "INVALID_REQUEST",
        "INVALID_FIELD",
    );

    let r = emu
        .post("/__emulator/items", json!({"products": ["transactions", "auth"], "webhook": "http://127.0.0.1:9/x"}))
        .await;
    let created = r.ok().clone();
    let access = created["access_token"].as_str().unwrap();
    let r = emu.plaid("/item/get", json!({"access_token": access})).await;
    assert_eq!(r.ok()["item"]["billed_products"], json!(["transactions", "auth"]));
    let view = emu.get(&format!("/__emulator/items/{access}")).await;
    let view = view.ok().clone();
    assert_eq!(view["item_id"], created["item_id"]);
    assert_eq!(view["accounts"].as_array().unwrap().len(), 2, "auth: checking and savings");
    assert!(view["transaction_count"].as_u64().unwrap() > 0);
    let r = emu.get("/__emulator/items").await;
    assert_eq!(r.ok()["items"].as_array().unwrap().len(), 1);
    emu.get("/__emulator/items/nope").await.err(404, "INVALID_REQUEST", "NOT_FOUND");
    emu.post("/__emulator/items", json!({"password": "error_ITEM_LOCKED"})).await.err(400, "ITEM_ERROR", "ITEM_LOCKED");
    let r = emu.get("/__emulator/state").await;
    assert_eq!(r.ok()["items"], 1);
    emu.post("/__emulator/reset", json!({})).await.ok();
    emu.plaid("/item/get", json!({"access_token": access})).await.err(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN");
    let r = emu.get("/__emulator/health").await;
    assert_eq!(r.ok()["ok"], true);
    let r = emu.get("/__emulator/webhooks/config").await;
    assert_eq!(r.ok()["timeout_ms"], 500);
    let r = emu
        .post(
            "/__emulator/webhooks/config",
            json!({"timeout_ms": 1000, "retry_backoff_ms": [10, 20], "max_attempts": 3}),
        )
        .await;
    assert_eq!(r.ok(), &json!({"timeout_ms": 1000, "retry_backoff_ms": [10, 20], "max_attempts": 3}));
    emu.post("/__emulator/webhooks/config", json!({"max_attempts": 0})).await.err(
        400,
        "INVALID_REQUEST",
        "INVALID_FIELD",
    );
}

#[tokio::test]
async fn state_file_round_trip() {
    let dir = std::env::temp_dir().join(format!("plaid-emulator-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let mut config = common::config();
    config.state_file = Some(path.clone());
    config.persist_debounce = Duration::from_millis(10);

    let emu = Emu::start(config.clone()).await;
    let (access, item_id) = emu.item(Some("http://127.0.0.1:9/hook")).await;
    let (_, _, _, cursor) = emu.sync_all(&access, None, 500).await;
    let kid = emu.control().rotate_webhook_key().kid;
    let link = emu.link_token(json!({})).await;
    emu.control().advance_clock(Duration::from_secs(600)).unwrap();
    let removed = emu.item(None).await.0;
    emu.plaid("/item/remove", json!({"access_token": removed})).await.ok();
    let accounts_before = emu.plaid("/accounts/get", json!({"access_token": access})).await.ok()["accounts"].clone();
    emu.running.shutdown().await;
    assert!(path.exists());

    let emu = Emu::start(config).await;
    let r = emu.plaid("/item/get", json!({"access_token": access})).await;
    assert_eq!(r.ok()["item"]["item_id"], item_id.as_str());
    assert_eq!(r.ok()["item"]["webhook"], "http://127.0.0.1:9/hook");
    assert_eq!(emu.plaid("/accounts/get", json!({"access_token": access})).await.ok()["accounts"], accounts_before);
    // The cursor is still valid and nothing changed.
    let r = emu.plaid("/transactions/sync", json!({"access_token": access, "cursor": cursor})).await;
    assert!(r.ok()["added"].as_array().unwrap().is_empty());
    // Keys, link tokens, removed items and the clock offset survive.
    emu.plaid("/webhook_verification_key/get", json!({"key_id": kid})).await.ok();
    let r = emu.get("/__emulator/state").await;
    assert!(r.ok()["clock_offset_seconds"].as_i64().unwrap() >= 600);
    let out = emu
        .control()
        .complete_link(&plaid_emulator::LinkCompletion { link_token: link, ..Default::default() })
        .unwrap();
    assert_eq!(out.status, "success");
    emu.plaid("/item/get", json!({"access_token": removed})).await.err(400, "ITEM_ERROR", "ITEM_NOT_FOUND");
    emu.running.shutdown().await;

    // A corrupt state file is a start-up error, not a crash.
    std::fs::write(&path, b"{nope").unwrap();
    let mut config = common::config();
    config.state_file = Some(path.clone());
    assert!(Emulator::spawn(config).await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spawn_on_thread_without_a_runtime() {
    let running = Emulator::spawn_on_thread(common::config()).unwrap();
    let item = running.control().create_item(&Default::default()).unwrap();
    assert!(item.access_token.starts_with("access-sandbox-"));
    let body = json!({"access_token": item.access_token, "client_id": CLIENT_ID, "secret": SECRET});
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = rt.block_on(async {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{}/item/get", running.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    running.shutdown_blocking();
}

#[tokio::test]
async fn binary_serves_and_documents_its_flags() {
    let exe = env!("CARGO_BIN_EXE_plaid-emulator");
    let help = std::process::Command::new(exe).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--listen",
        "--client-id",
        "--secret",
        "--seed",
        "--state-file",
        "--rate-limit",
        "--no-rate-limits",
        "--webhook-timeout-ms",
        "--webhook-retry-backoff-ms",
        "--webhook-max-attempts",
        "--history-delay-secs",
        "--start-time",
        "--max-body-bytes",
        "--log",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    let mut child = tokio::process::Command::new(exe)
        .args(["--listen", "127.0.0.1:0", "--client-id", "cid", "--secret", "sec", "--rate-limit", "/item/get=1/-"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.unwrap().unwrap().unwrap();
    let base = line.rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let created: Value =
        http.post(format!("{base}/__emulator/items")).json(&json!({})).send().await.unwrap().json().await.unwrap();
    let call = || {
        http.post(format!("{base}/item/get"))
            .header("plaid-client-id", "cid")
            .header("plaid-secret", "sec")
            .json(&json!({"access_token": created["access_token"]}))
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    let second = call().await.unwrap();
    assert_eq!(second.status(), 429, "--rate-limit applied");
    child.kill().await.unwrap();
    // A bad flag value is refused with a message.
    let out = std::process::Command::new(exe).args(["--rate-limit", "/nope=1/1"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nope"));
}

#[tokio::test]
async fn removed_items_stay_visible_to_the_control_api() {
    let emu = emulator().await;
    let (a, item_a) = emu.item(None).await;
    let (_, item_b) = emu.item(None).await;
    emu.plaid("/item/remove", json!({"access_token": a})).await.ok();
    let r = emu.get("/__emulator/items").await;
    let items = r.ok()["items"].as_array().unwrap().clone();
    let flag = |id: &str| items.iter().find(|i| i["item_id"] == id).unwrap()["removed"].clone();
    assert_eq!(flag(&item_a), true);
    assert_eq!(flag(&item_b), false);
    assert!(items.iter().all(|i| i["institution_id"] == "ins_109508"));
    let r = emu.get(&format!("/__emulator/items/{a}")).await;
    assert_eq!(r.ok()["removed"], true);
    // Changes to a removed Item are refused.
    emu.post(&format!("/__emulator/items/{item_a}/transactions"), json!({"generate": 1})).await.err(
        404,
        "INVALID_REQUEST",
        "NOT_FOUND",
    );
}
