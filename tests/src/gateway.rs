//! The local API Gateway: one base URL that serves the HTTP API's routes as `infra/template.yaml` declares
//! them (`POST $API/link/token`, `GET $API/items`, `POST $API/webhooks/plaid`, ...), each proxied to its
//! function under `cargo lambda watch`, the way the deployed HTTP API invokes them. The route table is read
//! from the template itself (`HttpApi`'s `DefinitionBody.paths`, the function named by each integration's
//! URI), so the local routes cannot drift from the deployed ones.
//!
//! Besides the API, for people and tools working locally (not part of the deployed API):
//! - `GET /openapi.json`: the app API's OpenAPI document (`docs/openapi.json`);
//! - `GET /app/...`: the reference web app (`webapp/`), with a generated `/app/config.js` pointing it at this
//!   stack (this API, the emulator's Link script, the dev issuer).
//!
//! A request no route matches gets the project's JSON error (404 `NOT_FOUND`), as the functions answer one.
//! Authorization is the functions' own check (they verify every bearer token themselves, as they do behind
//! API Gateway's JWT authorizer); the gateway passes the `Authorization` header through untouched.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower_http::services::ServeDir;

/// The most a request body may hold (API Gateway's HTTP API payload limit is 10 MB).
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// One route of the HTTP API: a method and a path template, served by a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    /// The path template, e.g. `/items/{item_id}/transactions`.
    pub path: String,
    /// The function's name in the workspace (`functions/<name>`), e.g. `items`.
    pub function: String,
}

impl Route {
    /// How specifically this route matches `segments` (more literal segments first, as API Gateway picks
    /// the most specific route), or `None` when it does not match.
    fn score(&self, segments: &[&str]) -> Option<usize> {
        let template: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        if template.len() != segments.len() {
            return None;
        }
        let mut literal = 0;
        for (t, s) in template.iter().zip(segments) {
            if t.starts_with('{') && t.ends_with('}') {
                if s.is_empty() {
                    return None;
                }
            } else if t == s {
                literal += 1;
            } else {
                return None;
            }
        }
        Some(literal)
    }
}

/// Why the template's routes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("could not read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the template is not YAML: {0}")]
    Yaml(#[from] yaml_rust2::ScanError),
    #[error("the template has no Resources.HttpApi.Properties.DefinitionBody.paths")]
    NoPaths,
    #[error(
        "route {method} {path}: its integration URI names no function (`function:weft-${{Stage}}-<name>/invocations`)"
    )]
    NoFunction { method: String, path: String },
}

/// The HTTP API's routes declared in the SAM template at `template`.
pub fn routes_from_template(template: &Path) -> Result<Vec<Route>, RoutesError> {
    let text =
        std::fs::read_to_string(template).map_err(|source| RoutesError::Read { path: template.into(), source })?;
    parse_routes(&text)
}

fn parse_routes(text: &str) -> Result<Vec<Route>, RoutesError> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text)?;
    let doc = docs.first().ok_or(RoutesError::NoPaths)?;
    let paths =
        doc["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]["paths"].as_hash().ok_or(RoutesError::NoPaths)?;
    let mut routes = Vec::new();
    for (path, operations) in paths {
        let (Some(path), Some(operations)) = (path.as_str(), operations.as_hash()) else { continue };
        for (method, operation) in operations {
            let Some(method) = method.as_str() else { continue };
            let method = method.to_ascii_uppercase();
            let uri = operation["x-amazon-apigateway-integration"]["uri"].as_str().unwrap_or_default();
            let function = uri
                .split_once(":function:weft-${Stage}-")
                .and_then(|(_, rest)| rest.split_once("/invocations"))
                .map(|(name, _)| name.to_owned())
                .filter(|name| !name.is_empty())
                .ok_or_else(|| RoutesError::NoFunction { method: method.clone(), path: path.to_owned() })?;
            routes.push(Route { method, path: path.to_owned(), function });
        }
    }
    Ok(routes)
}

/// The route serving `method` on `path`, if any (the most specific one).
pub fn find_route<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<&'a Route> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    routes
        .iter()
        .filter(|r| r.method == method)
        .filter_map(|r| r.score(&segments).map(|score| (score, r)))
        .max_by_key(|(score, _)| *score)
        .map(|(_, r)| r)
}

/// Where the gateway sends requests and what it serves besides them.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub routes: Vec<Route>,
    /// The base URL of `cargo lambda watch` (each function at `<base>/lambda-url/<function>`).
    pub lambda_base_url: String,
    /// `window.WEFT_CONFIG` for the reference web app (`/app/config.js`).
    pub app_config: serde_json::Value,
    /// The web app's files (`webapp/`).
    pub app_dir: PathBuf,
    /// The OpenAPI document (`docs/openapi.json`).
    pub openapi_file: PathBuf,
}

struct Shared {
    config: GatewayConfig,
    http: reqwest::Client,
}

/// A running gateway.
pub struct Gateway {
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gateway {
    /// Serves `config` on `addr` (port 0: any free port).
    pub async fn spawn(addr: SocketAddr, config: GatewayConfig) -> Result<Self, String> {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("gateway: cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let app_dir = config.app_dir.clone();
        let shared = Arc::new(Shared { config, http: crate::http::client() });
        let router = Router::new()
            .route("/openapi.json", get(openapi))
            .route("/app/config.js", get(app_config))
            .nest_service("/app", ServeDir::new(app_dir).append_index_html_on_directories(true))
            .fallback(proxy)
            .with_state(shared);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("gateway stopped: {e}");
            }
        });
        Ok(Self { base_url: format!("http://{local}"), task })
    }
}

/// The project's error shape (as the functions answer it).
fn error(status: StatusCode, code: &str, message: String) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message, "request_id": uuid::Uuid::new_v4().to_string() } });
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response()
}

async fn openapi(State(shared): State<Arc<Shared>>) -> Response {
    match tokio::fs::read(&shared.config.openapi_file).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response(),
        Err(e) => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{} could not be read: {e}", shared.config.openapi_file.display()),
        ),
    }
}

async fn app_config(State(shared): State<Arc<Shared>>) -> Response {
    let script = format!("window.WEFT_CONFIG = {};\n", shared.config.app_config);
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"))], script).into_response()
}

/// Headers that belong to one connection, not to the request or response (RFC 9110 §7.6.1).
fn hop_by_hop(name: &header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "te" | "trailer" | "transfer-encoding" | "upgrade" | "host"
    )
}

async fn proxy(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let Some(route) = find_route(&shared.config.routes, method.as_str(), &path) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no route for {method} {path}"));
    };
    let mut url = format!("{}/lambda-url/{}{}", shared.config.lambda_base_url, route.function, path);
    if let Some(query) = req.uri().query() {
        url.push('?');
        url.push_str(query);
    }
    let mut headers = HeaderMap::new();
    for (name, value) in req.headers() {
        if !hop_by_hop(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            );
        }
    };
    let method = Method::from_bytes(method.as_str().as_bytes()).unwrap_or(Method::GET);
    let answer = shared.http.request(method, &url).headers(headers).body(body).send().await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "BAD_GATEWAY",
                format!("function {} did not answer: {}", route.function, weft::telemetry::chain(&e)),
            );
        }
    };
    let status = answer.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !hop_by_hop(name) && name != header::CONTENT_LENGTH {
            out_headers.append(name.clone(), value.clone());
        }
    }
    match answer.bytes().await {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            *response.headers_mut() = out_headers;
            response
        }
        Err(e) => error(
            StatusCode::BAD_GATEWAY,
            "BAD_GATEWAY",
            format!("function {} broke off its answer: {}", route.function, weft::telemetry::chain(&e)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<Route> {
        routes_from_template(&crate::procs::repo_root().join("infra/template.yaml")).expect("template routes")
    }

    #[test]
    fn the_template_routes_name_existing_functions() {
        let routes = routes();
        assert!(routes.len() >= 10, "{routes:?}");
        for route in &routes {
            let dir = crate::procs::repo_root().join("functions").join(&route.function);
            assert!(
                dir.is_dir(),
                "{} {} names function {}, not in functions/",
                route.method,
                route.path,
                route.function
            );
        }
        let items = find_route(&routes, "GET", "/items").expect("GET /items");
        assert_eq!(items.function, "items");
        let exchange = find_route(&routes, "POST", "/items/exchange").expect("POST /items/exchange");
        assert_eq!(exchange.function, "exchange");
        let webhook = find_route(&routes, "POST", "/webhooks/plaid").expect("POST /webhooks/plaid");
        assert_eq!(webhook.function, "webhook");
        let link = find_route(&routes, "POST", "/link/token").expect("POST /link/token");
        assert_eq!(link.function, "link-token");
    }

    #[test]
    fn the_most_specific_route_wins_and_unknown_ones_match_nothing() {
        let routes = routes();
        let me = find_route(&routes, "DELETE", "/users/me").expect("DELETE /users/me");
        assert_eq!(me.path, "/users/me");
        let other = find_route(&routes, "DELETE", "/users/u-42").expect("DELETE /users/{user_id}");
        assert_eq!(other.path, "/users/{user_id}");
        assert_eq!(
            find_route(&routes, "GET", "/items/abc/transactions").map(|r| r.path.as_str()),
            Some("/items/{item_id}/transactions")
        );
        assert!(find_route(&routes, "GET", "/nope").is_none());
        assert!(find_route(&routes, "PUT", "/items").is_none(), "wrong method");
        assert!(find_route(&routes, "DELETE", "/items/").is_none(), "empty parameter");
        assert!(find_route(&routes, "GET", "/items/a/b/c").is_none());
    }

    #[test]
    fn a_route_without_a_function_is_an_error() {
        let text = "Resources:\n  HttpApi:\n    Properties:\n      DefinitionBody:\n        paths:\n          /x:\n            get:\n              x-amazon-apigateway-integration:\n                uri: nothing\n";
        assert!(matches!(parse_routes(text), Err(RoutesError::NoFunction { .. })));
        assert!(matches!(parse_routes("a: 1\n"), Err(RoutesError::NoPaths)));
    }
}
