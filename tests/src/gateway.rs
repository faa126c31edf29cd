//! The local API Gateway: one base URL that serves the HTTP API's routes as `infra/template.yaml` declares
//! them (`POST $API/link/token`, `GET $API/items`, `POST $API/webhooks/plaid`, ...), each invoked the way the
//! deployed HTTP API invokes its Lambda integrations: an API Gateway payload-2.0 event (route key, path
//! parameters, a body that is not UTF-8 in base64) sent to the function through the Lambda Invoke API of
//! `cargo lambda watch`, its result turned back into the HTTP answer. The route table is read
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
use axum::http::{HeaderValue, StatusCode, header};
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
    let route = route.clone();
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            );
        }
    };
    let event = api_gateway_event(&route, &parts, &body);
    let url = format!("{}/2015-03-31/functions/{}/invocations", shared.config.lambda_base_url, route.function);
    let answer = shared.http.post(&url).json(&event).send().await;
    let answer = match answer {
        Ok(answer) if answer.status().is_success() => answer,
        Ok(answer) => {
            // The function failed (a panic, a timeout): API Gateway answers 500 with its own body.
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            eprintln!("gateway: function {} failed ({status}): {text}", route.function);
            return error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", format!("function {} failed", route.function));
        }
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "BAD_GATEWAY",
                format!("function {} did not answer: {}", route.function, weft::telemetry::chain(&e)),
            );
        }
    };
    match answer.json::<serde_json::Value>().await {
        Ok(result) => http_response(&result).unwrap_or_else(|why| {
            error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", format!("function {}: {why}", route.function))
        }),
        Err(e) => error(
            StatusCode::BAD_GATEWAY,
            "BAD_GATEWAY",
            format!("function {} answered no JSON: {}", route.function, weft::telemetry::chain(&e)),
        ),
    }
}

/// The request as API Gateway's HTTP API hands it to a Lambda integration (payload format 2.0): the route
/// key, path parameters, headers (names lowercased; repeated ones joined with commas), cookies apart, and the
/// body as text, or base64 when it is not UTF-8 (`isBase64Encoded`).
fn api_gateway_event(route: &Route, parts: &axum::http::request::Parts, body: &[u8]) -> serde_json::Value {
    use base64::Engine as _;
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == header::COOKIE {
            cookies.extend(value.split(';').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(serde_json::Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), value.into());
            }
        }
    }
    let mut query_params = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match query_params.get_mut(k.as_ref()) {
            Some(serde_json::Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query_params.insert(k.into_owned(), v.into_owned().into());
            }
        }
    }
    let mut path_params = serde_json::Map::new();
    for (t, s) in route.path.trim_start_matches('/').split('/').zip(path.trim_start_matches('/').split('/')) {
        if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            let decoded = url::form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            path_params.insert(name.to_owned(), decoded.into());
        }
    }
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = time::OffsetDateTime::now_utc();
    let route_key = format!("{} {}", route.method, route.path);
    let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut event = serde_json::json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost"),
            "domainPrefix": "local",
            "http": {
                "method": route.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": user_agent,
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(&time::format_description::well_known::Rfc2822).unwrap_or_default(),
            "timeEpoch": now.unix_timestamp() * 1000 + i64::from(now.millisecond()),
        },
        "isBase64Encoded": is_base64,
    });
    if !body.is_empty() {
        event["body"] = body.into();
    }
    if !cookies.is_empty() {
        event["cookies"] = cookies.into();
    }
    if !query_params.is_empty() {
        event["queryStringParameters"] = query_params.into();
    }
    if !path_params.is_empty() {
        event["pathParameters"] = path_params.into();
    }
    event
}

/// The HTTP answer for a function's payload-2.0 result (`statusCode`, `headers`, `cookies`, `body`,
/// `isBase64Encoded`).
fn http_response(result: &serde_json::Value) -> Result<Response, String> {
    use base64::Engine as _;
    let status = result["statusCode"].as_u64().ok_or("its result has no statusCode")?;
    let status = u16::try_from(status).ok().and_then(|s| StatusCode::from_u16(s).ok()).ok_or("bad statusCode")?;
    let text = result["body"].as_str().unwrap_or_default();
    let body = if result["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("its base64 body: {e}"))?
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in result["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) =
            (header::HeaderName::from_bytes(name.as_bytes()), value.as_str().map(HeaderValue::from_str))
            && !hop_by_hop(&name)
            && name != header::CONTENT_LENGTH
        {
            headers.append(name, value);
        }
    }
    for cookie in result["cookies"].as_array().into_iter().flatten() {
        if let Some(Ok(value)) = cookie.as_str().map(HeaderValue::from_str) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
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
