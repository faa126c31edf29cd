//! The sync worker's edge: an SQS batch of sync requests in, the messages to retry out (partial batch
//! response), so only failed items' messages come back.

use super::App;
use crate::ports::SyncRequest;
use crate::services::sync::{self, QueuedSync};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut batch = Vec::with_capacity(event.records.len());
    for record in event.records {
        let message_id = record.message_id.unwrap_or_default();
        let receipt = record.receipt_handle.unwrap_or_default();
        let receive_count = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
        match serde_json::from_str::<SyncRequest>(record.body.as_deref().unwrap_or_default()) {
            Ok(request) => batch.push(QueuedSync { message_id, receipt, receive_count, request }),
            // A message we cannot read will never succeed: log it and let it go.
            Err(e) => tracing::error!(message_id = %message_id, error = %e, "unreadable sync request dropped"),
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = sync::sync_batch(&app.services, batch)
        .await
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
