//! The Link simulation: normal and update mode, OAuth, account filters and selection, failures
//! in onExit's shape, and the HTML walkthrough.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Receiver, emulator};
use plaid_emulator::{Condition, LinkCompletion};
use serde_json::{Value, json};

fn event_names(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event_name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn success_gives_public_token_and_link_metadata() {
    let emu = emulator().await;
    let token = emu.link_token(json!({})).await;
    let r = emu
        .post(
            "/__emulator/link/complete",
            json!({"link_token": token, "institution_id": "ins_109511", "username": "user_good", "password": "pass_good"}),
        )
        .await;
    let out = r.ok().clone();
    assert_eq!(out["status"], "success");
    let pt = out["public_token"].as_str().unwrap();
    assert!(pt.starts_with("public-sandbox-"));
    let meta = &out["metadata"];
    assert_eq!(meta["institution"], json!({"name": "Tartan Bank", "institution_id": "ins_109511"}));
    assert_eq!(meta["transfer_status"], Value::Null);
    let session = meta["link_session_id"].as_str().unwrap();
    let accounts = meta["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 9);
    for a in accounts {
        let keys: Vec<&String> = a.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 7, "{a}");
        assert_eq!(a["verification_status"], Value::Null);
        assert_eq!(a["class_type"], Value::Null);
    }
    let events = out["events"].as_array().unwrap();
    assert_eq!(
        event_names(events),
        [
            "OPEN",
            "TRANSITION_VIEW",
            "TRANSITION_VIEW",
            "SELECT_INSTITUTION",
            "TRANSITION_VIEW",
            "SUBMIT_CREDENTIALS",
            "TRANSITION_VIEW",
            "TRANSITION_VIEW",
            "TRANSITION_VIEW",
            "HANDOFF"
        ]
    );
    for e in events {
        let m = &e["metadata"];
        assert_eq!(m["link_session_id"], session);
        for key in [
            "request_id",
            "institution_id",
            "institution_name",
            "error_type",
            "error_code",
            "error_message",
            "exit_status",
            "view_name",
            "timestamp",
        ] {
            assert!(m.get(key).is_some(), "{key} in {e}");
        }
        assert!(m["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    // The ids in the metadata are the Item's account ids.
    let ex = emu.plaid("/item/public_token/exchange", json!({"public_token": pt})).await;
    let access = ex.ok()["access_token"].as_str().unwrap().to_owned();
    let acc = emu.plaid("/accounts/get", json!({"access_token": access})).await;
    let mut ids: Vec<&str> =
        acc.ok()["accounts"].as_array().unwrap().iter().map(|a| a["account_id"].as_str().unwrap()).collect();
    let mut meta_ids: Vec<&str> = accounts.iter().map(|a| a["id"].as_str().unwrap()).collect();
    ids.sort();
    meta_ids.sort();
    assert_eq!(ids, meta_ids);
}

#[tokio::test]
async fn error_passwords_exit_with_the_error() {
    let emu = emulator().await;
    let token = emu.link_token(json!({})).await;
    let out = emu
        .control()
        .complete_link(&LinkCompletion {
            link_token: token.clone(),
            password: Some("error_ITEM_LOCKED".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.status, "exit");
    assert!(out.public_token.is_none() && out.metadata.is_none());
    let exit = out.exit.unwrap();
    assert_eq!(exit["error"]["error_type"], "ITEM_ERROR");
    assert_eq!(exit["error"]["error_code"], "ITEM_LOCKED");
    assert!(exit["error"].get("display_message").is_some());
    assert_eq!(exit["metadata"]["status"], "requires_credentials");
    assert_eq!(exit["metadata"]["institution"]["institution_id"], "ins_109508");
    assert!(exit["metadata"]["link_session_id"].is_string() && exit["metadata"]["request_id"].is_string());
    let names = event_names(&out.events);
    assert_eq!(&names[names.len() - 3..], ["TRANSITION_VIEW", "ERROR", "EXIT"]);
    let error_event = &out.events[out.events.len() - 2]["metadata"];
    assert_eq!(error_event["error_code"], "ITEM_LOCKED");
    assert_eq!(out.events.last().unwrap()["metadata"]["exit_status"], "requires_credentials");

    let out = emu
        .control()
        .complete_link(&LinkCompletion {
            link_token: token,
            password: Some("error_INSTITUTION_DOWN".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.exit.unwrap()["error"]["error_type"], "INSTITUTION_ERROR");
}

#[tokio::test]
async fn oauth_institutions_need_a_redirect_uri() {
    let emu = emulator().await;
    let token = emu.link_token(json!({})).await;
    let completion = |t: &str| LinkCompletion {
        link_token: t.to_owned(),
        institution_id: Some("ins_127287".into()),
        ..Default::default()
    };
    let out = emu.control().complete_link(&completion(&token)).unwrap();
    assert_eq!(out.status, "exit");
    assert_eq!(out.exit.unwrap()["metadata"]["status"], "requires_oauth");
    let token = emu.link_token(json!({"redirect_uri": "https://app.example/oauth-return"})).await;
    let out = emu.control().complete_link(&completion(&token)).unwrap();
    assert_eq!(out.status, "success");
    let names = event_names(&out.events);
    assert!(names.contains(&"OPEN_OAUTH"), "{names:?}");
    assert!(!names.contains(&"SUBMIT_CREDENTIALS"));
}

#[tokio::test]
async fn unsupported_institution_exits() {
    let emu = emulator().await;
    let token = emu.link_token(json!({})).await;
    let out = emu
        .control()
        .complete_link(&LinkCompletion {
            link_token: token,
            institution_id: Some("ins_133402".into()),
            ..Default::default()
        })
        .unwrap();
    let exit = out.exit.unwrap();
    assert_eq!(exit["error"]["error_code"], "PRODUCTS_NOT_SUPPORTED");
    assert_eq!(exit["metadata"]["status"], "institution_not_supported");
}

#[tokio::test]
async fn account_filters_and_selection() {
    let emu = emulator().await;
    let token =
        emu.link_token(json!({"account_filters": {"depository": {"account_subtypes": ["checking", "savings"]}}})).await;
    let out = emu.control().complete_link(&LinkCompletion { link_token: token.clone(), ..Default::default() }).unwrap();
    let accounts = out.metadata.unwrap()["accounts"].as_array().unwrap().clone();
    let mut subtypes: Vec<&str> = accounts.iter().map(|a| a["subtype"].as_str().unwrap()).collect();
    subtypes.sort();
    assert_eq!(subtypes, ["checking", "savings"]);
    // Selection by mask among what the filters allow.
    let out = emu
        .control()
        .complete_link(&LinkCompletion {
            link_token: token.clone(),
            account_masks: Some(vec!["1111".into()]),
            ..Default::default()
        })
        .unwrap();
    let meta = out.metadata.unwrap();
    assert_eq!(meta["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(meta["accounts"][0]["mask"], "1111");
    let ex = emu.plaid("/item/public_token/exchange", json!({"public_token": out.public_token.unwrap()})).await;
    let access = ex.ok()["access_token"].as_str().unwrap().to_owned();
    let acc = emu.plaid("/accounts/get", json!({"access_token": access})).await;
    assert_eq!(acc.ok()["accounts"].as_array().unwrap().len(), 1);
    // A mask the filters exclude is a bad simulation request.
    let err = emu
        .control()
        .complete_link(&LinkCompletion {
            link_token: token.clone(),
            account_masks: Some(vec!["3333".into()]),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.error_code, "INVALID_FIELD");
    // Filters that leave nothing: NO_ACCOUNTS.
    let token = emu.link_token(json!({"account_filters": {"credit": {"account_subtypes": ["paypal"]}}})).await;
    let out = emu.control().complete_link(&LinkCompletion { link_token: token, ..Default::default() }).unwrap();
    assert_eq!(out.exit.unwrap()["error"]["error_code"], "NO_ACCOUNTS");
    // Products restrict accounts too: auth only offers checking and savings.
    let token = emu.link_token(json!({"products": ["auth"]})).await;
    let out = emu.control().complete_link(&LinkCompletion { link_token: token, ..Default::default() }).unwrap();
    assert_eq!(out.metadata.unwrap()["accounts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn reset_login_then_update_mode_repairs_the_item() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (access, item_id) = emu.item(Some(&receiver.url)).await;
    emu.plaid("/sandbox/item/reset_login", json!({"access_token": access})).await.ok();
    let error_hook = receiver.wait_for("ERROR", 1).await;
    let hook = error_hook[0].json();
    assert_eq!(hook["webhook_type"], "ITEM");
    assert_eq!(hook["error"]["error_code"], "ITEM_LOGIN_REQUIRED");
    assert_eq!(hook["error"]["status"], 400);
    assert_eq!(hook["environment"], "sandbox");

    let r = emu.plaid("/item/get", json!({"access_token": access})).await;
    assert_eq!(r.ok()["item"]["error"]["error_code"], "ITEM_LOGIN_REQUIRED");
    for path in ["/accounts/get", "/transactions/sync", "/accounts/balance/get"] {
        let r = emu.plaid(path, json!({"access_token": access})).await;
        r.err(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED");
    }
    // Update mode: link token with the access token, no products.
    let r = emu
        .plaid("/link/token/create", json!({"client_name": "weft", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"}, "access_token": access}))
        .await;
    let token = r.ok()["link_token"].as_str().unwrap().to_owned();
    // Wrong password first: still broken.
    let out = emu
        .control()
        .complete_link(&LinkCompletion {
            link_token: token.clone(),
            password: Some("nope".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(out.status, "exit");
    let r = emu.plaid("/accounts/get", json!({"access_token": access})).await;
    r.err(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED");
    let out = emu.control().complete_link(&LinkCompletion { link_token: token, ..Default::default() }).unwrap();
    assert_eq!(out.status, "success");
    assert!(out.public_token.is_none(), "update mode returns no public token");
    assert_eq!(out.item_id.as_deref(), Some(item_id.as_str()));
    assert!(!event_names(&out.events).contains(&"SELECT_INSTITUTION"));
    let r = emu.plaid("/item/get", json!({"access_token": access})).await;
    assert_eq!(r.ok()["item"]["error"], Value::Null);
    // Plaid fires LOGIN_REPAIRED only for repairs made outside the app's update mode.
    assert!(emu.control().deliveries(Some(&item_id), Some("LOGIN_REPAIRED")).is_empty());
    emu.plaid("/accounts/get", json!({"access_token": access})).await.ok();
    emu.plaid("/transactions/sync", json!({"access_token": access})).await.ok();
}

#[tokio::test]
async fn update_mode_with_account_selection_adds_new_accounts() {
    let emu = emulator().await;
    let (access, _) = emu.item(None).await;
    emu.control().set_condition(&access, Condition::NewAccountsAvailable, None).unwrap();
    let view = emu.control().item(&access).unwrap();
    assert_eq!(view["new_accounts"].as_array().unwrap().len(), 1);
    let r = emu
        .plaid(
            "/link/token/create",
            json!({"client_name": "weft", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"},
                   "access_token": access, "update": {"account_selection_enabled": true}}),
        )
        .await;
    let token = r.ok()["link_token"].as_str().unwrap().to_owned();
    let out = emu.control().complete_link(&LinkCompletion { link_token: token, ..Default::default() }).unwrap();
    assert_eq!(out.status, "success");
    assert!(out.events.iter().any(|e| e["metadata"]["view_name"] == "SELECT_ACCOUNT"));
    let r = emu.plaid("/accounts/get", json!({"access_token": access})).await;
    let accounts = r.ok()["accounts"].as_array().unwrap().clone();
    assert_eq!(accounts.len(), 10);
    assert!(accounts.iter().any(|a| a["mask"] == "9999"));
    let view = emu.control().item(&access).unwrap();
    assert!(view["new_accounts"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn html_walkthrough() {
    let emu = emulator().await;
    let token = emu.link_token(json!({})).await;
    let page = emu.http.get(emu.url(&format!("/__emulator/link?token={token}"))).send().await.unwrap();
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("First Platypus Bank") && html.contains("/__emulator/link/credentials"));
    assert!(!html.contains("http://") && !html.contains("https://"), "no external assets");
    let html = emu
        .http
        .get(emu.url(&format!("/__emulator/link/credentials?token={token}&institution_id=ins_109510")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Tattersall") && html.contains("name=\"password\""));
    let form = |pairs: &[(&str, &str)]| {
        pairs.iter().map(|(k, v)| format!("{k}={}", v.replace(' ', "+"))).collect::<Vec<_>>().join("&")
    };
    let html = emu
        .http
        .post(emu.url("/__emulator/link/accounts"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("token", &token),
            ("institution_id", "ins_109510"),
            ("username", "user_good"),
            ("password", "pass_good"),
        ]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Plaid Checking") && html.contains("value=\"0000\""));
    let html = emu
        .http
        .post(emu.url("/__emulator/link/finish"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("token", &token),
            ("institution_id", "ins_109510"),
            ("username", "user_good"),
            ("password", "pass_good"),
            ("mask", "0000"),
            ("mask", "3333"),
        ]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html.find("public-sandbox-").expect("public token shown");
    let pt: String = html[start..].chars().take_while(|c| *c != '<').collect();
    let ex = emu.plaid("/item/public_token/exchange", json!({"public_token": pt})).await;
    let access = ex.ok()["access_token"].as_str().unwrap().to_owned();
    let acc = emu.plaid("/accounts/get", json!({"access_token": access})).await;
    assert_eq!(acc.ok()["accounts"].as_array().unwrap().len(), 2);
    // A failing password shows the exit error.
    let html = emu
        .http
        .post(emu.url("/__emulator/link/accounts"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("token", &token),
            ("institution_id", "ins_109510"),
            ("username", "user_good"),
            ("password", "error_ITEM_LOCKED"),
        ]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("ITEM_LOCKED"));
    // Unknown token.
    let html = emu.http.get(emu.url("/__emulator/link?token=nope")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("INVALID_LINK_TOKEN"));
}
