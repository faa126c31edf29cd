//! `events`: item events for the app. Every five minutes (`{"task": "drain"}`) it publishes to the
//! EventBridge bus what the outbox still holds (events whose writer could not publish them); daily
//! (`{"task": "remind"}`) it sends the reminders due for items that still need the user's login.
//!
//! Init builds everything once per container ([`weft::compose`]); each invocation is one call into
//! [`weft::api::events`].

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::sync::Arc;
use weft::compose::{Serves, from_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    weft::telemetry::init();
    // It makes re-link link tokens for the items' owners: the pseudonym key, as the user-facing functions.
    let app = Arc::new(from_env(Serves::Users).await?);
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move { weft::api::events::handle(&app, event).await }
    }))
    .await
}
