//! Helpers shared by the integration tests: an emulator per test, a Plaid-call helper, and a
//! webhook receiver that records what it gets and answers with scripted statuses.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use plaid_emulator::{Emulator, EmulatorConfig, RunningEmulator, WebhookConfig};
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "test-client-id";
pub const SECRET: &str = "test-secret";

/// Webhook delivery settings short enough for tests.
pub fn fast_webhooks() -> WebhookConfig {
    WebhookConfig {
        timeout: Duration::from_millis(500),
        retry_backoff: vec![Duration::from_millis(50), Duration::from_millis(100)],
        max_attempts: 4,
    }
}

pub fn config() -> EmulatorConfig {
    EmulatorConfig { webhooks: fast_webhooks(), ..EmulatorConfig::new(CLIENT_ID, SECRET) }
}

pub async fn emulator() -> Emu {
    Emu::start(config()).await
}

/// A running emulator plus an HTTP client.
pub struct Emu {
    pub running: RunningEmulator,
    pub http: reqwest::Client,
}

/// A Plaid answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {}: {}", self.status, self.body);
        &self.body
    }

    /// Asserts a Plaid error with this status, type and code; returns the body.
    pub fn err(&self, status: u16, error_type: &str, code: &str) -> &Value {
        assert_eq!(
            (self.status, self.body["error_type"].as_str(), self.body["error_code"].as_str()),
            (status, Some(error_type), Some(code)),
            "{}",
            self.body
        );
        assert_plaid_error_shape(&self.body);
        &self.body
    }
}

/// Every key of Plaid's error object is there, with the right types.
pub fn assert_plaid_error_shape(v: &Value) {
    let obj = v.as_object().unwrap_or_else(|| panic!("not an object: {v}"));
    for key in [
        "display_message",
        "documentation_url",
        "error_code",
        "error_message",
        "error_type",
        "request_id",
        "suggested_action",
    ] {
        assert!(obj.contains_key(key), "missing {key} in {v}");
    }
    for key in ["error_code", "error_message", "error_type", "documentation_url"] {
        assert!(v[key].is_string(), "{key} not a string in {v}");
    }
    let rid = v["request_id"].as_str().unwrap();
    assert_eq!(rid.len(), 15, "{rid}");
    assert!(rid.bytes().all(|b| b.is_ascii_alphanumeric()));
}

impl Emu {
    pub async fn start(config: EmulatorConfig) -> Self {
        let running = Emulator::spawn(config).await.expect("emulator starts");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Emu { running, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    pub fn control(&self) -> &plaid_emulator::Control {
        self.running.control()
    }

    /// POSTs `body` with credentials in the headers.
    pub async fn plaid(&self, path: &str, body: Value) -> Answer {
        let resp = self
            .http
            .post(self.url(path))
            .header("PLAID-CLIENT-ID", CLIENT_ID)
            .header("PLAID-SECRET", SECRET)
            .header("Plaid-Version", "2020-09-14")
            .json(&body)
            .send()
            .await
            .unwrap();
        Self::answer(resp).await
    }

    /// POSTs raw bytes with the given headers.
    pub async fn raw(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
        let mut req = self.http.post(self.url(path)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::answer(req.send().await.unwrap()).await
    }

    pub async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("non-JSON answer ({status}): {}", String::from_utf8_lossy(&bytes)));
        Answer { status, body }
    }

    /// GET on a control route.
    pub async fn get(&self, path: &str) -> Answer {
        Self::answer(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    /// POST on a control route.
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        Self::answer(self.http.post(self.url(path)).json(&body).send().await.unwrap()).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        Self::answer(self.http.delete(self.url(path)).send().await.unwrap()).await
    }

    /// A link token (normal mode unless `extra` says otherwise).
    pub async fn link_token(&self, extra: Value) -> String {
        let mut body = json!({
            "client_name": "weft",
            "language": "en",
            "country_codes": ["US"],
            "user": {"client_user_id": "user-1"},
            "products": ["transactions"],
        });
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        let r = self.plaid("/link/token/create", body).await;
        r.ok()["link_token"].as_str().unwrap().to_owned()
    }

    /// Creates an Item through `/sandbox/public_token/create` and exchanges it.
    /// Returns (access_token, item_id).
    pub async fn item(&self, webhook: Option<&str>) -> (String, String) {
        let mut body = json!({"institution_id": "ins_109508", "initial_products": ["transactions"]});
        if let Some(w) = webhook {
            body["options"] = json!({"webhook": w});
        }
        let pt = self.plaid("/sandbox/public_token/create", body).await;
        let pt = pt.ok()["public_token"].as_str().unwrap().to_owned();
        let ex = self.plaid("/item/public_token/exchange", json!({"public_token": pt})).await;
        let ex = ex.ok();
        (ex["access_token"].as_str().unwrap().to_owned(), ex["item_id"].as_str().unwrap().to_owned())
    }

    /// Every page of `/transactions/sync` from `cursor`; returns (added, modified, removed, cursor).
    pub async fn sync_all(
        &self,
        access_token: &str,
        cursor: Option<&str>,
        count: u32,
    ) -> (Vec<Value>, Vec<Value>, Vec<Value>, String) {
        let mut cursor = cursor.map(str::to_owned);
        let (mut added, mut modified, mut removed) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            let mut body = json!({"access_token": access_token, "count": count});
            if let Some(c) = &cursor {
                body["cursor"] = json!(c);
            }
            let r = self.plaid("/transactions/sync", body).await;
            let v = r.ok().clone();
            added.extend(v["added"].as_array().unwrap().iter().cloned());
            modified.extend(v["modified"].as_array().unwrap().iter().cloned());
            removed.extend(v["removed"].as_array().unwrap().iter().cloned());
            cursor = Some(v["next_cursor"].as_str().unwrap().to_owned());
            if !v["has_more"].as_bool().unwrap() {
                return (added, modified, removed, cursor.unwrap());
            }
        }
    }
}

/// A webhook received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    pub fn code(&self) -> String {
        self.json()["webhook_code"].as_str().unwrap_or_default().to_owned()
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Statuses to answer with, in order (then 200).
    script: VecDeque<u16>,
    /// Delay before answering.
    delay: Option<Duration>,
}

/// A local webhook receiver.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = axum::Router::new().fallback(receive).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url: format!("http://{addr}/plaid/webhook"), state }
    }

    /// Answers the next webhooks with these statuses.
    pub fn script(&self, statuses: &[u16]) {
        self.state.lock().unwrap().script.extend(statuses.iter().copied());
    }

    pub fn set_delay(&self, delay: Option<Duration>) {
        self.state.lock().unwrap().delay = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until a webhook with this code has been received `n` times.
    pub async fn wait_for(&self, code: &str, n: usize) -> Vec<Received> {
        for _ in 0..500 {
            let got: Vec<Received> = self.received().into_iter().filter(|r| r.code() == code).collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {code} webhook received ({} received in total)", self.received().len());
    }
}

async fn receive(State(state): State<Arc<Mutex<ReceiverState>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let (status, delay) = {
        let mut s = state.lock().unwrap();
        s.received.push(Received { headers, body: body.to_vec() });
        (s.script.pop_front().unwrap_or(200), s.delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    StatusCode::from_u16(status).unwrap()
}
