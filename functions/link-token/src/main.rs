//! `link-token`: creates Plaid Link tokens for the app's users (new links, update mode, OAuth resume).
//!
//! Init builds everything once per container ([`weft::compose`]); each request is one call into
//! [`weft::api::link_token`].

use lambda_http::{Error, Request, run, service_fn};
use std::sync::Arc;
use weft::compose::{Serves, from_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    weft::telemetry::init();
    let app = Arc::new(from_env(Serves::Users).await?);
    run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(weft::api::link_token::handle(&app, req).await) }
    }))
    .await
}
