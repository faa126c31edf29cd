//! The `onEvent` stream of a simulated session, and its `onExit` ending.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::LinkOutcome;
use crate::clock::rfc3339_millis;
use crate::state::LinkSessionRecord;
use crate::wire::PlaidError;

/// The events of one Link session so far.
pub struct Events {
    /// `link_session_id`.
    pub session: String,
    start: OffsetDateTime,
    request_id: String,
    /// The institution picked (id, name), once picked.
    pub institution: Option<(String, String)>,
    /// The `onEvent` calls, in order.
    pub list: Vec<Value>,
    /// Each event's `event_id` (what LINK `EVENTS` webhooks and `/link/token/get` dedupe on), in the same
    /// order; kept when `list` is handed out.
    pub ids: Vec<String>,
}

impl Events {
    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            session: uuid::Uuid::new_v4().to_string(),
            start: now,
            request_id: crate::ids::request_id(),
            institution: None,
            list: Vec::new(),
            ids: Vec::new(),
        }
    }

    /// A session's events as recorded (a session started by the control API, finished later).
    pub fn restore(record: &LinkSessionRecord) -> Self {
        let start = OffsetDateTime::from_unix_timestamp_nanos(i128::from(record.started_at_ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Self {
            session: record.link_session_id.clone(),
            start,
            request_id: record.request_id.clone(),
            institution: record.institution.clone(),
            list: record.events.clone(),
            ids: record.event_ids.clone(),
        }
    }

    /// When the session started.
    pub fn started_at(&self) -> OffsetDateTime {
        self.start
    }

    /// Link's last request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    pub fn push(&mut self, name: &str, view: Option<&str>, error: Option<&PlaidError>, exit_status: Option<&str>) {
        let at = self.start + time::Duration::milliseconds(250 * self.ids.len() as i64);
        self.ids.push(uuid::Uuid::new_v4().to_string());
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

    pub fn new_request(&mut self) {
        self.request_id = crate::ids::request_id();
    }

    pub fn institution_json(&self) -> Value {
        match &self.institution {
            Some((id, name)) => json!({"name": name, "institution_id": id}),
            None => Value::Null,
        }
    }

    /// Ends the session with an error: the error pane, `ERROR`, `EXIT`, and onExit with the error.
    pub fn exit(&mut self, error: PlaidError, status: Option<&str>) -> LinkOutcome {
        self.push("TRANSITION_VIEW", Some("ERROR"), None, None);
        self.push("ERROR", Some("ERROR"), Some(&error), None);
        self.push("EXIT", None, None, status);
        let error = json!({
            "display_message": error.display_message(),
            "error_code": error.error_code,
            "error_message": error.error_message,
            "error_type": error.error_type.as_str(),
        });
        self.on_exit(error, status)
    }

    /// The user closes Link: `EXIT`, and onExit with no error (`status`: the pane they left).
    pub fn user_exit(&mut self, status: Option<&str>) -> LinkOutcome {
        self.push("EXIT", None, None, status);
        self.on_exit(Value::Null, status)
    }

    /// The outcome of a session ended by onExit(error, metadata), with the events so far.
    fn on_exit(&mut self, error: Value, status: Option<&str>) -> LinkOutcome {
        let exit = json!({
            "error": error,
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
            events: std::mem::take(&mut self.list),
            exit: Some(exit),
            item_id: None,
        }
    }
}
