//! Token formats and lifetimes, public token single use, access token rotation
//! (`/item/access_token/invalidate`), Item removal, and the Item / account objects of the
//! `user_good` sandbox user.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Emu, emulator};
use plaid_emulator::{Condition, Limit, LinkCompletion, RateLimits, TransactionMutation};
use serde_json::{Value, json};

fn is_uuid_token(token: &str, prefix: &str) -> bool {
    token.strip_prefix(prefix).is_some_and(uuid_like)
}

fn uuid_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn alnum37(s: &str) -> bool {
    s.len() == 37 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[tokio::test]
async fn token_and_id_formats() {
    let emu = emulator().await;
    let link = emu.link_token(json!({})).await;
    assert!(is_uuid_token(&link, "link-sandbox-"), "{link}");
    let pt = emu
        .plaid(
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_109508", "initial_products": ["transactions"]}),
        )
        .await;
    let pt = pt.ok()["public_token"].as_str().unwrap().to_owned();
    assert!(is_uuid_token(&pt, "public-sandbox-"), "{pt}");
    let ex = emu.plaid("/item/public_token/exchange", json!({"public_token": pt})).await;
    let ex = ex.ok().clone();
    assert!(is_uuid_token(ex["access_token"].as_str().unwrap(), "access-sandbox-"));
    assert!(alnum37(ex["item_id"].as_str().unwrap()));
    let accounts = emu.plaid("/accounts/get", json!({"access_token": ex["access_token"]})).await;
    for a in accounts.ok()["accounts"].as_array().unwrap() {
        assert!(alnum37(a["account_id"].as_str().unwrap()));
    }
    let (added, _, _, _) = emu.sync_all(ex["access_token"].as_str().unwrap(), None, 500).await;
    assert!(added.iter().all(|t| alnum37(t["transaction_id"].as_str().unwrap())));
}

#[tokio::test]
async fn link_token_lifetimes() {
    let emu = emulator().await;
    let r = emu
        .plaid("/link/token/create", json!({"client_name": "a", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"}, "products": ["transactions"]}))
        .await;
    let body = r.ok().clone();
    let expiration = time::OffsetDateTime::parse(
        body["expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let lifetime = expiration - emu.control().now();
    assert!((lifetime.whole_minutes() - 240).abs() <= 1, "{lifetime}");
    let token = body["link_token"].as_str().unwrap().to_owned();

    // Update mode: 30 minutes.
    let (access, _) = emu.item(None).await;
    let r = emu
        .plaid("/link/token/create", json!({"client_name": "a", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"}, "access_token": access}))
        .await;
    let body = r.ok().clone();
    let expiration = time::OffsetDateTime::parse(
        body["expiration"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let lifetime = expiration - emu.control().now();
    assert!((lifetime.whole_minutes() - 30).abs() <= 1, "{lifetime}");
    let update_token = body["link_token"].as_str().unwrap().to_owned();

    // 31 minutes later the update token is expired, the normal one is not.
    emu.control().advance_clock(Duration::from_secs(31 * 60)).unwrap();
    let out = emu.control().complete_link(&LinkCompletion { link_token: update_token, ..Default::default() }).unwrap();
    assert_eq!(out.status, "exit");
    assert_eq!(out.exit.as_ref().unwrap()["error"]["error_code"], "INVALID_LINK_TOKEN");
    let out = emu.control().complete_link(&LinkCompletion { link_token: token.clone(), ..Default::default() }).unwrap();
    assert_eq!(out.status, "success");
    // 4 hours after creation it is expired.
    emu.control().advance_clock(Duration::from_secs(3 * 3600 + 30 * 60)).unwrap();
    let out = emu.control().complete_link(&LinkCompletion { link_token: token, ..Default::default() }).unwrap();
    assert_eq!(out.status, "exit");
    let exit = out.exit.unwrap();
    assert_eq!(exit["error"]["error_type"], "INVALID_INPUT");
    assert_eq!(exit["error"]["error_code"], "INVALID_LINK_TOKEN");
    // Unknown tokens too.
    let out = emu
        .control()
        .complete_link(&LinkCompletion {
            link_token: "link-sandbox-00000000-0000-0000-0000-000000000000".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.exit.unwrap()["error"]["error_code"], "INVALID_LINK_TOKEN");
}

#[tokio::test]
async fn public_tokens_are_single_use_and_expire_after_30_minutes() {
    let emu = emulator().await;
    let create = || async {
        let r = emu
            .plaid(
                "/sandbox/public_token/create",
                json!({"institution_id": "ins_109508", "initial_products": ["transactions"]}),
            )
            .await;
        r.ok()["public_token"].as_str().unwrap().to_owned()
    };
    let pt = create().await;
    emu.plaid("/item/public_token/exchange", json!({"public_token": pt})).await.ok();
    let again = emu.plaid("/item/public_token/exchange", json!({"public_token": pt})).await;
    again.err(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN");

    let pt = create().await;
    emu.control().advance_clock(Duration::from_secs(29 * 60)).unwrap();
    let pt2 = create().await;
    emu.control().advance_clock(Duration::from_secs(2 * 60)).unwrap();
    let late = emu.plaid("/item/public_token/exchange", json!({"public_token": pt})).await;
    let e = late.err(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN");
    assert!(e["error_message"].as_str().unwrap().contains("expired"));
    emu.plaid("/item/public_token/exchange", json!({"public_token": pt2})).await.ok();

    let bad = emu.plaid("/item/public_token/exchange", json!({"public_token": "nope"})).await;
    bad.err(400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN");
}

#[tokio::test]
async fn removed_items_answer_item_not_found() {
    let emu = emulator().await;
    let (token, _) = emu.item(None).await;
    emu.plaid("/item/remove", json!({"access_token": token, "reason_code": "FRAUD_FIRST_PARTY"})).await.ok();
    for path in ["/item/get", "/accounts/get", "/transactions/sync", "/item/remove", "/sandbox/item/reset_login"] {
        let r = emu.plaid(path, json!({"access_token": token})).await;
        let e = r.err(400, "ITEM_ERROR", "ITEM_NOT_FOUND");
        assert_eq!(e["documentation_url"], "https://plaid.com/docs/errors/item/#item_not_found");
    }
    // Malformed and unknown tokens are INVALID_ACCESS_TOKEN.
    let r = emu.plaid("/item/get", json!({"access_token": "access-sandbox-nope"})).await;
    r.err(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN");
    let r =
        emu.plaid("/item/get", json!({"access_token": "access-sandbox-8ab976e6-64bc-4b38-98f7-731e7a349970"})).await;
    r.err(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN");
}

#[tokio::test]
async fn item_get_has_every_required_key() {
    let emu = emulator().await;
    let (token, item_id) = emu.item(Some("https://example.com/hook")).await;
    let r = emu.plaid("/item/get", json!({"access_token": token})).await;
    let v = r.ok();
    let item = &v["item"];
    assert_eq!(item["item_id"], item_id.as_str());
    assert_eq!(item["institution_id"], "ins_109508");
    assert_eq!(item["institution_name"], "First Platypus Bank");
    assert_eq!(item["webhook"], "https://example.com/hook");
    assert_eq!(item["error"], Value::Null);
    assert_eq!(item["billed_products"], json!(["transactions"]));
    assert_eq!(item["update_type"], "background");
    for key in ["available_products", "products", "consent_expiration_time", "auth_method", "created_at"] {
        assert!(item.get(key).is_some(), "{key}");
    }
    assert!(v["status"]["transactions"].get("last_successful_update").is_some());
    assert!(v["status"]["transactions"].get("last_failed_update").is_some());
    assert!(v["status"].get("last_webhook").is_some());
}

#[tokio::test]
async fn user_good_accounts_and_balances() {
    let emu = emulator().await;
    let (token, _) = emu.item(None).await;
    let r = emu.plaid("/accounts/get", json!({"access_token": token})).await;
    let v = r.ok();
    let accounts = v["accounts"].as_array().unwrap();
    let by_mask = |m: &str| accounts.iter().find(|a| a["mask"] == m).unwrap().clone();
    let checking = by_mask("0000");
    assert_eq!(
        (checking["name"].as_str(), checking["type"].as_str(), checking["subtype"].as_str()),
        (Some("Plaid Checking"), Some("depository"), Some("checking"))
    );
    assert_eq!(
        checking["balances"],
        json!({"available": 100.0, "current": 110.0, "limit": null, "iso_currency_code": "USD", "unofficial_currency_code": null})
    );
    let saving = by_mask("1111");
    assert_eq!(
        (saving["balances"]["available"].as_f64(), saving["balances"]["current"].as_f64()),
        (Some(200.0), Some(210.0))
    );
    assert_eq!(by_mask("2222")["subtype"], "cd");
    let card = by_mask("3333");
    assert_eq!((card["type"].as_str(), card["subtype"].as_str()), (Some("credit"), Some("credit card")));
    assert_eq!((card["balances"]["current"].as_f64(), card["balances"]["limit"].as_f64()), (Some(410.0), Some(2000.0)));
    assert_eq!(by_mask("4444")["subtype"], "money market");
    assert_eq!(by_mask("5555")["subtype"], "ira");
    assert_eq!(by_mask("6666")["subtype"], "401k");
    assert_eq!(
        (by_mask("7777")["type"].as_str(), by_mask("7777")["subtype"].as_str()),
        (Some("loan"), Some("student"))
    );
    assert_eq!(by_mask("8888")["subtype"], "mortgage");
    assert_eq!(accounts.len(), 9);
    assert_eq!(v["item"]["item_id"].as_str().unwrap().len(), 37);

    // options.account_ids filters; an unknown id is INVALID_ACCOUNT_ID.
    let id = checking["account_id"].as_str().unwrap();
    let r = emu.plaid("/accounts/get", json!({"access_token": token, "options": {"account_ids": [id]}})).await;
    assert_eq!(r.ok()["accounts"].as_array().unwrap().len(), 1);
    let r = emu.plaid("/accounts/get", json!({"access_token": token, "options": {"account_ids": ["nope"]}})).await;
    r.err(400, "INVALID_INPUT", "INVALID_ACCOUNT_ID");
    let r = emu.plaid("/accounts/balance/get", json!({"access_token": token})).await;
    assert_eq!(r.ok()["accounts"].as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn institutions() {
    let emu = emulator().await;
    let get = |id: &'static str, options: Value| {
        let emu = &emu;
        async move {
            emu.plaid(
                "/institutions/get_by_id",
                json!({"institution_id": id, "country_codes": ["US"], "options": options}),
            )
            .await
        }
    };
    let r = get("ins_127287", json!({})).await;
    let inst = r.ok()["institution"].clone();
    assert_eq!(inst["oauth"], true);
    assert_eq!(inst["name"], "Platypus OAuth Bank");
    assert!(inst.get("status").is_none());
    for key in [
        "institution_id",
        "name",
        "products",
        "country_codes",
        "routing_numbers",
        "oauth",
        "dtc_numbers",
        "connection_availability",
    ] {
        assert!(inst.get(key).is_some(), "{key}");
    }
    assert_eq!(get("ins_132241", json!({})).await.ok()["institution"]["oauth"], true);
    assert_eq!(get("ins_109508", json!({})).await.ok()["institution"]["oauth"], false);
    let healthy = get("ins_109508", json!({"include_status": true, "include_optional_metadata": true})).await;
    let healthy = healthy.ok()["institution"].clone();
    assert_eq!(healthy["status"]["item_logins"]["status"], "HEALTHY");
    assert!(healthy.get("url").is_some() && healthy.get("logo").is_some() && healthy.get("primary_color").is_some());
    let degraded = get("ins_132363", json!({"include_status": true})).await;
    assert_eq!(degraded.ok()["institution"]["status"]["item_logins"]["status"], "DEGRADED");
    let down = get("ins_132361", json!({"include_status": true})).await;
    let down = down.ok()["institution"]["status"].clone();
    assert_eq!(down["item_logins"]["status"], "DOWN");
    assert_eq!(down["transactions_updates"]["status"], "DOWN");
    for key in ["success", "error_plaid", "error_institution", "refresh_interval"] {
        assert!(down["item_logins"]["breakdown"].get(key).is_some(), "{key}");
    }
    get("ins_999999", json!({})).await.err(400, "INVALID_INPUT", "INVALID_INSTITUTION");
    // Unsupported Platypus Bank cannot serve transactions.
    let r = emu
        .plaid(
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_133402", "initial_products": ["transactions"]}),
        )
        .await;
    r.err(400, "ITEM_ERROR", "PRODUCTS_NOT_SUPPORTED");
}

#[tokio::test]
async fn error_passwords_fail_the_login() {
    let emu = emulator().await;
    for (code, error_type) in [
        ("ITEM_LOCKED", "ITEM_ERROR"),
        ("INVALID_CREDENTIALS", "ITEM_ERROR"),
        ("INSTITUTION_DOWN", "INSTITUTION_ERROR"),
        ("INSTITUTION_NOT_RESPONDING", "INSTITUTION_ERROR"),
        ("NO_ACCOUNTS", "ITEM_ERROR"),
    ] {
        let r = emu
            .plaid(
                "/sandbox/public_token/create",
                json!({"institution_id": "ins_109508", "initial_products": ["transactions"],
                       "options": {"override_username": "user_good", "override_password": format!("error_{code}")}}),
            )
            .await;
        r.err(400, error_type, code);
    }
    let r = emu
        .plaid(
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_109508", "initial_products": ["transactions"],
                   "options": {"override_username": "user_good", "override_password": "wrong"}}),
        )
        .await;
    r.err(400, "ITEM_ERROR", "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn login_errors_carry_plaids_display_messages() {
    let emu = emulator().await;
    let r = emu
        .plaid(
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_109508", "initial_products": ["transactions"],
                   "options": {"override_password": "error_INVALID_CREDENTIALS"}}),
        )
        .await;
    let e = r.err(400, "ITEM_ERROR", "INVALID_CREDENTIALS");
    assert_eq!(e["display_message"], "The provided credentials were not correct. Please try again.");
    let r = emu
        .plaid(
            "/sandbox/public_token/create",
            json!({"institution_id": "ins_109508", "initial_products": ["transactions"],
                   "options": {"override_password": "error_ITEM_LOGIN_REQUIRED"}}),
        )
        .await;
    assert_eq!(r.err(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")["display_message"], Value::Null);
}

const INVALIDATE: &str = "/item/access_token/invalidate";
const UNKNOWN_TOKEN_MESSAGE: &str = "could not find matching access token";

/// Rotates `token` through `/item/access_token/invalidate`; returns the new token.
async fn rotate(emu: &Emu, token: &str) -> String {
    let r = emu.plaid(INVALIDATE, json!({"access_token": token})).await;
    let body = r.ok();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["new_access_token", "request_id"], "{body}");
    let rid = body["request_id"].as_str().unwrap();
    assert!(rid.len() == 15 && rid.bytes().all(|b| b.is_ascii_alphanumeric()), "{rid}");
    body["new_access_token"].as_str().unwrap().to_owned()
}

/// Every endpoint that takes an access token, with a body that is otherwise valid.
fn token_calls(token: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("/item/get", json!({"access_token": token})),
        ("/accounts/get", json!({"access_token": token})),
        ("/accounts/balance/get", json!({"access_token": token})),
        ("/transactions/sync", json!({"access_token": token})),
        ("/item/webhook/update", json!({"access_token": token, "webhook": "https://example.com/hook"})),
        ("/sandbox/item/reset_login", json!({"access_token": token})),
        ("/sandbox/item/fire_webhook", json!({"access_token": token, "webhook_code": "DEFAULT_UPDATE"})),
        (
            "/link/token/create",
            json!({"client_name": "weft", "language": "en", "country_codes": ["US"],
                   "user": {"client_user_id": "u"}, "access_token": token}),
        ),
        ("/item/remove", json!({"access_token": token})),
        (INVALIDATE, json!({"access_token": token})),
    ]
}

#[tokio::test]
async fn access_token_invalidate_rotates_the_token_and_keeps_the_item() {
    let emu = emulator().await;
    let (old, item_id) = emu.item(None).await;
    let accounts_before = emu.plaid("/accounts/get", json!({"access_token": old})).await.ok()["accounts"].clone();
    let (added_before, _, _, cursor) = emu.sync_all(&old, None, 500).await;
    assert!(!added_before.is_empty());

    let new = rotate(&emu, &old).await;
    assert!(is_uuid_token(&new, "access-sandbox-"), "{new}");
    assert_ne!(new, old);

    // The old token is refused everywhere, as an unknown token (not as a removed Item), even with a cursor;
    // refused calls change nothing (its /item/remove does not remove the Item).
    let mut calls = token_calls(&old);
    calls.push(("/transactions/sync", json!({"access_token": old, "cursor": cursor})));
    for (path, body) in calls {
        let r = emu.plaid(path, body).await;
        let e = r.err(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN");
        assert_eq!(e["error_message"], UNKNOWN_TOKEN_MESSAGE, "{path}");
        assert_eq!(e["documentation_url"], "https://plaid.com/docs/errors/invalid-input/#invalid_access_token");
    }

    // The new token is the same Item: same id, accounts, and the cursor from before keeps working.
    let r = emu.plaid("/item/get", json!({"access_token": new})).await;
    assert_eq!(r.ok()["item"]["item_id"], item_id.as_str());
    assert_eq!(r.ok()["item"]["error"], Value::Null);
    assert_eq!(emu.plaid("/accounts/get", json!({"access_token": new})).await.ok()["accounts"], accounts_before);
    let (added, modified, removed, cursor2) = emu.sync_all(&new, Some(&cursor), 500).await;
    assert!(added.is_empty() && modified.is_empty() && removed.is_empty());
    assert_eq!(cursor2, cursor);
    let mutation = TransactionMutation { generate: 2, webhook: Some(false), ..Default::default() };
    emu.control().mutate_transactions(&item_id, &mutation).unwrap();
    let (added, _, _, _) = emu.sync_all(&new, Some(&cursor), 500).await;
    assert_eq!(added.len(), 2);
    let (all, _, _, _) = emu.sync_all(&new, None, 500).await;
    assert_eq!(all.len(), added_before.len() + 2);

    // The control API shows the current token; the old one no longer names the Item there either.
    let view = emu.control().item(&item_id).unwrap();
    assert_eq!(view["access_token"], new.as_str());
    assert_eq!(view["removed"], false);
    assert_eq!(emu.control().item(&new).unwrap()["item_id"], item_id.as_str());
    assert_eq!(emu.control().item(&old).unwrap_err().error_code, "NOT_FOUND");
    let r = emu.get(&format!("/__emulator/items/{item_id}")).await;
    assert_eq!(r.ok()["access_token"], new.as_str());

    // Counted like every call: every call in total, per Item only while the token named it.
    assert_eq!(emu.control().call_count(INVALIDATE, None), 2);
    assert_eq!(emu.control().call_count(INVALIDATE, Some(&item_id)), 1);
    let r = emu.get(&format!("/__emulator/calls?item_id={item_id}")).await;
    assert_eq!(r.ok()["calls"][INVALIDATE], 1);
}

#[tokio::test]
async fn access_token_invalidate_refuses_used_unknown_and_removed_tokens() {
    let emu = emulator().await;
    let (first, item_id) = emu.item(None).await;
    let second = rotate(&emu, &first).await;
    // Invalidating the old token again fails and rotates nothing.
    let r = emu.plaid(INVALIDATE, json!({"access_token": first})).await;
    assert_eq!(r.err(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")["error_message"], UNKNOWN_TOKEN_MESSAGE);
    assert_eq!(emu.plaid("/item/get", json!({"access_token": second})).await.ok()["item"]["item_id"], item_id.as_str());
    // The current token rotates again.
    let third = rotate(&emu, &second).await;
    emu.plaid("/item/get", json!({"access_token": second})).await.err(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN");
    emu.plaid("/item/get", json!({"access_token": third})).await.ok();

    // Unknown and malformed tokens.
    let r = emu.plaid(INVALIDATE, json!({"access_token": "access-sandbox-8ab976e6-64bc-4b38-98f7-731e7a349970"})).await;
    assert_eq!(r.err(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")["error_message"], UNKNOWN_TOKEN_MESSAGE);
    let r = emu.plaid(INVALIDATE, json!({"access_token": "access-sandbox-nope"})).await;
    let e = r.err(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN");
    assert!(e["error_message"].as_str().unwrap().contains("invalid format"), "{e}");
    let r = emu.plaid(INVALIDATE, json!({"access_token": "public-sandbox-8ab976e6-64bc-4b38-98f7-731e7a349970"})).await;
    r.err(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN");

    // Validated like every endpoint.
    let r = emu.plaid(INVALIDATE, json!({})).await;
    let e = r.err(400, "INVALID_REQUEST", "MISSING_FIELDS");
    assert_eq!(e["error_message"], "the following required fields are missing: access_token");
    let r = emu.plaid(INVALIDATE, json!({"access_token": third, "new_access_token": "x"})).await;
    r.err(400, "INVALID_REQUEST", "UNKNOWN_FIELDS");
    let r = emu.plaid(INVALIDATE, json!({"access_token": 5})).await;
    r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
    let r = emu
        .raw(
            INVALIDATE,
            &[("Content-Type", "application/json")],
            json!({"access_token": third}).to_string().into_bytes(),
        )
        .await;
    r.err(400, "INVALID_INPUT", "INVALID_API_KEYS");
    emu.plaid("/item/get", json!({"access_token": third})).await.ok();

    // A removed Item's token: ITEM_NOT_FOUND, as on every endpoint.
    emu.plaid("/item/remove", json!({"access_token": third})).await.ok();
    emu.plaid(INVALIDATE, json!({"access_token": third})).await.err(400, "ITEM_ERROR", "ITEM_NOT_FOUND");
    emu.plaid("/item/get", json!({"access_token": third})).await.err(400, "ITEM_ERROR", "ITEM_NOT_FOUND");
}

#[tokio::test]
async fn access_token_invalidate_keeps_item_errors_and_rate_limits_per_item() {
    let emu = emulator().await;
    let (old, item_id) = emu.item(None).await;
    // An Item in error rotates too, and stays in error under its new token.
    emu.control().set_condition(&item_id, Condition::ItemLoginRequired, None).unwrap();
    let new = rotate(&emu, &old).await;
    emu.plaid("/accounts/get", json!({"access_token": new})).await.err(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED");
    let r = emu.plaid("/item/get", json!({"access_token": new})).await;
    assert_eq!(r.ok()["item"]["error"]["error_code"], "ITEM_LOGIN_REQUIRED");

    // Plaid publishes no limit for it, so none by default; one set applies per Item across rotations.
    assert!(!emu.control().rate_limits().0.contains_key(INVALIDATE));
    emu.control().set_rate_limits(RateLimits(
        [(INVALIDATE.to_owned(), Limit { per_item: Some(1), per_client: None })].into_iter().collect(),
    ));
    let newer = rotate(&emu, &new).await;
    let r = emu.plaid(INVALIDATE, json!({"access_token": newer})).await;
    let e = r.err(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT");
    assert_eq!(e["error_message"], "rate limit exceeded for attempts to access this item. please try again later");
    emu.plaid("/item/get", json!({"access_token": newer})).await.ok();
    let (other, _) = emu.item(None).await;
    rotate(&emu, &other).await;
}

#[tokio::test]
async fn rotated_access_token_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("plaid-emulator-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let mut config = common::config();
    config.state_file = Some(path.clone());
    config.persist_debounce = Duration::from_millis(10);

    let emu = Emu::start(config.clone()).await;
    let (old, item_id) = emu.item(None).await;
    let (_, _, _, cursor) = emu.sync_all(&old, None, 500).await;
    let new = rotate(&emu, &old).await;
    emu.running.shutdown().await;

    let emu = Emu::start(config).await;
    let r = emu.plaid("/item/get", json!({"access_token": new})).await;
    assert_eq!(r.ok()["item"]["item_id"], item_id.as_str());
    let r = emu.plaid("/transactions/sync", json!({"access_token": new, "cursor": cursor})).await;
    assert!(r.ok()["added"].as_array().unwrap().is_empty());
    let r = emu.plaid("/item/get", json!({"access_token": old})).await;
    assert_eq!(r.err(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")["error_message"], UNKNOWN_TOKEN_MESSAGE);
    assert_eq!(emu.control().item(&item_id).unwrap()["access_token"], new.as_str());
    emu.running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Creates an Item at `institution_id` through `/sandbox/public_token/create` and the exchange; returns
/// its access token.
async fn sandbox_item(emu: &Emu, institution_id: &str) -> String {
    let pt = emu
        .plaid(
            "/sandbox/public_token/create",
            json!({"institution_id": institution_id, "initial_products": ["transactions"]}),
        )
        .await;
    let pt = pt.ok()["public_token"].clone();
    let ex = emu.plaid("/item/public_token/exchange", json!({"public_token": pt})).await;
    let ex = ex.ok().clone();
    assert!(ex.get("accounts").is_none(), "the exchange carries no accounts");
    ex["access_token"].as_str().unwrap().to_owned()
}

/// mask -> (account_id, persistent_account_id) of an `accounts` array; a `null` persistent_account_id fails.
fn persistent_ids(accounts: &Value) -> std::collections::BTreeMap<String, (String, Option<String>)> {
    accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let pid = a.get("persistent_account_id").map(|p| p.as_str().expect("a string, never null").to_owned());
            (a["mask"].as_str().unwrap().to_owned(), (a["account_id"].as_str().unwrap().to_owned(), pid))
        })
        .collect()
}

#[tokio::test]
async fn persistent_account_ids_at_tokenized_institutions() {
    let emu = emulator().await;
    for institution_id in ["ins_56", "ins_13", "ins_127990"] {
        let inst = emu
            .plaid("/institutions/get_by_id", json!({"institution_id": institution_id, "country_codes": ["US"]}))
            .await;
        assert_eq!(inst.ok()["institution"]["oauth"], true, "{institution_id}");
        let (first, second) = (sandbox_item(&emu, institution_id).await, sandbox_item(&emu, institution_id).await);
        let mut seen = Vec::new();
        for token in [&first, &second] {
            let get =
                persistent_ids(&emu.plaid("/accounts/get", json!({"access_token": token})).await.ok()["accounts"]);
            let balance = persistent_ids(
                &emu.plaid("/accounts/balance/get", json!({"access_token": token})).await.ok()["accounts"],
            );
            let sync = emu.plaid("/transactions/sync", json!({"access_token": token})).await;
            let sync = persistent_ids(&sync.ok()["accounts"]);
            assert_eq!(get, balance, "{institution_id}");
            assert_eq!(get, sync, "{institution_id}");
            for (mask, (_, pid)) in &get {
                let depository = ["0000", "1111", "2222", "4444"].contains(&mask.as_str());
                assert_eq!(pid.is_some(), depository, "{institution_id} {mask}: {pid:?}");
            }
            seen.push(get);
        }
        for (mask, (account_id, pid)) in &seen[0] {
            let (other_account_id, other_pid) = &seen[1][mask];
            assert_ne!(account_id, other_account_id, "account_id is per Item");
            assert_eq!(pid, other_pid, "{institution_id} {mask}: persistent_account_id is the same for the same login");
        }
    }
}

#[tokio::test]
async fn no_persistent_account_id_elsewhere() {
    let emu = emulator().await;
    let token = sandbox_item(&emu, "ins_109508").await;
    for endpoint in ["/accounts/get", "/accounts/balance/get", "/transactions/sync"] {
        let r = emu.plaid(endpoint, json!({"access_token": token})).await;
        let accounts = r.ok()["accounts"].as_array().unwrap().clone();
        assert!(!accounts.is_empty());
        for a in &accounts {
            assert!(a.get("persistent_account_id").is_none(), "{endpoint}: key omitted, not null: {a}");
        }
    }
}
