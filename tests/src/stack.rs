//! The whole local stack: moto, the Plaid emulator, the dev OIDC issuer, the functions under
//! cargo-lambda, and the SQS trigger for the sync worker, wired together the way AWS wires the deployed ones.

use crate::dev_issuer::DevIssuer;
use crate::gateway::{Gateway, GatewayConfig, routes_from_template};
use crate::lambda::LambdaServer;
use crate::moto::Moto;
use crate::provision::{Provisioned, provision};
use plaid_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use std::path::PathBuf;

/// Plaid credentials the emulator accepts and the secret holds.
pub const PLAID_CLIENT_ID: &str = "weft-local-client";
pub const PLAID_SECRET: &str = "weft-local-secret";
/// The audience the dev issuer's tokens carry and the functions require.
pub const AUTH_AUDIENCE: &str = "weft-local-app";

/// Choices a test can make about the stack it starts.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// Prefix for the table, key, secret and queue (default: unique per stack).
    pub name: Option<String>,
    /// Extra or overriding environment variables for every function.
    pub env: Vec<(String, String)>,
    /// Where logs go (default: `target/test-logs/<name>`).
    pub log_dir: Option<PathBuf>,
    /// A state file for the emulator, so a restarted stack keeps its items.
    pub emulator_state_file: Option<PathBuf>,
    /// Ports for what people and apps call (default: free ports picked at run time; the `local-stack`
    /// binary sets stable ones).
    pub ports: StackPorts,
    /// How often the events function drains the outbox (default 20 s).
    pub drain_every: Option<std::time::Duration>,
}

/// The ports of the stack's public faces; `None` picks a free port.
#[derive(Debug, Clone, Copy, Default)]
pub struct StackPorts {
    /// The API (the template's routes, the web app, the OpenAPI document).
    pub api: Option<u16>,
    /// The Plaid emulator.
    pub plaid: Option<u16>,
    /// The dev OIDC issuer.
    pub issuer: Option<u16>,
}

fn loopback(port: Option<u16>) -> std::net::SocketAddr {
    ([127, 0, 0, 1], port.unwrap_or(0)).into()
}

pub struct LocalStack {
    pub name: String,
    pub moto: &'static Moto,
    pub resources: Provisioned,
    pub plaid: RunningEmulator,
    pub issuer: DevIssuer,
    /// The API's one base URL: the template's routes, as API Gateway serves them when deployed.
    pub gateway: Gateway,
    pub lambda: LambdaServer,
    pub http: reqwest::Client,
    pub log_dir: PathBuf,
    pub sdk: aws_config::SdkConfig,
    /// Every item event published on the stack's bus, as an app's rule would deliver it to its queue.
    pub events: crate::event_tap::EventTap,
    _sqs_trigger: tokio::task::JoinHandle<()>,
    _drain_schedule: tokio::task::JoinHandle<()>,
}

impl LocalStack {
    pub async fn start(options: StackOptions) -> Result<Self, String> {
        let name =
            options.name.clone().unwrap_or_else(|| format!("s{}", &uuid::Uuid::new_v4().simple().to_string()[..10]));
        let log_dir =
            options.log_dir.clone().unwrap_or_else(|| crate::procs::repo_root().join("target/test-logs").join(&name));
        std::fs::create_dir_all(&log_dir).map_err(|e| e.to_string())?;

        let moto = Moto::shared()?;
        let endpoint = moto.endpoint.clone();
        let prefix = name.clone();
        let resources =
            tokio::task::spawn_blocking(move || provision(&endpoint, &prefix, PLAID_CLIENT_ID, PLAID_SECRET))
                .await
                .map_err(|e| e.to_string())??;

        let mut emulator_config = EmulatorConfig::new(PLAID_CLIENT_ID, PLAID_SECRET);
        emulator_config.state_file = options.emulator_state_file.clone();
        emulator_config.listen = loopback(options.ports.plaid);
        let plaid = Emulator::spawn(emulator_config).await.map_err(|e| format!("plaid emulator: {e}"))?;
        let issuer = DevIssuer::bind(loopback(options.ports.issuer), AUTH_AUDIENCE)
            .await
            .map_err(|e| format!("dev issuer: {e}"))?;

        let mut env = moto.env();
        env.extend(
            [
                ("RUST_LOG", "info"),
                ("WEFT_PLAID_ENV", "sandbox"),
                ("WEFT_PLAID_PRODUCTS", "transactions"),
                ("WEFT_PLAID_COUNTRY_CODES", "US"),
                ("WEFT_PLAID_CLIENT_NAME", "weft local"),
                ("WEFT_PLAID_LANGUAGE", "en"),
                ("WEFT_AUTH_AUDIENCE", AUTH_AUDIENCE),
                ("WEFT_CHURN_FUNCTION_NAME", "churn-remover"),
                ("WEFT_METRICS_NAMESPACE", "weft/local"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        env.push(("WEFT_TABLE_NAME".into(), resources.table_name.clone()));
        env.push(("WEFT_KMS_KEY_ID".into(), resources.kms_key_id.clone()));
        env.push(("WEFT_PLAID_SECRET_ID".into(), resources.secret_id.clone()));
        env.push(("WEFT_PSEUDONYM_SECRET_ID".into(), resources.pseudonym_secret_id.clone()));
        env.push(("WEFT_SYNC_QUEUE_URL".into(), resources.sync_queue_url.clone()));
        env.push(("WEFT_EVENT_BUS_NAME".into(), resources.event_bus_name.clone()));
        env.push(("WEFT_PLAID_BASE_URL".into(), plaid.base_url()));
        env.push(("WEFT_AUTH_ISSUER".into(), issuer.issuer_url()));
        // The functions must know their own webhook URL (the gateway's) before they start: the gateway is
        // up first, in front of the port cargo-lambda will take.
        let lambda_port = crate::procs::free_port().map_err(|e| e.to_string())?;
        let root = crate::procs::repo_root();
        let routes = routes_from_template(&root.join("infra/template.yaml")).map_err(|e| e.to_string())?;
        let gateway = Gateway::spawn(
            loopback(options.ports.api),
            GatewayConfig {
                routes,
                lambda_base_url: LambdaServer::base_url_for(lambda_port),
                app_config: serde_json::json!({
                    "linkScriptUrl": format!("{}/link/v2/stable/link-initialize.js", plaid.base_url()),
                    "devIssuer": issuer.issuer_url(),
                    "audience": AUTH_AUDIENCE,
                }),
                app_dir: root.join("webapp"),
                openapi_file: root.join("docs/openapi.json"),
            },
        )
        .await?;
        env.push(("WEFT_PLAID_WEBHOOK_URL".into(), format!("{}/webhooks/plaid", gateway.base_url)));
        // OAuth institutions send the user back to the reference web app, which resumes Link (`webapp/`), unless
        // the caller chose another redirect URI.
        if !options.env.iter().any(|(k, _)| k == "WEFT_PLAID_REDIRECT_URI") {
            env.push(("WEFT_PLAID_REDIRECT_URI".into(), format!("{}/app/", gateway.base_url)));
        }
        env.extend(options.env.iter().cloned());
        let lambda = LambdaServer::start(lambda_port, &env, &log_dir.join("lambda.log"))?;

        let sdk = moto.sdk_config().await;
        let events = crate::event_tap::EventTap::create(&sdk, &resources.event_bus_name, &name).await?;
        // The events function's schedule (every five minutes when deployed; more often here, so what the
        // outbox holds is published within a test's wait).
        let drain_schedule = crate::event_tap::spawn_drain_schedule(
            lambda.invoke_url("events"),
            options.drain_every.unwrap_or(std::time::Duration::from_secs(20)),
        );
        let trigger = crate::sqs_trigger::spawn(
            aws_sdk_sqs::Client::new(&sdk),
            resources.sync_queue_url.clone(),
            lambda.invoke_url("sync-worker"),
        );
        Ok(Self {
            name,
            moto,
            resources,
            plaid,
            issuer,
            gateway,
            lambda,
            http: crate::http::client(),
            log_dir,
            sdk,
            events,
            _sqs_trigger: trigger,
            _drain_schedule: drain_schedule,
        })
    }

    /// The URL of an app-facing route, as the app calls it through API Gateway.
    pub fn api(&self, path: &str) -> String {
        format!("{}{}", self.gateway.base_url, path)
    }

    /// The URL Plaid delivers webhooks to (the API's webhook route).
    pub fn webhook_url(&self) -> String {
        self.api("/webhooks/plaid")
    }

    /// The emulator's control routes.
    pub fn emulator(&self) -> crate::emulator::EmulatorControl {
        crate::emulator::EmulatorControl::new(&self.plaid.base_url())
    }

    /// Completes a Link session in the emulator, as the user would in Plaid Link.
    pub async fn complete_link(
        &self,
        link_token: &str,
        institution_id: &str,
        username: &str,
        password: &str,
    ) -> Result<serde_json::Value, String> {
        self.emulator().complete_link(link_token, institution_id, username, password).await
    }

    /// A bearer token for `user` from the dev issuer.
    pub fn token(&self, user: &str) -> String {
        self.issuer.mint(user, 3600)
    }

    /// A bearer token for an operator (in the `weft-operators` group).
    pub fn operator_token(&self, user: &str) -> String {
        self.issuer.mint_in_groups(user, &["weft-operators"])
    }
}

/// A stack that lives as long as the test process, on its own runtime thread (each `#[tokio::test]` has
/// a runtime of its own that ends with the test; the stack's background tasks must not end with it).
/// Tests talk to it over HTTP only.
pub fn shared_stack(key: &'static str, options: fn() -> StackOptions) -> &'static LocalStack {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static STACKS: OnceLock<Mutex<HashMap<&'static str, &'static LocalStack>>> = OnceLock::new();
    let map = STACKS.get_or_init(Default::default);
    let mut guard = match map.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(stack) = guard.get(key) {
        return stack;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        };
        runtime.block_on(async move {
            match LocalStack::start(options()).await {
                Ok(stack) => {
                    let stack: &'static LocalStack = Box::leak(Box::new(stack));
                    let _ = tx.send(Ok(stack));
                    std::future::pending::<()>().await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    let stack = match rx.recv() {
        Ok(Ok(stack)) => stack,
        Ok(Err(e)) => panic!("local stack failed to start: {e}"),
        Err(e) => panic!("local stack thread died: {e}"),
    };
    guard.insert(key, stack);
    stack
}
