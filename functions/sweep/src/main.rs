//! `sweep`: the reconciliation sweep (scheduled daily, or invoked by hand: `{"dry_run": true}` reports
//! without changing anything). Asks Plaid (`/item/get`) about every item weft has not heard from in a while
//! and applies what it says, so a lost webhook is found. The event is a
//! [`SweepInput`](weft::domain::SweepInput); the answer the invocation's summary. A run that nears the
//! deadline continues in a new invocation of this function, from its checkpoint.
//!
//! Init builds everything once per container ([`weft::compose`]); each invocation is one call into
//! [`weft::api::sweep`].

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::sync::Arc;
use weft::compose::{Serves, from_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    weft::telemetry::init();
    let app = Arc::new(from_env(Serves::EventsForUsers).await?);
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move { weft::api::sweep::handle(&app, event).await }
    }))
    .await
}
