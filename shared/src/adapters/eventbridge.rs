//! [`EventBridgeBus`]: item events on an Amazon EventBridge bus (`PutEvents`), `source` `weft`, `detail-type`
//! the event's type (`item.needs_login`, ...), `detail` the event with its re-link URL. The app subscribes
//! with rules on the bus.

use crate::domain::EVENT_SOURCE;
use crate::ports::{EventBus, EventBusError, OutgoingEvent};
use async_trait::async_trait;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
    /// PutEvents calls made (for the benchmarks).
    pub put_calls: AtomicU64,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        Self { client, bus_name: bus_name.into(), put_calls: AtomicU64::new(0) }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[OutgoingEvent]) -> Result<Vec<String>, EventBusError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(EVENT_SOURCE)
                    .detail_type(e.event.kind.name())
                    .detail(e.detail().to_string())
                    .time(DateTime::from_secs(e.event.occurred_at.unix_timestamp()))
                    .build()
            })
            .collect::<Vec<_>>();
        self.put_calls.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| EventBusError(crate::telemetry::chain(&aws_sdk_eventbridge::Error::from(e))))?;
        // Entries answer in the order sent; a failed one has an error code.
        let failed = answer
            .entries()
            .iter()
            .zip(events)
            .filter(|(entry, _)| entry.error_code().is_some())
            .map(|(entry, e)| {
                tracing::warn!(
                    event_id = %e.event.event_id,
                    error_code = entry.error_code().unwrap_or_default(),
                    "EventBridge refused an event; it stays in the outbox"
                );
                e.event.event_id.clone()
            })
            .collect();
        Ok(failed)
    }
}

/// No bus configured (`WEFT_EVENT_BUS_NAME` unset): events are taken and dropped, so the outbox empties.
pub struct NoEventBus;

#[async_trait]
impl EventBus for NoEventBus {
    async fn publish(&self, events: &[OutgoingEvent]) -> Result<Vec<String>, EventBusError> {
        tracing::debug!(events = events.len(), "no event bus configured: events not published");
        Ok(Vec::new())
    }
}
