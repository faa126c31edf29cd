//! The local stand-in for Lambda's SQS event source mapping: it long-polls the sync queue in moto and
//! invokes the sync worker through cargo-lambda with the SQS event Lambda would send, deleting the
//! messages the worker did not report as failed (partial batch responses), as Lambda does.

use serde_json::{Value, json};
use std::time::Duration;

pub fn spawn(sqs: aws_sdk_sqs::Client, queue_url: String, invoke_url: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = crate::http::client();
        loop {
            if let Err(e) = poll_once(&sqs, &queue_url, &invoke_url, &http).await {
                tracing::warn!(error = %e, "sqs trigger poll failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    })
}

async fn poll_once(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    invoke_url: &str,
    http: &reqwest::Client,
) -> Result<(), String> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .visibility_timeout(30)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .map_err(|e| format!("{:?}", aws_sdk_sqs::Error::from(e)))?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(());
    }
    let arn = format!("arn:aws:sqs:us-east-1:123456789012:{}", queue_url.rsplit('/').next().unwrap_or("queue"));
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id.clone().unwrap_or_default(),
                "receiptHandle": m.receipt_handle.clone().unwrap_or_default(),
                "body": m.body.clone().unwrap_or_default(),
                "attributes": {
                    "ApproximateReceiveCount": m
                        .attributes
                        .as_ref()
                        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                        .cloned()
                        .unwrap_or_else(|| "1".to_owned()),
                },
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body.clone().unwrap_or_default(),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    let resp = http
        .post(invoke_url)
        .json(&json!({ "Records": records }))
        .timeout(Duration::from_secs(900))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() || body.get("errorType").is_some() {
        // The whole batch failed: leave every message to become visible again, as Lambda does.
        return Err(format!("sync worker failed: {status} {body}"));
    }
    let failed: Vec<&str> = body["batchItemFailures"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["itemIdentifier"].as_str()).collect())
        .unwrap_or_default();
    for m in &messages {
        let id = m.message_id.as_deref().unwrap_or_default();
        if failed.contains(&id) {
            continue;
        }
        if let Some(handle) = &m.receipt_handle {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| format!("{:?}", aws_sdk_sqs::Error::from(e)))?;
        }
    }
    Ok(())
}
