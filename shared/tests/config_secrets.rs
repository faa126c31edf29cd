//! Plaid credentials from moto's Secrets Manager, and the SDK config from the environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod store_support;

use secrecy::ExposeSecret;
use weft::adapters::secrets_manager::{SecretCache, SecretsError};

#[tokio::test]
async fn fetched_once_then_cached_and_refreshed_on_demand() {
    let sdk = store_support::sdk().await;
    let arn = store_support::new_secret(&sdk, r#"{"client_id":"cid-1","secret":"first-secret"}"#).await;
    let cache = SecretCache::from_sdk_config(&sdk, &arn);
    assert_eq!(cache.calls(), 0, "nothing fetched before it is needed");
    let creds = cache.get().await.unwrap();
    assert_eq!(creds.client_id, "cid-1");
    assert_eq!(creds.secret.expose_secret(), "first-secret");
    cache.get().await.unwrap();
    cache.get().await.unwrap();
    assert_eq!(cache.calls(), 1);

    // Rotation: the cache keeps serving the old value until refreshed.
    aws_sdk_secretsmanager::Client::new(&sdk)
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(r#"{"client_id":"cid-1","secret":"second-secret"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(cache.get().await.unwrap().secret.expose_secret(), "first-secret");
    assert_eq!(cache.reload().await.unwrap().secret.expose_secret(), "second-secret");
    assert_eq!(cache.get().await.unwrap().secret.expose_secret(), "second-secret");
    assert_eq!(cache.calls(), 2);

    // Concurrent refreshes (every in-flight Plaid call got INVALID_API_KEYS) share one fetch.
    let results = futures::future::join_all((0..5).map(|_| cache.reload())).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(cache.calls(), 3);
}

#[tokio::test]
async fn concurrent_cold_gets_share_one_fetch() {
    let sdk = store_support::sdk().await;
    let arn = store_support::new_secret(&sdk, r#"{"client_id":"c","secret":"s"}"#).await;
    let cache = SecretCache::from_sdk_config(&sdk, &arn);
    let results = futures::future::join_all((0..8).map(|_| cache.get())).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(cache.calls(), 1);
}

#[tokio::test]
async fn malformed_or_missing_secrets_fail_without_quoting_them() {
    let sdk = store_support::sdk().await;
    let arn = store_support::new_secret(&sdk, r#"{"client_id":"c","secret":["hunter2-value"]}"#).await;
    let err = SecretCache::from_sdk_config(&sdk, &arn).get().await.unwrap_err();
    assert!(matches!(err, SecretsError::Malformed { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("hunter2"));

    let err = SecretCache::from_sdk_config(&sdk, "weft/no/such/secret").get().await.unwrap_err();
    assert!(matches!(err, SecretsError::Fetch { .. }), "{err:?}");
    assert!(err.to_string().contains("weft/no/such/secret"));
}

/// `load_sdk_config` honours `AWS_ENDPOINT_URL` (how the functions reach moto locally). The environment is
/// process-wide, so the check runs in a child process of this test binary with the variables set.
#[tokio::test]
async fn load_sdk_config_follows_aws_endpoint_url() {
    const CHILD: &str = "WEFT_TEST_SDK_CONFIG_CHILD";
    if std::env::var(CHILD).is_ok() {
        let sdk = weft::compose::load_sdk_config().await;
        let secret = std::env::var("WEFT_TEST_SECRET_ARN").unwrap();
        let creds = SecretCache::from_sdk_config(&sdk, secret).get().await.unwrap();
        assert_eq!(creds.client_id, "from-env");
        return;
    }
    let sdk = store_support::sdk().await;
    let arn = store_support::new_secret(&sdk, r#"{"client_id":"from-env","secret":"s"}"#).await;
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "load_sdk_config_follows_aws_endpoint_url", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .env("WEFT_TEST_SECRET_ARN", &arn)
        .env("AWS_ENDPOINT_URL", store_support::endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .status()
        .unwrap();
    assert!(status.success());
}
