//! The Link callbacks the app forwards (`onEvent`, `onExit`, `onSuccess`) and the conversion funnel they
//! feed; an update-mode success marks its item repaired.

use super::{ServiceError, Services, item_state, limits};
use crate::domain::{
    Account, ItemEvent, LinkEventKind, LinkEventRecord, LinkEventSource, LinkSessionId, LinkTokenMark, UserId,
    observed_at,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use time::OffsetDateTime;

/// The most events one request may carry.
pub const MAX_EVENTS: usize = 100;

/// One Link callback, parsed at the edge.
#[derive(Debug, Clone)]
pub struct LinkEvent {
    pub kind: LinkEventKind,
    /// onEvent's eventName (OPEN, SELECT_INSTITUTION, SUBMIT_CREDENTIALS, HANDOFF, ERROR, EXIT, …); set for
    /// every [`LinkEventKind::Event`].
    pub event_name: Option<String>,
    pub link_session_id: LinkSessionId,
    /// The link token the session ran with (lets an update-mode success repair its item).
    pub link_token: Option<String>,
    pub request_id: Option<String>,
    pub institution_id: Option<String>,
    pub institution_name: Option<String>,
    pub error_type: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub exit_status: Option<String>,
    pub view_name: Option<String>,
    /// When Link emitted it, by the client's clock: kept for the record, never used to order anything.
    pub client_timestamp: Option<OffsetDateTime>,
}

/// Records Link events (1 to [`MAX_EVENTS`]); an update-mode success marks its item repaired.
pub async fn record(app: &Services, user: &UserId, events: Vec<LinkEvent>) -> Result<usize, ServiceError> {
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(ServiceError::Invalid(format!("events must hold 1 to {MAX_EVENTS} events")));
    }
    let now = app.now();
    let mut records = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        if matches!(e.kind, LinkEventKind::Success | LinkEventKind::Exit)
            && let Some(token) = &e.link_token
        {
            session_closed(app, user, token, e.kind, now).await?;
        }
        if e.kind == LinkEventKind::Exit && e.error_code.as_deref() == Some("INVALID_CREDENTIALS") {
            limits::credential_failure(app, user, e.institution_id.as_deref()).await?;
        }
        tracing::info!(link_session_id = %e.link_session_id, link_token = ?e.link_token, request_id = ?e.request_id, kind = ?e.kind, event_name = ?e.event_name, error_code = ?e.error_code, "link event");
        records.push(LinkEventRecord {
            user_id: user.clone(),
            link_session_id: e.link_session_id,
            kind: e.kind,
            event_name: e.event_name,
            link_token: e.link_token,
            request_id: e.request_id,
            institution_id: e.institution_id,
            institution_name: e.institution_name,
            error_type: e.error_type,
            error_code: e.error_code,
            error_message: e.error_message,
            exit_status: e.exit_status,
            view_name: e.view_name,
            timestamp: filed_at(e.client_timestamp, now),
            seq: u32::try_from(i).unwrap_or(u32::MAX),
            event_id: None,
            source: LinkEventSource::Client,
        });
    }
    app.store.put_link_events(&records).await?;
    Ok(records.len())
}

/// When an event is filed for the funnel: when Link emitted it (a client may forward events late), but never
/// after weft received it (a client's clock cannot file events ahead).
fn filed_at(client_timestamp: Option<OffsetDateTime>, received: OffsetDateTime) -> OffsetDateTime {
    client_timestamp.map_or(received, |t| t.min(received))
}

/// The app reports how a session of one of the user's link tokens ended (onSuccess / onExit): the token is
/// marked closed (never asked about with `/link/token/get`), and an update-mode success is confirmed.
async fn session_closed(
    app: &Services,
    user: &UserId,
    link_token: &str,
    kind: LinkEventKind,
    at: OffsetDateTime,
) -> Result<(), ServiceError> {
    let Some(record) = app.store.get_link_token(user, link_token).await? else { return Ok(()) };
    app.store.mark_link_token(user, &record, LinkTokenMark::Closed, at).await?;
    if kind == LinkEventKind::Success
        && let Some(item_id) = &record.item_id
    {
        confirm_update_mode(app, user, item_id, at).await?;
    }
    Ok(())
}

/// Someone reports that the user finished update mode for `item_id` (the app's onSuccess, a LINK
/// webhook, `/link/token/get`): a hint, confirmed with Plaid (`/item/get`) before it becomes state. The
/// item is repaired only if Plaid reports no error for it (else Plaid's error is recorded, observed now);
/// dated by weft's clock, never the client's (a repair the user just made outdates a Plaid event signed in
/// the same second). Its accounts then follow Plaid's (`/accounts/get`: account selection may have shared
/// new ones). A Plaid failure is an error: the app's retry of the events (or Plaid's of its webhook)
/// confirms again.
pub async fn confirm_update_mode(
    app: &Services,
    user: &UserId,
    item_id: &crate::domain::ItemId,
    at: OffsetDateTime,
) -> Result<(), ServiceError> {
    let item_id = item_id.clone();
    let Some(read) = app.store.get_item_sealed(user, &item_id).await? else { return Ok(()) };
    let (_, token) = app.unseal(&item_id, &read.1).await?;
    let at_plaid = app.plaid.item_get(&token).await?;
    match &at_plaid.item.error {
        Some(error) => {
            tracing::warn!(event = "update_mode_unconfirmed", item_id = %item_id, error_code = %error.error_code, "Link reported update mode done, but Plaid still reports the item's error");
            let event = ItemEvent::Error { error_type: error.error_type.clone(), error_code: error.error_code.clone() };
            item_state::apply_event_to_read(app, read, &event, observed_at(at)).await?;
        }
        None => {
            item_state::apply_event_to_read(app, read, &ItemEvent::UpdateModeCompleted, at).await?;
            let accounts = app.plaid.accounts_get(&token, None).await?;
            let accounts = accounts.accounts.into_iter().map(Account::from).collect();
            item_state::refresh_accounts(app, &item_id, accounts, app.now()).await?;
        }
    }
    Ok(())
}

/// The funnel's stages a Link event marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Stage {
    /// The user chose an institution.
    Selected,
    /// The user submitted credentials.
    Submitted,
    /// Link handed off (onSuccess, or the HANDOFF event).
    Succeeded,
    /// The user left Link (onExit).
    Exited,
}

impl Stage {
    fn of(e: &LinkEventRecord) -> Option<Self> {
        match (e.kind, e.event_name.as_deref()) {
            (LinkEventKind::Event, Some("SELECT_INSTITUTION")) => Some(Self::Selected),
            (LinkEventKind::Event, Some("SUBMIT_CREDENTIALS")) => Some(Self::Submitted),
            (LinkEventKind::Success, _) | (LinkEventKind::Event, Some("HANDOFF")) => Some(Self::Succeeded),
            (LinkEventKind::Exit, _) => Some(Self::Exited),
            _ => None,
        }
    }
}

/// The Link funnel by institution: sessions that opened, chose the institution, submitted credentials,
/// and succeeded, with errors and exits by code.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ConversionReport {
    pub from: String,
    pub to: String,
    pub sessions: u64,
    pub by_institution: BTreeMap<String, Funnel>,
    pub errors_by_code: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Funnel {
    pub institution_name: Option<String>,
    pub selected: u64,
    pub submitted_credentials: u64,
    pub succeeded: u64,
    pub exited: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    /// succeeded / selected.
    pub conversion: f64,
}

pub async fn conversion_report(
    app: &Services,
    from: time::Date,
    to: time::Date,
) -> Result<ConversionReport, ServiceError> {
    if to < from || (to - from).whole_days() > 92 {
        return Err(ServiceError::Invalid("the range must be from <= to and at most 92 days".into()));
    }
    let events = app.store.link_events_between(from, to).await?;
    let mut report = ConversionReport { from: from.to_string(), to: to.to_string(), ..Default::default() };
    // Each stage counts a session once, and each error code once per session.
    let mut seen_stages: HashSet<(String, Stage)> = HashSet::new();
    let mut seen_errors: HashSet<(String, String)> = HashSet::new();
    let mut session_institution: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for e in &events {
        if let Some(ins) = &e.institution_id {
            session_institution
                .entry(e.link_session_id.to_string())
                .or_insert((ins.clone(), e.institution_name.clone()));
        }
    }
    let sessions: HashSet<&str> = events.iter().map(|e| e.link_session_id.as_str()).collect();
    report.sessions = sessions.len() as u64;
    for e in &events {
        let session = e.link_session_id.to_string();
        let Some((ins, name)) = session_institution.get(&session).cloned() else {
            if let Some(code) = &e.error_code {
                *report.errors_by_code.entry(code.clone()).or_default() += 1;
            }
            continue;
        };
        let funnel = report.by_institution.entry(ins).or_default();
        if funnel.institution_name.is_none() {
            funnel.institution_name = name;
        }
        if let Some(code) = &e.error_code
            && seen_errors.insert((session.clone(), code.clone()))
        {
            *funnel.errors_by_code.entry(code.clone()).or_default() += 1;
            *report.errors_by_code.entry(code.clone()).or_default() += 1;
        }
        if let Some(stage) = Stage::of(e)
            && seen_stages.insert((session.clone(), stage))
        {
            match stage {
                Stage::Selected => funnel.selected += 1,
                Stage::Submitted => funnel.submitted_credentials += 1,
                Stage::Succeeded => funnel.succeeded += 1,
                Stage::Exited => funnel.exited += 1,
            }
        }
    }
    for funnel in report.by_institution.values_mut() {
        funnel.conversion = if funnel.selected == 0 { 0.0 } else { funnel.succeeded as f64 / funnel.selected as f64 };
    }
    Ok(report)
}
