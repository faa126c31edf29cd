//! moto's server: DynamoDB, KMS, Secrets Manager and SQS on loopback, speaking the real AWS wire protocol.

use crate::procs::{Tethered, free_port, repo_root, wait_for_port};
use std::sync::OnceLock;
use std::time::Duration;

/// Credentials and region every local AWS client uses (moto accepts any).
pub const AWS_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
];

/// A running moto server.
pub struct Moto {
    pub endpoint: String,
    _process: Option<Tethered>,
}

static SHARED: OnceLock<Result<Moto, String>> = OnceLock::new();

impl Moto {
    /// The moto server of this test run: the one named by `WEFT_TEST_AWS_ENDPOINT` (the test command starts
    /// one for all test binaries), else one started now for this process.
    pub fn shared() -> Result<&'static Moto, String> {
        SHARED.get_or_init(Self::start_or_reuse).as_ref().map_err(Clone::clone)
    }

    fn start_or_reuse() -> Result<Moto, String> {
        if let Ok(endpoint) = std::env::var("WEFT_TEST_AWS_ENDPOINT") {
            return Ok(Moto { endpoint, _process: None });
        }
        Self::start(&std::env::temp_dir().join(format!("weft-moto-{}.log", std::process::id())))
    }

    /// Starts a new moto server on a free port, logging to `log`.
    pub fn start(log: &std::path::Path) -> Result<Moto, String> {
        let root = repo_root();
        let bin = root.join(".venv/bin/moto_server");
        if !bin.exists() {
            return Err(format!("{} not found: run scripts/bootstrap.sh first", bin.display()));
        }
        let port = free_port().map_err(|e| e.to_string())?;
        let args = vec!["-H".to_owned(), "127.0.0.1".to_owned(), "-p".to_owned(), port.to_string()];
        let process = Tethered::spawn("moto", &bin, &args, &[], &root, log).map_err(|e| e.to_string())?;
        let addr = ([127, 0, 0, 1], port).into();
        if !wait_for_port(addr, Duration::from_secs(30)) {
            return Err(format!("moto did not start on port {port}; see {}", log.display()));
        }
        Ok(Moto { endpoint: format!("http://127.0.0.1:{port}"), _process: Some(process) })
    }

    /// The environment an AWS SDK client (ours or a child's) needs to talk to this server.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = AWS_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.push(("AWS_ENDPOINT_URL".into(), self.endpoint.clone()));
        env
    }

    /// An SDK config for this server, built without touching the process environment.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }
}
