//! A minimal Lambda Runtime API (the HTTP interface a function's runtime polls for events), enough to
//! run one function process, feed it events one at a time and time it.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc, oneshot};

struct Pending {
    id: String,
    body: Vec<u8>,
    reply: oneshot::Sender<(Vec<u8>, bool)>,
}

/// Where a function's answer to one event goes: its body, and whether it was an error.
type Reply = oneshot::Sender<(Vec<u8>, bool)>;

struct Shared {
    queue: Mutex<mpsc::Receiver<Pending>>,
    waiting: Mutex<std::collections::HashMap<String, Reply>>,
    first_next: Mutex<Option<Instant>>,
}

/// A runtime API on a loopback port.
pub struct RuntimeApi {
    pub addr: std::net::SocketAddr,
    sender: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
}

/// One event's result.
#[derive(Debug)]
pub struct Invocation {
    pub body: Vec<u8>,
    pub is_error: bool,
    /// When the event was handed over (this process's clock, as the counting proxies' call times).
    pub started: Instant,
    pub elapsed: Duration,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel(16);
        let shared = Arc::new(Shared {
            queue: Mutex::new(receiver),
            waiting: Mutex::new(Default::default()),
            first_next: Mutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, sender, shared })
    }

    /// When the function first asked for an event (it had finished its init).
    pub async fn first_next(&self) -> Option<Instant> {
        *self.shared.first_next.lock().await
    }

    /// Sends one event and waits for the function's answer.
    pub async fn invoke(&self, event: &serde_json::Value) -> Result<Invocation, String> {
        let (tx, rx) = oneshot::channel();
        let id = uuid::Uuid::new_v4().to_string();
        let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let start = Instant::now();
        self.sender.send(Pending { id, body, reply: tx }).await.map_err(|e| e.to_string())?;
        let (body, is_error) = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .map_err(|_| "function did not answer within 60 s".to_owned())?
            .map_err(|e| e.to_string())?;
        Ok(Invocation { body, is_error, started: start, elapsed: start.elapsed() })
    }
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    {
        let mut first = s.first_next.lock().await;
        if first.is_none() {
            *first = Some(Instant::now());
        }
    }
    let pending = { s.queue.lock().await.recv().await };
    let Some(p) = pending else {
        return StatusCode::GONE.into_response();
    };
    s.waiting.lock().await.insert(p.id.clone(), p.reply);
    let mut headers = HeaderMap::new();
    let deadline = (time::OffsetDateTime::now_utc().unix_timestamp() + 300) * 1000;
    for (k, v) in [
        ("lambda-runtime-aws-request-id", p.id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:bench".into()),
        ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000".into()),
        ("content-type", "application/json".into()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    }
    (StatusCode::OK, headers, p.body).into_response()
}

async fn finish(s: &Shared, id: &str, body: Vec<u8>, is_error: bool) -> StatusCode {
    if let Some(tx) = s.waiting.lock().await.remove(id) {
        let _ = tx.send((body, is_error));
    }
    StatusCode::ACCEPTED
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: axum::body::Bytes) -> StatusCode {
    finish(&s, &id, body.to_vec(), false).await
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: axum::body::Bytes) -> StatusCode {
    finish(&s, &id, body.to_vec(), true).await
}

async fn init_error(body: axum::body::Bytes) -> StatusCode {
    eprintln!("function init error: {}", String::from_utf8_lossy(&body));
    StatusCode::ACCEPTED
}
