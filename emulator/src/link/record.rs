//! What Plaid keeps of a Link session and tells the backend about it: the session's record (events so far,
//! then onSuccess / onExit and the Items added), shown by `/link/token/get` while the session runs and up to
//! six hours after it ends, and the LINK webhooks sent when it ends.
//!
//! LINK webhooks go to the link token's `webhook` for every Hosted Link session, and for embedded sessions
//! only when Link events are enabled (`EmulatorConfig::link_events`, `POST /__emulator/config/link_events`;
//! Plaid enables them per client on request). In this order, fired together when the session ends:
//! `ITEM_ADD_RESULT` (one per Item added; none in update mode), `EVENTS` (every event of the session, once:
//! Plaid may send it again cumulatively, the emulator never does), `SESSION_FINISHED`.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::LinkOutcome;
use super::session::Session;
use crate::app::App;
use crate::clock::rfc3339_millis;
use crate::state::{LINK_SESSION_RETENTION_SECS, LinkSessionRecord, State, unix_rfc3339};
use crate::webhooks::Outgoing;
use crate::wire::PlaidError;

fn now_ms(app: &App) -> i64 {
    i64::try_from(app.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn ms_rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map(rfc3339_millis).unwrap_or_default()
}

/// A session opened: its record, with the events so far.
pub fn started(app: &App, session: &Session) {
    let started_at = session.events.started_at();
    let record = LinkSessionRecord {
        link_session_id: session.events.session.clone(),
        link_token: session.link_token.clone(),
        events_visible: session.hosted() || app.link_events(),
        started_at_ms: i64::try_from(started_at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
        finished_at_ms: None,
        events: session.events.list.clone(),
        event_ids: session.events.ids.clone(),
        institution: session.events.institution.clone(),
        request_id: session.events.request_id().to_owned(),
        on_success: None,
        exit: None,
        item_add_results: Vec::new(),
    };
    let mut state = app.lock_state();
    state.prune(app.clock.unix());
    state.link_sessions.insert(record.link_session_id.clone(), record);
}

/// The events of a session still running.
pub fn checkpoint(app: &App, session: &Session) {
    let mut state = app.lock_state();
    if let Some(r) = state.link_sessions.get_mut(&session.events.session).filter(|r| r.finished_at_ms.is_none()) {
        r.events.clone_from(&session.events.list);
        r.event_ids.clone_from(&session.events.ids);
        r.institution.clone_from(&session.events.institution);
        r.request_id = session.events.request_id().to_owned();
    }
}

/// Forgets a session the simulation refused to run (a malformed control request, not something Link does).
pub fn discard(app: &App, session: &Session) {
    app.lock_state().link_sessions.remove(&session.events.session);
}

/// A session ended with `outcome`: its record is completed, and its LINK webhooks are sent when they are due.
pub fn ended(app: &Arc<App>, session: &Session, outcome: &LinkOutcome) {
    let id = session.events.session.clone();
    let mut item_add_results = Vec::new();
    let on_success = match (&outcome.exit, &outcome.public_token, &outcome.metadata) {
        (None, Some(token), Some(metadata)) => {
            item_add_results.push(json!({
                "public_token": token,
                "institution": metadata["institution"],
                "accounts": metadata["accounts"],
            }));
            Some(json!({"public_token": token, "metadata": metadata}))
        }
        _ => None,
    };
    let public_tokens: Vec<String> = outcome.public_token.iter().cloned().collect();
    let webhook = {
        let mut state = app.lock_state();
        let rec = state.link_sessions.entry(id.clone()).or_insert_with(|| LinkSessionRecord {
            link_session_id: id.clone(),
            link_token: session.link_token.clone(),
            events_visible: session.hosted() || app.link_events(),
            started_at_ms: i64::try_from(session.events.started_at().unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
            finished_at_ms: None,
            events: Vec::new(),
            event_ids: Vec::new(),
            institution: None,
            request_id: String::new(),
            on_success: None,
            exit: None,
            item_add_results: Vec::new(),
        });
        rec.finished_at_ms = Some(now_ms(app));
        rec.events.clone_from(&outcome.events);
        rec.event_ids.clone_from(&session.events.ids);
        rec.institution.clone_from(&session.events.institution);
        rec.request_id = session.events.request_id().to_owned();
        rec.on_success = on_success;
        rec.exit.clone_from(&outcome.exit);
        rec.item_add_results.clone_from(&item_add_results);
        let due = rec.events_visible;
        let events = link_events(rec);
        session.record.webhook.clone().filter(|_| due).map(|url| (url, events))
    };
    let Some((url, events)) = webhook else {
        return;
    };
    let token = &session.link_token;
    let link_body = |code: &str, extra: Value| {
        let mut body = json!({
            "environment": "sandbox",
            "link_session_id": id,
            "link_token": token,
            "webhook_code": code,
            "webhook_type": "LINK",
        });
        if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
            b.extend(extra);
        }
        Outgoing { url: url.clone(), item_id: String::new(), body }
    };
    let mut out: Vec<Outgoing> =
        public_tokens.iter().map(|t| link_body("ITEM_ADD_RESULT", json!({"public_token": t}))).collect();
    out.push(link_body("EVENTS", json!({"events": events})));
    let mut finished = json!({
        "status": if outcome.exit.is_none() { "SUCCESS" } else { "EXITED" },
        "public_tokens": public_tokens,
    });
    if let (Some(f), Some(first)) = (finished.as_object_mut(), public_tokens.first()) {
        f.insert("public_token".into(), json!(first));
    }
    out.push(link_body("SESSION_FINISHED", finished));
    app.send_webhooks(out);
}

/// `v` without its null members (the spec's optional strings are not nullable).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        other => other.clone(),
    }
}

/// A session's events as Plaid reports them (`LinkEvent`): `event_id`, `event_name`, `timestamp` and
/// `event_metadata` (the onEvent metadata without nulls, `timestamp` and `link_session_id`).
fn link_events(rec: &LinkSessionRecord) -> Vec<Value> {
    rec.events
        .iter()
        .zip(&rec.event_ids)
        .map(|(e, id)| {
            let mut metadata: Map<String, Value> = match without_nulls(&e["metadata"]) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            let timestamp = metadata.remove("timestamp").unwrap_or(Value::Null);
            metadata.remove("link_session_id");
            json!({"event_id": id, "event_name": e["event_name"], "timestamp": timestamp, "event_metadata": metadata})
        })
        .collect()
}

/// onExit's arguments as `/link/token/get` shows them (`LinkSessionExit`: `metadata.status` omitted when null).
fn exit_json(exit: &Value) -> Value {
    let mut metadata = exit["metadata"].clone();
    if let Some(m) = metadata.as_object_mut()
        && m.get("status").is_some_and(Value::is_null)
    {
        m.remove("status");
    }
    json!({"error": exit["error"], "metadata": metadata})
}

/// One entry of `/link/token/get`'s `link_sessions` (`LinkTokenGetSessionsResponse`).
fn session_json(rec: &LinkSessionRecord) -> Value {
    let finished = rec.finished_at_ms.is_some();
    let exit = rec.exit.as_ref().map(exit_json);
    json!({
        "link_session_id": rec.link_session_id,
        "started_at": ms_rfc3339(rec.started_at_ms),
        "finished_at": rec.finished_at_ms.map(ms_rfc3339),
        "on_success": rec.on_success,
        "on_exit": exit,
        "exit": exit,
        "events": if rec.events_visible { link_events(rec) } else { Vec::new() },
        "results": finished.then(|| json!({
            "item_add_results": rec.item_add_results,
            "cra_item_add_results": [],
            "cra_update_results": [],
            "bank_income_results": [],
            "payroll_income_results": [],
            "document_income_results": null,
        })),
    })
}

/// `/link/token/get`: the link token, the arguments it was made with, and its sessions (oldest first; a
/// finished one for six hours after it ended).
pub fn token_get(app: &App, link_token: &str) -> Result<Value, PlaidError> {
    let now = app.clock.unix();
    let mut state = app.lock_state();
    state.prune(now);
    let state: &State = &state;
    let Some(record) = state.link_tokens.get(link_token) else {
        return Err(PlaidError::invalid_link_token("invalid link_token provided"));
    };
    let mut sessions: Vec<&LinkSessionRecord> = state
        .link_sessions
        .values()
        .filter(|s| s.link_token == link_token)
        .filter(|s| s.finished_at_ms.is_none_or(|end| end / 1000 + LINK_SESSION_RETENTION_SECS > now))
        .collect();
    sessions.sort_by_key(|s| (s.started_at_ms, s.link_session_id.clone()));
    let mut metadata = json!({
        "initial_products": record.products,
        "webhook": record.webhook,
        "country_codes": record.country_codes,
        "language": record.language,
        "redirect_uri": record.redirect_uri,
        "client_name": record.client_name,
    });
    if let (Some(m), Some(filters)) = (metadata.as_object_mut(), &record.account_filters) {
        m.insert("account_filters".into(), filters.clone());
    }
    Ok(json!({
        "link_token": link_token,
        "created_at": unix_rfc3339(record.created_at),
        "expiration": unix_rfc3339(record.expires_at),
        "metadata": metadata,
        "link_sessions": sessions.into_iter().map(session_json).collect::<Vec<_>>(),
    }))
}
