//! `local-stack`: starts the whole local stack, runs a demo of the main flow against it, and keeps
//! serving until Ctrl-C. Run it through `scripts/stack.sh`, which installs what it needs first.

use clap::Parser;
use serde_json::{Value, json};
use std::path::PathBuf;
use weft_tests::stack::{LocalStack, StackOptions, StackPorts};

#[derive(Parser)]
#[command(about = "Run weft's local stack (moto, Plaid emulator, dev OIDC issuer, functions) with a demo")]
struct Args {
    /// Skip the demo; just serve.
    #[arg(long)]
    no_demo: bool,
    /// Stop after the demo instead of serving.
    #[arg(long)]
    exit_after_demo: bool,
    /// The API's port: the template's routes at the root of http://127.0.0.1:<port>.
    #[arg(long, env = "WEFT_LOCAL_API_PORT", default_value_t = 4000)]
    api_port: u16,
    /// The Plaid emulator's port.
    #[arg(long, env = "WEFT_LOCAL_PLAID_PORT", default_value_t = 4001)]
    plaid_port: u16,
    /// The dev OIDC issuer's port.
    #[arg(long, env = "WEFT_LOCAL_ISSUER_PORT", default_value_t = 4002)]
    issuer_port: u16,
    /// Pick free ports instead (for tools that start their own stack; see --ready-file).
    #[arg(long)]
    any_ports: bool,
    /// Once everything is up, write the stack's addresses here as JSON:
    /// `{"api", "app", "openapi", "emulator", "issuer"}`.
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("local stack failed: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    println!("starting moto, the Plaid emulator, the dev OIDC issuer and the functions...");
    let ports = if args.any_ports {
        StackPorts::default()
    } else {
        StackPorts { api: Some(args.api_port), plaid: Some(args.plaid_port), issuer: Some(args.issuer_port) }
    };
    let name = if args.any_ports { None } else { Some("local".to_owned()) };
    let stack = LocalStack::start(StackOptions { name, ports, ..Default::default() }).await?;
    let api = stack.gateway.base_url.clone();
    println!();
    println!("  API               {api}   (the template's routes: POST {api}/link/token, GET {api}/items, ...)");
    println!("  OpenAPI           {api}/openapi.json");
    println!("  web app           {api}/app/");
    println!("  AWS (moto)        {}", stack.moto.endpoint);
    println!(
        "  Plaid emulator    {}   (Link page: {}/__emulator/link?token=<link_token>)",
        stack.plaid.base_url(),
        stack.plaid.base_url()
    );
    println!(
        "  OIDC dev issuer   {}   (POST /token {{\"sub\": \"alice\"}} for a bearer token)",
        stack.issuer.issuer_url()
    );
    println!("  functions         {}/lambda-url/<function>/... (what the API proxies to)", stack.lambda.base_url);
    println!(
        "  table {}, KMS key {}, logs in {}",
        stack.resources.table_name,
        stack.resources.kms_key_id,
        stack.log_dir.display()
    );
    println!();
    if !args.no_demo {
        demo(&stack).await?;
    }
    if args.exit_after_demo {
        return Ok(());
    }
    if let Some(path) = &args.ready_file {
        let ready = json!({
            "api": api,
            "app": format!("{api}/app/"),
            "openapi": format!("{api}/openapi.json"),
            "emulator": stack.plaid.base_url(),
            "issuer": stack.issuer.issuer_url(),
        });
        // Written whole under another name, then renamed: a reader never sees half a file.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, ready.to_string()).map_err(|e| format!("{}: {e}", partial.display()))?;
        std::fs::rename(&partial, path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("serving; Ctrl-C (or SIGTERM) stops everything.");
    stopped().await
}

/// Waits for Ctrl-C or SIGTERM.
async fn stopped() -> Result<(), String> {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map_err(|e| e.to_string()),
        _ = term.recv() => Ok(()),
    }
}

async fn call(
    stack: &LocalStack,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut req = stack.http.request(method.clone(), url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status();
    let value: Value = resp.json().await.map_err(|e| format!("{method} {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{method} {url} answered {status}: {value}"));
    }
    Ok(value)
}

async fn demo(stack: &LocalStack) -> Result<(), String> {
    let user = format!("demo-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let token = stack.token(&user);
    println!("demo: user {user} signs in (bearer token from the dev issuer)");

    let created = call(stack, reqwest::Method::POST, &stack.api("/link/token"), &token, Some(json!({}))).await?;
    let link_token = created["link_token"].as_str().unwrap_or_default().to_owned();
    println!("1. POST /link/token            -> link_token {link_token} (expires {})", created["expiration"]);

    let linked = stack
        .complete_link(&link_token, "ins_109508", "user_good", "pass_good")
        .await
        .map_err(|e| format!("simulated Link: {e}"))?;
    let public_token = linked["public_token"].as_str().unwrap_or_default().to_owned();
    println!(
        "2. Link (simulated): {} as user_good -> public_token, {} accounts selected",
        linked["metadata"]["institution"]["name"],
        linked["metadata"]["accounts"].as_array().map_or(0, Vec::len)
    );

    let exchanged = call(
        stack,
        reqwest::Method::POST,
        &stack.api("/items/exchange"),
        &token,
        Some(json!({ "public_token": public_token, "metadata": linked["metadata"] })),
    )
    .await?;
    let item_id = exchanged["item"]["item_id"].as_str().unwrap_or_default().to_owned();
    println!(
        "3. POST /items/exchange        -> item {item_id} stored; its access token only as KMS-envelope ciphertext"
    );

    println!("4. Plaid sends SYNC_UPDATES_AVAILABLE (signed); the webhook function verifies it and queues a sync...");
    let mut count = 0;
    for _ in 0..60 {
        let page = call(
            stack,
            reqwest::Method::GET,
            &stack.api(&format!("/items/{item_id}/transactions?limit=5")),
            &token,
            None,
        )
        .await?;
        count = page["transactions"].as_array().map_or(0, Vec::len);
        if count > 0 {
            println!("5. GET /items/{{id}}/transactions -> newest of the synced history:");
            for t in page["transactions"].as_array().into_iter().flatten() {
                println!(
                    "     {}  {:>9}  {}",
                    t["date"].as_str().unwrap_or(""),
                    t["amount"],
                    t["name"].as_str().unwrap_or("")
                );
            }
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    if count == 0 {
        return Err("no transactions arrived within 30 s".into());
    }

    let items = call(stack, reqwest::Method::GET, &stack.api("/items"), &token, None).await?;
    for item in items["items"].as_array().into_iter().flatten() {
        println!(
            "6. GET /items                  -> {} at {}: status {}, {} accounts",
            item["item_id"].as_str().unwrap_or(""),
            item["institution"]["name"].as_str().unwrap_or(""),
            item["status"],
            item["accounts"].as_array().map_or(0, Vec::len)
        );
    }
    println!("demo done.");
    Ok(())
}
