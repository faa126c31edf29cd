//! A counting proxy in front of an AWS endpoint (moto): every request is forwarded unchanged and tallied
//! by operation (`X-Amz-Target`, e.g. `DynamoDB_20120810.PutItem`, `TrentService.GenerateDataKey`,
//! `secretsmanager.GetSecretValue`; SQS's query protocol by its `Action`; anything else by method and path,
//! e.g. `POST /link/token/create` in front of the Plaid emulator). SigV4 signs the host the client sees, and
//! moto does not check signatures, so forwarding needs no re-signing.
//!
//! Every call is also timed as the caller sees it, from the request's arrival to the answer handed back
//! ([`Span`]), on this process's clock: a benchmark subtracts them from a request's time to get the
//! caller's own share.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upstream round trips by operation.
type Latencies = Arc<Mutex<BTreeMap<String, Vec<Duration>>>>;

/// One call through the proxy: its operation, and when it arrived and was answered.
#[derive(Debug, Clone)]
pub struct Span {
    pub op: String,
    pub start: Instant,
    pub end: Instant,
}

type Spans = Arc<Mutex<Vec<Span>>>;

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    latencies: Latencies,
    spans: Spans,
}

/// The proxy's address and its tally.
pub struct AwsCounter {
    pub endpoint: String,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    latencies: Latencies,
    spans: Spans,
}

impl AwsCounter {
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let latencies = Latencies::default();
        let spans = Spans::default();
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            counts: counts.clone(),
            latencies: latencies.clone(),
            spans: spans.clone(),
        };
        let app = Router::new().fallback(forward).with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { endpoint, counts, latencies, spans })
    }

    /// The calls that overlap `from..to`, as the caller saw them.
    pub fn spans_between(&self, from: Instant, to: Instant) -> Vec<Span> {
        let Ok(spans) = self.spans.lock() else { return Vec::new() };
        spans.iter().filter(|s| s.end > from && s.start < to).cloned().collect()
    }

    /// Counts so far, by operation.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// How long the upstream took to answer each call so far, by operation (the proxy's own hop excluded).
    pub fn latencies(&self) -> BTreeMap<String, Vec<Duration>> {
        self.latencies.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn reset(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
        if let Ok(mut l) = self.latencies.lock() {
            l.clear();
        }
        if let Ok(mut s) = self.spans.lock() {
            s.clear();
        }
    }
}

async fn forward(State(p): State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let arrived = Instant::now();
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            let text = String::from_utf8_lossy(&body);
            text.split('&').find_map(|kv| kv.strip_prefix("Action=").map(|a| format!("sqs.{a}")))
        })
        .unwrap_or_else(|| format!("{method} {}", uri.path()));
    if let Ok(mut c) = p.counts.lock() {
        *c.entry(op.clone()).or_default() += 1;
    }
    let url = format!("{}{}", p.upstream, uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/"));
    let mut req = p.http.request(method, url).body(body);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" && !hop_by_hop(k.as_str()) {
            req = req.header(k, v);
        }
    }
    let sent = Instant::now();
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.unwrap_or_default();
            if let Ok(mut l) = p.latencies.lock() {
                l.entry(op.clone()).or_default().push(sent.elapsed());
            }
            let mut out = (status, bytes).into_response();
            for (k, v) in &headers {
                if k != "content-length" && !hop_by_hop(k.as_str()) {
                    out.headers_mut().insert(k, v.clone());
                }
            }
            if let Ok(mut s) = p.spans.lock() {
                s.push(Span { op, start: arrived, end: Instant::now() });
            }
            out
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Headers about one connection, not the message (RFC 9110, 7.6.1): never forwarded. moto answers every
/// request with `Connection: close`; passed on, it would make the function open a new connection per call,
/// which AWS does not.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "te" | "trailer" | "upgrade"
    )
}
