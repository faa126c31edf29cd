//! Plaid Link's web API: the SDK script route, and the Link pages it opens, driven as the iframe would drive
//! them; each page's `postMessage` payloads are read from the JSON it embeds for `page.js`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Emu, emulator};
use plaid_emulator::{Condition, LinkCompletion};
use serde_json::{Value, json};

const ORIGIN: &str = "http://app.test:8080";

/// One page of the Link iframe: its HTML and the messages it posts to the app.
struct Page {
    status: u16,
    html: String,
    messages: Vec<Value>,
    config: Value,
}

impl Page {
    async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/html"), "{ct}");
        let html = resp.text().await.unwrap();
        let block = |id: &str| -> Value {
            let open = format!("<script type=\"application/json\" id=\"{id}\">");
            match html.find(&open) {
                Some(start) => {
                    let rest = &html[start + open.len()..];
                    serde_json::from_str(&rest[..rest.find("</script>").unwrap()]).unwrap()
                }
                None => Value::Null,
            }
        };
        let messages = block("plaid-link-messages").as_array().cloned().unwrap_or_default();
        let config = block("plaid-link-config");
        Self { status, html, messages, config }
    }

    /// The event names posted, in order.
    fn events(&self) -> Vec<String> {
        self.messages
            .iter()
            .filter(|m| m["action"] == "event")
            .map(|m| m["event_name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The last message (onSuccess or onExit when the session ended).
    fn last(&self) -> &Value {
        self.messages.last().unwrap()
    }

    /// The session id of the page's forms.
    fn session(&self) -> String {
        let key = "name=\"session\" value=\"";
        let start = self.html.find(key).expect("a session field") + key.len();
        self.html[start..].chars().take_while(|c| *c != '"').collect()
    }
}

struct Web<'a> {
    emu: &'a Emu,
    http: reqwest::Client,
}

impl<'a> Web<'a> {
    fn new(emu: &'a Emu) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { emu, http }
    }

    async fn open(&self, query: &[(&str, &str)]) -> Page {
        let q: String = form_urlencoded(query);
        Page::from(self.http.get(self.emu.url(&format!("/__emulator/link/web?{q}"))).send().await.unwrap()).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Page::from(self.post_raw(path, form).await).await
    }

    async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.emu.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_urlencoded(form))
            .send()
            .await
            .unwrap()
    }
}

fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Every message is pinned to this page's channel and comes from the emulator's Link.
fn assert_envelopes(page: &Page, channel: &str) {
    assert_eq!(page.config, json!({"origin": ORIGIN, "channel": channel}));
    for m in &page.messages {
        assert_eq!(m["source"], "plaid-emulator-link", "{m}");
        assert_eq!(m["channel"], channel, "{m}");
    }
}

/// onEvent's metadata carries every key Plaid documents.
fn assert_event_metadata(m: &Value, session: &str) {
    let meta = &m["metadata"];
    for key in [
        "error_code",
        "error_message",
        "error_type",
        "exit_status",
        "institution_id",
        "institution_name",
        "institution_search_query",
        "link_session_id",
        "mfa_type",
        "request_id",
        "selection",
        "timestamp",
        "view_name",
    ] {
        assert!(meta.get(key).is_some(), "{key} in {m}");
    }
    assert_eq!(meta["link_session_id"], session);
}

#[tokio::test]
async fn the_sdk_script_is_served_as_javascript() {
    let emu = emulator().await;
    let resp = emu.http.get(emu.url("/link/v2/stable/link-initialize.js")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/javascript; charset=utf-8");
    let js = resp.text().await.unwrap();
    for needle in
        ["window.Plaid", "create", "onSuccess", "onExit", "onEvent", "onLoad", "receivedRedirectUri", "destroy"]
    {
        assert!(js.contains(needle), "{needle}");
    }
    let resp = emu.http.get(emu.url("/__emulator/link/web/page.js")).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(resp.text().await.unwrap().contains("postMessage"));
    // Not Plaid's POST API: other methods on the script's path are still Plaid-shaped 404s.
    let r = emu.post("/link/v2/stable/link-initialize.js", json!({})).await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn a_new_link_posts_every_step_then_on_success() {
    let emu = emulator().await;
    let web = Web::new(&emu);
    let token = emu.link_token(json!({})).await;

    let p = web.open(&[("token", &token), ("origin", ORIGIN), ("channel", "ch1")]).await;
    assert_eq!(p.status, 200);
    assert_envelopes(&p, "ch1");
    assert_eq!(p.events(), ["OPEN", "TRANSITION_VIEW", "TRANSITION_VIEW"]);
    assert!(p.html.contains("Tartan Bank") && p.html.contains("id=\"plaid-link-close\""));
    let session = p.session();
    for m in &p.messages {
        assert_event_metadata(m, &session);
    }
    assert_eq!(p.messages[1]["metadata"]["view_name"], "CONSENT");
    let mut names = p.events();

    let p =
        web.post("/__emulator/link/web/institution", &[("session", &session), ("institution_id", "ins_109511")]).await;
    assert_envelopes(&p, "ch1");
    assert_eq!(p.events(), ["SELECT_INSTITUTION", "TRANSITION_VIEW"]);
    assert_eq!(p.messages[0]["metadata"]["institution_id"], "ins_109511");
    assert_eq!(p.messages[0]["metadata"]["institution_name"], "Tartan Bank");
    assert_eq!(p.messages[1]["metadata"]["view_name"], "CREDENTIAL");
    names.extend(p.events());

    let p = web
        .post(
            "/__emulator/link/web/credentials",
            &[("session", &session), ("username", "user_good"), ("password", "pass_good")],
        )
        .await;
    assert_eq!(p.events(), ["SUBMIT_CREDENTIALS", "TRANSITION_VIEW", "TRANSITION_VIEW"]);
    assert_eq!(p.messages[2]["metadata"]["view_name"], "SELECT_ACCOUNT");
    assert!(p.html.contains("value=\"0000\"") && p.html.contains("value=\"3333\""));
    names.extend(p.events());

    let p =
        web.post("/__emulator/link/web/accounts", &[("session", &session), ("mask", "0000"), ("mask", "3333")]).await;
    assert_envelopes(&p, "ch1");
    assert_eq!(p.events(), ["TRANSITION_VIEW", "HANDOFF"]);
    assert!(!p.html.contains("id=\"plaid-link-close\""), "no Close once Link ended");
    names.extend(p.events());
    let success = p.last();
    assert_eq!(success["action"], "success");
    let public_token = success["public_token"].as_str().unwrap();
    assert!(public_token.starts_with("public-sandbox-"));
    let meta = &success["metadata"];
    assert_eq!(meta["institution"], json!({"name": "Tartan Bank", "institution_id": "ins_109511"}));
    assert_eq!(meta["link_session_id"], session);
    assert_eq!(meta["transfer_status"], Value::Null);
    let accounts = meta["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    for a in accounts {
        for key in ["id", "name", "mask", "type", "subtype", "verification_status"] {
            assert!(a.get(key).is_some(), "{key} in {a}");
        }
    }

    // The same events, in the same order, as the one-shot simulation of the same session.
    let token2 = emu.link_token(json!({})).await;
    let out = emu
        .control()
        .complete_link(&LinkCompletion {
            link_token: token2,
            institution_id: Some("ins_109511".into()),
            account_masks: Some(vec!["0000".into(), "3333".into()]),
            ..Default::default()
        })
        .unwrap();
    let expected: Vec<String> = out.events.iter().map(|e| e["event_name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, expected);

    // The public token exchanges for the Item with those two accounts.
    let ex = emu.plaid("/item/public_token/exchange", json!({"public_token": public_token})).await;
    let access = ex.ok()["access_token"].as_str().unwrap().to_owned();
    let acc = emu.plaid("/accounts/get", json!({"access_token": access})).await;
    assert_eq!(acc.ok()["accounts"].as_array().unwrap().len(), 2);

    // The session is over: its forms no longer work.
    let r = web.post_raw("/__emulator/link/web/accounts", &[("session", &session), ("mask", "0000")]).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn closing_link_exits_with_the_panes_status_and_no_error() {
    let emu = emulator().await;
    let web = Web::new(&emu);
    let token = emu.link_token(json!({})).await;
    let p = web.open(&[("token", &token), ("origin", ORIGIN), ("channel", "c")]).await;
    let session = p.session();
    web.post("/__emulator/link/web/institution", &[("session", &session), ("institution_id", "ins_109508")]).await;
    let p = web.post("/__emulator/link/web/exit", &[("session", &session)]).await;
    assert_envelopes(&p, "c");
    assert_eq!(p.events(), ["EXIT"]);
    assert_eq!(p.messages[0]["metadata"]["exit_status"], "requires_credentials");
    let exit = p.last();
    assert_eq!(exit["action"], "exit");
    assert_eq!(exit["error"], Value::Null);
    assert_eq!(exit["metadata"]["institution"], json!({"name": "First Platypus Bank", "institution_id": "ins_109508"}));
    assert_eq!(exit["metadata"]["status"], "requires_credentials");
    assert_eq!(exit["metadata"]["link_session_id"], session);
    assert!(exit["metadata"]["request_id"].is_string());

    // Closing on the institution list: no institution, no status.
    let token = emu.link_token(json!({})).await;
    let p = web.open(&[("token", &token), ("origin", ORIGIN), ("channel", "c")]).await;
    let p = web.post("/__emulator/link/web/exit", &[("session", &p.session())]).await;
    assert_eq!(p.last()["metadata"]["institution"], Value::Null);
    assert_eq!(p.last()["metadata"]["status"], Value::Null);
}

#[tokio::test]
async fn a_failed_login_exits_with_the_error() {
    let emu = emulator().await;
    let web = Web::new(&emu);
    let token = emu.link_token(json!({})).await;
    let p = web.open(&[("token", &token), ("origin", ORIGIN), ("channel", "c")]).await;
    let session = p.session();
    web.post("/__emulator/link/web/institution", &[("session", &session), ("institution_id", "ins_109508")]).await;
    let p = web
        .post(
            "/__emulator/link/web/credentials",
            &[("session", &session), ("username", "user_good"), ("password", "error_ITEM_LOCKED")],
        )
        .await;
    assert_eq!(p.events(), ["SUBMIT_CREDENTIALS", "TRANSITION_VIEW", "ERROR", "EXIT"]);
    assert_eq!(p.messages[2]["metadata"]["error_code"], "ITEM_LOCKED");
    let exit = p.last();
    assert_eq!(exit["action"], "exit");
    assert_eq!(exit["error"]["error_code"], "ITEM_LOCKED");
    assert_eq!(exit["error"]["error_type"], "ITEM_ERROR");
    assert!(exit["error"].get("display_message").is_some());
    assert_eq!(exit["metadata"]["status"], "requires_credentials");

    // An unknown link token ends Link at once.
    let p = web.open(&[("token", "link-sandbox-nope"), ("origin", ORIGIN), ("channel", "c")]).await;
    assert_eq!(p.last()["action"], "exit");
    assert_eq!(p.last()["error"]["error_code"], "INVALID_LINK_TOKEN");
}

#[tokio::test]
async fn update_mode_logs_in_again_and_repairs_the_item() {
    let emu = emulator().await;
    let web = Web::new(&emu);
    let (access, item_id) = emu.item(None).await;
    emu.control().set_condition(&item_id, Condition::ItemLoginRequired, None).unwrap();
    let token = emu.link_token(json!({"access_token": access, "products": null})).await;
    let p = web.open(&[("token", &token), ("origin", ORIGIN), ("channel", "u")]).await;
    assert_eq!(p.events(), ["OPEN", "TRANSITION_VIEW"]);
    assert_eq!(p.messages[1]["metadata"]["view_name"], "CREDENTIAL");
    assert_eq!(p.messages[1]["metadata"]["institution_id"], "ins_109508");
    assert!(p.html.contains("Update mode"));
    let p = web
        .post(
            "/__emulator/link/web/credentials",
            &[("session", &p.session()), ("username", "user_good"), ("password", "pass_good")],
        )
        .await;
    assert_eq!(p.events(), ["SUBMIT_CREDENTIALS", "TRANSITION_VIEW", "TRANSITION_VIEW", "HANDOFF"]);
    let success = p.last();
    assert_eq!(success["action"], "success");
    assert_eq!(success["public_token"], Value::Null, "update mode hands no new public token");
    assert_eq!(success["metadata"]["institution"]["institution_id"], "ins_109508");
    assert_eq!(emu.control().item(&item_id).unwrap()["error"], Value::Null);
}

#[tokio::test]
async fn oauth_sends_the_page_to_the_bank_and_resumes_after_the_redirect() {
    let emu = emulator().await;
    let web = Web::new(&emu);
    let redirect_uri = "http://app.test:8080/app/";
    let token = emu.link_token(json!({"redirect_uri": redirect_uri})).await;
    let p = web.open(&[("token", &token), ("origin", ORIGIN), ("channel", "o1")]).await;
    let session = p.session();
    let p =
        web.post("/__emulator/link/web/institution", &[("session", &session), ("institution_id", "ins_127287")]).await;
    assert_eq!(p.events(), ["SELECT_INSTITUTION", "TRANSITION_VIEW", "OPEN_OAUTH"]);
    assert_eq!(p.messages[1]["metadata"]["view_name"], "OAUTH");
    // The OAuth pane's button sends the app's window to the bank's page (page.js posts oauth_redirect).
    let key = "data-url=\"";
    let start = p.html.find(key).unwrap() + key.len();
    let bank: String = p.html[start..].chars().take_while(|c| *c != '"').collect();
    assert!(bank.starts_with("/__emulator/link/oauth?oauth_state_id="), "{bank}");
    let state_id = bank.split('=').nth(1).unwrap().to_owned();

    let page = web.http.get(emu.url(&bank)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Platypus OAuth Bank"));
    let r = web
        .post_raw(
            "/__emulator/link/oauth",
            &[
                ("oauth_state_id", &state_id),
                ("username", "user_good"),
                ("password", "pass_good"),
                ("decision", "authorize"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("{redirect_uri}?oauth_state_id={state_id}"));

    // A receivedRedirectUri that is not the token's redirect_uri does not resume.
    let p = web
        .open(&[
            ("token", &token),
            ("origin", ORIGIN),
            ("channel", "o2"),
            ("oauth_state_id", &state_id),
            ("received_redirect_uri", &format!("http://app.test:8080/elsewhere?oauth_state_id={state_id}")),
        ])
        .await;
    assert_eq!(p.last()["action"], "exit");
    assert_eq!(p.last()["error"]["error_code"], "INVALID_FIELD");

    // The app re-creates the handler with the same token and receivedRedirectUri: Link resumes the session.
    let p = web
        .open(&[
            ("token", &token),
            ("origin", ORIGIN),
            ("channel", "o3"),
            ("oauth_state_id", &state_id),
            ("received_redirect_uri", &location),
        ])
        .await;
    assert_envelopes(&p, "o3");
    assert_eq!(p.events(), ["TRANSITION_VIEW", "TRANSITION_VIEW"]);
    assert_eq!(p.messages[0]["metadata"]["view_name"], "LOADING");
    assert_eq!(p.messages[1]["metadata"]["view_name"], "SELECT_ACCOUNT");
    assert_eq!(p.session(), session, "the same Link session goes on");
    let p = web.post("/__emulator/link/web/accounts", &[("session", &session), ("mask", "0000")]).await;
    let success = p.last();
    assert_eq!(success["action"], "success");
    assert_eq!(success["metadata"]["institution"]["institution_id"], "ins_127287");
    assert_eq!(success["metadata"]["link_session_id"], session);
    assert!(success["public_token"].as_str().unwrap().starts_with("public-sandbox-"));

    // Cancelling at the bank: Link resumes only to exit with requires_oauth.
    let token = emu.link_token(json!({"redirect_uri": redirect_uri})).await;
    let p = web.open(&[("token", &token), ("origin", ORIGIN), ("channel", "o4")]).await;
    let p = web
        .post("/__emulator/link/web/institution", &[("session", &p.session()), ("institution_id", "ins_127287")])
        .await;
    let start = p.html.find(key).unwrap() + key.len();
    let bank: String = p.html[start..].chars().take_while(|c| *c != '"').collect();
    let state_id = bank.split('=').nth(1).unwrap().to_owned();
    let r = web.post_raw("/__emulator/link/oauth", &[("oauth_state_id", &state_id), ("decision", "deny")]).await;
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let p = web
        .open(&[
            ("token", &token),
            ("origin", ORIGIN),
            ("channel", "o5"),
            ("oauth_state_id", &state_id),
            ("received_redirect_uri", &location),
        ])
        .await;
    assert_eq!(p.events(), ["EXIT"]);
    assert_eq!(p.last()["action"], "exit");
    assert_eq!(p.last()["error"], Value::Null);
    assert_eq!(p.last()["metadata"]["status"], "requires_oauth");
}

#[tokio::test]
async fn link_opens_only_for_an_exact_origin_and_a_channel() {
    let emu = emulator().await;
    let web = Web::new(&emu);
    let token = emu.link_token(json!({})).await;
    for (origin, channel) in [("*", "c"), ("http://app.test:8080/path", "c"), ("", "c"), (ORIGIN, ""), (ORIGIN, "a b")]
    {
        let p = web.open(&[("token", &token), ("origin", origin), ("channel", channel)]).await;
        assert_eq!(p.status, 400, "{origin:?} {channel:?}");
        assert!(p.messages.is_empty(), "nothing is posted");
    }
}
