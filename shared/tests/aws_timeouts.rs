//! AWS that accepts connections and never answers: every call of the functions' SDK configuration
//! ([`weft::compose::load_sdk_config`]) ends with an error within its timeouts, and the app is answered
//! 503 `UPSTREAM_UNAVAILABLE`, not left hanging until Lambda kills the function half-way.
//!
//! The SDK configuration is read from the environment, which is process-wide, so the check runs in a child
//! process of this test binary pointed at a black hole this process holds open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use weft::api::ApiError;
use weft::domain::{ItemId, UserId};
use weft::ports::{ItemStore, KeyVault};
use weft::services::ServiceError;

const CHILD: &str = "WEFT_TEST_BLACK_HOLE_CHILD";

#[tokio::test]
async fn a_black_holed_aws_ends_every_call_and_answers_503() {
    if std::env::var(CHILD).is_ok() {
        return child().await;
    }
    // Accepts every connection and holds it, reading nothing and answering nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let hole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "a_black_holed_aws_ends_every_call_and_answers_503", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE");
    let child = tokio::task::spawn_blocking(move || command.status());
    // Without timeouts the child would wait forever; with them it is done well within a minute.
    let status =
        tokio::time::timeout(Duration::from_secs(120), child).await.expect("the calls ended").unwrap().unwrap();
    hole.abort();
    assert!(status.success());
}

async fn child() {
    let sdk = weft::compose::load_sdk_config().await;
    let user = UserId::parse("black-hole-user").unwrap();
    let item = ItemId::parse("item-black-hole").unwrap();

    let store = weft::adapters::dynamodb::DynamoStore::from_sdk_config(&sdk, "weft-table");
    let err = store.get_item(&user, &item).await.expect_err("no answer is an error, not a wait");
    let answer = ApiError::from(ServiceError::from(err));
    assert_eq!((answer.status(), answer.code.as_str()), (503, "UPSTREAM_UNAVAILABLE"), "{answer}");

    let vault = weft::adapters::kms::KmsEnvelope::from_sdk_config(&sdk, "alias/weft");
    let Err(err) = vault.new_item_key(&item).await else { panic!("no answer is an error, not a wait") };
    let answer = ApiError::from(ServiceError::from(err));
    assert_eq!((answer.status(), answer.code.as_str()), (503, "UPSTREAM_UNAVAILABLE"), "{answer}");
}
