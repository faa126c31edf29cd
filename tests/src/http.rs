//! The harness's HTTP client, with errors told with their causes ([`weft::telemetry::chain`]).
//!
//! A client that reuses a kept-alive connection at the moment its server closes it gets "error sending
//! request" for a request the server never read: a race of the harness, not of weft. The harness never reuses
//! an idle connection (every request opens its own loopback connection, which is cheap), so no test depends on
//! the timing of idle sockets. (`cargo lambda watch` was seen keeping an idle connection open for 100 s; this is
//! a precaution, not the fix of an observed close.)

/// A client that opens a fresh connection per request (no idle connection is ever kept).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap_or_default()
}

/// Sends `req`; a connection that could not be made (the request never left) is tried again, up to five
/// times 200 ms apart. Any other failure is returned with its causes.
pub async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
    let mut tries = 0;
    loop {
        let attempt = req.try_clone().ok_or("a streamed body cannot be sent again")?;
        match attempt.send().await {
            Err(e) if e.is_connect() && tries < 5 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            other => return other.map_err(|e| weft::telemetry::chain(&e)),
        }
    }
}
