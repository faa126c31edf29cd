//! The functions, served by `cargo lambda watch` the way Lambda would run them.

use crate::procs::{Tethered, repo_root, wait_for_port};
use std::path::Path;
use std::time::Duration;

/// A `cargo lambda watch` server running every function of the workspace.
pub struct LambdaServer {
    pub base_url: String,
    _process: Tethered,
}

impl LambdaServer {
    /// The base URL a server started on `port` will have (to hand to functions before it starts).
    pub fn base_url_for(port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }

    /// Starts the server on `port` with `env` passed to every function.
    pub fn start(port: u16, env: &[(String, String)], log: &Path) -> Result<Self, String> {
        let root = repo_root();
        let bin = root.join(".venv/bin/cargo-lambda");
        if !bin.exists() {
            return Err(format!("{} not found: run scripts/bootstrap.sh first", bin.display()));
        }
        let mut args: Vec<String> = ["lambda", "watch", "--ignore-changes", "-q", "-A", "127.0.0.1", "-P"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(port.to_string());
        // An env file, not `--env-var`: that flag splits values at commas (`WEFT_PLAID_PRODUCTS=a,b`).
        let env_file = log.with_extension("env");
        let lines: String =
            env.iter().map(|(k, v)| format!("{k}=\"{}\"\n", v.replace('\\', "\\\\").replace('"', "\\\""))).collect();
        std::fs::write(&env_file, lines).map_err(|e| e.to_string())?;
        args.push("--env-file".into());
        args.push(env_file.display().to_string());
        // cargo-lambda finds cargo on PATH; keep ours.
        let path = std::env::var("PATH").unwrap_or_default();
        let process = Tethered::spawn("cargo-lambda", &bin, &args, &[("PATH".into(), path)], &root, log)
            .map_err(|e| e.to_string())?;
        if !wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(60)) {
            return Err(format!("cargo lambda watch did not start on port {port}; see {}", log.display()));
        }
        Ok(Self { base_url: Self::base_url_for(port), _process: process })
    }

    /// The HTTP URL of a function (API Gateway v2 events are made from requests to it).
    pub fn function_url(&self, function: &str) -> String {
        format!("{}/lambda-url/{function}", self.base_url)
    }

    /// Where the webhook function takes Plaid's webhooks.
    pub fn webhook_url(&self) -> String {
        webhook_url(&self.base_url)
    }

    /// The Lambda Invoke API URL of a function (for non-HTTP events, e.g. the schedule or SQS).
    pub fn invoke_url(&self, function: &str) -> String {
        format!("{}/2015-03-31/functions/{function}/invocations", self.base_url)
    }
}

/// The webhook route of the webhook function under a cargo-lambda server at `base_url`.
pub fn webhook_url(base_url: &str) -> String {
    format!("{base_url}/lambda-url/webhook/webhooks/plaid")
}
