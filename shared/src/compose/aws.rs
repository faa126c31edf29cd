//! The one AWS SDK configuration a function builds at init and shares between all its clients.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::sync::Arc;
use std::time::Duration;

/// Every AWS call's limits, so a dependency that accepts connections and never answers costs a request at
/// most [`OPERATION_TIMEOUT`] per call, well inside the API functions' 25 s (API Gateway gives 29 s):
/// connecting ([`CONNECT_TIMEOUT`]), one attempt ([`ATTEMPT_TIMEOUT`]; DynamoDB, KMS, SQS and Secrets
/// Manager answer in milliseconds, so an attempt this long is a stalled one), and a call with its retries.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(9);

/// The timeouts above, for the SDK.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Region, credentials and endpoint from the environment (on Lambda: the function's role and region).
/// `AWS_ENDPOINT_URL` points every client at a local stand-in such as moto. Every client shares one HTTP
/// client on the container's TLS configuration ([`crate::adapters::tls`], [`crate::adapters::aws_http`]),
/// and every call has the [`timeouts`].
pub async fn load_sdk_config() -> SdkConfig {
    // Stalled-stream protection off: it watches each body's throughput (a future and timers around every
    // upload and download, ~4% of a warm request's CPU), for large streams; every body here is a small JSON
    // document, and a stalled call is already ended by the attempt timeout.
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .stalled_stream_protection(aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled());
    // On Lambda the role's credentials are in the environment, where the default chain looks first: name
    // that provider alone, and init does not build the rest of the chain (profile, SSO, web identity, ECS,
    // instance metadata), a quarter of a millisecond of CPU. Without them, the default chain as usual.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() && std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
    }
    // Likewise the region: Lambda sets `AWS_REGION`; naming it skips building the default region chain (profile
    // files, instance metadata client), about 3% of init's instructions (callgrind). Without it, the chain.
    if let Some(region) = std::env::var("AWS_REGION").ok().filter(|r| !r.trim().is_empty()) {
        loader = loader.region(aws_config::Region::new(region));
    }
    let loader = match crate::adapters::tls::client_config(crate::adapters::tls::ALPN_HTTP1) {
        Ok(tls) => loader.http_client(crate::adapters::aws_http::client(Arc::new(tls))),
        // Cannot happen with aws-lc-rs's provider (it supports the default protocol versions); the SDK's own
        // client (the system's roots) is still a working client.
        Err(e) => {
            tracing::warn!(error = %e, "the shared TLS configuration failed; the AWS SDK uses its default client");
            loader
        }
    };
    loader.load().await
}
