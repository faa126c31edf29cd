//! Webhook delivery: body bytes, the `Plaid-Verification` JWS checked with jsonwebtoken against
//! the key `/webhook_verification_key/get` serves, retries, timeouts, key rotation, and the
//! webhooks of `/sandbox/item/fire_webhook`, `/item/webhook/update` and Item conditions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Emu, Receiver, emulator};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use plaid_emulator::{Condition, DeliveryStatus};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, Deserialize)]
struct Claims {
    iat: i64,
    request_body_sha256: String,
}

/// Verifies a delivery the way a receiver must, using only Plaid's API for the key.
async fn verify(emu: &Emu, header: &str, body: &[u8]) -> (String, Claims) {
    let h = decode_header(header).unwrap();
    assert_eq!(h.alg, Algorithm::ES256);
    assert_eq!(h.typ.as_deref(), Some("JWT"));
    let kid = h.kid.unwrap();
    let r = emu.plaid("/webhook_verification_key/get", json!({"key_id": kid})).await;
    let key = r.ok()["key"].clone();
    assert_eq!(
        (key["alg"].as_str(), key["crv"].as_str(), key["kty"].as_str(), key["use"].as_str()),
        (Some("ES256"), Some("P-256"), Some("EC"), Some("sig"))
    );
    assert_eq!(key["kid"], kid.as_str());
    assert!(key["created_at"].is_i64());
    let dk = DecodingKey::from_ec_components(key["x"].as_str().unwrap(), key["y"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    let claims = decode::<Claims>(header, &dk, &validation).unwrap().claims;
    assert_eq!(claims.request_body_sha256, hex::encode(Sha256::digest(body)));
    (kid, claims)
}

/// Plaid's serialisation: sorted keys, 2-space indentation, no trailing newline.
fn assert_plaid_format(body: &[u8]) {
    let text = std::str::from_utf8(body).unwrap();
    assert!(!text.ends_with('\n'));
    let value: Value = serde_json::from_str(text).unwrap();
    let mut expected = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut expected, serde_json::ser::PrettyFormatter::with_indent(b"  "));
    serde::Serialize::serialize(&sorted(&value), &mut ser).unwrap();
    assert_eq!(text, std::str::from_utf8(&expected).unwrap());
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[tokio::test]
async fn deliveries_are_signed_and_verifiable() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (_, item_id) = emu.item(Some(&receiver.url)).await;
    let got = receiver.wait_for("HISTORICAL_UPDATE", 1).await;
    let hook = &got[0];
    assert_eq!(hook.headers["content-type"], "application/json");
    assert_plaid_format(&hook.body);
    let body = hook.json();
    assert_eq!(body["webhook_type"], "TRANSACTIONS");
    assert_eq!(body["item_id"], item_id.as_str());
    assert_eq!(body["environment"], "sandbox");
    assert_eq!(body["error"], Value::Null);
    let header = hook.headers["plaid-verification"].to_str().unwrap();
    let (_, claims) = verify(&emu, header, &hook.body).await;
    assert!((claims.iat - emu.control().now().unix_timestamp()).abs() < 10);
    // A changed body no longer matches the signed hash.
    let mut tampered = hook.body.clone();
    tampered[10] ^= 1;
    assert_ne!(claims.request_body_sha256, hex::encode(Sha256::digest(&tampered)));
    // The delivery log has it.
    let log = emu.control().deliveries(Some(&item_id), Some("HISTORICAL_UPDATE"));
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].body.as_bytes(), hook.body.as_slice());
    assert_eq!(log[0].url, receiver.url);
    // Delivery is asynchronous: wait for the log to settle.
    for _ in 0..100 {
        if emu.control().deliveries(Some(&item_id), Some("HISTORICAL_UPDATE"))[0].status == DeliveryStatus::Delivered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = emu.control().deliveries(Some(&item_id), Some("HISTORICAL_UPDATE"));
    assert_eq!(log[0].status, DeliveryStatus::Delivered);
    assert_eq!(log[0].attempts[0].status, Some(200));
    // Over HTTP too.
    let r = emu.get(&format!("/__emulator/webhooks?item_id={item_id}&webhook_code=INITIAL_UPDATE")).await;
    assert_eq!(r.ok()["deliveries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn retries_after_a_500_and_after_a_timeout() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (access, item_id) = emu.item(None).await;
    receiver.script(&[500, 503]);
    emu.plaid("/item/webhook/update", json!({"access_token": access, "webhook": receiver.url})).await.ok();
    let got = receiver.wait_for("WEBHOOK_UPDATE_ACKNOWLEDGED", 3).await;
    assert_eq!(got[0].body, got[2].body, "same body every attempt");
    let body = got[0].json();
    assert_eq!(body["new_webhook_url"], receiver.url.as_str());
    assert_eq!(body["webhook_type"], "ITEM");
    for _ in 0..100 {
        let d = emu.control().deliveries(Some(&item_id), Some("WEBHOOK_UPDATE_ACKNOWLEDGED"));
        if d[0].status == DeliveryStatus::Delivered {
            let statuses: Vec<Option<u16>> = d[0].attempts.iter().map(|a| a.status).collect();
            assert_eq!(statuses, [Some(500), Some(503), Some(200)]);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A receiver slower than the timeout (500 ms in tests) is retried too.
    receiver.set_delay(Some(Duration::from_millis(800)));
    emu.plaid("/sandbox/item/fire_webhook", json!({"access_token": access, "webhook_code": "SYNC_UPDATES_AVAILABLE"}))
        .await
        .ok();
    receiver.wait_for("SYNC_UPDATES_AVAILABLE", 2).await;
    receiver.set_delay(None);
    let d = emu.control().deliveries(Some(&item_id), Some("SYNC_UPDATES_AVAILABLE"));
    assert_eq!(d[0].attempts[0].status, None);
    assert_eq!(d[0].attempts[0].error.as_deref(), Some("timed out"));
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let mut config = common::config();
    config.webhooks.max_attempts = 2;
    let emu = Emu::start(config).await;
    let receiver = Receiver::start().await;
    let (access, item_id) = emu.item(None).await;
    receiver.script(&[500, 500, 500, 500]);
    emu.plaid("/item/webhook/update", json!({"access_token": access, "webhook": receiver.url})).await.ok();
    receiver.wait_for("WEBHOOK_UPDATE_ACKNOWLEDGED", 2).await;
    for _ in 0..100 {
        let d = emu.control().deliveries(Some(&item_id), None);
        if d[0].status == DeliveryStatus::Failed {
            assert_eq!(d[0].attempts.len(), 2);
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("delivery not marked failed");
}

#[tokio::test]
async fn key_rotation() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (access, _) = emu.item(Some(&receiver.url)).await;
    let first = receiver.wait_for("HISTORICAL_UPDATE", 1).await;
    let (old_kid, _) = verify(&emu, first[0].headers["plaid-verification"].to_str().unwrap(), &first[0].body).await;
    let rotated = emu.post("/__emulator/keys/rotate", json!({})).await;
    let rotated = rotated.ok().clone();
    assert_eq!(rotated["expired_kid"], old_kid.as_str());
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    emu.plaid("/sandbox/item/fire_webhook", json!({"access_token": access, "webhook_code": "DEFAULT_UPDATE"}))
        .await
        .ok();
    let got = receiver.wait_for("DEFAULT_UPDATE", 1).await;
    let (kid, _) = verify(&emu, got[0].headers["plaid-verification"].to_str().unwrap(), &got[0].body).await;
    assert_eq!(kid, new_kid);
    // The old key is still served, with expired_at set.
    let r = emu.plaid("/webhook_verification_key/get", json!({"key_id": old_kid})).await;
    let old = r.ok()["key"].clone();
    assert!(old["expired_at"].as_i64().unwrap() >= old["created_at"].as_i64().unwrap());
    let r = emu.plaid("/webhook_verification_key/get", json!({"key_id": new_kid})).await;
    assert_eq!(r.ok()["key"]["expired_at"], Value::Null);
    // Unknown kid.
    let r = emu.plaid("/webhook_verification_key/get", json!({"key_id": "6c5516e1-92dc-479e-a8ff-5a51992e0001"})).await;
    r.err(400, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID");
}

#[tokio::test]
async fn iat_follows_the_emulator_clock() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (access, _) = emu.item(Some(&receiver.url)).await;
    receiver.wait_for("HISTORICAL_UPDATE", 1).await;
    emu.control().advance_clock(Duration::from_secs(3600)).unwrap();
    emu.plaid("/sandbox/item/fire_webhook", json!({"access_token": access, "webhook_code": "NEW_ACCOUNTS_AVAILABLE"}))
        .await
        .ok();
    let got = receiver.wait_for("NEW_ACCOUNTS_AVAILABLE", 1).await;
    let (_, claims) = verify(&emu, got[0].headers["plaid-verification"].to_str().unwrap(), &got[0].body).await;
    let real_now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(claims.iat >= real_now + 3590, "iat {} real {}", claims.iat, real_now);
}

#[tokio::test]
async fn fire_webhook_codes() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (access, item_id) = emu.item(Some(&receiver.url)).await;
    for (code, webhook_type) in [
        ("DEFAULT_UPDATE", "TRANSACTIONS"),
        ("SYNC_UPDATES_AVAILABLE", "TRANSACTIONS"),
        ("NEW_ACCOUNTS_AVAILABLE", "ITEM"),
        ("PENDING_DISCONNECT", "ITEM"),
        ("USER_ACCOUNT_REVOKED", "ITEM"),
        ("ERROR", "ITEM"),
        ("LOGIN_REPAIRED", "ITEM"),
        ("USER_PERMISSION_REVOKED", "ITEM"),
    ] {
        let r = emu
            .plaid(
                "/sandbox/item/fire_webhook",
                json!({"access_token": access, "webhook_code": code, "webhook_type": webhook_type}),
            )
            .await;
        assert_eq!(r.ok()["webhook_fired"], true);
        let got = receiver.wait_for(code, 1).await;
        let body = got.last().unwrap().json();
        assert_eq!(body["webhook_type"], webhook_type, "{code}");
        assert_eq!(body["item_id"], item_id.as_str());
        assert_eq!(body["environment"], "sandbox");
        match code {
            "DEFAULT_UPDATE" => assert_eq!(body["new_transactions"], 0),
            "PENDING_DISCONNECT" => {
                assert_eq!(body["reason"], "INSTITUTION_TOKEN_EXPIRATION");
                assert!(body["disconnect_time"].is_string());
            }
            "USER_ACCOUNT_REVOKED" => assert!(body["account_id"].is_string()),
            "ERROR" => assert_eq!(body["error"]["error_code"], "ITEM_LOGIN_REQUIRED"),
            "USER_PERMISSION_REVOKED" => {
                assert_eq!(body["error"]["error_code"], "USER_PERMISSION_REVOKED")
            }
            _ => {}
        }
    }
    // Unsupported codes and mismatched types.
    let r =
        emu.plaid("/sandbox/item/fire_webhook", json!({"access_token": access, "webhook_code": "PRODUCT_READY"})).await;
    r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
    let r = emu
        .plaid(
            "/sandbox/item/fire_webhook",
            json!({"access_token": access, "webhook_code": "DEFAULT_UPDATE", "webhook_type": "ITEM"}),
        )
        .await;
    r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
    let r =
        emu.plaid("/sandbox/item/fire_webhook", json!({"access_token": access, "webhook_code": "NOT_A_CODE"})).await;
    r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
}

#[tokio::test]
async fn conditions_fire_webhooks_and_change_state() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (access, item_id) = emu.item(Some(&receiver.url)).await;

    let fired = emu.control().set_condition(&item_id, Condition::PendingExpiration, None).unwrap();
    assert_eq!(fired, ["PENDING_EXPIRATION"]);
    let hook = receiver.wait_for("PENDING_EXPIRATION", 1).await[0].json();
    let r = emu.plaid("/item/get", json!({"access_token": access})).await;
    assert_eq!(r.ok()["item"]["consent_expiration_time"], hook["consent_expiration_time"]);

    let r =
        emu.post(&format!("/__emulator/items/{item_id}/condition"), json!({"condition": "PENDING_DISCONNECT"})).await;
    assert_eq!(r.ok()["webhooks_fired"], json!(["PENDING_DISCONNECT"]));
    receiver.wait_for("PENDING_DISCONNECT", 1).await;

    // USER_ACCOUNT_REVOKED removes one account, not the Item.
    let accounts = emu.plaid("/accounts/get", json!({"access_token": access})).await;
    let savings =
        accounts.ok()["accounts"].as_array().unwrap().iter().find(|a| a["mask"] == "1111").unwrap()["account_id"]
            .as_str()
            .unwrap()
            .to_owned();
    emu.control().set_condition(&access, Condition::UserAccountRevoked, Some(&savings)).unwrap();
    let hook = receiver.wait_for("USER_ACCOUNT_REVOKED", 1).await[0].json();
    assert_eq!(hook["account_id"], savings.as_str());
    let accounts = emu.plaid("/accounts/get", json!({"access_token": access})).await;
    let accounts = accounts.ok()["accounts"].as_array().unwrap().clone();
    assert_eq!(accounts.len(), 8);
    assert!(!accounts.iter().any(|a| a["account_id"] == savings.as_str()));

    // USER_PERMISSION_REVOKED makes product calls fail with that error.
    emu.control().set_condition(&access, Condition::UserPermissionRevoked, None).unwrap();
    let hook = receiver.wait_for("USER_PERMISSION_REVOKED", 1).await[0].json();
    assert_eq!(hook["error"]["error_code"], "USER_PERMISSION_REVOKED");
    assert_eq!(hook["error"]["error_type"], "ITEM_ERROR");
    for path in ["/accounts/get", "/transactions/sync"] {
        let r = emu.plaid(path, json!({"access_token": access})).await;
        r.err(400, "ITEM_ERROR", "USER_PERMISSION_REVOKED");
    }
    let r = emu.plaid("/item/get", json!({"access_token": access})).await;
    assert_eq!(r.ok()["item"]["error"]["error_code"], "USER_PERMISSION_REVOKED");
    let r = emu.post(&format!("/__emulator/items/{item_id}/condition"), json!({"condition": "NOPE"})).await;
    r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
}

#[tokio::test]
async fn held_webhooks_are_logged_signed_and_can_be_redelivered() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (access, item_id) = emu.item(Some(&receiver.url)).await;
    receiver.wait_for("HISTORICAL_UPDATE", 1).await;
    let r = emu.post(&format!("/__emulator/items/{item_id}/webhooks/hold"), json!({"hold": true})).await;
    assert_eq!(r.ok()["hold_webhooks"], true);
    emu.plaid(
        "/sandbox/item/fire_webhook",
        json!({"access_token": access, "webhook_code": "DEFAULT_UPDATE", "options": {"new_transactions": 2}}),
    )
    .await
    .ok();
    emu.plaid("/sandbox/item/reset_login", json!({"access_token": access})).await.ok();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent: Vec<String> = receiver.received().iter().map(common::Received::code).collect();
    assert!(!sent.contains(&"DEFAULT_UPDATE".to_owned()) && !sent.contains(&"ERROR".to_owned()));
    let held = emu.control().deliveries(Some(&item_id), Some("DEFAULT_UPDATE"));
    assert_eq!(held[0].status, DeliveryStatus::Held);
    assert!(held[0].attempts.is_empty());
    // Deliver them ourselves, out of order, byte for byte: they verify.
    let error = emu.control().deliveries(Some(&item_id), Some("ERROR"));
    for d in [&error[0], &held[0]] {
        let (_, claims) = verify(&emu, &d.plaid_verification, d.body.as_bytes()).await;
        assert_eq!(claims.request_body_sha256, hex::encode(Sha256::digest(d.body.as_bytes())));
        let status = emu
            .http
            .post(&d.url)
            .header("Content-Type", "application/json")
            .header("Plaid-Verification", &d.plaid_verification)
            .body(d.body.clone())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    assert_eq!(receiver.wait_for("DEFAULT_UPDATE", 1).await[0].json()["new_transactions"], 2);
    // Released: new webhooks go out again.
    emu.control().hold_webhooks(&access, false).unwrap();
    emu.plaid("/sandbox/item/fire_webhook", json!({"access_token": access, "webhook_code": "SYNC_UPDATES_AVAILABLE"}))
        .await
        .ok();
    receiver.wait_for("SYNC_UPDATES_AVAILABLE", 3).await;
    let d = emu.control().deliveries(Some(&item_id), Some("HISTORICAL_UPDATE"));
    assert_eq!(d[0].plaid_verification, d[0].attempts.last().unwrap().plaid_verification);
}
