//! What the app would subscribe to: a rule on the local item-event bus (moto's EventBridge, real wire
//! protocol) sending every weft event to an SQS queue the tests read, as an app's rule would deliver them
//! to its own queue. Also the local stand-in for the events function's schedule (EventBridge rules
//! invoking it every few minutes when deployed).

use serde_json::Value;
use std::time::Duration;

/// The tap: a queue receiving every event of the bus.
pub struct EventTap {
    sqs: aws_sdk_sqs::Client,
    /// Every event read from the queue so far (several tests share a stack: each looks for its own items').
    log: tokio::sync::Mutex<Vec<Value>>,
    events: aws_sdk_eventbridge::Client,
    pub queue_url: String,
    queue_arn: String,
    bus: String,
    rule: String,
}

impl EventTap {
    /// Creates the queue `<name>-events-tap` and a rule on `bus` matching `source: weft`, targeting it.
    pub async fn create(sdk: &aws_config::SdkConfig, bus: &str, name: &str) -> Result<Self, String> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{name}-events-tap"))
            .send()
            .await
            .map_err(|e| format!("tap queue: {:?}", aws_sdk_sqs::Error::from(e)))?
            .queue_url
            .ok_or("tap queue: no url")?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| format!("tap queue arn: {:?}", aws_sdk_sqs::Error::from(e)))?
            .attributes
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .ok_or("tap queue: no arn")?;
        let tap = Self {
            sqs,
            log: tokio::sync::Mutex::new(Vec::new()),
            events: aws_sdk_eventbridge::Client::new(sdk),
            queue_url,
            queue_arn: arn,
            bus: bus.to_owned(),
            rule: format!("{name}-events-tap"),
        };
        tap.subscribe().await?;
        Ok(tap)
    }

    /// The rule on the bus, targeting the queue.
    async fn subscribe(&self) -> Result<(), String> {
        let (events, bus, rule) = (&self.events, &self.bus, &self.rule);
        events
            .put_rule()
            .name(rule.as_str())
            .event_bus_name(bus)
            .event_pattern(r#"{"source": ["weft"]}"#)
            .send()
            .await
            .map_err(|e| format!("tap rule: {:?}", aws_sdk_eventbridge::Error::from(e)))?;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("tap")
            .arn(&self.queue_arn)
            .build()
            .map_err(|e| format!("tap target: {e}"))?;
        events
            .put_targets()
            .rule(rule.as_str())
            .event_bus_name(bus)
            .targets(target)
            .send()
            .await
            .map_err(|e| format!("tap target: {:?}", aws_sdk_eventbridge::Error::from(e)))?;
        Ok(())
    }

    /// Fault injection: the bus is gone (its rule first), so every `PutEvents` fails, until [`Self::restore`].
    pub async fn break_bus(&self) -> Result<(), String> {
        let err = |e: aws_sdk_eventbridge::Error| format!("{e:?}");
        self.events
            .remove_targets()
            .rule(&self.rule)
            .event_bus_name(&self.bus)
            .ids("tap")
            .send()
            .await
            .map_err(|e| err(e.into()))?;
        self.events.delete_rule().name(&self.rule).event_bus_name(&self.bus).send().await.map_err(|e| err(e.into()))?;
        self.events.delete_event_bus().name(&self.bus).send().await.map_err(|e| err(e.into()))?;
        Ok(())
    }

    /// The bus and the tap's rule again.
    pub async fn restore(&self) -> Result<(), String> {
        self.events
            .create_event_bus()
            .name(&self.bus)
            .send()
            .await
            .map_err(|e| format!("{:?}", aws_sdk_eventbridge::Error::from(e)))?;
        self.subscribe().await
    }

    /// Every EventBridge event (`source`, `detail-type`, `detail`, ...) that arrived so far: what the queue
    /// holds now is read (and deleted) and added to what earlier calls read.
    pub async fn all(&self) -> Result<Vec<Value>, String> {
        let mut log = self.log.lock().await;
        log.extend(self.receive().await?);
        Ok(log.clone())
    }

    /// The events the queue holds now, each read once.
    async fn receive(&self) -> Result<Vec<Value>, String> {
        let answer = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| format!("{:?}", aws_sdk_sqs::Error::from(e)))?;
        let mut out = Vec::new();
        for m in answer.messages.unwrap_or_default() {
            if let Some(body) = &m.body {
                out.push(serde_json::from_str(body).map_err(|e| format!("tap message {body:?}: {e}"))?);
            }
            if let Some(receipt) = &m.receipt_handle {
                let _ = self.sqs.delete_message().queue_url(&self.queue_url).receipt_handle(receipt).send().await;
            }
        }
        Ok(out)
    }
}

/// Invokes the events function with `{"task": "drain"}` every `every`, as its schedule rule does when
/// deployed (every five minutes there).
pub fn spawn_drain_schedule(invoke_url: String, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = crate::http::client();
        loop {
            tokio::time::sleep(every).await;
            let req = http.post(&invoke_url).body(r#"{"task":"drain"}"#);
            if let Err(e) = crate::http::send(req).await {
                tracing::warn!(error = %e, "events drain invocation failed");
            }
        }
    })
}
