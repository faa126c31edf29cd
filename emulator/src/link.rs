//! Link simulation. Plaid Link is a browser SDK, so the emulator plays the user's part: given a
//! link token, an institution, credentials and an account selection, it completes the session
//! the way Link would (creating the Item, or repairing it in update mode) and returns what Link
//! would hand the app: `onSuccess` (public token + metadata), the `onEvent` stream, or `onExit`.
//!
//! The same flow is available to a person as plain HTML forms at `GET /__emulator/link?token=...`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::app::App;
use crate::clock::rfc3339_millis;
use crate::items::{self, NewItem};
use crate::sandbox::{self, Account, Institution};
use crate::state::LinkTokenRecord;
use crate::wire::PlaidError;

/// What the simulated user does in Link (`POST /__emulator/link/complete`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkCompletion {
    pub link_token: String,
    /// Institution picked (default `ins_109508`; ignored in update mode, where it is the Item's).
    #[serde(default)]
    pub institution_id: Option<String>,
    /// Default `user_good`.
    #[serde(default)]
    pub username: Option<String>,
    /// Default `pass_good`; `error_<CODE>` makes the login fail with that code.
    #[serde(default)]
    pub password: Option<String>,
    /// Accounts to select by id (update mode only: new Items have no ids before Link ends).
    #[serde(default)]
    pub account_ids: Option<Vec<String>>,
    /// Accounts to select by mask (e.g. `["0000", "1111"]`).
    #[serde(default)]
    pub account_masks: Option<Vec<String>>,
    /// Accounts to select by subtype (e.g. `["checking"]`).
    #[serde(default)]
    pub account_subtypes: Option<Vec<String>>,
}

/// What Link would hand the app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkOutcome {
    /// `success` (onSuccess called) or `exit` (onExit called).
    pub status: String,
    /// onSuccess's public token (null in update mode and on exit).
    pub public_token: Option<String>,
    /// onSuccess metadata (null on exit).
    pub metadata: Option<Value>,
    /// onEvent calls, in order: `{"event_name": ..., "metadata": {...}}`.
    pub events: Vec<Value>,
    /// onExit arguments `{"error": ..., "metadata": {...}}` (null on success).
    pub exit: Option<Value>,
    /// Not part of Link: the Item created or updated, for test convenience.
    pub item_id: Option<String>,
}

struct Events {
    session: String,
    start: OffsetDateTime,
    request_id: String,
    institution: Option<(String, String)>,
    list: Vec<Value>,
}

impl Events {
    fn new(now: OffsetDateTime) -> Self {
        Self {
            session: uuid::Uuid::new_v4().to_string(),
            start: now,
            request_id: crate::ids::request_id(),
            institution: None,
            list: Vec::new(),
        }
    }

    fn push(&mut self, name: &str, view: Option<&str>, error: Option<&PlaidError>, exit_status: Option<&str>) {
        let at = self.start + time::Duration::milliseconds(250 * self.list.len() as i64);
        let (iid, iname) = match &self.institution {
            Some((i, n)) => (Some(i.clone()), Some(n.clone())),
            None => (None, None),
        };
        self.list.push(json!({
            "event_name": name,
            "metadata": {
                "error_code": error.map(|e| e.error_code.clone()),
                "error_message": error.map(|e| e.error_message.clone()),
                "error_type": error.map(|e| e.error_type.as_str()),
                "exit_status": exit_status,
                "institution_id": iid,
                "institution_name": iname,
                "institution_search_query": null,
                "link_session_id": self.session,
                "mfa_type": null,
                "request_id": self.request_id,
                "selection": null,
                "timestamp": rfc3339_millis(at),
                "view_name": view,
            }
        }));
    }

    fn new_request(&mut self) {
        self.request_id = crate::ids::request_id();
    }

    fn institution_json(&self) -> Value {
        match &self.institution {
            Some((id, name)) => json!({"name": name, "institution_id": id}),
            None => Value::Null,
        }
    }

    /// Ends the session with onExit.
    fn exit(mut self, error: PlaidError, status: Option<&str>) -> LinkOutcome {
        self.push("TRANSITION_VIEW", Some("ERROR"), None, None);
        self.push("ERROR", Some("ERROR"), Some(&error), None);
        self.push("EXIT", None, None, status);
        let exit = json!({
            "error": {
                "display_message": error.display_message(),
                "error_code": error.error_code,
                "error_message": error.error_message,
                "error_type": error.error_type.as_str(),
            },
            "metadata": {
                "institution": self.institution_json(),
                "link_session_id": self.session,
                "request_id": self.request_id,
                "status": status,
            }
        });
        LinkOutcome {
            status: "exit".to_owned(),
            public_token: None,
            metadata: None,
            events: self.list,
            exit: Some(exit),
            item_id: None,
        }
    }
}

/// One account Link offers for selection.
#[derive(Debug, Clone)]
pub struct Choice {
    pub account_id: Option<String>,
    pub name: String,
    pub mask: String,
    pub account_type: String,
    pub subtype: String,
}

/// Whether `account_filters` lets an account of this type/subtype through.
fn passes_filters(filters: Option<&Value>, account_type: &str, subtype: &str) -> bool {
    let Some(filters) = filters.and_then(Value::as_object) else {
        return true;
    };
    if filters.is_empty() {
        return true;
    }
    let Some(subtypes) = filters.get(account_type).and_then(|f| f.get("account_subtypes")).and_then(Value::as_array)
    else {
        return false;
    };
    subtypes.iter().filter_map(Value::as_str).any(|s| s == "all" || s == subtype)
}

/// The accounts Link would offer for this token and institution.
fn choices(app: &App, record: &LinkTokenRecord) -> Vec<Choice> {
    let filters = record.account_filters.as_ref();
    match &record.update_item_id {
        Some(item_id) => {
            let state = app.lock_state();
            let Some(item) = state.items.get(item_id).filter(|i| !i.removed) else {
                return Vec::new();
            };
            let mut accounts: Vec<&Account> = item.visible_accounts().collect();
            if record.account_selection_enabled {
                accounts.extend(item.new_accounts.iter());
            }
            accounts
                .into_iter()
                .filter(|a| passes_filters(filters, &a.account_type, &a.subtype))
                .map(|a| Choice {
                    account_id: Some(a.account_id.clone()),
                    name: a.name.clone(),
                    mask: a.mask.clone(),
                    account_type: a.account_type.clone(),
                    subtype: a.subtype.clone(),
                })
                .collect()
        }
        None => sandbox::USER_GOOD_ACCOUNTS
            .iter()
            .filter(|t| sandbox::account_supports_products(t.account_type, t.subtype, &record.products))
            .filter(|t| passes_filters(filters, t.account_type, t.subtype))
            .map(|t| Choice {
                account_id: None,
                name: t.name.to_owned(),
                mask: t.mask.to_owned(),
                account_type: t.account_type.to_owned(),
                subtype: t.subtype.to_owned(),
            })
            .collect(),
    }
}

/// Applies the user's selection to the offered accounts.
fn select(c: &LinkCompletion, offered: &[Choice], update_mode: bool) -> Result<Vec<Choice>, PlaidError> {
    let mut selected: Vec<Choice> = offered.to_vec();
    if let Some(ids) = &c.account_ids {
        if !update_mode {
            return Err(PlaidError::invalid_field(
                "account_ids can only select accounts in update mode (a new Item's ids do not exist yet); use account_masks or account_subtypes",
            ));
        }
        for id in ids {
            if !offered.iter().any(|o| o.account_id.as_deref() == Some(id)) {
                return Err(PlaidError::invalid_field(format!(
                    "account_ids: {id} is not offered by this Link session"
                )));
            }
        }
        selected.retain(|o| o.account_id.as_ref().is_some_and(|id| ids.contains(id)));
    }
    if let Some(masks) = &c.account_masks {
        for m in masks {
            if !offered.iter().any(|o| &o.mask == m) {
                return Err(PlaidError::invalid_field(format!(
                    "account_masks: no account with mask {m} is offered by this Link session"
                )));
            }
        }
        selected.retain(|o| masks.contains(&o.mask));
    }
    if let Some(subtypes) = &c.account_subtypes {
        selected.retain(|o| subtypes.contains(&o.subtype));
    }
    Ok(selected)
}

fn account_metadata(a: &Account) -> Value {
    json!({
        "id": a.account_id,
        "name": a.name,
        "mask": a.mask,
        "type": a.account_type,
        "subtype": a.subtype,
        "verification_status": null,
        "class_type": null,
    })
}

fn oauth_requires_redirect() -> PlaidError {
    PlaidError::invalid_field("OAuth institutions require a redirect_uri: create the link token with redirect_uri set")
}

/// Runs a Link session to its end. Errors (HTTP 400) are reserved for a malformed simulation
/// request; everything Link itself would report comes back as an `exit` outcome.
pub fn complete(app: &Arc<App>, c: &LinkCompletion) -> Result<LinkOutcome, PlaidError> {
    let now = app.clock.now();
    let unix = now.unix_timestamp();
    let mut ev = Events::new(now);
    let record = app.lock_state().link_tokens.get(&c.link_token).cloned();
    let Some(record) = record else {
        return Ok(ev.exit(PlaidError::invalid_link_token("invalid link_token provided"), None));
    };
    if unix >= record.expires_at {
        return Ok(ev.exit(PlaidError::invalid_link_token("link token has expired"), None));
    }
    let update_mode = record.update_item_id.is_some();
    let inst: &'static Institution = match &record.update_item_id {
        Some(item_id) => {
            let inst_id = app.lock_state().items.get(item_id).filter(|i| !i.removed).map(|i| i.institution_id.clone());
            let Some(inst_id) = inst_id else {
                ev.push("OPEN", None, None, None);
                return Ok(ev.exit(PlaidError::item_not_found(), None));
            };
            if let Some(given) = &c.institution_id
                && given != &inst_id
            {
                return Err(PlaidError::invalid_field(format!(
                    "update mode: the Item belongs to {inst_id}, not {given}"
                )));
            }
            sandbox::institution(&inst_id).ok_or_else(PlaidError::invalid_institution)?
        }
        None => {
            let id = c.institution_id.as_deref().unwrap_or("ins_109508");
            sandbox::institution(id).ok_or_else(PlaidError::invalid_institution)?
        }
    };

    ev.push("OPEN", None, None, None);
    if update_mode {
        ev.institution = Some((inst.id.to_owned(), inst.name.to_owned()));
    } else {
        ev.push("TRANSITION_VIEW", Some("CONSENT"), None, None);
        ev.push("TRANSITION_VIEW", Some("SELECT_INSTITUTION"), None, None);
        ev.institution = Some((inst.id.to_owned(), inst.name.to_owned()));
        ev.push("SELECT_INSTITUTION", Some("SELECT_INSTITUTION"), None, None);
        if !sandbox::institution_supports(inst, &record.products) {
            return Ok(ev.exit(sandbox::products_not_supported(), Some("institution_not_supported")));
        }
    }
    if inst.oauth {
        if record.redirect_uri.is_none() {
            return Ok(ev.exit(oauth_requires_redirect(), Some("requires_oauth")));
        }
        ev.push("TRANSITION_VIEW", Some("OAUTH"), None, None);
        ev.push("OPEN_OAUTH", Some("OAUTH"), None, None);
    } else {
        ev.push("TRANSITION_VIEW", Some("CREDENTIAL"), None, None);
        ev.push("SUBMIT_CREDENTIALS", Some("CREDENTIAL"), None, None);
    }
    ev.new_request();
    let username = c.username.as_deref().unwrap_or(sandbox::GOOD_USERNAME);
    let password = c.password.as_deref().unwrap_or(sandbox::GOOD_PASSWORD);
    if let Err(e) = sandbox::check_credentials(username, password) {
        return Ok(ev.exit(e, Some("requires_credentials")));
    }
    ev.push("TRANSITION_VIEW", Some("LOADING"), None, None);

    let offered = choices(app, &record);
    let selecting = !update_mode || record.account_selection_enabled;
    let selected = if selecting { select(c, &offered, update_mode)? } else { offered };
    if selected.is_empty() {
        return Ok(ev.exit(PlaidError::login_error("NO_ACCOUNTS"), Some("requires_account_selection")));
    }
    if selecting {
        ev.push("TRANSITION_VIEW", Some("SELECT_ACCOUNT"), None, None);
    }
    ev.push("TRANSITION_VIEW", Some("CONNECTED"), None, None);
    ev.push("HANDOFF", None, None, None);

    let (public_token, item_id, accounts, webhooks) = if let Some(item_id) = &record.update_item_id {
        let new_ids: Vec<String> = selected.iter().filter_map(|s| s.account_id.clone()).collect();
        let mut state = app.lock_state();
        let Some(item) = state.items.get_mut(item_id).filter(|i| !i.removed) else {
            return Ok(ev.exit(PlaidError::item_not_found(), None));
        };
        items::repair(item, &new_ids);
        let accounts: Vec<Value> =
            item.visible_accounts().filter(|a| new_ids.contains(&a.account_id)).map(account_metadata).collect();
        (None, item_id.clone(), accounts, Vec::new())
    } else {
        let masks: Vec<String> = selected.iter().map(|s| s.mask.clone()).collect();
        let pick = |a: &Account| masks.contains(&a.mask);
        let delay = crate::api::history_delay_secs(app);
        let mut state = app.lock_state();
        let (item_id, public_token) = items::create_item(
            &mut state,
            NewItem {
                institution: inst,
                products: record.products.clone(),
                webhook: record.webhook.clone(),
                client_user_id: record.client_user_id.clone(),
                select: &pick,
            },
            now,
            app.seed(),
            delay,
        )?;
        let accounts =
            state.items.get(&item_id).map(|i| i.visible_accounts().map(account_metadata).collect()).unwrap_or_default();
        (Some(public_token), item_id, accounts, Vec::new())
    };
    app.send_webhooks(webhooks);
    app.changed();
    let metadata = json!({
        "institution": ev.institution_json(),
        "accounts": accounts,
        "link_session_id": ev.session,
        "transfer_status": null,
    });
    Ok(LinkOutcome {
        status: "success".to_owned(),
        public_token,
        metadata: Some(metadata),
        events: ev.list,
        exit: None,
        item_id: Some(item_id),
    })
}

// ---- the HTML walkthrough -------------------------------------------------------------------

/// Parses `application/x-www-form-urlencoded` text (also query strings).
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t} - Plaid emulator Link</title>\
<style>body{{font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}\
label{{display:block;margin:.4rem 0}}pre{{background:#f4f4f4;padding:1rem;overflow:auto}}\
button{{margin-top:1rem;padding:.5rem 1.5rem}}</style></head>\
<body><h1>{t}</h1>{body}<p><small>Plaid emulator: simulated Link (no real bank is contacted).</small></p></body></html>",
        t = escape(title)
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn hidden(name: &str, value: &str) -> String {
    format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(name), escape(value))
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn error_page(title: &str, value: &Value) -> Response {
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    page(title, &format!("<pre>{}</pre>", escape(&pretty)))
}

fn token_record(app: &App, token: &str) -> Result<LinkTokenRecord, Box<Response>> {
    let record = app.lock_state().link_tokens.get(token).cloned();
    match record {
        Some(r) if app.clock.unix() < r.expires_at => Ok(r),
        Some(_) => Err(Box::new(error_page(
            "Link token expired",
            &PlaidError::invalid_link_token("link token has expired").to_json(""),
        ))),
        None => Err(Box::new(error_page(
            "Unknown link token",
            &PlaidError::invalid_link_token("invalid link_token provided").to_json(""),
        ))),
    }
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/__emulator/link", get(start_page))
        .route("/__emulator/link/credentials", get(credentials_page))
        .route("/__emulator/link/accounts", post(accounts_page))
        .route("/__emulator/link/finish", post(finish_page))
}

async fn start_page(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    let form = parse_form(q.as_deref().unwrap_or_default());
    let token = field(&form, "token").or(field(&form, "link_token")).unwrap_or_default().to_owned();
    let record = match token_record(&app, &token) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    if let Some(item_id) = &record.update_item_id {
        let inst = app.lock_state().items.get(item_id).map(|i| i.institution_id.clone());
        return credentials_form(&token, inst.as_deref().unwrap_or_default(), true);
    }
    let mut body = format!(
        "<p>{} wants to connect your account. Select your bank.</p><form method=\"get\" action=\"/__emulator/link/credentials\">{}",
        escape(&record.client_name),
        hidden("token", &token)
    );
    for (i, inst) in sandbox::INSTITUTIONS.iter().enumerate() {
        body.push_str(&format!(
            "<label><input type=\"radio\" name=\"institution_id\" value=\"{}\"{}> {}{}</label>",
            escape(inst.id),
            if i == 0 { " checked" } else { "" },
            escape(inst.name),
            if inst.oauth { " (OAuth)" } else { "" }
        ));
    }
    body.push_str("<button type=\"submit\">Continue</button></form>");
    page("Select your institution", &body)
}

fn credentials_form(token: &str, institution_id: &str, update: bool) -> Response {
    let name = sandbox::institution(institution_id).map_or("your bank", |i| i.name);
    let body = format!(
        "<p>{}Log in to {}. Sandbox: <code>user_good</code> / <code>pass_good</code>; a password <code>error_ITEM_LOCKED</code> (any code) fails with that error.</p>\
<form method=\"post\" action=\"/__emulator/link/accounts\">{}{}\
<label>Username <input name=\"username\" value=\"user_good\"></label>\
<label>Password <input name=\"password\" type=\"password\" value=\"pass_good\"></label>\
<button type=\"submit\">Submit</button></form>",
        if update { "Update mode: re-enter your credentials. " } else { "" },
        escape(name),
        hidden("token", token),
        hidden("institution_id", institution_id)
    );
    page("Enter your credentials", &body)
}

async fn credentials_page(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    let form = parse_form(q.as_deref().unwrap_or_default());
    let token = field(&form, "token").unwrap_or_default();
    let record = match token_record(&app, token) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let inst = field(&form, "institution_id").unwrap_or("ins_109508");
    credentials_form(token, inst, record.update_item_id.is_some())
}

async fn read_form(app: &App, headers: &HeaderMap, body: Body) -> Vec<(String, String)> {
    match crate::server::read_body(headers, body, app.config.max_body_bytes).await {
        Ok(bytes) => parse_form(&String::from_utf8_lossy(&bytes)),
        Err(_) => Vec::new(),
    }
}

async fn accounts_page(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let form = read_form(&app, &headers, body).await;
    let token = field(&form, "token").unwrap_or_default();
    let record = match token_record(&app, token) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let inst_id = field(&form, "institution_id").unwrap_or("ins_109508");
    let username = field(&form, "username").unwrap_or_default();
    let password = field(&form, "password").unwrap_or_default();
    // Check what Link checks before showing accounts, without ending the session.
    let problem = match sandbox::institution(inst_id) {
        None => Some(PlaidError::invalid_institution()),
        Some(inst) if record.update_item_id.is_none() && !sandbox::institution_supports(inst, &record.products) => {
            Some(sandbox::products_not_supported())
        }
        Some(inst) if inst.oauth && record.redirect_uri.is_none() => Some(oauth_requires_redirect()),
        Some(_) => sandbox::check_credentials(username, password).err(),
    };
    if problem.is_some() || (record.update_item_id.is_some() && !record.account_selection_enabled) {
        return finish(&app, &form, None);
    }
    let offered = choices(&app, &record);
    let mut body = format!(
        "<form method=\"post\" action=\"/__emulator/link/finish\">{}{}{}{}",
        hidden("token", token),
        hidden("institution_id", inst_id),
        hidden("username", username),
        hidden("password", password)
    );
    for c in &offered {
        body.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"mask\" value=\"{}\" checked> {} ••{} ({} / {})</label>",
            escape(&c.mask),
            escape(&c.name),
            escape(&c.mask),
            escape(&c.account_type),
            escape(&c.subtype)
        ));
    }
    body.push_str("<button type=\"submit\">Continue</button></form>");
    page("Select accounts", &body)
}

fn finish(app: &Arc<App>, form: &[(String, String)], masks: Option<Vec<String>>) -> Response {
    let completion = LinkCompletion {
        link_token: field(form, "token").unwrap_or_default().to_owned(),
        institution_id: field(form, "institution_id").map(str::to_owned),
        username: field(form, "username").map(str::to_owned),
        password: field(form, "password").map(str::to_owned),
        account_ids: None,
        account_masks: masks,
        account_subtypes: None,
    };
    match complete(app, &completion) {
        Ok(outcome) if outcome.status == "success" => {
            let heading = match &outcome.public_token {
                Some(t) => format!("<p>Success. public_token:</p><pre id=\"public_token\">{}</pre>", escape(t)),
                None => "<p>Success: the Item was updated (update mode returns no public token).</p>".to_owned(),
            };
            let meta = serde_json::to_string_pretty(&outcome.metadata).unwrap_or_default();
            page("Connected", &format!("{heading}<p>onSuccess metadata:</p><pre>{}</pre>", escape(&meta)))
        }
        Ok(outcome) => error_page("Link exited", &outcome.exit.unwrap_or(Value::Null)),
        Err(e) => error_page("Link simulation error", &e.to_json("")),
    }
}

async fn finish_page(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let form = read_form(&app, &headers, body).await;
    let masks: Vec<String> = form.iter().filter(|(k, _)| k == "mask").map(|(_, v)| v.clone()).collect();
    finish(&app, &form, Some(masks))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn form_parsing() {
        let f = parse_form("a=1&b=hello+world&c=%2Fx%3F&mask=0000&mask=1111&bad=%zz&end=%4");
        assert_eq!(field(&f, "b"), Some("hello world"));
        assert_eq!(field(&f, "c"), Some("/x?"));
        assert_eq!(f.iter().filter(|(k, _)| k == "mask").count(), 2);
        assert_eq!(field(&f, "bad"), Some("%zz"));
        assert_eq!(field(&f, "end"), Some("%4"));
    }

    #[test]
    fn filters() {
        let f = json!({"depository": {"account_subtypes": ["checking"]}});
        assert!(passes_filters(Some(&f), "depository", "checking"));
        assert!(!passes_filters(Some(&f), "depository", "savings"));
        assert!(!passes_filters(Some(&f), "credit", "credit card"));
        let f = json!({"credit": {"account_subtypes": ["all"]}});
        assert!(passes_filters(Some(&f), "credit", "credit card"));
        assert!(passes_filters(None, "loan", "student"));
    }
}
