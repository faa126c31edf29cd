//! The one AWS SDK configuration a function builds at init and shares between all its clients.

use aws_config::{BehaviorVersion, SdkConfig};

/// Region, credentials and endpoint from the environment (on Lambda: the function's role and region).
/// `AWS_ENDPOINT_URL` points every client at a local stand-in such as moto.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}
