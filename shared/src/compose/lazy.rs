//! Ports whose AWS client is built on first use rather than at init. Creating a service client costs
//! about 70-80 µs of CPU (its runtime plugins, its validated configuration); a function that never calls
//! KMS, SQS or Lambda (link-token, webhook, items without a transaction read) should not pay for them in
//! its cold start, and one that does pays once, on the first call.

use crate::domain::{ChurnInput, ItemId, ItemKey, SweepInput, WrappedKey};
use crate::ports::{
    Continuation, ContinuationError, EventBus, EventBusError, KeyVault, OutgoingEvent, QueueError, SyncQueue,
    SyncRequest, VaultError,
};
use async_trait::async_trait;
use std::sync::OnceLock;

/// A port built by `build` on its first call, then kept.
pub(super) struct Lazy<T> {
    port: OnceLock<T>,
    build: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T> Lazy<T> {
    pub(super) fn new(build: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self { port: OnceLock::new(), build: Box::new(build) }
    }

    fn get(&self) -> &T {
        self.port.get_or_init(|| (self.build)())
    }
}

#[async_trait]
impl<T: KeyVault> KeyVault for Lazy<T> {
    async fn new_item_key(&self, item_id: &ItemId) -> Result<(ItemKey, WrappedKey), VaultError> {
        self.get().new_item_key(item_id).await
    }

    async fn open_item_key(&self, item_id: &ItemId, wrapped: &WrappedKey) -> Result<ItemKey, VaultError> {
        self.get().open_item_key(item_id, wrapped).await
    }
}

#[async_trait]
impl<T: SyncQueue> SyncQueue for Lazy<T> {
    async fn request_sync(&self, request: &SyncRequest) -> Result<(), QueueError> {
        self.get().request_sync(request).await
    }

    async fn retry_after(&self, receipt: &str, delay: std::time::Duration) -> Result<(), QueueError> {
        self.get().retry_after(receipt, delay).await
    }
}

#[async_trait]
impl<T: EventBus> EventBus for Lazy<T> {
    async fn publish(&self, events: &[OutgoingEvent]) -> Result<Vec<String>, EventBusError> {
        self.get().publish(events).await
    }
}

#[async_trait]
impl<T: Continuation> Continuation for Lazy<T> {
    async fn continue_churn(&self, next: &ChurnInput) -> Result<(), ContinuationError> {
        self.get().continue_churn(next).await
    }

    async fn continue_sweep(&self, next: &SweepInput) -> Result<(), ContinuationError> {
        self.get().continue_sweep(next).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::doubles::RecordingContinuation;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn builds_on_the_first_call_only() {
        let built = Arc::new(AtomicUsize::new(0));
        let lazy = Lazy::new({
            let built = built.clone();
            move || {
                built.fetch_add(1, Ordering::Relaxed);
                RecordingContinuation::new()
            }
        });
        assert_eq!(built.load(Ordering::Relaxed), 0, "nothing built before the first call");
        lazy.continue_churn(&ChurnInput::default()).await.unwrap();
        lazy.continue_churn(&ChurnInput::default()).await.unwrap();
        assert_eq!(built.load(Ordering::Relaxed), 1);
        assert_eq!(lazy.get().take().len(), 2);
    }
}
