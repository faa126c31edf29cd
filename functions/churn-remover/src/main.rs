//! `churn-remover`: removes churned items near the end of the month (scheduled on the last day), or when
//! invoked by hand (`{"dry_run": true}` reports without removing). The event is a
//! [`ChurnInput`](weft::domain::ChurnInput); the answer the run's summary. A run that nears the deadline
//! continues in a new invocation of this function, from its checkpoint.
//!
//! Init builds everything once per container ([`weft::compose`]); each invocation is one call into
//! [`weft::api::churn_remover`].

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::sync::Arc;
use weft::compose::{Serves, from_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    weft::telemetry::init();
    let app = Arc::new(from_env(Serves::Events).await?);
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move { weft::api::churn_remover::handle(&app, event).await }
    }))
    .await
}
