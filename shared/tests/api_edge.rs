//! The edge on the doubles: API Gateway requests through each function's handler, with real bearer-token
//! checks. JSON routes refuse bodies not sent as JSON (415, nothing done); operator routes refuse users
//! (403); limits answer 429 with `Retry-After`; every error has the error shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::{Body, Request, Response};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use std::sync::Arc;
use weft::api::App;
use weft::auth::{AuthVerifier, WebhookVerifier};
use weft::doubles::TestServices;
use weft::ports::{Jwk, JwksError, JwksSource};

const KID: &str = "edge-key";

struct Issuer {
    key: SigningKey,
}

#[async_trait::async_trait]
impl JwksSource for Issuer {
    async fn fetch(&self) -> Result<Vec<Jwk>, JwksError> {
        let p = self.key.verifying_key().to_encoded_point(false);
        Ok(vec![Jwk {
            kty: "EC".into(),
            kid: Some(KID.into()),
            alg: Some("ES256".into()),
            key_use: Some("sig".into()),
            crv: Some("P-256".into()),
            x: Some(URL_SAFE_NO_PAD.encode(p.x().unwrap())),
            y: Some(URL_SAFE_NO_PAD.encode(p.y().unwrap())),
            ..Default::default()
        }])
    }
}

struct Edge {
    t: TestServices,
    app: App,
    key: SigningKey,
}

fn edge(env: &[(&str, &str)]) -> Edge {
    let t = TestServices::with_env(env);
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let users = AuthVerifier::new(t.services.config.auth.clone(), Arc::new(Issuer { key: key.clone() }))
        .with_clock(t.clock.clone());
    let webhooks = WebhookVerifier::from_plaid(t.plaid.clone());
    let app = App { services: rebuild(&t, env), users, webhooks };
    Edge { t, app, key }
}

/// Services over `t`'s doubles (the handle's own `services` stays with the handle).
fn rebuild(t: &TestServices, env: &[(&str, &str)]) -> weft::services::Services {
    weft::services::Services::new(
        TestServices::config(env),
        weft::services::Ports {
            plaid: t.plaid.clone(),
            store: t.store.clone(),
            vault: t.vault.clone(),
            queue: t.queue.clone(),
            continuation: t.continuation.clone(),
            clock: t.clock.clone(),
            audit: t.store.clone(),
            bus: t.bus.clone(),
        },
    )
}

impl Edge {
    fn token(&self, sub: &str, groups: &[&str]) -> String {
        let now = self.t.now().unix_timestamp();
        let mut claims =
            json!({"iss": "https://issuer.example", "aud": "app", "sub": sub, "iat": now, "exp": now + 600});
        if !groups.is_empty() {
            claims["cognito:groups"] = json!(groups);
        }
        let header = json!({"alg": "ES256", "kid": KID, "typ": "JWT"});
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }
}

fn request(method: &str, path: &str, token: &str, content_type: Option<&str>, body: &str) -> Request {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("https://api.example{path}"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

fn json_of(resp: &Response<Body>) -> Value {
    match resp.body() {
        Body::Text(s) => serde_json::from_str(s).unwrap(),
        Body::Binary(b) => serde_json::from_slice(b).unwrap(),
        Body::Empty => Value::Null,
        _ => Value::Null,
    }
}

fn assert_error(resp: &Response<Body>, status: u16, code: &str) {
    assert_eq!(resp.status().as_u16(), status, "{:?}", json_of(resp));
    let body = json_of(resp);
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["error"]["request_id"].as_str().is_some(), "{body}");
    assert_eq!(resp.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn json_routes_refuse_bodies_not_sent_as_json_and_do_nothing() {
    let e = edge(&[]);
    let token = e.token("alice", &[]);
    let routes: [(&str, &str, &str); 3] = [
        ("link-token", "/link/token", r#"{}"#),
        (
            "exchange",
            "/items/exchange",
            r#"{"public_token": "public-sandbox-x", "metadata": {"institution": {"institution_id": "ins_1", "name": "B"}, "accounts": []}}"#,
        ),
        ("items", "/link/events", r#"{"events": [{"kind": "EVENT", "event_name": "OPEN", "link_session_id": "s1"}]}"#),
    ];
    for (function, path, body) in routes {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let req = request("POST", path, &token, content_type, body);
            let resp = match function {
                "link-token" => weft::api::link_token::handle(&e.app, req).await,
                "exchange" => weft::api::exchange::handle(&e.app, req).await,
                _ => weft::api::items::handle(&e.app, req).await,
            };
            assert_error(&resp, 415, "UNSUPPORTED_MEDIA_TYPE");
        }
        // JSON, with parameters or a +json type, goes through to the route.
        for content_type in ["application/json; charset=utf-8", "application/vnd.weft+json"] {
            let req = request("POST", path, &token, Some(content_type), body);
            let resp = match function {
                "link-token" => weft::api::link_token::handle(&e.app, req).await,
                "exchange" => weft::api::exchange::handle(&e.app, req).await,
                _ => weft::api::items::handle(&e.app, req).await,
            };
            assert_ne!(resp.status().as_u16(), 415, "{path} {content_type}: {:?}", json_of(&resp));
        }
    }
    // Only the two JSON requests per route did anything.
    assert_eq!(e.t.plaid.calls("/link/token/create"), 2);
    assert_eq!(e.t.store.item_count(), 0);
}

#[tokio::test]
async fn json_bodies_must_be_objects_and_a_non_object_does_nothing() {
    let e = edge(&[]);
    let token = e.token("erin", &[]);
    let operator = e.token("olga", &["weft-operators"]);
    // serde would take a struct from an array of its fields: `[null, null]` must not start a token rotation.
    for body in ["[null, null]", "[]", "null", "1", "\"x\"", "true"] {
        let link = request("POST", "/link/token", &token, Some("application/json"), body);
        assert_error(&weft::api::link_token::handle(&e.app, link).await, 400, "INVALID_REQUEST");
        let events = request("POST", "/link/events", &token, Some("application/json"), body);
        assert_error(&weft::api::items::handle(&e.app, events).await, 400, "INVALID_REQUEST");
        let rotation = request("POST", "/operator/token-rotations", &operator, Some("application/json"), body);
        let answer = weft::api::items::handle(&e.app, rotation).await;
        assert_error(&answer, 400, "INVALID_REQUEST");
        assert_eq!(json_of(&answer)["error"]["message"], "the JSON body must be an object", "{body}");
    }
    assert_eq!(e.t.plaid.calls("/link/token/create"), 0);
}

#[tokio::test]
async fn the_conversion_report_is_for_operators() {
    let e = edge(&[]);
    let path = "/link/conversion";
    let user = weft::api::items::handle(&e.app, request("GET", path, &e.token("bob", &[]), None, "")).await;
    assert_error(&user, 403, "FORBIDDEN");
    let other_group =
        weft::api::items::handle(&e.app, request("GET", path, &e.token("bob", &["admins"]), None, "")).await;
    assert_error(&other_group, 403, "FORBIDDEN");
    let operator =
        weft::api::items::handle(&e.app, request("GET", path, &e.token("olga", &["weft-operators"]), None, "")).await;
    assert_eq!(operator.status().as_u16(), 200, "{:?}", json_of(&operator));
    assert_eq!(json_of(&operator)["sessions"], 0);
}

#[tokio::test]
async fn a_limit_is_a_429_with_retry_after() {
    let e = edge(&[("WEFT_LIMIT_LINK_TOKENS_PER_HOUR", "1")]);
    let token = e.token("carl", &[]);
    let first =
        weft::api::link_token::handle(&e.app, request("POST", "/link/token", &token, Some("application/json"), "{}"))
            .await;
    assert_eq!(first.status().as_u16(), 200, "{:?}", json_of(&first));
    let second =
        weft::api::link_token::handle(&e.app, request("POST", "/link/token", &token, Some("application/json"), "{}"))
            .await;
    assert_error(&second, 429, "RATE_LIMITED");
    assert_eq!(json_of(&second)["error"]["limit"], "link_tokens");
    // The test clock stands at 06:00: the hour's window ends in 3,600 s.
    assert_eq!(second.headers()["retry-after"], "3600");
}

#[tokio::test]
async fn no_token_unknown_route_and_wrong_method_have_the_error_shape() {
    let e = edge(&[]);
    let no_token = http::Request::builder().method("GET").uri("https://api.example/items").body(Body::Empty).unwrap();
    assert_error(&weft::api::items::handle(&e.app, no_token).await, 401, "UNAUTHENTICATED");
    let token = e.token("dan", &[]);
    assert_error(
        &weft::api::items::handle(&e.app, request("GET", "/nowhere", &token, None, "")).await,
        404,
        "NOT_FOUND",
    );
    assert_error(
        &weft::api::link_token::handle(&e.app, request("PUT", "/link/token", &token, Some("application/json"), "{}"))
            .await,
        404,
        "NOT_FOUND",
    );
}

/// A dependency that never answers: the request still answers, with the error shape, before its deadline
/// (no Lambda context here: the default 29 s budget, on tokio's paused clock).
#[tokio::test(start_paused = true)]
async fn a_request_whose_work_hangs_answers_503_by_its_deadline() {
    let e = edge(&[]);
    let token = e.token("alice", &[]);
    let _held = e.t.store.pause_next("list_items");
    let started = tokio::time::Instant::now();
    let resp = weft::api::items::handle(&e.app, request("GET", "/items", &token, None, "")).await;
    assert_error(&resp, 503, "UPSTREAM_UNAVAILABLE");
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(30), "answered by the deadline: {waited:?}");
}
