//! `hello-floor`: a hello-world Lambda function, the floor `bench-functions` measures the functions
//! against in the same run: the same runtime (`lambda_runtime` on a current-thread tokio), the same release
//! profile, the same Runtime API harness, and nothing else (no configuration, no clients, no I/O at init).

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: LambdaEvent<Value>| async { Ok::<_, Error>(json!({ "hello": "world" })) })).await
}
