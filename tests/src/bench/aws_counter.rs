//! A counting proxy in front of an AWS endpoint (moto): every request is forwarded unchanged and tallied
//! by operation (`X-Amz-Target`, e.g. `DynamoDB_20120810.PutItem`, `TrentService.GenerateDataKey`,
//! `secretsmanager.GetSecretValue`; SQS's query protocol by its `Action`; anything else by method and path,
//! e.g. `POST /link/token/create` in front of the Plaid emulator). SigV4 signs the host the client sees, and
//! moto does not check signatures, so forwarding needs no re-signing.
//!
//! Every call is also timed as the caller sees it, from the moment its first bytes are read off the
//! connection to the moment the answer's last bytes are written back ([`Span`]), on this process's clock:
//! the proxy's own hop (reading and parsing the request, writing the answer) is the call's, as a
//! service's front end is in AWS. A benchmark subtracts the spans from a request's time to get the
//! caller's own share.

use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

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
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let listener = TimedListener(listener);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<Connection>()).await;
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

async fn forward(
    State(p): State<Proxy>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // When the request's first bytes were read (hyper has parsed it and axum collected its body since).
    let arrived = connection.request_started().unwrap_or_else(Instant::now);
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
            // The span is recorded now and ends when the answer's last bytes are written.
            connection.answering(&p.spans, Span { op, start: arrived, end: Instant::now() });
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

/// One connection's timing: when its current request's first bytes were read, and the span of the call it
/// is answering (extended to each write of the answer). HTTP/1.1 without pipelining: one request at a time.
#[derive(Clone, Default)]
struct Connection(Arc<Mutex<ConnectionState>>);

#[derive(Default)]
struct ConnectionState {
    /// When the request being read or handled started arriving.
    request_start: Option<Instant>,
    /// The answer being written: where its span is in the proxy's list, and when it started (the list may
    /// have been reset since, and that place taken by another call's span).
    answering: Option<(Spans, usize, Instant)>,
}

impl Connection {
    fn state(&self) -> std::sync::MutexGuard<'_, ConnectionState> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn request_started(&self) -> Option<Instant> {
        self.state().request_start
    }

    /// Records `span`; each write of the answer from now on moves its end.
    fn answering(&self, spans: &Spans, span: Span) {
        let start = span.start;
        let at = {
            let Ok(mut list) = spans.lock() else { return };
            list.push(span);
            list.len() - 1
        };
        self.state().answering = Some((spans.clone(), at, start));
    }

    /// Bytes were read: the first of a request starts it (and ends the answer before it).
    fn read(&self) {
        let mut state = self.state();
        if state.request_start.is_none() || state.answering.is_some() {
            state.request_start = Some(Instant::now());
            state.answering = None;
        }
    }

    /// Bytes of an answer were written: its span ends now (so far).
    fn wrote(&self) {
        let Some((spans, at, start)) = self.state().answering.clone() else { return };
        if let Ok(mut list) = spans.lock()
            && let Some(span) = list.get_mut(at)
            && span.start == start
        {
            span.end = Instant::now();
        }
    }
}

impl Connected<IncomingStream<'_, TimedListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, TimedListener>) -> Self {
        stream.io().connection.clone()
    }
}

/// The proxy's listener: each connection timed ([`Timed`]).
struct TimedListener(TcpListener);

impl Listener for TimedListener {
    type Io = Timed;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        (Timed { stream, connection: Connection::default() }, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection that tells its [`Connection`] when bytes are read and written.
struct Timed {
    stream: TcpStream,
    connection: Connection,
}

impl AsyncRead for Timed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.connection.read();
        }
        polled
    }
}

impl AsyncWrite for Timed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.connection.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.connection.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
