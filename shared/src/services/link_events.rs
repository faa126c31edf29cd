//! The Link callbacks the app forwards (`onEvent`, `onExit`, `onSuccess`) and the conversion funnel they
//! feed; an update-mode success marks its item repaired.

use super::{ServiceError, Services, item_state, limits};
use crate::domain::{
    Account, ItemEvent, LinkEventKind, LinkEventRecord, LinkEventSource, LinkSessionId, LinkTokenMark, UserId,
    observed_at,
};
use serde::Serialize;
use std::collections::BTreeMap;
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

/// The funnel's steps a Link event marks (in the order a session goes through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Step {
    /// The session exists (any event of it).
    Opened,
    /// The user chose an institution.
    SelectedInstitution,
    /// The user submitted credentials.
    SubmittedCredentials,
    /// Link handed off: the HANDOFF event, onSuccess, or Plaid's SESSION_FINISHED / ITEM_ADD_RESULT /
    /// `/link/token/get` success. Plaid's definition of a converted session.
    Handoff,
}

impl Step {
    const ALL: [Step; 4] = [Self::Opened, Self::SelectedInstitution, Self::SubmittedCredentials, Self::Handoff];

    fn name(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::SelectedInstitution => "selected_institution",
            Self::SubmittedCredentials => "submitted_credentials",
            Self::Handoff => "handoff",
        }
    }

    fn of(e: &LinkEventRecord) -> Self {
        match (e.kind, e.event_name.as_deref()) {
            (LinkEventKind::Success, _) | (LinkEventKind::Event, Some("HANDOFF")) => Self::Handoff,
            (LinkEventKind::Event, Some("SUBMIT_CREDENTIALS")) => Self::SubmittedCredentials,
            (LinkEventKind::Event, Some("SELECT_INSTITUTION")) => Self::SelectedInstitution,
            _ => Self::Opened,
        }
    }
}

/// One Link session, from every source that saw it (the app's callbacks, LINK webhooks,
/// `/link/token/get`).
#[derive(Debug, Default)]
struct SessionView {
    institution: Option<(String, Option<String>)>,
    /// The furthest step reached.
    furthest: Option<Step>,
    exited: bool,
    error_codes: std::collections::BTreeSet<String>,
    sources: std::collections::BTreeSet<&'static str>,
}

/// The Link funnel over a range of days, counted per Link session (unique `link_session_id`), each once
/// whichever sources reported it: the app's `POST /link/events`, Plaid's LINK webhooks, or
/// `/link/token/get` for sessions nothing closed. Conversion is Plaid's definition: sessions that reached
/// HANDOFF over sessions (an exit is never required: EXIT never fires when a tab is closed).
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ConversionReport {
    pub from: String,
    pub to: String,
    /// Link sessions (unique `link_session_id`s).
    pub sessions: u64,
    /// Sessions that reached HANDOFF.
    pub converted: u64,
    /// converted / sessions (0 without sessions).
    pub conversion: f64,
    /// Sessions that reached each step: `opened`, `selected_institution`, `submitted_credentials`, `handoff`.
    pub by_step: BTreeMap<String, u64>,
    /// Sessions that did not convert, by the furthest step they reached (where users drop off).
    pub dropped_at_step: BTreeMap<String, u64>,
    /// The funnel per institution (sessions that chose one).
    pub by_institution: BTreeMap<String, Funnel>,
    /// Sessions that met each error code (a session counts once per code).
    pub errors_by_code: BTreeMap<String, u64>,
    /// Sessions each source reported (`client`, `webhook`, `link_token_get`; a session may have several).
    pub sessions_by_source: BTreeMap<String, u64>,
}

/// One institution's funnel: sessions that chose it, and how far they got.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Funnel {
    pub institution_name: Option<String>,
    /// Sessions that chose this institution.
    pub sessions: u64,
    /// Of those, sessions that reached the institution's selection (every one, unless only a later event
    /// named it).
    pub selected: u64,
    pub submitted_credentials: u64,
    /// Sessions that reached HANDOFF.
    pub succeeded: u64,
    /// Sessions that reported an exit (a closed tab reports none).
    pub exited: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    /// succeeded / sessions (Plaid's definition).
    pub conversion: f64,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

fn source_name(source: LinkEventSource) -> &'static str {
    match source {
        LinkEventSource::Client => "client",
        LinkEventSource::Webhook => "webhook",
        LinkEventSource::LinkTokenGet => "link_token_get",
    }
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
    // Each session once, whichever sources saw it and however often they resent it.
    let mut sessions: BTreeMap<&str, SessionView> = BTreeMap::new();
    for e in &events {
        let view = sessions.entry(e.link_session_id.as_str()).or_default();
        if view.institution.is_none()
            && let Some(ins) = &e.institution_id
        {
            view.institution = Some((ins.clone(), e.institution_name.clone()));
        }
        view.furthest = view.furthest.max(Some(Step::of(e)));
        view.exited |= e.kind == LinkEventKind::Exit || e.event_name.as_deref() == Some("EXIT");
        if let Some(code) = &e.error_code {
            view.error_codes.insert(code.clone());
        }
        view.sources.insert(source_name(e.source));
    }
    let mut report = ConversionReport { from: from.to_string(), to: to.to_string(), ..Default::default() };
    report.sessions = sessions.len() as u64;
    for view in sessions.values() {
        let furthest = view.furthest.unwrap_or(Step::Opened);
        let converted = furthest == Step::Handoff;
        report.converted += u64::from(converted);
        for step in Step::ALL.into_iter().filter(|s| *s <= furthest) {
            *report.by_step.entry(step.name().to_owned()).or_default() += 1;
        }
        if !converted {
            *report.dropped_at_step.entry(furthest.name().to_owned()).or_default() += 1;
        }
        for code in &view.error_codes {
            *report.errors_by_code.entry(code.clone()).or_default() += 1;
        }
        for source in &view.sources {
            *report.sessions_by_source.entry((*source).to_owned()).or_default() += 1;
        }
        let Some((ins, name)) = &view.institution else { continue };
        let funnel = report.by_institution.entry(ins.clone()).or_default();
        if funnel.institution_name.is_none() {
            funnel.institution_name = name.clone();
        }
        funnel.sessions += 1;
        // A session that named its institution chose it, even if only a later event said so.
        funnel.selected += 1;
        funnel.submitted_credentials += u64::from(furthest >= Step::SubmittedCredentials);
        funnel.succeeded += u64::from(converted);
        funnel.exited += u64::from(view.exited);
        for code in &view.error_codes {
            *funnel.errors_by_code.entry(code.clone()).or_default() += 1;
        }
    }
    report.conversion = ratio(report.converted, report.sessions);
    for funnel in report.by_institution.values_mut() {
        funnel.conversion = ratio(funnel.succeeded, funnel.sessions);
    }
    Ok(report)
}
