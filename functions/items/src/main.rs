//! `items`: the app-facing item APIs (list, transactions, remove, Link events and conversion, institution health).
//!
//! Init builds everything once per container ([`weft::compose`]); each request is one call into
//! [`weft::api::items`].

use lambda_http::{Error, Request, run, service_fn};
use std::sync::Arc;
use weft::compose::{Serves, from_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    weft::telemetry::init();
    let app = Arc::new(from_env(Serves::Users).await?);
    run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(weft::api::items::handle(&app, req).await) }
    }))
    .await
}
