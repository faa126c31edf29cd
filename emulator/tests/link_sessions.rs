//! Hosted Link (its URL's pages driven by an HTTP client as a browser would, the completion redirect, expiry),
//! LINK webhooks (ITEM_ADD_RESULT, EVENTS, SESSION_FINISHED: payloads and order) for hosted sessions and,
//! with Link events enabled, embedded ones, and `/link/token/get` for finished, exited and abandoned sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Emu, Receiver, emulator};
use plaid_emulator::{Condition, Delivery, LinkCompletion, LinkStart};
use serde_json::{Value, json};

/// A browser without JavaScript: follows no redirect, posts forms.
struct Browser {
    http: reqwest::Client,
}

/// A page: status, Location (for a redirect) and HTML.
struct Page {
    status: u16,
    location: Option<String>,
    html: String,
}

impl Page {
    /// The session id of the page's forms.
    fn session(&self) -> String {
        let key = "name=\"session\" value=\"";
        let start = self.html.find(key).unwrap_or_else(|| panic!("a session field in {}", self.html)) + key.len();
        self.html[start..].chars().take_while(|c| *c != '"').collect()
    }
}

impl Browser {
    fn new() -> Self {
        let http = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http }
    }

    async fn page(resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        Page { status, location, html: resp.text().await.unwrap() }
    }

    async fn get(&self, url: &str) -> Page {
        Self::page(self.http.get(url).send().await.unwrap()).await
    }

    async fn post(&self, emu: &Emu, path: &str, form: &[(&str, &str)]) -> Page {
        let body: String =
            form.iter().map(|(k, v)| format!("{k}={}", v.replace(' ', "+"))).collect::<Vec<_>>().join("&");
        let resp = self
            .http
            .post(emu.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        Self::page(resp).await
    }
}

/// A Hosted Link token (with `hosted_link` and the token's other settings); returns (token, hosted_link_url).
async fn hosted_token(emu: &Emu, hosted_link: Value, extra: Value) -> (String, String) {
    let mut body = json!({
        "client_name": "weft",
        "language": "en",
        "country_codes": ["US"],
        "user": {"client_user_id": "user-1"},
        "products": ["transactions"],
        "hosted_link": hosted_link,
    });
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    let r = emu.plaid("/link/token/create", body).await;
    let v = r.ok();
    (v["link_token"].as_str().unwrap().to_owned(), v["hosted_link_url"].as_str().unwrap().to_owned())
}

/// The LINK deliveries logged so far, in the order they were fired.
fn link_deliveries(emu: &Emu) -> Vec<Delivery> {
    emu.control().deliveries(None, None).into_iter().filter(|d| d.webhook_type == "LINK").collect()
}

async fn wait_link(emu: &Emu, n: usize) -> Vec<Delivery> {
    for _ in 0..300 {
        let got = link_deliveries(emu);
        if got.len() >= n && got.iter().all(|d| d.status != plaid_emulator::DeliveryStatus::Pending) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "expected {n} LINK deliveries, got {:?}",
        link_deliveries(emu).iter().map(|d| &d.webhook_code).collect::<Vec<_>>()
    );
}

fn body(d: &Delivery) -> Value {
    serde_json::from_str(&d.body).unwrap()
}

fn codes(ds: &[Delivery]) -> Vec<&str> {
    ds.iter().map(|d| d.webhook_code.as_str()).collect()
}

async fn token_get(emu: &Emu, token: &str) -> Value {
    emu.plaid("/link/token/get", json!({"link_token": token})).await.ok().clone()
}

/// Walks a new-link Hosted Link session through its pages: institution, credentials, accounts.
async fn walk_hosted(emu: &Emu, browser: &Browser, url: &str, masks: &[&str]) -> Page {
    let page = browser.get(url).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("Select your institution"), "{}", page.html);
    assert!(!page.html.contains("plaid-link-messages"), "a hosted page posts no messages");
    let session = page.session();
    let page = browser
        .post(emu, "/__emulator/link/web/institution", &[("session", &session), ("institution_id", "ins_109508")])
        .await;
    assert!(page.html.contains("Enter your credentials"), "{}", page.html);
    let page = browser
        .post(
            emu,
            "/__emulator/link/web/credentials",
            &[("session", &session), ("username", "user_good"), ("password", "pass_good")],
        )
        .await;
    assert!(page.html.contains("Select accounts"), "{}", page.html);
    let mut form = vec![("session", session.as_str())];
    form.extend(masks.iter().map(|m| ("mask", *m)));
    browser.post(emu, "/__emulator/link/web/accounts", &form).await
}

#[tokio::test]
async fn hosted_link_pages_end_with_the_completion_redirect_and_link_webhooks() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (token, url) = hosted_token(
        &emu,
        json!({"completion_redirect_uri": "https://app.example.com/linked?x=1", "url_lifetime_seconds": 3600}),
        json!({"webhook": receiver.url}),
    )
    .await;
    assert!(url.starts_with(&emu.url("/__emulator/hosted/")), "{url}");
    let browser = Browser::new();
    let end = walk_hosted(&emu, &browser, &url, &["0000", "3333"]).await;
    assert_eq!((end.status, end.location.as_deref()), (303, Some("https://app.example.com/linked?x=1")));

    let ds = wait_link(&emu, 3).await;
    assert_eq!(codes(&ds), ["ITEM_ADD_RESULT", "EVENTS", "SESSION_FINISHED"]);
    assert!(ds.iter().all(|d| d.url == receiver.url && !d.plaid_verification.is_empty()));
    let add = body(&ds[0]);
    let public_token = add["public_token"].as_str().unwrap().to_owned();
    let session = add["link_session_id"].as_str().unwrap().to_owned();
    assert_eq!(
        add,
        json!({"environment": "sandbox", "link_session_id": session, "link_token": token,
               "public_token": public_token, "webhook_code": "ITEM_ADD_RESULT", "webhook_type": "LINK"})
    );
    let events = body(&ds[1]);
    assert_eq!((events["link_session_id"].as_str(), events["link_token"].as_str()), (Some(&*session), Some(&*token)));
    let names: Vec<&str> =
        events["events"].as_array().unwrap().iter().map(|e| e["event_name"].as_str().unwrap()).collect();
    assert_eq!(names.first(), Some(&"OPEN"));
    assert_eq!(names.last(), Some(&"HANDOFF"));
    assert!(names.contains(&"SELECT_INSTITUTION") && names.contains(&"SUBMIT_CREDENTIALS"), "{names:?}");
    for e in events["events"].as_array().unwrap() {
        assert_eq!(e["event_id"].as_str().unwrap().len(), 36, "{e}");
        assert!(e["timestamp"].is_string(), "{e}");
        let meta = e["event_metadata"].as_object().unwrap();
        assert!(meta.values().all(|v| !v.is_null()), "no nulls: {e}");
        assert!(meta.contains_key("request_id"), "{e}");
    }
    assert_eq!(
        body(&ds[2]),
        json!({"environment": "sandbox", "link_session_id": session, "link_token": token, "status": "SUCCESS",
               "public_token": public_token, "public_tokens": [public_token],
               "webhook_code": "SESSION_FINISHED", "webhook_type": "LINK"})
    );
    // Delivered to the receiver, signed as every webhook is.
    let got = receiver.wait_for("SESSION_FINISHED", 1).await;
    assert!(got[0].headers.contains_key("plaid-verification"));

    // The public token is the new Item's, and /link/token/get tells the same story.
    let ex = emu.plaid("/item/public_token/exchange", json!({"public_token": public_token})).await;
    let item_id = ex.ok()["item_id"].as_str().unwrap().to_owned();
    let got = token_get(&emu, &token).await;
    assert_eq!(got["link_token"], token.as_str());
    assert_eq!(got["metadata"]["initial_products"], json!(["transactions"]));
    assert_eq!(got["metadata"]["webhook"], receiver.url.as_str());
    let sessions = got["link_sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(s["link_session_id"], session.as_str());
    assert!(s["finished_at"].is_string() && s["started_at"].is_string(), "{s}");
    assert_eq!(s["on_success"]["public_token"], public_token.as_str());
    assert!(s["exit"].is_null() && s["on_exit"].is_null());
    let result = &s["results"]["item_add_results"][0];
    assert_eq!(result["public_token"], public_token.as_str());
    assert_eq!(result["institution"], json!({"name": "First Platypus Bank", "institution_id": "ins_109508"}));
    let masks: Vec<&str> = result["accounts"].as_array().unwrap().iter().map(|a| a["mask"].as_str().unwrap()).collect();
    assert_eq!(masks, ["0000", "3333"]);
    assert_eq!(s["events"], events["events"]);
    assert_eq!(emu.control().item(&item_id).unwrap()["institution_id"], "ins_109508");
}

#[tokio::test]
async fn hosted_link_without_redirect_says_close_the_window_and_exits_are_reported() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (token, url) = hosted_token(&emu, json!({}), json!({"webhook": receiver.url})).await;
    let browser = Browser::new();
    let page = browser.get(&url).await;
    let session = page.session();
    // The user closes Link on the institution list.
    let end = browser.post(&emu, "/__emulator/link/web/exit", &[("session", &session)]).await;
    assert_eq!(end.status, 200);
    assert!(end.html.contains("You can close this window"), "{}", end.html);
    assert!(end.html.contains("data-status=\"exit\""));
    let ds = wait_link(&emu, 2).await;
    assert_eq!(codes(&ds), ["EVENTS", "SESSION_FINISHED"]);
    let finished = body(&ds[1]);
    assert_eq!((finished["status"].as_str(), &finished["public_tokens"]), (Some("EXITED"), &json!([])));
    assert!(finished.get("public_token").is_none());
    let s = &token_get(&emu, &token).await["link_sessions"][0];
    assert_eq!(s["link_session_id"], session.as_str());
    assert_eq!(
        s["exit"],
        json!({"error": null, "metadata": {"institution": null, "link_session_id": session,
        "request_id": s["exit"]["metadata"]["request_id"]}})
    );
    assert_eq!(s["on_exit"], s["exit"]);
    assert!(s["on_success"].is_null());
    assert_eq!(s["results"]["item_add_results"], json!([]));

    // A session that succeeds in the same way ends on the closing page too.
    let end = walk_hosted(&emu, &browser, &url, &["0000"]).await;
    assert_eq!(end.status, 200);
    assert!(end.html.contains("data-status=\"success\""), "{}", end.html);
}

#[tokio::test]
async fn hosted_link_urls_expire_and_are_validated() {
    let emu = emulator().await;
    // Default lifetime: 30 minutes, and the token expires with its URL.
    let r = emu
        .plaid(
            "/link/token/create",
            json!({"client_name": "weft", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"},
                   "products": ["transactions"], "hosted_link": {}}),
        )
        .await;
    let v = r.ok().clone();
    let now = emu.control().now().unix_timestamp();
    let exp =
        time::OffsetDateTime::parse(v["expiration"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp();
    assert!((exp - now - 1800).abs() <= 1, "{v}");
    // Only a hosted token has a URL.
    let plain = emu.link_token(json!({})).await;
    let r = emu
        .plaid(
            "/link/token/create",
            json!({"client_name": "weft", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"},
                   "products": ["transactions"]}),
        )
        .await;
    assert!(r.ok().get("hosted_link_url").is_none());
    assert!(!plain.is_empty());

    let (_, url) = hosted_token(&emu, json!({"url_lifetime_seconds": 60}), json!({})).await;
    let browser = Browser::new();
    assert_eq!(browser.get(&url).await.status, 200);
    emu.control().advance_clock(Duration::from_secs(61)).unwrap();
    let page = browser.get(&url).await;
    assert_eq!(page.status, 410);
    assert!(page.html.contains("This link has expired") && page.html.contains("INVALID_LINK_TOKEN"), "{}", page.html);
    assert_eq!(browser.get(&emu.url("/__emulator/hosted/nope")).await.status, 404);

    let base = json!({"client_name": "weft", "language": "en", "country_codes": ["US"],
                      "user": {"client_user_id": "u"}, "products": ["transactions"]});
    for (hosted, message) in [
        (json!({"completion_redirect_uri": "not a uri"}), "completion_redirect_uri"),
        (json!({"completion_redirect_uri": "myapp://done"}), "completion_redirect_uri"),
        (json!({"url_lifetime_seconds": 0}), "url_lifetime_seconds"),
        (json!({"url_lifetime_seconds": 21 * 86400 + 1}), "url_lifetime_seconds"),
    ] {
        let mut body = base.clone();
        body["hosted_link"] = hosted.clone();
        let r = emu.plaid("/link/token/create", body).await;
        let e = r.err(400, "INVALID_REQUEST", "INVALID_FIELD");
        assert!(e["error_message"].as_str().unwrap().contains(message), "{hosted}: {e}");
    }
    // An app's own scheme is fine for a mobile app, and 21 days is the longest lifetime.
    let mut body = base.clone();
    body["hosted_link"] =
        json!({"completion_redirect_uri": "myapp://done", "is_mobile_app": true, "url_lifetime_seconds": 21 * 86400});
    emu.plaid("/link/token/create", body).await.ok();
}

#[tokio::test]
async fn complete_on_a_hosted_token_fires_the_link_webhooks() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (token, _) = hosted_token(&emu, json!({}), json!({"webhook": receiver.url})).await;
    let outcome =
        emu.control().complete_link(&LinkCompletion { link_token: token.clone(), ..Default::default() }).unwrap();
    let ds = wait_link(&emu, 3).await;
    assert_eq!(codes(&ds), ["ITEM_ADD_RESULT", "EVENTS", "SESSION_FINISHED"]);
    assert_eq!(body(&ds[0])["public_token"], outcome.public_token.clone().unwrap().as_str());
    assert_eq!(body(&ds[2])["link_session_id"], outcome.metadata.unwrap()["link_session_id"]);
    assert_eq!(body(&ds[1])["events"].as_array().unwrap().len(), outcome.events.len());

    // A failed login: EVENTS with the error, then SESSION_FINISHED EXITED.
    emu.control().clear_deliveries();
    let r = emu.post("/__emulator/link/complete", json!({"link_token": token, "password": "error_ITEM_LOCKED"})).await;
    assert_eq!(r.ok()["status"], "exit");
    let ds = wait_link(&emu, 2).await;
    assert_eq!(codes(&ds), ["EVENTS", "SESSION_FINISHED"]);
    let error =
        body(&ds[0])["events"].as_array().unwrap().iter().find(|e| e["event_name"] == "ERROR").cloned().unwrap();
    assert_eq!(error["event_metadata"]["error_code"], "ITEM_LOCKED");
    assert_eq!(body(&ds[1])["status"], "EXITED");
    let got = token_get(&emu, &token).await;
    let sessions = got["link_sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let exited = sessions.iter().find(|s| !s["exit"].is_null()).unwrap();
    assert_eq!(exited["exit"]["error"]["error_code"], "ITEM_LOCKED");
    assert_eq!(exited["exit"]["metadata"]["status"], "requires_credentials");
}

#[tokio::test]
async fn embedded_sessions_send_link_webhooks_only_with_link_events_enabled() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let token = emu.link_token(json!({"webhook": receiver.url})).await;
    let outcome =
        emu.control().complete_link(&LinkCompletion { link_token: token.clone(), ..Default::default() }).unwrap();
    assert_eq!(outcome.status, "success");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(link_deliveries(&emu).is_empty());
    // /link/token/get has the session and its result, not its events.
    let s = token_get(&emu, &token).await["link_sessions"][0].clone();
    assert_eq!(s["on_success"]["public_token"], outcome.public_token.clone().unwrap().as_str());
    assert_eq!(s["events"], json!([]));

    assert_eq!(emu.get("/__emulator/config/link_events").await.ok()["enabled"], false);
    let r = emu.post("/__emulator/config/link_events", json!({"enabled": true})).await;
    assert_eq!(r.ok(), &json!({"enabled": true}));
    assert!(emu.control().link_events());
    let token = emu.link_token(json!({"webhook": receiver.url})).await;
    emu.control().complete_link(&LinkCompletion { link_token: token.clone(), ..Default::default() }).unwrap();
    let ds = wait_link(&emu, 3).await;
    assert_eq!(codes(&ds), ["ITEM_ADD_RESULT", "EVENTS", "SESSION_FINISHED"]);
    assert!(token_get(&emu, &token).await["link_sessions"][0]["events"].as_array().unwrap().len() > 5);

    // A token without a webhook: nothing sent, the session still recorded.
    let token = emu.link_token(json!({})).await;
    emu.control().complete_link(&LinkCompletion { link_token: token.clone(), ..Default::default() }).unwrap();
    assert_eq!(token_get(&emu, &token).await["link_sessions"].as_array().unwrap().len(), 1);
    emu.post("/__emulator/config/link_events", json!({"enabled": false})).await.ok();
    assert!(!emu.control().link_events());
    assert_eq!(link_deliveries(&emu).len(), 3);
}

#[tokio::test]
async fn link_events_can_be_on_from_the_start() {
    let emu = Emu::start(plaid_emulator::EmulatorConfig { link_events: true, ..common::config() }).await;
    let receiver = Receiver::start().await;
    let token = emu.link_token(json!({"webhook": receiver.url})).await;
    let r = emu.post("/__emulator/link/complete", json!({"link_token": token, "password": "wrong"})).await;
    assert_eq!(r.ok()["status"], "exit");
    let ds = wait_link(&emu, 2).await;
    assert_eq!(codes(&ds), ["EVENTS", "SESSION_FINISHED"]);
}

#[tokio::test]
async fn abandoned_sessions_show_unfinished_and_can_be_finished_later() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (token, _) = hosted_token(&emu, json!({}), json!({"webhook": receiver.url})).await;
    let r = emu.post("/__emulator/link/start", json!({"link_token": token, "institution_id": "ins_109511"})).await;
    let started = r.ok().clone();
    assert_eq!(started["finished"], false);
    let id = started["link_session_id"].as_str().unwrap().to_owned();
    // A closed tab: no webhook, and /link/token/get shows the session unfinished with its events so far.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(link_deliveries(&emu).is_empty());
    let s = token_get(&emu, &token).await["link_sessions"][0].clone();
    assert_eq!(s["link_session_id"], id.as_str());
    assert!(s["finished_at"].is_null() && s["on_success"].is_null() && s["exit"].is_null() && s["results"].is_null());
    let names: Vec<&str> = s["events"].as_array().unwrap().iter().map(|e| e["event_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["OPEN", "TRANSITION_VIEW", "TRANSITION_VIEW", "SELECT_INSTITUTION", "TRANSITION_VIEW"]);
    let first_ids: Vec<Value> = s["events"].as_array().unwrap().iter().map(|e| e["event_id"].clone()).collect();

    // Another institution than the one picked is refused; the session stays as it was.
    let bad = LinkCompletion {
        link_token: token.clone(),
        link_session_id: Some(id.clone()),
        institution_id: Some("ins_109508".into()),
        ..Default::default()
    };
    assert_eq!(emu.control().complete_link(&bad).unwrap_err().error_code, "INVALID_FIELD");
    let unknown =
        LinkCompletion { link_token: token.clone(), link_session_id: Some("nope".into()), ..Default::default() };
    assert_eq!(emu.control().complete_link(&unknown).unwrap_err().error_code, "INVALID_FIELD");

    // Finished later: same session, events continued, the Item at the institution picked.
    let done = LinkCompletion { link_token: token.clone(), link_session_id: Some(id.clone()), ..Default::default() };
    let outcome = emu.control().complete_link(&done).unwrap();
    assert_eq!(outcome.status, "success");
    assert_eq!(outcome.metadata.as_ref().unwrap()["link_session_id"], id.as_str());
    assert_eq!(outcome.metadata.as_ref().unwrap()["institution"]["institution_id"], "ins_109511");
    let ds = wait_link(&emu, 3).await;
    assert!(ds.iter().all(|d| body(d)["link_session_id"] == id.as_str()));
    let s = token_get(&emu, &token).await["link_sessions"][0].clone();
    assert!(s["finished_at"].is_string());
    let ids: Vec<Value> = s["events"].as_array().unwrap().iter().map(|e| e["event_id"].clone()).collect();
    assert_eq!(&ids[..first_ids.len()], &first_ids[..]);
    assert_eq!(s["events"].as_array().unwrap().last().unwrap()["event_name"], "HANDOFF");
    // Finished sessions cannot be finished again.
    assert_eq!(emu.control().complete_link(&done).unwrap_err().error_code, "INVALID_FIELD");

    // Kept six hours after the end, then forgotten (the token is still known).
    emu.control().advance_clock(Duration::from_secs(6 * 3600 - 60)).unwrap();
    assert_eq!(token_get(&emu, &token).await["link_sessions"].as_array().unwrap().len(), 1);
    emu.control().advance_clock(Duration::from_secs(120)).unwrap();
    assert_eq!(token_get(&emu, &token).await["link_sessions"], json!([]));

    // The Rust API, and a start on an unknown token (ended at once).
    let token = emu.link_token(json!({})).await;
    let started = emu.control().start_link(&LinkStart { link_token: token.clone(), institution_id: None }).unwrap();
    assert!(!started.finished);
    let gone =
        emu.control().start_link(&LinkStart { link_token: "link-sandbox-nope".into(), institution_id: None }).unwrap();
    assert!(gone.finished);
    let r =
        emu.plaid("/link/token/get", json!({"link_token": "link-sandbox-00000000-0000-0000-0000-000000000000"})).await;
    r.err(400, "INVALID_INPUT", "INVALID_LINK_TOKEN");
    emu.plaid("/link/token/get", json!({})).await.err(400, "INVALID_REQUEST", "MISSING_FIELDS");
}

#[tokio::test]
async fn hosted_update_mode_sends_no_item_add_result_and_no_public_token() {
    let emu = emulator().await;
    let receiver = Receiver::start().await;
    let (access_token, item_id) = emu.item(None).await;
    emu.control().set_condition(&item_id, Condition::ItemLoginRequired, None).unwrap();
    let (token, url) = hosted_token(
        &emu,
        json!({"completion_redirect_uri": "https://app.example.com/done"}),
        json!({"access_token": access_token, "webhook": receiver.url}),
    )
    .await;
    let browser = Browser::new();
    let page = browser.get(&url).await;
    assert!(page.html.contains("Enter your credentials") && page.html.contains("Update mode"), "{}", page.html);
    let end = browser
        .post(
            &emu,
            "/__emulator/link/web/credentials",
            &[("session", &page.session()), ("username", "user_good"), ("password", "pass_good")],
        )
        .await;
    assert_eq!((end.status, end.location.as_deref()), (303, Some("https://app.example.com/done")));
    let ds = wait_link(&emu, 2).await;
    assert_eq!(codes(&ds), ["EVENTS", "SESSION_FINISHED"]);
    let finished = body(&ds[1]);
    assert_eq!((finished["status"].as_str(), &finished["public_tokens"]), (Some("SUCCESS"), &json!([])));
    assert!(finished.get("public_token").is_none());
    assert!(emu.control().item(&item_id).unwrap()["error"].is_null(), "repaired");
    let s = token_get(&emu, &token).await["link_sessions"][0].clone();
    assert!(s["on_success"].is_null());
    assert_eq!(s["results"]["item_add_results"], json!([]));
}
