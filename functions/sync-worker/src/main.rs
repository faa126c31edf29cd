//! `sync-worker`: runs `/transactions/sync` for the items the webhook function queued (SQS FIFO, one
//! message group per item), reporting failed messages individually so only they are retried.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    weft::telemetry::init();
    let app = Arc::new(weft::services::App::from_env().await?);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move { Ok::<_, Error>(handle(&app, event.payload).await) }
    }))
    .await
}

async fn handle(app: &weft::services::App, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let request: Result<weft::ports::SyncRequest, _> =
            serde_json::from_str(record.body.as_deref().unwrap_or_default());
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                // A message we cannot read will never succeed: log it and let it go.
                tracing::error!(message_id = %id, error = %e, "unreadable sync request dropped");
                continue;
            }
        };
        match weft::services::sync::sync_item(app, &request.item_id).await {
            Ok(report) => tracing::info!(item_id = %request.item_id, reason = %request.reason, ?report, "sync done"),
            Err(e) => {
                tracing::warn!(item_id = %request.item_id, error = %e, "sync failed; will be retried");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}
