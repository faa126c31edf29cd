//! `sync-worker`: runs `/transactions/sync` for the items the webhook function queued (SQS FIFO, one
//! message group per item), reporting failed messages individually so only they are retried.
//!
//! Init builds everything once per container ([`weft::compose`]); each batch is one call into
//! [`weft::api::sync_worker`].

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::sync::Arc;
use weft::compose::{Serves, from_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    weft::telemetry::init();
    let app = Arc::new(from_env(Serves::Events).await?);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move { Ok::<_, Error>(weft::api::sync_worker::handle(&app, event.payload).await) }
    }))
    .await
}
