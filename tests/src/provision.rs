//! Provisioning the stack's AWS resources from `infra/template.yaml`, through `infra/local/provision.py`,
//! so the local table, key, secret and queue are the deployed ones, not a second copy of their definitions.

use crate::procs::repo_root;
use serde::Deserialize;
use std::process::Command;

/// What the template's resources are called once created in moto.
#[derive(Debug, Clone, Deserialize)]
pub struct Provisioned {
    pub table_name: String,
    pub kms_key_id: String,
    pub kms_key_arn: String,
    pub secret_id: String,
    pub pseudonym_secret_id: String,
    pub sync_queue_url: String,
    pub event_bus_name: String,
}

/// Creates (or reuses) the resources named after `prefix` in the AWS endpoint.
pub fn provision(endpoint: &str, prefix: &str, client_id: &str, secret: &str) -> Result<Provisioned, String> {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    let out = Command::new(&python)
        .current_dir(&root)
        .args(["infra/local/provision.py", "--endpoint", endpoint, "--name-prefix", prefix])
        .args(["--plaid-client-id", client_id, "--plaid-secret", secret])
        .envs(crate::moto::AWS_ENV)
        .output()
        .map_err(|e| format!("running {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!("provision.py failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("provision.py printed {stdout:?}: {e}"))
}
