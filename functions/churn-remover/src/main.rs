//! `churn-remover`: removes churned items near the end of the month (scheduled on the last day), or when
//! invoked by hand (`{"dry_run": true}` reports without removing). A run that nears the Lambda time limit
//! saves its checkpoint and re-invokes this function asynchronously to continue where it stopped.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::services::churn::{self, ChurnInput, RunStatus};

struct State {
    app: weft::services::App,
    lambda: aws_sdk_lambda::Client,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    weft::telemetry::init();
    let (app, sdk) = tokio::join!(weft::services::App::from_env(), weft::config::aws::load_sdk_config());
    let state = Arc::new(State { app: app?, lambda: aws_sdk_lambda::Client::new(&sdk) });
    run(service_fn(move |event: LambdaEvent<Value>| {
        let state = state.clone();
        async move { handle(&state, event).await }
    }))
    .await
}

async fn handle(state: &State, event: LambdaEvent<Value>) -> Result<churn::ChurnSummary, Error> {
    let input: ChurnInput =
        serde_json::from_value(event.payload).map_err(|e| Error::from(format!("invalid churn input: {e}")))?;
    // Stop with a minute to spare before Lambda's own deadline.
    let remaining =
        event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or(Duration::from_secs(900));
    let deadline = Instant::now() + remaining;
    let paused_by_limit = input.max_items.is_some();
    let summary = churn::run(&state.app, input.clone(), deadline).await.map_err(|e| Error::from(e.to_string()))?;
    if summary.status == RunStatus::Paused && !paused_by_limit {
        continue_later(state, &input, &summary.run_id).await?;
    }
    Ok(summary)
}

/// Re-invokes this function asynchronously to continue the run from its checkpoint.
async fn continue_later(state: &State, input: &ChurnInput, run_id: &str) -> Result<(), Error> {
    let Some(function) = state.app.config.churn.function_name.clone() else {
        tracing::warn!(run_id, "WEFT_CHURN_FUNCTION_NAME is not set; the run stays paused until invoked again");
        return Ok(());
    };
    let payload = serde_json::json!({ "run_id": run_id, "dry_run": input.dry_run, "concurrency": input.concurrency });
    state
        .lambda
        .invoke()
        .function_name(function)
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(aws_sdk_lambda::primitives::Blob::new(serde_json::to_vec(&payload)?))
        .send()
        .await
        .map_err(|e| Error::from(format!("re-invoking to continue the run: {}", aws_sdk_lambda::Error::from(e))))?;
    tracing::info!(run_id, "churn run continues in a new invocation");
    Ok(())
}
