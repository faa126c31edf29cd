//! The harness's HTTP client, and errors told with their causes.
//!
//! `cargo lambda watch` closes a kept-alive connection that has been idle for a while; a client that reuses
//! such a connection at the moment the server closes it gets "error sending request" for a request the server
//! never read. That is a race of the harness, not of weft, so the harness never reuses an idle connection:
//! every request opens its own loopback connection (cheap), and no test depends on timing of idle sockets.

use std::error::Error;

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
            other => return other.map_err(|e| chain(&e)),
        }
    }
}

/// `e` and every error that caused it, joined by ": " (reqwest's own message hides the cause).
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error sending request")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn chain_tells_every_cause() {
        let e = Outer(std::io::Error::other("connection closed before message completed"));
        assert_eq!(chain(&e), "error sending request: connection closed before message completed");
    }
}
