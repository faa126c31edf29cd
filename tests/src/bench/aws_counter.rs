//! A counting proxy in front of an AWS endpoint (moto): every request is forwarded unchanged and tallied
//! by operation (`X-Amz-Target`, e.g. `DynamoDB_20120810.PutItem`, `TrentService.GenerateDataKey`,
//! `secretsmanager.GetSecretValue`; SQS's query protocol by its `Action`). SigV4 signs the host the client
//! sees, and moto does not check signatures, so forwarding needs no re-signing.

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

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    latencies: Latencies,
}

/// The proxy's address and its tally.
pub struct AwsCounter {
    pub endpoint: String,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    latencies: Latencies,
}

impl AwsCounter {
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let latencies = Latencies::default();
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            counts: counts.clone(),
            latencies: latencies.clone(),
        };
        let app = Router::new().fallback(forward).with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { endpoint, counts, latencies })
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
    }
}

async fn forward(State(p): State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
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
        if k != "host" && k != "content-length" {
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
                l.entry(op).or_default().push(sent.elapsed());
            }
            let mut out = (status, bytes).into_response();
            for (k, v) in &headers {
                if k != "content-length" && k != "transfer-encoding" {
                    out.headers_mut().insert(k, v.clone());
                }
            }
            out
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
