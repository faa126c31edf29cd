//! [`SqsSyncQueue`]: the sync hand-off on an SQS FIFO queue.
//!
//! Messages are grouped by item (`MessageGroupId` = item id), so SQS itself never hands two syncs of one
//! item to workers at the same time; the store's lease is the second line of defence. The deduplication id
//! is the request's `dedup_key`, so a redelivered webhook queues nothing new. (Coalescing a burst into one
//! sync would risk dropping a request that arrives while its twin's sync is already running.)

use crate::ports::{QueueError, SyncQueue, SyncRequest};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct SqsSyncQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    pub send_calls: AtomicU64,
}

impl SqsSyncQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into(), send_calls: AtomicU64::new(0) }
    }
}

#[async_trait]
impl SyncQueue for SqsSyncQueue {
    async fn request_sync(&self, request: &SyncRequest) -> Result<(), QueueError> {
        let body = serde_json::to_string(request).map_err(|e| QueueError::Backend(Box::new(e)))?;
        self.send_calls.fetch_add(1, Ordering::Relaxed);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_group_id(request.item_id.as_str())
            .message_deduplication_id(dedup_id(&request.dedup_key))
            .send()
            .await
            .map_err(|e| QueueError::Backend(Box::new(aws_sdk_sqs::Error::from(e))))?;
        Ok(())
    }

    /// `ChangeMessageVisibility` of the delivery to `delay` (whole seconds, at most SQS's 12 hours).
    async fn retry_after(&self, receipt: &str, delay: std::time::Duration) -> Result<(), QueueError> {
        let seconds = i32::try_from(delay.as_secs().min(12 * 3600)).unwrap_or(0);
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| QueueError::Backend(Box::new(aws_sdk_sqs::Error::from(e))))?;
        Ok(())
    }
}

/// SQS allows at most 128 characters from a restricted alphabet: hash anything else.
fn dedup_id(key: &str) -> String {
    use sha2::{Digest, Sha256};
    if !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        key.to_owned()
    } else {
        hex::encode(Sha256::digest(key.as_bytes()))
    }
}

/// The queue of a function deployed without `WEFT_SYNC_QUEUE_URL`: every request is a deployment fault
/// ([`QueueError::NotConfigured`], a 500 class), never the caller's.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSyncQueue;

#[async_trait]
impl SyncQueue for NoSyncQueue {
    async fn request_sync(&self, _request: &SyncRequest) -> Result<(), QueueError> {
        Err(QueueError::NotConfigured)
    }

    async fn retry_after(&self, _receipt: &str, _delay: std::time::Duration) -> Result<(), QueueError> {
        Err(QueueError::NotConfigured)
    }
}
