//! The HTML walkthrough: the same Link flow as plain forms, for a person with a browser
//! (`GET /__emulator/link?token=...`).

use std::sync::Arc;

use askama_escape::{Escaped, Html, escape};
use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::LinkCompletion;
use super::accounts::choices;
use super::session::{complete, oauth_requires_redirect};
use crate::app::App;
use crate::http::{form_field as field, parse_form, read_body};
use crate::sandbox;
use crate::state::LinkTokenRecord;
use crate::wire::PlaidError;

/// `s`, HTML-escaped (for text and quoted attribute values alike).
pub(super) fn esc(s: &str) -> Escaped<'_, Html> {
    escape(s, Html)
}

fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t} - Plaid emulator Link</title>\
<style>body{{font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}\
label{{display:block;margin:.4rem 0}}pre{{background:#f4f4f4;padding:1rem;overflow:auto}}\
button{{margin-top:1rem;padding:.5rem 1.5rem}}</style></head>\
<body><h1>{t}</h1>{body}<p><small>Plaid emulator: simulated Link (no real bank is contacted).</small></p></body></html>",
        t = esc(title)
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

pub(super) fn hidden(name: &str, value: &str) -> String {
    format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(name), esc(value))
}

fn error_page(title: &str, value: &Value) -> Response {
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    page(title, &format!("<pre>{}</pre>", esc(&pretty)))
}

/// The sandbox institutions as radio buttons (`institution_id`, the first checked), for the Link pages.
pub(super) fn institution_choices() -> String {
    let mut html = String::new();
    for (i, inst) in sandbox::INSTITUTIONS.iter().enumerate() {
        html.push_str(&format!(
            "<label><input type=\"radio\" name=\"institution_id\" value=\"{}\"{}> {}{}</label>",
            esc(inst.id),
            if i == 0 { " checked" } else { "" },
            esc(inst.name),
            if inst.oauth { " (OAuth)" } else { "" }
        ));
    }
    html
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

/// The walkthrough's routes.
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
        esc(&record.client_name),
        hidden("token", &token)
    );
    body.push_str(&institution_choices());
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
        esc(name),
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
    match read_body(headers, body, app.config.max_body_bytes).await {
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
            esc(&c.mask),
            esc(&c.name),
            esc(&c.mask),
            esc(&c.account_type),
            esc(&c.subtype)
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
        link_session_id: None,
    };
    match complete(app, &completion) {
        Ok(outcome) if outcome.status == "success" => {
            let heading = match &outcome.public_token {
                Some(t) => format!("<p>Success. public_token:</p><pre id=\"public_token\">{}</pre>", esc(t)),
                None => "<p>Success: the Item was updated (update mode returns no public token).</p>".to_owned(),
            };
            let meta = serde_json::to_string_pretty(&outcome.metadata).unwrap_or_default();
            page("Connected", &format!("{heading}<p>onSuccess metadata:</p><pre>{}</pre>", esc(&meta)))
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
    fn values_are_escaped() {
        let h = hidden("token", "\"><script>alert('x')</script>&");
        assert!(!h.contains("<script>"));
        assert_eq!(
            h,
            "<input type=\"hidden\" name=\"token\" value=\"&#34;&#62;&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;&#38;\">"
        );
    }
}
