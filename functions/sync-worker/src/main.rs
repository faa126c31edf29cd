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
    // Requests by item, in arrival order: one sync serves all of an item's requests in the batch (it starts
    // after each of them was made). SQS FIFO hands one item's messages to one batch at a time.
    let mut groups: Vec<(weft::domain::ItemId, Vec<String>, Vec<weft::ports::SyncRequest>)> = Vec::new();
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
        match groups.iter_mut().find(|(item, _, _)| *item == request.item_id) {
            Some((_, ids, requests)) => {
                ids.push(id);
                requests.push(request);
            }
            None => groups.push((request.item_id.clone(), vec![id], vec![request])),
        }
    }
    let mut failures = Vec::new();
    for (item_id, ids, requests) in groups {
        let reasons: Vec<&str> = requests.iter().map(|r| r.reason.as_str()).collect();
        match weft::services::sync::sync_requested(app, &item_id, &requests).await {
            Ok(report) => tracing::info!(item_id = %item_id, ?reasons, ?report, "sync done"),
            Err(e) => {
                // Every message of the item is retried (FIFO: none may overtake a failed one).
                tracing::warn!(item_id = %item_id, error = %e, "sync failed; will be retried");
                for id in ids {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    failures.push(failure);
                }
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}
