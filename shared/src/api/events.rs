//! The `events` function's edge: `{"task": "drain"}` (every few minutes: publish what the outbox still
//! holds) or `{"task": "remind"}` (daily: reminders for items still needing the user). The answer is the
//! task's summary, also logged and sent as EMF metrics (`EventsPublished`, `EventsLeft`, `RemindersSent`).

use super::App;
use crate::services::ServiceError;
use crate::services::events::{self, DRAIN_MIN_AGE, Published, Reminded};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};

/// What to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Publish the outbox's events their writers did not.
    #[default]
    Drain,
    /// Send the reminders due.
    Remind,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsInput {
    #[serde(default)]
    pub task: Task,
}

/// What an invocation did.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EventsSummary {
    Drained(Published),
    Reminded(Reminded),
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("invalid events input: {0}")]
    InvalidInput(#[source] serde_json::Error),
    #[error("events task failed")]
    Run(#[source] ServiceError),
}

impl From<EventsError> for Diagnostic {
    fn from(e: EventsError) -> Self {
        let error_type = match &e {
            EventsError::InvalidInput(_) => "InvalidEventsInput",
            EventsError::Run(_) => "EventsFailed",
        };
        Diagnostic { error_type: error_type.to_owned(), error_message: crate::telemetry::chain(&e) }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<serde_json::Value>) -> Result<EventsSummary, EventsError> {
    // The schedule's input, or `{}` / null from a hand-made invocation.
    let input: EventsInput = if event.payload.is_null() {
        EventsInput::default()
    } else {
        serde_json::from_value(event.payload).map_err(EventsError::InvalidInput)?
    };
    let services = &app.services;
    let namespace = &services.config.churn.metrics_namespace;
    let now_ms = services.now().unix_timestamp() * 1000;
    let failed = |e: ServiceError| {
        tracing::error!(event = "events_failed", error = %crate::telemetry::chain(&e), "events task failed");
        EventsError::Run(e)
    };
    match input.task {
        Task::Drain => {
            let done = events::drain(services, DRAIN_MIN_AGE).await.map_err(failed)?;
            tracing::info!(event = "events_drained", published = done.published, left = done.left, "outbox drained");
            crate::telemetry::emit_lines(&[metrics(namespace, now_ms, "drain", &done, 0)]);
            Ok(EventsSummary::Drained(done))
        }
        Task::Remind => {
            let done = events::remind(services).await.map_err(failed)?;
            tracing::info!(
                event = "reminders_sent",
                scanned = done.scanned,
                reminded = done.reminded,
                "reminders sent"
            );
            crate::telemetry::emit_lines(&[metrics(namespace, now_ms, "remind", &done.published, done.reminded)]);
            Ok(EventsSummary::Reminded(done))
        }
    }
}

/// One EMF line: events published and left in the outbox, reminders sent, by task.
fn metrics(
    namespace: &str,
    timestamp_ms: i64,
    task: &str,
    published: &Published,
    reminded: usize,
) -> serde_json::Value {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Task"]],
                "Metrics": [
                    { "Name": "EventsPublished", "Unit": "Count" },
                    { "Name": "EventsLeft", "Unit": "Count" },
                    { "Name": "RemindersSent", "Unit": "Count" },
                ],
            }],
        },
        "Task": task,
        "EventsPublished": published.published,
        "EventsLeft": published.left,
        "RemindersSent": reminded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs() {
        let drain: EventsInput = serde_json::from_str("{}").expect("empty");
        assert_eq!(drain.task, Task::Drain);
        let remind: EventsInput = serde_json::from_str(r#"{"task":"remind"}"#).expect("remind");
        assert_eq!(remind.task, Task::Remind);
        assert!(serde_json::from_str::<EventsInput>(r#"{"task":"other"}"#).is_err());
        assert!(serde_json::from_str::<EventsInput>(r#"{"tsk":"drain"}"#).is_err());
    }

    #[test]
    fn the_metric_line_is_emf() {
        let line = metrics("weft/test", 1, "drain", &Published { published: 3, left: 1 }, 0);
        assert_eq!(line["EventsPublished"], 3);
        assert_eq!(line["EventsLeft"], 1);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "weft/test");
    }
}
