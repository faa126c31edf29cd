//! `sdk-floor`: the least any weft function does with the AWS SDK, measured by `bench-functions` in the same
//! run as the functions and `hello-floor`. Init: the functions' SDK configuration
//! ([`weft::compose::load_sdk_config`]: shared TLS configuration and HTTP client, timeouts), a Secrets Manager
//! client and a DynamoDB client (every function reads or writes the table from its first request), and the
//! Plaid secret fetched (the issue keeps that at init). Each request: one DynamoDB `GetItem` (a key that is
//! not there), so its own time is one SDK call's CPU in the harness's conditions. No configuration parsing,
//! logging, bearer keys or Plaid client: what is here is what the functions cannot leave out while using the
//! SDK.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let secret_id = std::env::var("WEFT_PLAID_SECRET_ID")?;
    let table = std::env::var("WEFT_TABLE_NAME")?;
    let sdk = weft::compose::load_sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let secret = secrets.get_secret_value().secret_id(&secret_id).send().await?;
    if secret.secret_string().is_none_or(str::is_empty) {
        return Err(format!("secret {secret_id} has no string value").into());
    }
    run(service_fn(move |_: LambdaEvent<Value>| {
        let get = dynamodb
            .get_item()
            .table_name(&table)
            .key("PK", AttributeValue::S("SDK_FLOOR".to_owned()))
            .key("SK", AttributeValue::S("SDK_FLOOR".to_owned()));
        async move {
            let got = get.send().await?;
            Ok::<_, Error>(json!({ "found": got.item.is_some() }))
        }
    }))
    .await
}
