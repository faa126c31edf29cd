//! Plaid Link's web API: the SDK script (`GET /link/v2/stable/link-initialize.js`, what Plaid serves from
//! `https://cdn.plaid.com/link/v2/stable/link-initialize.js`) and the Link pages it opens in an overlay iframe
//! (`/__emulator/link/web...`), which report every step to the app's window with `postMessage`.
//!
//! One page per step of a [`Session`]: open (the institution list, or the Item's login in update mode), the
//! institution picked (credentials, or the OAuth hand-off), the login, the account selection, and the end
//! (onSuccess or onExit). Sessions are kept here, in memory, by `link_session_id` (pages carry it in a hidden
//! field) until they end or their link token expires. Each page embeds the messages it sends as JSON
//! (`<script type="application/json" id="plaid-link-messages">`):
//!
//! ```text
//! {"source": "plaid-emulator-link", "channel": C, "action": "event", "event_name": N, "metadata": {...}}
//! {"source": "plaid-emulator-link", "channel": C, "action": "success", "public_token": T, "metadata": {...}}
//! {"source": "plaid-emulator-link", "channel": C, "action": "exit", "error": E|null, "metadata": {...}}
//! {"source": "plaid-emulator-link", "channel": C, "action": "oauth_redirect", "url": U}   (sent on a click)
//! ```
//!
//! `page.js` posts them to the parent pinned to the origin the app declared when it opened Link (`origin`,
//! which must be an origin) and does nothing when the page is not framed by that origin. `channel` is the
//! handler's per-open() random id; the SDK ignores messages of any other channel, origin or window.
//!
//! OAuth, as Plaid runs it on the web: the OAuth pane sends the whole page to the bank
//! (`GET /__emulator/link/oauth?oauth_state_id=...`, a page of the emulator playing the bank); the bank
//! redirects to the link token's `redirect_uri` with `?oauth_state_id=...`; the app creates a handler with the
//! same token and `receivedRedirectUri` and opens it; Link resumes the session after the login.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Value, json};

use super::LinkOutcome;
use super::accounts::{Choice, select};
use super::events::Events;
use super::pages::{esc, hidden};
use super::session::{Pane, Session};
use crate::app::App;
use crate::http::{form_field as field, parse_form, read_body};
use crate::sandbox;
use crate::wire::PlaidError;

/// The SDK script.
const SDK: &str = include_str!("web/link-initialize.js");
/// The pages' script.
const PAGE_JS: &str = include_str!("web/page.js");
/// `source` of every message the pages send.
const SOURCE: &str = "plaid-emulator-link";
/// The most sessions open at once (each ends with its session or its link token).
const MAX_SESSIONS: usize = 10_000;

/// Where the bank's OAuth login stands for a session sent to it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OAuthLogin {
    /// Sent to the bank, no answer yet.
    Pending,
    /// The user logged in at the bank and authorized the app.
    Authorized { username: String, password: String },
    /// The user cancelled at the bank.
    Denied,
}

/// Where a session's pages are shown.
#[derive(Debug, Clone)]
struct View {
    /// The app's origin: where the pages post their messages (empty for Hosted Link).
    origin: String,
    /// The current handler's channel (empty for Hosted Link).
    channel: String,
    /// Hosted Link: whole pages, no app; at the end the browser goes to `completion_redirect_uri` (303), or
    /// is told to close the window.
    hosted: Option<HostedEnd>,
}

#[derive(Debug, Clone)]
struct HostedEnd {
    completion_redirect_uri: Option<String>,
}

impl View {
    fn frame(origin: String, channel: String) -> Self {
        Self { origin, channel, hosted: None }
    }
}

/// A session opened through the web SDK, or a Hosted Link URL.
struct WebSession {
    session: Session,
    view: View,
    /// How many of the session's events the app was sent.
    sent: usize,
    /// `oauth_state_id` of the OAuth hand-off, once the user reached it.
    oauth_state_id: Option<String>,
    oauth: OAuthLogin,
}

/// The open sessions, by `link_session_id`.
#[derive(Default)]
struct Sessions(Mutex<HashMap<String, WebSession>>);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, WebSession>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take(&self, id: &str) -> Option<WebSession> {
        self.lock().remove(id)
    }

    fn take_by_oauth_state(&self, state_id: &str) -> Option<WebSession> {
        let mut map = self.lock();
        let key = map.iter().find(|(_, s)| s.oauth_state_id.as_deref() == Some(state_id)).map(|(k, _)| k.clone())?;
        map.remove(&key)
    }

    /// Keeps a session that goes on; forgets those whose link token expired.
    fn put(&self, s: WebSession, now: i64) -> Result<(), PlaidError> {
        let mut map = self.lock();
        map.retain(|_, s| s.session.record.expires_at > now);
        if map.len() >= MAX_SESSIONS {
            return Err(PlaidError::invalid_field("too many Link sessions are open in the emulator"));
        }
        map.insert(s.session.events.session.clone(), s);
        Ok(())
    }
}

type Shared = Extension<Arc<Sessions>>;

/// The web SDK's routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/link/v2/stable/link-initialize.js", get(|| async { script(SDK) }))
        .route("/__emulator/link/web/page.js", get(|| async { script(PAGE_JS) }))
        .route("/__emulator/link/web", get(open))
        .route("/__emulator/link/web/institution", post(institution))
        .route("/__emulator/link/web/credentials", post(credentials))
        .route("/__emulator/link/web/accounts", post(accounts))
        .route("/__emulator/link/web/exit", post(exit))
        .route("/__emulator/link/oauth", get(bank_page).post(bank_answer))
        .route("/__emulator/hosted/{id}", get(hosted_open))
        .layer(Extension(Arc::new(Sessions::default())))
}

fn script(source: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        source,
    )
        .into_response()
}

/// `origin` when it is exactly an http(s) origin (`scheme://host[:port]`).
fn parse_origin(origin: &str) -> Option<String> {
    let url = reqwest::Url::parse(origin).ok()?;
    let serialized = url.origin().ascii_serialization();
    (matches!(url.scheme(), "http" | "https") && serialized == origin).then_some(serialized)
}

/// A handler's channel: 1 to 64 letters, digits, `-` or `_`.
fn valid_channel(channel: &str) -> bool {
    (1..=64).contains(&channel.len()) && channel.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn message(channel: &str, action: &str, fields: Value) -> Value {
    let mut m = json!({"source": SOURCE, "channel": channel, "action": action});
    if let (Some(m), Value::Object(fields)) = (m.as_object_mut(), fields) {
        m.extend(fields);
    }
    m
}

fn event_messages(channel: &str, events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|e| message(channel, "event", json!({"event_name": e["event_name"], "metadata": e["metadata"]})))
        .collect()
}

/// onSuccess's or onExit's message.
fn outcome_message(channel: &str, outcome: &LinkOutcome) -> Value {
    match &outcome.exit {
        None => {
            message(channel, "success", json!({"public_token": outcome.public_token, "metadata": outcome.metadata}))
        }
        Some(exit) => message(channel, "exit", json!({"error": exit["error"], "metadata": exit["metadata"]})),
    }
}

/// JSON safe inside a `<script>` element.
fn script_json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned()).replace('<', "\\u003c")
}

/// A Link page in the overlay: `body`, a Close button while the session goes on, and the messages.
fn frame_page(title: &str, body: &str, view: &View, messages: Vec<Value>, session: Option<&str>) -> Response {
    let close = match session {
        Some(id) => format!(
            "<form method=\"post\" action=\"/__emulator/link/web/exit\" id=\"plaid-link-exit\">{}\
<button type=\"submit\" id=\"plaid-link-close\" aria-label=\"Close\">Close</button></form>",
            hidden("session", id)
        ),
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} - Plaid emulator Link</title>\
<style>body{{font-family:system-ui,sans-serif;margin:0;padding:1rem 1.25rem;color:#111}}\
header{{display:flex;justify-content:space-between;align-items:center;font-size:.8rem;color:#555}}\
h1{{font-size:1.3rem}}label{{display:block;margin:.5rem 0}}input[type=text],input[type=password],input:not([type]){{width:100%;padding:.4rem;box-sizing:border-box}}\
button{{margin-top:1rem;padding:.5rem 1.5rem}}pre{{background:#f4f4f4;padding:.5rem;overflow:auto;font-size:.75rem}}\
#plaid-link-close{{margin:0;padding:.2rem .8rem}}</style></head>\
<body><header><span>Plaid emulator &middot; simulated Link{hosted}</span>{close}</header><h1>{t}</h1>{body}{scripts}</body></html>",
        t = esc(title),
        hosted = if view.hosted.is_some() { " (Hosted Link)" } else { "" },
        scripts = match view.hosted {
            // A whole page of its own: no app to post to.
            Some(_) => String::new(),
            None => format!(
                "<script type=\"application/json\" id=\"plaid-link-config\">{}</script>\
<script type=\"application/json\" id=\"plaid-link-messages\">{}</script>\
<script src=\"/__emulator/link/web/page.js\"></script>",
                script_json(&json!({"origin": view.origin, "channel": view.channel})),
                script_json(&Value::Array(messages)),
            ),
        },
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response()
}

/// A page outside any session (bad request parameters): shown, nothing sent.
fn plain_error(status: StatusCode, message: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Plaid emulator Link</title></head>\
<body><h1>Link cannot open</h1><p id=\"plaid-link-error\">{}</p></body></html>",
        esc(message)
    );
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html).into_response()
}

/// The end of a session: the events not sent yet, then onSuccess or onExit. Hosted Link: the redirect to
/// `completion_redirect_uri` (303), or a page saying the window can be closed.
fn ended(view: &View, sent: usize, outcome: &LinkOutcome) -> Response {
    if let Some(hosted) = &view.hosted {
        return hosted_ended(hosted, outcome);
    }
    let mut messages = event_messages(&view.channel, outcome.events.get(sent..).unwrap_or_default());
    messages.push(outcome_message(&view.channel, outcome));
    let body = match &outcome.exit {
        None => "<p id=\"plaid-link-result\">Success. Returning to the app.</p>".to_owned(),
        Some(exit) => {
            let error = serde_json::to_string_pretty(&exit["error"]).unwrap_or_default();
            format!("<p id=\"plaid-link-result\">Link closed.</p><pre>{}</pre>", esc(&error))
        }
    };
    let title = if outcome.exit.is_none() { "Connected" } else { "Link exited" };
    frame_page(title, &body, view, messages, None)
}

fn hosted_ended(hosted: &HostedEnd, outcome: &LinkOutcome) -> Response {
    if let Some(uri) = &hosted.completion_redirect_uri
        && let Ok(location) = HeaderValue::from_str(uri)
    {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    }
    let (title, result) = match &outcome.exit {
        None => ("Connected", "success"),
        Some(_) => ("Link exited", "exit"),
    };
    let body = format!(
        "<p id=\"plaid-link-result\" data-status=\"{result}\">You can close this window.</p>\
<p><small>link_session_id: {}</small></p>",
        esc(outcome_session_id(outcome))
    );
    let view = View { origin: String::new(), channel: String::new(), hosted: Some(hosted.clone()) };
    frame_page(title, &body, &view, Vec::new(), None)
}

fn outcome_session_id(outcome: &LinkOutcome) -> &str {
    outcome
        .metadata
        .as_ref()
        .map(|m| &m["link_session_id"])
        .or(outcome.exit.as_ref().map(|e| &e["metadata"]["link_session_id"]))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Shows the session's current pane (with the events not sent yet) and keeps the session.
fn show(app: &App, sessions: &Sessions, mut ws: WebSession) -> Response {
    let messages = event_messages(&ws.view.channel, ws.session.events.list.get(ws.sent..).unwrap_or_default());
    ws.sent = ws.session.events.list.len();
    ws.session.checkpoint(app);
    let id = ws.session.events.session.clone();
    let (title, body) = pane(app, &mut ws);
    let view = ws.view.clone();
    if let Err(e) = sessions.put(ws, app.clock.unix()) {
        return plain_error(StatusCode::SERVICE_UNAVAILABLE, &e.error_message);
    }
    frame_page(&title, &body, &view, messages, Some(&id))
}

/// The pane's title and form.
fn pane(app: &App, ws: &mut WebSession) -> (String, String) {
    let s = &ws.session;
    let session = hidden("session", &s.events.session);
    match s.pane {
        Pane::SelectInstitution => {
            let mut body = format!(
                "<p>{} uses Plaid to connect your account. Select your bank.</p>\
<form method=\"post\" action=\"/__emulator/link/web/institution\">{session}",
                esc(&s.record.client_name)
            );
            body.push_str(&super::pages::institution_choices());
            body.push_str("<button type=\"submit\" id=\"plaid-link-continue\">Continue</button></form>");
            ("Select your institution".to_owned(), body)
        }
        Pane::Credentials => {
            let name = s.institution.map_or("your bank", |i| i.name);
            let body = format!(
                "<p>{}Log in to {}. Sandbox: <code>user_good</code> / <code>pass_good</code>; a password \
<code>error_ITEM_LOCKED</code> (any code) fails with that error.</p>\
<form method=\"post\" action=\"/__emulator/link/web/credentials\">{session}\
<label>Username <input name=\"username\" value=\"user_good\" autocomplete=\"off\"></label>\
<label>Password <input name=\"password\" type=\"password\" value=\"pass_good\" autocomplete=\"off\"></label>\
<button type=\"submit\" id=\"plaid-link-submit\">Submit</button></form>",
                if s.update_mode() { "Update mode: log in again. " } else { "" },
                esc(name)
            );
            ("Enter your credentials".to_owned(), body)
        }
        Pane::OAuth => {
            let name = s.institution.map_or("your bank", |i| i.name);
            let state_id = ws.oauth_state_id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string()).clone();
            ws.oauth = OAuthLogin::Pending;
            let url = format!("/__emulator/link/oauth?oauth_state_id={state_id}");
            // Framed, page.js asks the app to send the whole page to the bank; Hosted Link goes itself.
            let go = if ws.view.hosted.is_some() {
                format!("<a href=\"{}\" id=\"plaid-link-oauth-continue\">Continue to {}</a>", esc(&url), esc(name))
            } else {
                format!(
                    "<button type=\"button\" id=\"plaid-link-oauth-continue\" data-url=\"{}\">Continue to {}</button>",
                    esc(&url),
                    esc(name)
                )
            };
            let body = format!(
                "<p>You will be sent to {} to log in and choose what to share, then back to {}.</p>{go}",
                esc(name),
                esc(&s.record.client_name),
            );
            (format!("Log in at {name}"), body)
        }
        Pane::SelectAccount => {
            let mut body = format!("<form method=\"post\" action=\"/__emulator/link/web/accounts\">{session}");
            for c in s.offered(app) {
                body.push_str(&format!(
                    "<label><input type=\"checkbox\" name=\"mask\" value=\"{}\" checked> {} &bull;&bull;{} ({} / {})</label>",
                    esc(&c.mask),
                    esc(&c.name),
                    esc(&c.mask),
                    esc(&c.account_type),
                    esc(&c.subtype)
                ));
            }
            body.push_str("<button type=\"submit\" id=\"plaid-link-continue\">Continue</button></form>");
            ("Select accounts".to_owned(), body)
        }
    }
}

/// After the login: the account selection pane, or (update mode without selection) the hand-off.
fn after_login(app: &Arc<App>, sessions: &Sessions, mut ws: WebSession) -> Response {
    if ws.session.selecting() {
        ws.session.enter_account_selection();
        return show(app, sessions, ws);
    }
    let offered = ws.session.offered(app);
    finish(app, ws, offered)
}

fn finish(app: &Arc<App>, ws: WebSession, selected: Vec<Choice>) -> Response {
    let WebSession { session, view, sent, .. } = ws;
    match session.finish(app, selected) {
        Ok(outcome) => ended(&view, sent, &outcome),
        Err(e) => plain_error(StatusCode::BAD_REQUEST, &e.error_message),
    }
}

async fn form(app: &App, headers: &HeaderMap, body: Body) -> Vec<(String, String)> {
    match read_body(headers, body, app.config.max_body_bytes).await {
        Ok(bytes) => parse_form(&String::from_utf8_lossy(&bytes)),
        Err(_) => Vec::new(),
    }
}

/// The session a page's form names (gone: it ended, or its token expired).
fn session_of(sessions: &Sessions, form: &[(String, String)]) -> Result<WebSession, Box<Response>> {
    field(form, "session")
        .and_then(|id| sessions.take(id))
        .ok_or_else(|| Box::new(plain_error(StatusCode::NOT_FOUND, "This Link session has ended. Open Link again.")))
}

/// `GET /__emulator/link/web?token&origin&channel[&oauth_state_id&received_redirect_uri]`: opens Link, or
/// resumes a session after the bank's OAuth redirect.
async fn open(State(app): State<Arc<App>>, Extension(sessions): Shared, RawQuery(q): RawQuery) -> Response {
    let q = parse_form(q.as_deref().unwrap_or_default());
    let Some(origin) = field(&q, "origin").and_then(parse_origin) else {
        return plain_error(StatusCode::BAD_REQUEST, "origin must be the app's origin (scheme://host[:port])");
    };
    let channel = field(&q, "channel").unwrap_or_default().to_owned();
    if !valid_channel(&channel) {
        return plain_error(StatusCode::BAD_REQUEST, "channel must be 1 to 64 letters, digits, - or _");
    }
    let token = field(&q, "token").unwrap_or_default();
    if let Some(received) = field(&q, "received_redirect_uri") {
        let state_id = field(&q, "oauth_state_id").unwrap_or_default();
        return resume(&app, &sessions, token, received, state_id, origin, channel);
    }
    match Session::open(&app, token) {
        Err(outcome) => ended(&View::frame(origin, channel), 0, &outcome),
        Ok(session) => {
            let view = View::frame(origin, channel);
            let ws = WebSession { session, view, sent: 0, oauth_state_id: None, oauth: OAuthLogin::Pending };
            show(&app, &sessions, ws)
        }
    }
}

/// Re-opened with `receivedRedirectUri`: the session the bank redirected back for goes on after the login.
fn resume(
    app: &Arc<App>,
    sessions: &Sessions,
    token: &str,
    received: &str,
    state_id: &str,
    origin: String,
    channel: String,
) -> Response {
    // What Link reports when it cannot resume: a new session ending with the error.
    let fail = |message: &str| {
        let mut events = Events::new(app.clock.now());
        events.push("OPEN", None, None, None);
        let view = View::frame(origin.clone(), channel.clone());
        ended(&view, 0, &events.exit(PlaidError::invalid_field(message), Some("requires_oauth")))
    };
    let Some(mut ws) = sessions.take_by_oauth_state(state_id) else {
        return fail("receivedRedirectUri carries no oauth_state_id of a Link session waiting for OAuth");
    };
    if ws.session.link_token != token {
        sessions.put(ws, app.clock.unix()).ok();
        return fail("the link token is not the one the OAuth session was started with");
    }
    let redirect_uri = ws.session.record.redirect_uri.clone().unwrap_or_default();
    if !same_redirect(received, &redirect_uri) {
        sessions.put(ws, app.clock.unix()).ok();
        return fail("receivedRedirectUri is not the link token's redirect_uri");
    }
    ws.view = View::frame(origin, channel);
    after_bank(app, sessions, ws)
}

/// Back from the bank (OAuth): the login, or (cancelled at the bank) the end of the session.
fn after_bank(app: &Arc<App>, sessions: &Sessions, mut ws: WebSession) -> Response {
    ws.oauth_state_id = None;
    match std::mem::replace(&mut ws.oauth, OAuthLogin::Pending) {
        OAuthLogin::Authorized { username, password } => match ws.session.log_in(app, &username, &password) {
            Ok(()) => after_login(app, sessions, ws),
            Err(outcome) => ended(&ws.view, ws.sent, &outcome),
        },
        OAuthLogin::Denied | OAuthLogin::Pending => {
            let WebSession { session, view, sent, .. } = ws;
            ended(&view, sent, &session.close(app))
        }
    }
}

/// `GET /__emulator/hosted/{id}[?oauth_state_id=...]`: a Hosted Link URL. Opens Link as whole pages (a new
/// session each time it is opened), or resumes the session the bank sent back (OAuth). An unknown URL: 404;
/// an expired one: 410 with Plaid's error.
async fn hosted_open(
    State(app): State<Arc<App>>,
    Extension(sessions): Shared,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let found = app.lock_state().hosted_link_token(&id);
    let Some((token, Some(hosted))) = found.map(|(t, r)| (t, r.hosted)) else {
        return plain_error(StatusCode::NOT_FOUND, "This Link URL is not valid.");
    };
    if app.clock.unix() >= hosted.url_expires_at {
        let error = PlaidError::invalid_link_token("link token has expired").to_json("");
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Link expired - Plaid emulator</title>\
</head><body><h1>This link has expired</h1><p id=\"plaid-link-error\">Ask for a new link to connect your account.</p>\
<pre>{}</pre></body></html>",
            esc(&serde_json::to_string_pretty(&error).unwrap_or_default())
        );
        return (
            StatusCode::GONE,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))],
            html,
        )
            .into_response();
    }
    let view = View {
        origin: String::new(),
        channel: String::new(),
        hosted: Some(HostedEnd { completion_redirect_uri: hosted.completion_redirect_uri }),
    };
    let q = parse_form(q.as_deref().unwrap_or_default());
    if let Some(state_id) = field(&q, "oauth_state_id") {
        let Some(ws) = sessions.take_by_oauth_state(state_id) else {
            return plain_error(StatusCode::NOT_FOUND, "No Link session is waiting for this bank login.");
        };
        if ws.session.link_token != token {
            sessions.put(ws, app.clock.unix()).ok();
            return plain_error(StatusCode::BAD_REQUEST, "This bank login belongs to another Link session.");
        }
        return after_bank(&app, &sessions, ws);
    }
    match Session::open(&app, &token) {
        Err(outcome) => ended(&view, 0, &outcome),
        Ok(session) => {
            let ws = WebSession { session, view, sent: 0, oauth_state_id: None, oauth: OAuthLogin::Pending };
            show(&app, &sessions, ws)
        }
    }
}

/// Whether `received` (the page the bank redirected to) is `redirect_uri` with a query.
fn same_redirect(received: &str, redirect_uri: &str) -> bool {
    let strip = |u: &str| {
        reqwest::Url::parse(u).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        })
    };
    matches!((strip(received), strip(redirect_uri)), (Some(a), Some(b)) if a == b)
}

/// `POST /__emulator/link/web/institution {session, institution_id}`.
async fn institution(
    State(app): State<Arc<App>>,
    Extension(sessions): Shared,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = form(&app, &headers, body).await;
    let mut ws = match session_of(&sessions, &form) {
        Ok(ws) => ws,
        Err(page) => return *page,
    };
    let chosen = field(&form, "institution_id").and_then(sandbox::institution);
    let Some(inst) = chosen.filter(|_| ws.session.pane == Pane::SelectInstitution) else {
        return show(&app, &sessions, ws);
    };
    match ws.session.select_institution(&app, inst) {
        Ok(()) => show(&app, &sessions, ws),
        Err(outcome) => ended(&ws.view, ws.sent, &outcome),
    }
}

/// `POST /__emulator/link/web/credentials {session, username, password}`.
async fn credentials(
    State(app): State<Arc<App>>,
    Extension(sessions): Shared,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = form(&app, &headers, body).await;
    let mut ws = match session_of(&sessions, &form) {
        Ok(ws) => ws,
        Err(page) => return *page,
    };
    if ws.session.pane != Pane::Credentials {
        return show(&app, &sessions, ws);
    }
    let username = field(&form, "username").unwrap_or_default();
    let password = field(&form, "password").unwrap_or_default();
    match ws.session.log_in(&app, username, password) {
        Ok(()) => after_login(&app, &sessions, ws),
        Err(outcome) => ended(&ws.view, ws.sent, &outcome),
    }
}

/// `POST /__emulator/link/web/accounts {session, mask...}`.
async fn accounts(
    State(app): State<Arc<App>>,
    Extension(sessions): Shared,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = form(&app, &headers, body).await;
    let ws = match session_of(&sessions, &form) {
        Ok(ws) => ws,
        Err(page) => return *page,
    };
    if ws.session.pane != Pane::SelectAccount {
        return show(&app, &sessions, ws);
    }
    let masks: Vec<String> = form.iter().filter(|(k, _)| k == "mask").map(|(_, v)| v.clone()).collect();
    let offered = ws.session.offered(&app);
    let choice = super::LinkCompletion { account_masks: Some(masks), ..Default::default() };
    match select(&choice, &offered, ws.session.update_mode()) {
        Ok(selected) => finish(&app, ws, selected),
        Err(e) => plain_error(StatusCode::BAD_REQUEST, &e.error_message),
    }
}

/// `POST /__emulator/link/web/exit {session}`: the user closes Link (or the app called `handler.exit()`).
async fn exit(State(app): State<Arc<App>>, Extension(sessions): Shared, headers: HeaderMap, body: Body) -> Response {
    let form = form(&app, &headers, body).await;
    let ws = match session_of(&sessions, &form) {
        Ok(ws) => ws,
        Err(page) => return *page,
    };
    let WebSession { session, view, sent, .. } = ws;
    ended(&view, sent, &session.close(&app))
}

/// `GET /__emulator/link/oauth?oauth_state_id=...`: the bank's OAuth login page (a whole page, not framed).
async fn bank_page(State(app): State<Arc<App>>, Extension(sessions): Shared, RawQuery(q): RawQuery) -> Response {
    let q = parse_form(q.as_deref().unwrap_or_default());
    let state_id = field(&q, "oauth_state_id").unwrap_or_default().to_owned();
    let Some(ws) = sessions.take_by_oauth_state(&state_id) else {
        return plain_error(StatusCode::NOT_FOUND, "No Link session is waiting for this bank login.");
    };
    let bank = ws.session.institution.map_or("Your bank", |i| i.name).to_owned();
    let client = ws.session.record.client_name.clone();
    if let Err(e) = sessions.put(ws, app.clock.unix()) {
        return plain_error(StatusCode::SERVICE_UNAVAILABLE, &e.error_message);
    }
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{bank} - log in</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}\
label{{display:block;margin:.5rem 0}}button{{margin:1rem .5rem 0 0;padding:.5rem 1.5rem}}</style></head>\
<body><h1>{bank}</h1><p>{client} asks, through Plaid, to see your account details and transactions. \
Log in to authorize it. Sandbox: <code>user_good</code> / <code>pass_good</code>.</p>\
<form method=\"post\" action=\"/__emulator/link/oauth\">{state}\
<label>Username <input name=\"username\" value=\"user_good\" autocomplete=\"off\"></label>\
<label>Password <input name=\"password\" type=\"password\" value=\"pass_good\" autocomplete=\"off\"></label>\
<button type=\"submit\" name=\"decision\" value=\"authorize\" id=\"bank-authorize\">Authorize</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"bank-deny\">Cancel</button></form>\
<p><small>Plaid emulator: a simulated bank (no real bank is contacted).</small></p></body></html>",
        bank = esc(&bank),
        client = esc(&client),
        state = hidden("oauth_state_id", &state_id),
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html)
        .into_response()
}

/// `POST /__emulator/link/oauth {oauth_state_id, username, password, decision}`: the bank redirects to the
/// link token's `redirect_uri` with `oauth_state_id` (whatever the user decided; Link learns it on resume).
async fn bank_answer(
    State(app): State<Arc<App>>,
    Extension(sessions): Shared,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = form(&app, &headers, body).await;
    let state_id = field(&form, "oauth_state_id").unwrap_or_default().to_owned();
    let Some(mut ws) = sessions.take_by_oauth_state(&state_id) else {
        return plain_error(StatusCode::NOT_FOUND, "No Link session is waiting for this bank login.");
    };
    ws.oauth = match field(&form, "decision") {
        Some("authorize") => OAuthLogin::Authorized {
            username: field(&form, "username").unwrap_or_default().to_owned(),
            password: field(&form, "password").unwrap_or_default().to_owned(),
        },
        _ => OAuthLogin::Denied,
    };
    // Hosted Link takes the user back itself; embedded Link goes through the app's redirect_uri.
    let hosted_back = ws.session.record.hosted.as_ref().map(|h| format!("/__emulator/hosted/{}", h.id));
    let redirect_uri = ws.session.record.redirect_uri.clone().unwrap_or_default();
    if let Err(e) = sessions.put(ws, app.clock.unix()) {
        return plain_error(StatusCode::SERVICE_UNAVAILABLE, &e.error_message);
    }
    if let Some(back) = hosted_back {
        let location = format!(
            "{back}?oauth_state_id={}",
            form_urlencoded::byte_serialize(state_id.as_bytes()).collect::<String>()
        );
        return match HeaderValue::from_str(&location) {
            Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
            Err(_) => plain_error(StatusCode::BAD_REQUEST, "bad oauth_state_id"),
        };
    }
    let Ok(mut target) = reqwest::Url::parse(&redirect_uri) else {
        return plain_error(StatusCode::BAD_REQUEST, "the link token's redirect_uri is not a URL");
    };
    target.query_pairs_mut().append_pair("oauth_state_id", &state_id);
    match HeaderValue::from_str(target.as_str()) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => plain_error(StatusCode::BAD_REQUEST, "the link token's redirect_uri is not a URL"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact() {
        assert_eq!(parse_origin("http://127.0.0.1:8080").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(parse_origin("https://app.example.com").as_deref(), Some("https://app.example.com"));
        for bad in ["http://127.0.0.1:8080/", "http://a.com/x", "javascript:alert(1)", "*", "", "null", "ftp://a.com"] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn channels() {
        assert!(valid_channel("a1B2-_"));
        assert!(!valid_channel("") && !valid_channel("a b") && !valid_channel(&"a".repeat(65)));
    }

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let s = script_json(&json!({"x": "</script><script>alert(1)</script>"}));
        assert!(!s.contains("</script>"));
        assert_eq!(serde_json::from_str::<Value>(&s).unwrap()["x"], "</script><script>alert(1)</script>");
    }

    #[test]
    fn redirects_compare_without_query() {
        assert!(same_redirect("http://h/app/?oauth_state_id=x", "http://h/app/"));
        assert!(same_redirect("http://h/app/#f", "http://h/app/"));
        assert!(!same_redirect("http://h/other?oauth_state_id=x", "http://h/app/"));
        assert!(!same_redirect("nonsense", "http://h/app/"));
    }
}
