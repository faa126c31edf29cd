//! A client for the Plaid emulator's control routes (`/__emulator/...`), over HTTP so it works from any
//! runtime or process. See `emulator/README.md` for every route.

use serde_json::{Value, json};

#[derive(Clone)]
pub struct EmulatorControl {
    base: String,
    http: reqwest::Client,
}

impl EmulatorControl {
    pub fn new(base_url: &str) -> Self {
        Self { base: base_url.trim_end_matches('/').to_owned(), http: crate::http::client() }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}/__emulator/{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = crate::http::send(req).await.map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{method} {url}: {status} {value}"));
        }
        Ok(value)
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, String> {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Completes a Link session for `link_token` as a user would; returns Link's outcome
    /// (`status`, `public_token`, `metadata`, `events`, `exit`).
    pub async fn complete_link(
        &self,
        link_token: &str,
        institution_id: &str,
        username: &str,
        password: &str,
    ) -> Result<Value, String> {
        self.post(
            "link/complete",
            json!({ "link_token": link_token, "institution_id": institution_id, "username": username, "password": password }),
        )
        .await
    }

    /// Arms a fault: the next `count` calls of `endpoint` answer `kind` (`internal_server_error`,
    /// `planned_maintenance`, `rate_limit`, `stall`, `error`).
    pub async fn fault(&self, spec: Value) -> Result<Value, String> {
        self.post("faults", spec).await
    }

    /// Calls per Plaid endpoint so far.
    pub async fn calls(&self) -> Result<Value, String> {
        self.get("calls").await
    }

    pub async fn advance_clock(&self, seconds: i64) -> Result<Value, String> {
        self.post("clock/advance", json!({ "seconds": seconds })).await
    }

    /// Changes an item's transactions (add / modify / remove / post_pending / generate).
    pub async fn mutate_transactions(&self, item_id: &str, mutation: Value) -> Result<Value, String> {
        self.post(&format!("items/{item_id}/transactions"), mutation).await
    }

    /// Puts an item in a condition (`ITEM_LOGIN_REQUIRED`, `NEW_ACCOUNTS_AVAILABLE`, ...).
    pub async fn condition(&self, item_id: &str, body: Value) -> Result<Value, String> {
        self.post(&format!("items/{item_id}/condition"), body).await
    }

    pub async fn item(&self, item_id: &str) -> Result<Value, String> {
        self.get(&format!("items/{item_id}")).await
    }

    /// The webhook delivery log.
    pub async fn deliveries(&self) -> Result<Value, String> {
        self.get("webhooks").await
    }
}
