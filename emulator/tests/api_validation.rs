//! Plaid's request rules: credentials, unknown / missing / wrongly typed fields, bodies that are
//! not JSON, unknown paths; every non-2xx answer is Plaid's error object.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{CLIENT_ID, SECRET, assert_plaid_error_shape, emulator};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[tokio::test]
async fn credentials_by_header_any_case_or_body() {
    let emu = emulator().await;
    let body = json!({"institution_id": "ins_109508", "country_codes": ["US"]});
    // Headers, lower case.
    let r = emu
        .raw(
            "/institutions/get_by_id",
            &[JSON, ("plaid-client-id", CLIENT_ID), ("plaid-secret", SECRET)],
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.ok()["institution"]["name"], "First Platypus Bank");
    // Body fields.
    let mut with_creds = body.clone();
    with_creds["client_id"] = json!(CLIENT_ID);
    with_creds["secret"] = json!(SECRET);
    let r = emu.raw("/institutions/get_by_id", &[JSON], with_creds.to_string().into_bytes()).await;
    r.ok();
    // Missing.
    let r = emu.raw("/institutions/get_by_id", &[JSON], body.to_string().into_bytes()).await;
    r.err(400, "INVALID_INPUT", "INVALID_API_KEYS");
    // Wrong secret.
    let r = emu
        .raw(
            "/institutions/get_by_id",
            &[JSON, ("PLAID-CLIENT-ID", CLIENT_ID), ("PLAID-SECRET", "nope")],
            body.to_string().into_bytes(),
        )
        .await;
    let e = r.err(400, "INVALID_INPUT", "INVALID_API_KEYS");
    assert_eq!(e["error_message"], "invalid client_id or secret provided");
    assert_eq!(e["display_message"], Value::Null);
    assert_eq!(e["suggested_action"], Value::Null);
}

#[tokio::test]
async fn unknown_fields_are_listed_with_dotted_paths() {
    let emu = emulator().await;
    let r = emu
        .plaid(
            "/transactions/sync",
            json!({"access_token": "access-sandbox-x", "bogus": 1, "options": {"include_personal_finance_category": true, "nope": {"deep": 1}}}),
        )
        .await;
    let e = r.err(400, "INVALID_REQUEST", "UNKNOWN_FIELDS");
    assert_eq!(e["error_message"], "the following fields are not recognized by this endpoint: bogus, options.nope");
    // Nested objects inside arrays-of-objects and deeper objects are checked too.
    let r = emu
        .plaid(
            "/link/token/create",
            json!({"client_name": "a", "language": "en", "country_codes": ["US"],
                   "user": {"client_user_id": "u", "shoe_size": 44},
                   "products": ["transactions"],
                   "account_filters": {"depository": {"account_subtypes": ["checking"], "colour": "red"}}}),
        )
        .await;
    let e = r.err(400, "INVALID_REQUEST", "UNKNOWN_FIELDS");
    assert_eq!(
        e["error_message"],
        "the following fields are not recognized by this endpoint: account_filters.depository.colour, user.shoe_size"
    );
}

#[tokio::test]
async fn every_spec_field_is_accepted() {
    let emu = emulator().await;
    // Fields the emulator does not act on but the spec defines must not be rejected.
    let r = emu
        .plaid(
            "/link/token/create",
            json!({"client_name": "a", "language": "en", "country_codes": ["US"],
                   "user": {"client_user_id": "u", "email_address": "a@b.c", "phone_number": "+14155550123"},
                   "products": ["transactions"], "optional_products": ["auth"],
                   "transactions": {"days_requested": 90},
                   "link_customization_name": "default", "android_package_name": "com.example",
                   "update": {"account_selection_enabled": false},
                   "webhook": "https://example.com/hook"}),
        )
        .await;
    r.ok();
}

#[tokio::test]
async fn missing_fields() {
    let emu = emulator().await;
    let r = emu.plaid("/link/token/create", json!({"language": "en"})).await;
    let e = r.err(400, "INVALID_REQUEST", "MISSING_FIELDS");
    assert_eq!(e["error_message"], "the following required fields are missing: client_name, country_codes");
    let r = emu
        .plaid(
            "/link/token/create",
            json!({"client_name": "a", "language": "en", "country_codes": ["US"], "products": ["transactions"]}),
        )
        .await;
    let e = r.err(400, "INVALID_REQUEST", "MISSING_FIELDS");
    assert_eq!(e["error_message"], "the following required fields are missing: user");
    let r = emu
        .plaid("/link/token/create", json!({"client_name": "a", "language": "en", "country_codes": ["US"], "user": {}}))
        .await;
    let e = r.err(400, "INVALID_REQUEST", "MISSING_FIELDS");
    assert_eq!(e["error_message"], "the following required fields are missing: user.client_user_id");
    let r = emu
        .plaid(
            "/link/token/create",
            json!({"client_name": "a", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"}}),
        )
        .await;
    let e = r.err(400, "INVALID_REQUEST", "MISSING_FIELDS");
    assert_eq!(e["error_message"], "the following required fields are missing: products");
    let r = emu.plaid("/item/get", json!({})).await;
    r.err(400, "INVALID_REQUEST", "MISSING_FIELDS");
}

#[tokio::test]
async fn wrong_types_and_values_are_invalid_field() {
    let emu = emulator().await;
    let (token, _) = emu.item(None).await;
    for (body, message) in [
        (json!({"access_token": token, "count": "10"}), "count must be an integer between 1 and 500"),
        (json!({"access_token": token, "count": 0}), "count must be an integer between 1 and 500"),
        (json!({"access_token": token, "count": 501}), "count must be an integer between 1 and 500"),
        (json!({"access_token": token, "count": 1.5}), "count must be an integer between 1 and 500"),
        (json!({"access_token": 12}), "access_token must be a string"),
        (json!({"access_token": token, "options": []}), "options must be an object"),
        (
            json!({"access_token": token, "options": {"include_personal_finance_category": "yes"}}),
            "options.include_personal_finance_category must be a boolean",
        ),
        (json!({"access_token": token, "cursor": "not-a-cursor"}), "cursor is not a valid cursor"),
    ] {
        let r = emu.plaid("/transactions/sync", body.clone()).await;
        let e = r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
        assert_eq!(e["error_message"], message, "{body}");
    }
    let r =
        emu.plaid("/institutions/get_by_id", json!({"institution_id": "ins_109508", "country_codes": ["XX"]})).await;
    r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
    let r = emu
        .plaid("/link/token/create", json!({"client_name": "a", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"}, "products": ["balance"]}))
        .await;
    r.err(400, "INVALID_INPUT", "INVALID_PRODUCT");
    let r = emu
        .plaid("/link/token/create", json!({"client_name": "a", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"}, "products": ["teleportation"]}))
        .await;
    r.err(400, "INVALID_INPUT", "INVALID_PRODUCT");
    let r = emu
        .plaid("/link/token/create", json!({"client_name": "a", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"}, "products": ["transactions"], "redirect_uri": "https://app.example/oauth?x=1"}))
        .await;
    r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
}

#[tokio::test]
async fn bodies_that_are_not_json_objects() {
    let emu = emulator().await;
    let creds = [JSON, ("PLAID-CLIENT-ID", CLIENT_ID), ("PLAID-SECRET", SECRET)];
    for body in [
        b"garbage".to_vec(),
        b"".to_vec(),
        b"[1,2]".to_vec(),
        b"\"str\"".to_vec(),
        b"{\"access_token\": ".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x13],
        "[".repeat(10_000).into_bytes(),
    ] {
        let r = emu.raw("/item/get", &creds, body).await;
        let e = r.err(400, "INVALID_REQUEST", "INVALID_BODY");
        assert_eq!(e["error_message"], "body could not be parsed as JSON");
    }
    let r = emu
        .raw(
            "/item/get",
            &[("Content-Type", "text/plain"), ("PLAID-CLIENT-ID", CLIENT_ID), ("PLAID-SECRET", SECRET)],
            b"{}".to_vec(),
        )
        .await;
    r.err(400, "INVALID_REQUEST", "INVALID_BODY");
    let r = emu.raw("/item/get", &[("PLAID-CLIENT-ID", CLIENT_ID), ("PLAID-SECRET", SECRET)], b"{}".to_vec()).await;
    r.err(400, "INVALID_REQUEST", "INVALID_HEADERS");
}

#[tokio::test]
async fn huge_bodies_are_refused() {
    let emu = emulator().await;
    let creds = [JSON, ("PLAID-CLIENT-ID", CLIENT_ID), ("PLAID-SECRET", SECRET)];
    let huge = format!("{{\"access_token\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let r = emu.raw("/item/get", &creds, huge.into_bytes()).await;
    r.err(400, "INVALID_REQUEST", "INVALID_BODY");
    // Chunked (no Content-Length) too: the answer comes before the body ends.
    let (status, body) = chunked_post(emu.running.addr(), "/item/get", 4 * 1024 * 1024).await;
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error_code"], "INVALID_BODY");
    assert_plaid_error_shape(&v);
}

/// Sends `total` bytes of whitespace as a chunked body; returns the status and body of the answer.
async fn chunked_post(addr: std::net::SocketAddr, path: &str, total: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk.clone(), b"\r\n".to_vec()].concat();
        if s.write_all(&framed).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    // The body may itself be chunked; keep the JSON part.
    let json_start = body.find('{').unwrap_or(0);
    let json_end = body.rfind('}').map_or(body.len(), |i| i + 1);
    (status, body[json_start..json_end].to_owned())
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let emu = emulator().await;
    let r = emu.plaid("/no/such/endpoint", json!({})).await;
    let e = r.err(404, "INVALID_REQUEST", "NOT_FOUND");
    assert_eq!(e["error_message"], "not found");
    let r = emu.get("/item/get").await;
    r.err(404, "INVALID_REQUEST", "NOT_FOUND");
    let r = emu.get("/__emulator/nope").await;
    r.err(404, "INVALID_REQUEST", "NOT_FOUND");
    let r = emu.delete("/__emulator/clock").await;
    assert_eq!(r.status, 405);
    assert_plaid_error_shape(&r.body);
}

#[tokio::test]
async fn request_ids_are_15_alphanumerics() {
    let emu = emulator().await;
    let r =
        emu.plaid("/institutions/get_by_id", json!({"institution_id": "ins_109508", "country_codes": ["US"]})).await;
    let rid = r.ok()["request_id"].as_str().unwrap().to_owned();
    assert_eq!(rid.len(), 15);
    assert!(rid.bytes().all(|b| b.is_ascii_alphanumeric()));
}

/// Random bytes and random JSON documents to every endpoint: always a Plaid-shaped answer.
#[tokio::test]
async fn fuzzed_requests_always_get_plaid_shaped_answers() {
    let emu = emulator().await;
    let (token, _) = emu.item(None).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let paths = [
        "/link/token/create",
        "/item/public_token/exchange",
        "/item/get",
        "/item/remove",
        "/item/access_token/invalidate",
        "/accounts/get",
        "/accounts/balance/get",
        "/institutions/get_by_id",
        "/transactions/sync",
        "/webhook_verification_key/get",
        "/item/webhook/update",
        "/sandbox/public_token/create",
        "/sandbox/item/reset_login",
        "/sandbox/item/fire_webhook",
    ];
    let creds = [JSON, ("PLAID-CLIENT-ID", CLIENT_ID), ("PLAID-SECRET", SECRET)];
    for i in 0..300 {
        let path = paths[rng.gen_range(0..paths.len())];
        let body: Vec<u8> = if i % 3 == 0 {
            (0..rng.gen_range(0..64)).map(|_| rng.r#gen::<u8>()).collect()
        } else {
            let mut v = random_json(&mut rng, 3);
            if let Some(obj) = v.as_object_mut() {
                if rng.gen_bool(0.5) {
                    obj.insert("access_token".into(), json!(token));
                }
            } else if rng.gen_bool(0.7) {
                v = json!({"access_token": token, "count": random_json(&mut rng, 1), "options": random_json(&mut rng, 2)});
            }
            v.to_string().into_bytes()
        };
        let r = emu.raw(path, &creds, body).await;
        if r.status != 200 {
            assert!([400, 404, 429, 500, 503].contains(&r.status), "{path}: {}", r.status);
            assert_plaid_error_shape(&r.body);
        }
    }
}

fn random_json(rng: &mut rand::rngs::StdRng, depth: u32) -> Value {
    let keys = ["access_token", "count", "cursor", "options", "x", "webhook", "products", "user", "public_token"];
    match rng.gen_range(0..if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.r#gen::<bool>()),
        2 => json!(rng.gen_range(-1000..1000)),
        3 => json!(rng.r#gen::<f64>() * 1e6),
        4 => json!(["US", "transactions", "x", "", "ins_109508"][rng.gen_range(0..5)]),
        5 => Value::Array((0..rng.gen_range(0..4)).map(|_| random_json(rng, depth - 1)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.gen_range(0..4) {
                m.insert(keys[rng.gen_range(0..keys.len())].to_owned(), random_json(rng, depth - 1));
            }
            Value::Object(m)
        }
    }
}
