//! [`RecordingBus`]: an event bus that keeps what it was given, and can be told to fail.

use crate::ports::{EventBus, EventBusError, OutgoingEvent};
use async_trait::async_trait;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Keeps every event published, in order; [`RecordingBus::fail_next`] makes the next calls fail whole.
#[derive(Default)]
pub struct RecordingBus {
    published: Mutex<Vec<OutgoingEvent>>,
    failures: AtomicUsize,
    calls: AtomicUsize,
}

impl RecordingBus {
    /// The next `n` publish calls fail (the bus is unavailable).
    pub fn fail_next(&self, n: usize) {
        self.failures.store(n, Ordering::SeqCst);
    }
    /// Every event published so far, in order.
    pub fn published(&self) -> Vec<OutgoingEvent> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }
    /// The event types published so far, in order.
    pub fn types(&self) -> Vec<&'static str> {
        self.published().iter().map(|e| e.event.kind.name()).collect()
    }
    /// Publish calls made (failed ones included).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl EventBus for RecordingBus {
    async fn publish(&self, events: &[OutgoingEvent]) -> Result<Vec<String>, EventBusError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let failing = self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if failing {
            return Err(EventBusError("injected: the bus is unavailable".into()));
        }
        if let Ok(mut p) = self.published.lock() {
            p.extend(events.iter().cloned());
        }
        Ok(Vec::new())
    }
}
