//! The Plaid adapter: [`PlaidClient`] implements the Plaid port ([`crate::ports::PlaidApi`]) over HTTP.
//!
//! - One pooled `reqwest::Client` per container (connect timeout 3 s, per-attempt timeout 15 s by default; 60 s
//!   for the single-use calls below, whose wait the service bounds by its deadline).
//! - Headers `PLAID-CLIENT-ID`, `PLAID-SECRET` (marked sensitive), `Plaid-Version: 2020-09-14`; credentials
//!   come from a [`crate::ports::CredentialSource`] and are refreshed once on INVALID_API_KEYS.
//! - Typed bodies are the port's wire model ([`crate::ports::plaid::wire`]); Plaid's error object is
//!   [`PlaidError`], inside [`PlaidCallError::Api`].
//! - Retries with jittered exponential backoff ([`backon`]) for 429, 5xx, timeouts and broken connections
//!   only, never for other 4xx: Plaid's rules are the predicate (`retryable`) and the `Retry-After`
//!   adjustment (`delay_after`).
//!
//! ## `/item/public_token/exchange` and retries
//! A public token is single use. If a response is lost after Plaid processed the exchange, a retry can only
//! get INVALID_PUBLIC_TOKEN, and the item the first attempt created is unreachable (its access token was in
//! the lost response) while Plaid bills it. So the exchange is retried only when the first attempt
//! provably did not run: a connect error (nothing was sent), 429, or 503 (maintenance). A timeout or a
//! connection broken after sending is returned at once as [`PlaidCallError::Timeout`] /
//! [`PlaidCallError::Transport`] and logged as `plaid_exchange_outcome_unknown`; the service answers
//! "retry", the app's retry with the same public token meets INVALID_PUBLIC_TOKEN if Plaid did run it, and
//! the service maps that to "link again". The rare orphaned item then announces itself through webhooks
//! for an unknown `item_id`.
//!
//! `/item/access_token/invalidate` follows the same rule: its answer carries the item's only working access
//! token (the old one is dead once Plaid ran it), so a lost answer cannot be asked for again. A timeout or a
//! broken connection is returned at once and logged at ERROR as `plaid_rotation_outcome_unknown`.

use crate::ports::plaid::wire::PlaidResponse;
use crate::ports::{CredentialSource, PlaidCallError, PlaidCredentials, PlaidError};
use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod api;
mod endpoints;

use endpoints::{CallCounter, Endpoint, Retry, retryable};

/// The API version weft is written against.
pub const PLAID_VERSION: &str = "2020-09-14";

/// Client settings. [`PlaidClientConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct PlaidClientConfig {
    /// `https://sandbox.plaid.com`, `https://production.plaid.com` or an override such as the emulator's
    /// (see [`crate::config::PlaidConfig::base_url`]).
    pub base_url: String,
    /// TCP + TLS connect timeout (default 3 s).
    pub connect_timeout: Duration,
    /// Whole-call timeout of one attempt, connect to last body byte (default 15 s).
    pub timeout: Duration,
    /// The same for the calls whose answer cannot be asked for again (`/item/public_token/exchange`,
    /// `/item/access_token/invalidate`), default 60 s: longer than any API function runs, so an answer
    /// Plaid gives is received whenever it comes before the caller's own deadline (the service bounds the
    /// wait by the request's deadline, not this).
    pub single_use_timeout: Duration,
    /// How long an idle pooled connection is kept (default 50 s, under the usual 60 s idle cut-offs).
    pub pool_idle_timeout: Duration,
    /// Attempts per call, the first included (default 3). Only transient failures are retried.
    pub max_attempts: u32,
    /// First backoff step (default 200 ms); doubled per retry, with jitter.
    pub backoff_base: Duration,
    /// Largest backoff step, and the cap on a `Retry-After` Plaid sends (default 4 s).
    pub backoff_max: Duration,
}

impl PlaidClientConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(15),
            single_use_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(50),
            max_attempts: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(4),
        }
    }

    /// The HTTP client these settings describe: build it once per container. It uses the container's one
    /// TLS configuration ([`crate::adapters::tls`]: roots compiled in, shared with the AWS SDK's client).
    pub fn http_client(&self) -> Result<reqwest::Client, reqwest::Error> {
        let builder = match crate::adapters::tls::client_config(crate::adapters::tls::ALPN_H2_HTTP1) {
            Ok(tls) => reqwest::Client::builder().tls_backend_preconfigured(tls),
            // Cannot happen with aws-lc-rs's provider; reqwest's own TLS setup (the system's roots) still works.
            Err(e) => {
                tracing::warn!(error = %e, "the shared TLS configuration failed; reqwest builds its own");
                reqwest::Client::builder()
            }
        };
        builder
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .pool_idle_timeout(self.pool_idle_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
            .build()
    }
}

/// The Plaid HTTP client. Cheap to clone (one shared connection pool); build one per container at init.
///
/// Every attempt is logged at the client layer (`event = "plaid_call"`, with endpoint, status, Plaid's
/// `request_id`, `duration_ms`, `attempt`, and the error type/code on failure). Bodies, tokens and
/// credentials are never logged. Retries (jittered exponential backoff, `Retry-After` honoured up to
/// `backoff_max`) happen only for transient failures, and for `/item/public_token/exchange` only where the
/// request provably did not run. On INVALID_API_KEYS the credentials are refreshed once and the call
/// repeated (secret rotation under a warm container).
#[derive(Clone)]
pub struct PlaidClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    config: PlaidClientConfig,
    credentials: Arc<dyn CredentialSource>,
    calls: CallCounter,
}

impl std::fmt::Debug for PlaidClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaidClient").field("base_url", &self.inner.base_url).finish_non_exhaustive()
    }
}

/// One attempt's outcome, before classification.
enum Sent {
    Answered { status: u16, retry_after: Option<Duration>, body: Vec<u8> },
    Failed(reqwest::Error),
}

impl PlaidClient {
    /// A client with the default settings for `base_url`.
    pub fn new(base_url: impl Into<String>, credentials: Arc<dyn CredentialSource>) -> Result<Self, reqwest::Error> {
        Self::with_config(PlaidClientConfig::new(base_url), credentials)
    }

    /// A client with its own HTTP client built from `config`.
    pub fn with_config(
        config: PlaidClientConfig,
        credentials: Arc<dyn CredentialSource>,
    ) -> Result<Self, reqwest::Error> {
        let http = config.http_client()?;
        Ok(Self::with_http_client(config, http, credentials))
    }

    /// A client over an existing HTTP client (its timeouts apply; `config.timeout` is also set per request).
    pub fn with_http_client(
        config: PlaidClientConfig,
        http: reqwest::Client,
        credentials: Arc<dyn CredentialSource>,
    ) -> Self {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        Self { inner: Arc::new(Inner { http, base_url, config, credentials, calls: CallCounter::default() }) }
    }

    /// The pooled HTTP client (share it rather than building another).
    pub fn http_client(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// HTTP requests sent so far, per endpoint path (retries included).
    pub fn call_counts(&self) -> BTreeMap<&'static str, u64> {
        self.inner.calls.snapshot()
    }

    /// HTTP requests sent so far to `path` (e.g. `/transactions/sync`).
    pub fn call_count(&self, path: &str) -> u64 {
        self.call_counts().get(path).copied().unwrap_or(0)
    }

    /// All HTTP requests sent so far.
    pub fn total_calls(&self) -> u64 {
        self.call_counts().values().sum()
    }

    /// One call: attempts with [`backon`] doing the waiting. The rules are Plaid's and stay here:
    /// [`retryable`] is the predicate, a `Retry-After` adjusts the wait ([`delay_after`]), and a refresh of
    /// the credentials on INVALID_API_KEYS repeats the request inside the same attempt (once per call, not
    /// counted as a retry).
    async fn call<Req, Resp>(&self, endpoint: Endpoint, body: &Req) -> Result<Resp, PlaidCallError>
    where
        Req: Serialize + ?Sized + Sync,
        Resp: PlaidResponse,
    {
        let path = endpoint.path();
        let body = serde_json::to_vec(body)
            .map_err(|_| PlaidCallError::Request { endpoint: path, detail: "body does not serialise".into() })?;
        let url = format!("{}{}", self.inner.base_url, path);
        let credentials = Mutex::new(self.inner.credentials.current().await?);
        let refreshed = AtomicBool::new(false);
        let sent = AtomicU32::new(0);
        let (body, url, credentials, refreshed, sent) = (&body, &url, &credentials, &refreshed, &sent);
        let attempt = move || async move {
            loop {
                let current = credentials.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let n = sent.fetch_add(1, Ordering::Relaxed) + 1;
                match self.send_once::<Resp>(endpoint, url, &current, body, n).await {
                    // Secret rotation: refresh once, then repeat the request.
                    Err(failure) if failure.error.is_invalid_api_keys() && !refreshed.swap(true, Ordering::Relaxed) => {
                        tracing::warn!(
                            event = "plaid_credentials_refresh",
                            endpoint = path,
                            "INVALID_API_KEYS; reloading credentials"
                        );
                        let fresh = self
                            .inner
                            .credentials
                            .refresh()
                            .await
                            .map_err(|e| Failure::from(PlaidCallError::from(e)))?;
                        *credentials.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
                    }
                    outcome => return outcome,
                }
            }
        };
        let backoff_max = self.inner.config.backoff_max;
        attempt
            .retry(backoff(&self.inner.config))
            .sleep(tokio::time::sleep)
            .when(|failure| retryable(endpoint.retry(), &failure.error))
            .adjust(|failure, delay| delay_after(failure, delay, backoff_max))
            .notify(|_, delay| {
                tracing::debug!(endpoint = path, retry_in_ms = delay.as_millis() as u64, "retrying plaid call");
            })
            .await
            .map_err(|failure| failure.error)
    }

    /// One HTTP request, logged, and its outcome classified.
    async fn send_once<Resp: PlaidResponse>(
        &self,
        endpoint: Endpoint,
        url: &str,
        credentials: &PlaidCredentials,
        body: &[u8],
        attempt: u32,
    ) -> Result<Resp, Failure> {
        let path = endpoint.path();
        let headers = headers(credentials).map_err(|detail| PlaidCallError::Request { endpoint: path, detail })?;
        self.inner.calls.add(endpoint);
        let started = Instant::now();
        let timeout = match endpoint.retry() {
            Retry::NotIfMaybeProcessed => self.inner.config.single_use_timeout,
            Retry::Transient => self.inner.config.timeout,
        };
        let sent = self.send(url, headers, body, timeout).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

        match sent {
            Sent::Answered { status, body, .. } if (200..300).contains(&status) => {
                match serde_json::from_slice::<Resp>(&body) {
                    Ok(resp) => {
                        tracing::info!(
                            event = "plaid_call",
                            endpoint = path,
                            status,
                            request_id = resp.request_id(),
                            duration_ms,
                            attempt,
                            "plaid call ok"
                        );
                        Ok(resp)
                    }
                    Err(e) => {
                        let request_id = request_id_of(&body);
                        let detail = decode_detail(&e);
                        tracing::error!(
                            event = "plaid_call",
                            endpoint = path,
                            status,
                            request_id = request_id.as_deref().unwrap_or(""),
                            duration_ms,
                            attempt,
                            detail = %detail,
                            "plaid response unreadable"
                        );
                        Err(PlaidCallError::Decode { endpoint: path, request_id, detail }.into())
                    }
                }
            }
            Sent::Answered { status, retry_after, body } => {
                let error = match serde_json::from_slice::<PlaidError>(&body) {
                    Ok(mut e) if !e.error_type.is_empty() => {
                        e.status = Some(status);
                        PlaidCallError::Api { endpoint: path, error: Box::new(e) }
                    }
                    _ => PlaidCallError::Status { endpoint: path, status },
                };
                let api = error.api_error();
                let level_warn = status == 429 || status >= 500;
                macro_rules! log_failure {
                    ($level:ident) => {
                        tracing::$level!(
                            event = "plaid_call",
                            endpoint = path,
                            status,
                            request_id = error.request_id().unwrap_or(""),
                            error_type = api.map_or("", |e| e.error_type.as_str()),
                            error_code = api.map_or("", |e| e.error_code.as_str()),
                            duration_ms,
                            attempt,
                            "plaid call failed"
                        )
                    };
                }
                if level_warn {
                    log_failure!(warn);
                } else {
                    log_failure!(info);
                }
                Err(Failure { error, retry_after })
            }
            Sent::Failed(source) => {
                let timeout = source.is_timeout();
                let connect = source.is_connect();
                tracing::warn!(
                    event = "plaid_call",
                    endpoint = path,
                    status = 0u16,
                    request_id = "",
                    duration_ms,
                    attempt,
                    timeout,
                    connect,
                    error = %source,
                    "plaid call did not complete"
                );
                let error = if timeout {
                    PlaidCallError::Timeout { endpoint: path }
                } else if connect {
                    PlaidCallError::Connect { endpoint: path, source: Box::new(source) }
                } else {
                    PlaidCallError::Transport { endpoint: path, source: Box::new(source) }
                };
                if endpoint == Endpoint::ItemAccessTokenInvalidate && !connect {
                    // Plaid may have rotated the token; the new one is lost with the response.
                    tracing::error!(
                        event = "plaid_rotation_outcome_unknown",
                        endpoint = path,
                        attempt,
                        "access token rotation outcome unknown; not retried (the old token may be dead and the new \
                         one is lost with the answer)"
                    );
                } else if endpoint.retry() == Retry::NotIfMaybeProcessed && !connect {
                    // The exchange may have happened at Plaid; its access token is lost with the response.
                    tracing::error!(
                        event = "plaid_exchange_outcome_unknown",
                        endpoint = path,
                        attempt,
                        "public token exchange outcome unknown; not retried (a retry could only get \
                         INVALID_PUBLIC_TOKEN). An item created by it shows up as webhooks for an unknown item_id."
                    );
                }
                Err(error.into())
            }
        }
    }

    async fn send(&self, url: &str, headers: HeaderMap, body: &[u8], timeout: Duration) -> Sent {
        let response =
            match self.inner.http.post(url).headers(headers).timeout(timeout).body(body.to_vec()).send().await {
                Ok(r) => r,
                Err(e) => return Sent::Failed(e),
            };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match response.bytes().await {
            Ok(b) => Sent::Answered { status, retry_after, body: b.to_vec() },
            Err(e) => Sent::Failed(e),
        }
    }
}

/// A failed attempt, as the retry policy sees it.
struct Failure {
    error: PlaidCallError,
    /// Plaid's `Retry-After`, when it sent one.
    retry_after: Option<Duration>,
}

impl From<PlaidCallError> for Failure {
    fn from(error: PlaidCallError) -> Self {
        Self { error, retry_after: None }
    }
}

/// Equal-jitter exponential backoff: each step (`backoff_base`, doubled per retry, at most `backoff_max`)
/// waits half fixed, half random. backon's jitter adds up to the delay again, so it is given half steps;
/// `max_attempts` counts the first attempt.
fn backoff(cfg: &PlaidClientConfig) -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(cfg.backoff_base.min(cfg.backoff_max) / 2)
        .with_max_delay(cfg.backoff_max / 2)
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(cfg.max_attempts.max(1) as usize - 1)
}

/// The wait before the next attempt: `Retry-After` wins when longer than the backoff (capped at
/// `backoff_max`); `None` (the backoff is spent) stays `None`.
fn delay_after(failure: &Failure, backoff: Option<Duration>, backoff_max: Duration) -> Option<Duration> {
    let delay = backoff?;
    Some(match failure.retry_after {
        Some(retry_after) => retry_after.min(backoff_max).max(delay),
        None => delay,
    })
}

fn headers(credentials: &PlaidCredentials) -> Result<HeaderMap, String> {
    let mut h = HeaderMap::with_capacity(4);
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert("plaid-version", HeaderValue::from_static(PLAID_VERSION));
    let client_id = HeaderValue::from_str(&credentials.client_id)
        .map_err(|_| "client_id is not a valid header value".to_owned())?;
    h.insert("plaid-client-id", client_id);
    let mut secret = HeaderValue::from_str(credentials.secret.expose_secret())
        .map_err(|_| "secret is not a valid header value".to_owned())?;
    secret.set_sensitive(true);
    h.insert("plaid-secret", secret);
    Ok(h)
}

/// The `request_id` of a body that did not parse as its type (best effort).
fn request_id_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Only {
        request_id: Option<String>,
    }
    serde_json::from_slice::<Only>(body).ok().and_then(|o| o.request_id)
}

/// A decode error without the values it may quote: its category and position, and the message only when it
/// names a field (serde's "missing field `x`" / "duplicate field `x`"), never when it quotes data.
fn decode_detail(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let named_field = msg.starts_with("missing field") || msg.starts_with("duplicate field");
    let what = match e.classify() {
        serde_json::error::Category::Io => "io",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "truncated",
    };
    if named_field {
        let field = msg.split(" at line").next().unwrap_or("");
        format!("{what}: {field}, line {} column {}", e.line(), e.column())
    } else {
        format!("{what} at line {} column {}", e.line(), e.column())
    }
}

// ---------------------------------------------------------------------------------------------------------
// Request bodies the client builds itself (borrowed, built per call).

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn decode_detail_never_quotes_values() {
        let e = serde_json::from_str::<u32>("\"access-sandbox-secret\"").unwrap_err();
        assert!(!decode_detail(&e).contains("secret"));
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            item_id: String,
        }
        let e = serde_json::from_str::<S>("{}").unwrap_err();
        assert!(decode_detail(&e).contains("missing field `item_id`"), "{}", decode_detail(&e));
    }

    #[test]
    fn the_secret_header_is_marked_sensitive() {
        let h = headers(&PlaidCredentials { client_id: "c".into(), secret: "s3cret".to_owned().into() }).unwrap();
        assert!(h.get("plaid-secret").unwrap().is_sensitive());
        assert!(!format!("{h:?}").contains("s3cret"));
    }

    #[test]
    fn backoff_is_equal_jitter_exponential_and_capped() {
        use backon::BackoffBuilder;
        let cfg = PlaidClientConfig { max_attempts: 6, ..PlaidClientConfig::new("http://x") };
        for _ in 0..50 {
            let delays: Vec<Duration> = backoff(&cfg).build().collect();
            assert_eq!(delays.len(), 5, "max_attempts counts the first attempt");
            for (retry, delay) in delays.iter().enumerate() {
                let step = cfg.backoff_base.saturating_mul(1 << retry).min(cfg.backoff_max);
                // backon computes in f32 seconds: allow a microsecond either side.
                let slack = Duration::from_micros(1);
                assert!(*delay + slack >= step / 2 && *delay <= step + slack, "retry {retry}: {delay:?} vs {step:?}");
            }
        }
        let one = PlaidClientConfig { max_attempts: 1, ..PlaidClientConfig::new("http://x") };
        assert_eq!(backoff(&one).build().count(), 0, "one attempt: no retry");
        let zero = PlaidClientConfig { max_attempts: 0, ..PlaidClientConfig::new("http://x") };
        assert_eq!(backoff(&zero).build().count(), 0);
    }

    #[test]
    fn retry_after_wins_when_longer_up_to_the_cap() {
        let max = Duration::from_secs(4);
        let failure = |ra: Option<u64>| Failure {
            error: PlaidCallError::Status { endpoint: "/x", status: 429 },
            retry_after: ra.map(Duration::from_secs),
        };
        let step = Some(Duration::from_millis(300));
        assert_eq!(delay_after(&failure(None), step, max), step);
        assert_eq!(delay_after(&failure(Some(2)), step, max), Some(Duration::from_secs(2)));
        assert_eq!(delay_after(&failure(Some(60)), step, max), Some(max), "capped at backoff_max");
        assert_eq!(delay_after(&failure(Some(0)), step, max), step, "never shorter than the backoff");
        assert_eq!(delay_after(&failure(Some(2)), None, max), None, "no retry once the attempts are spent");
    }

    #[test]
    fn only_safe_failures_are_retried_for_the_exchange() {
        let api = |status: u16, t: &str| PlaidCallError::Api {
            endpoint: "/x",
            error: Box::new(PlaidError { error_type: t.into(), status: Some(status), ..Default::default() }),
        };
        let timeout = PlaidCallError::Timeout { endpoint: "/x" };
        assert!(retryable(Retry::Transient, &api(500, "API_ERROR")));
        assert!(retryable(Retry::Transient, &api(429, "RATE_LIMIT_EXCEEDED")));
        assert!(retryable(Retry::Transient, &timeout));
        assert!(!retryable(Retry::Transient, &api(400, "ITEM_ERROR")));
        assert!(retryable(Retry::NotIfMaybeProcessed, &api(429, "RATE_LIMIT_EXCEEDED")));
        assert!(retryable(Retry::NotIfMaybeProcessed, &api(503, "API_ERROR")));
        assert!(!retryable(Retry::NotIfMaybeProcessed, &api(500, "API_ERROR")));
        assert!(!retryable(Retry::NotIfMaybeProcessed, &timeout));
        // A rotation's answer holds the only working token: the exchange's rule.
        assert_eq!(Endpoint::ItemAccessTokenInvalidate.retry(), Retry::NotIfMaybeProcessed);
        assert_eq!(Endpoint::ItemAccessTokenInvalidate.path(), "/item/access_token/invalidate");
    }
}
