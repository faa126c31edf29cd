//! An app calling weft's API the way a real one would: bearer token, JSON, status codes.

use crate::stack::LocalStack;
use serde_json::Value;

pub struct AppClient {
    api: String,
    pub token: String,
    http: reqwest::Client,
}

/// A response: status and JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Answer {
    /// The stable error code, for error answers.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl AppClient {
    /// A client signed in as `user`.
    pub fn new(stack: &LocalStack, user: &str) -> Self {
        Self::with_token(stack, stack.token(user))
    }

    pub fn with_token(stack: &LocalStack, token: String) -> Self {
        Self { api: stack.gateway.base_url.clone(), token, http: crate::http::client() }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        self.raw(method, path, body.map(|b| b.to_string().into_bytes()), true).await
    }

    /// A request with a raw body, with or without the bearer token.
    pub async fn raw(&self, method: &str, path: &str, body: Option<Vec<u8>>, auth: bool) -> Answer {
        let url = format!("{}{path}", self.api);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, &url).header("content-type", "application/json");
        if auth {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        match crate::http::send(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                Answer { status, body, text }
            }
            Err(e) => Answer { status: 0, body: Value::Null, text: e },
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call("POST", path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call("DELETE", path, None).await
    }
}
