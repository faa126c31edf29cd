//! Link sessions as Plaid reports them, not only as the app forwards them: Plaid's LINK webhooks
//! (`ITEM_ADD_RESULT`, `SESSION_FINISHED`, `EVENTS`) and, for a session nothing closed in time,
//! `/link/token/get`, asked once per Link token.
//!
//! Both name the Link token, never the user: weft finds the user it made the token for
//! ([`crate::ports::LinkStore::find_link_token`]) and acts on their behalf, through the app's own paths:
//!
//! - a public token is exchanged by [`exchange::exchange`], as `POST /items/exchange` does (the same
//!   claim per public token, duplicate detection and limits), without Link's metadata (the institution and
//!   accounts are Plaid's, as they always end up). One exchanged already (by the app) is a success; one
//!   being exchanged by another request that does not finish in this one's time is an error, so Plaid
//!   sends the webhook again (5xx): the retry finds the outcome, or takes the claim if the other request
//!   gave up. Treating it as handled would lose the item if the other request then failed.
//! - an update-mode success is confirmed with `/item/get` ([`link_events::confirm_update_mode`]), never
//!   taken on the webhook's word;
//! - events feed the funnel in the app's events' store, with Plaid's `event_id`: Plaid sends `EVENTS`
//!   again cumulatively, and each (session, event id) is one record.

use super::exchange::{self, ExchangeCommand};
use super::{Deadline, ServiceError, Services, link_events};
use crate::domain::{
    InstitutionId, LinkEventKind, LinkEventRecord, LinkEventSource, LinkMode, LinkSessionId, LinkTokenMark,
    LinkTokenRecord, PublicToken, UserId,
};
use crate::ports::plaid::wire::{LinkSessionEvent, LinkSessionExit, LinkTokenGetSession};
use crate::ports::{PlaidCallError, WebhookEvent};
use serde::Serialize;
use time::OffsetDateTime;

/// What a LINK webhook led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Its public tokens exchanged (or found exchanged already), its update mode confirmed, its events
    /// recorded: whatever it carried is handled.
    Handled,
    /// A Link token weft does not hold (another deployment's, or expired a day ago): acknowledged.
    UnknownLinkToken,
}

/// Handles a verified LINK webhook (`event` is one of the LINK variants; `issued_at` its `iat`).
pub async fn on_webhook(
    app: &Services,
    event: &WebhookEvent,
    issued_at: OffsetDateTime,
    deadline: Deadline,
) -> Result<LinkOutcome, ServiceError> {
    let (link_token, link_session_id) = match event {
        WebhookEvent::LinkItemAddResult { link_token, link_session_id, .. }
        | WebhookEvent::LinkSessionFinished { link_token, link_session_id, .. }
        | WebhookEvent::LinkEvents { link_token, link_session_id, .. } => (link_token, link_session_id),
        _ => return Ok(LinkOutcome::Handled),
    };
    let Some((user, record)) = app.store.find_link_token(link_token.as_str()).await? else {
        tracing::warn!(link_token = %link_token, link_session_id = %link_session_id, webhook_code = event.code(), "LINK webhook for a link token weft does not hold; acknowledged");
        return Ok(LinkOutcome::UnknownLinkToken);
    };
    let session = Session { app, user: &user, record: &record, link_session_id, source: LinkEventSource::Webhook };
    match event {
        WebhookEvent::LinkItemAddResult { public_token, .. } => {
            session.close(issued_at).await?;
            let institution = session.added(std::slice::from_ref(public_token), deadline).await?;
            session.record_outcome(LinkEventKind::Success, institution, None, issued_at).await?;
        }
        WebhookEvent::LinkSessionFinished { status, public_tokens, .. } => {
            session.close(issued_at).await?;
            if status == "SUCCESS" {
                let institution = session.added(public_tokens, deadline).await?;
                session.record_outcome(LinkEventKind::Success, institution, None, issued_at).await?;
            } else {
                session.record_outcome(LinkEventKind::Exit, None, None, issued_at).await?;
            }
        }
        WebhookEvent::LinkEvents { events, .. } => session.record_events(events).await?,
        _ => {}
    }
    Ok(LinkOutcome::Handled)
}

/// One Link session of a token weft made for `user`.
struct Session<'a> {
    app: &'a Services,
    user: &'a UserId,
    record: &'a LinkTokenRecord,
    link_session_id: &'a LinkSessionId,
    source: LinkEventSource,
}

impl Session<'_> {
    /// The session ended and weft was told how: its token is never asked about.
    async fn close(&self, at: OffsetDateTime) -> Result<(), ServiceError> {
        self.app.store.mark_link_token(self.user, self.record, LinkTokenMark::Closed, at).await?;
        Ok(())
    }

    /// The session succeeded with `public_tokens`: each exchanged (a new link), or the item's repair
    /// confirmed with Plaid (update mode makes no new item). The institution linked, if an item was made.
    async fn added(
        &self,
        public_tokens: &[PublicToken],
        deadline: Deadline,
    ) -> Result<Option<InstitutionId>, ServiceError> {
        if let Some(item_id) = &self.record.item_id {
            link_events::confirm_update_mode(self.app, self.user, item_id, self.app.now()).await?;
            return Ok(None);
        }
        let mut institution = None;
        let mut retry = None;
        for token in public_tokens {
            match self.exchange(token.clone(), deadline).await {
                Ok(linked) => institution = institution.or(linked),
                // The others are still tried; their exchanges are idempotent when Plaid sends this again.
                Err(e) => retry = Some(e),
            }
        }
        match retry {
            Some(e) => Err(e),
            None => Ok(institution),
        }
    }

    /// Exchanges one public token on the user's behalf, as `POST /items/exchange` does. What the app would
    /// be told to fix by linking again is done here: logged, and handled (Plaid sending it again changes
    /// nothing). What a retry can fix is an error.
    async fn exchange(
        &self,
        public_token: PublicToken,
        deadline: Deadline,
    ) -> Result<Option<InstitutionId>, ServiceError> {
        let command = ExchangeCommand::from_plaid(public_token, Some(self.link_session_id.to_string()), deadline);
        let session = self.link_session_id;
        match exchange::exchange(self.app, self.user, command).await {
            Ok(item) => {
                tracing::info!(event = "link_session_exchanged", link_session_id = %session, item_id = %item.item_id, source = ?self.source, "a public token Plaid reported is exchanged (or was already)");
                Ok(Some(item.institution.institution_id))
            }
            Err(ServiceError::Duplicate { existing, reason }) => {
                tracing::info!(link_session_id = %session, existing = %existing, reason, "a public token Plaid reported made a duplicate; removed at Plaid");
                Ok(None)
            }
            Err(e @ (ServiceError::PublicTokenUsed | ServiceError::InvalidPublicToken(_))) => {
                // Used (its item since removed) or expired: nothing any retry can do.
                tracing::warn!(link_session_id = %session, error = %crate::telemetry::chain(&e), "a public token Plaid reported cannot be exchanged any more");
                Ok(None)
            }
            Err(e @ ServiceError::RateLimited { .. }) => {
                tracing::warn!(link_session_id = %session, error = %crate::telemetry::chain(&e), "a public token Plaid reported is over the user's limits; not exchanged");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A record of how the session ended (for the funnel; its token is the session's).
    async fn record_outcome(
        &self,
        kind: LinkEventKind,
        institution: Option<InstitutionId>,
        exit: Option<&LinkSessionExit>,
        at: OffsetDateTime,
    ) -> Result<(), ServiceError> {
        let exit_metadata = exit.and_then(|e| e.metadata.as_ref());
        let exit_institution = exit_metadata.and_then(|m| m.institution.as_ref());
        let error = exit.and_then(|e| e.error.as_ref());
        let name = match kind {
            LinkEventKind::Success => "SUCCESS",
            LinkEventKind::Exit => "EXIT",
            LinkEventKind::Event => "EVENT",
        };
        let record = LinkEventRecord {
            user_id: self.user.clone(),
            link_session_id: self.link_session_id.clone(),
            kind,
            event_name: None,
            link_token: Some(self.record.link_token.to_string()),
            request_id: exit_metadata.and_then(|m| m.request_id.clone()),
            institution_id: institution
                .map(|i| i.to_string())
                .or_else(|| exit_institution.and_then(|i| i.institution_id.clone())),
            institution_name: exit_institution.and_then(|i| i.name.clone()),
            error_type: error.map(|e| e.error_type.clone()).filter(|t| !t.is_empty()),
            error_code: error.map(|e| e.error_code.clone()).filter(|c| !c.is_empty()),
            error_message: None,
            exit_status: exit_metadata.and_then(|m| m.status.clone()),
            view_name: None,
            timestamp: at,
            seq: 0,
            // One outcome per session and source: Plaid's resends are the same record.
            event_id: Some(format!("{}-{name}", source_tag(self.source))),
            source: self.source,
        };
        self.app.store.put_link_events(&[record]).await?;
        Ok(())
    }

    /// Plaid's events of the session, each once per `event_id`, in the app's events' store.
    async fn record_events(&self, events: &[LinkSessionEvent]) -> Result<(), ServiceError> {
        if events.is_empty() {
            return Ok(());
        }
        let records: Vec<LinkEventRecord> = events
            .iter()
            .map(|e| {
                let m = &e.event_metadata;
                LinkEventRecord {
                    user_id: self.user.clone(),
                    link_session_id: self.link_session_id.clone(),
                    kind: LinkEventKind::Event,
                    event_name: Some(e.event_name.clone()),
                    link_token: Some(self.record.link_token.to_string()),
                    request_id: m.request_id.clone(),
                    institution_id: m.institution_id.clone(),
                    institution_name: m.institution_name.clone(),
                    error_type: m.error_type.clone(),
                    error_code: m.error_code.clone(),
                    error_message: m.error_message.clone(),
                    exit_status: m.exit_status.clone(),
                    view_name: m.view_name.clone(),
                    timestamp: e.timestamp,
                    seq: 0,
                    event_id: Some(e.event_id.clone()),
                    source: self.source,
                }
            })
            .collect();
        tracing::info!(link_session_id = %self.link_session_id, events = records.len(), source = ?self.source, "link events from Plaid");
        self.app.store.put_link_events(&records).await?;
        Ok(())
    }
}

fn source_tag(source: LinkEventSource) -> &'static str {
    match source {
        LinkEventSource::Client => "client",
        LinkEventSource::Webhook => "webhook",
        LinkEventSource::LinkTokenGet => "link-token-get",
    }
}

// ---------------------------------------------------------------------------------------------------------
// Sessions nothing closed: `/link/token/get`

/// The most Link tokens one sweep invocation asks about.
pub const MAX_ASKED_PER_RUN: usize = 500;

/// What asking about open Link tokens did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoveredSessions {
    /// Link tokens asked about (`/link/token/get`).
    pub asked: u64,
    /// Link sessions Plaid reported for them.
    pub sessions: u64,
    /// Of those, sessions that ended in success (their public tokens exchanged, or update mode confirmed).
    pub succeeded: u64,
    /// Link tokens whose call failed (left open: asked again next time).
    pub failed: u64,
}

/// Asks Plaid (`/link/token/get`), once per token, about up to `limit` Link tokens made more than
/// `WEFT_LINK_SESSION_TIMEOUT_MINUTES` ago whose session neither the app nor a LINK webhook closed, and
/// records what it shows: events, the exit, and a success's public tokens exchanged through the app's path
/// (or update mode confirmed). A token is marked asked once Plaid answered (a token Plaid no longer knows
/// too); one whose call failed stays open for the next run.
pub async fn recover_open_sessions(app: &Services, limit: usize, deadline: Deadline) -> RecoveredSessions {
    let mut done = RecoveredSessions::default();
    let timeout = time::Duration::minutes(i64::from(app.config.sweep.link_session_timeout_minutes));
    let open = match app.store.open_link_tokens(app.now() - timeout, limit).await {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!(error = %crate::telemetry::chain(&e), "could not read the open link tokens; next run");
            return done;
        }
    };
    for (user, record) in open {
        if deadline.remaining().is_zero() {
            break;
        }
        match recover(app, &user, &record, deadline).await {
            Ok((sessions, succeeded)) => {
                done.asked += 1;
                done.sessions += sessions;
                done.succeeded += succeeded;
            }
            Err(e) => {
                done.failed += 1;
                tracing::warn!(event = "link_token_get_failed", link_token = %record.link_token, error = %crate::telemetry::chain(&e), "could not learn how a link session ended; asked again next run");
            }
        }
    }
    if done != RecoveredSessions::default() {
        tracing::info!(
            event = "link_sessions_recovered",
            asked = done.asked,
            sessions = done.sessions,
            succeeded = done.succeeded,
            failed = done.failed,
            "open link sessions asked about"
        );
    }
    done
}

/// One token: its sessions, and the mark that it was asked. (sessions, succeeded).
async fn recover(
    app: &Services,
    user: &UserId,
    record: &LinkTokenRecord,
    deadline: Deadline,
) -> Result<(u64, u64), ServiceError> {
    let answer = match app.plaid.link_token_get(&record.link_token).await {
        Ok(answer) => answer,
        Err(e) if is_definitive(&e) => {
            tracing::info!(link_token = %record.link_token, error = %crate::telemetry::chain(&e), "Plaid no longer knows the link token");
            app.store.mark_link_token(user, record, LinkTokenMark::Asked, app.now()).await?;
            return Ok((0, 0));
        }
        Err(e) => return Err(e.into()),
    };
    let (mut sessions, mut succeeded) = (0, 0);
    for found in &answer.link_sessions {
        let Ok(link_session_id) = LinkSessionId::parse(found.link_session_id.clone()) else {
            tracing::warn!(link_token = %record.link_token, "/link/token/get named a session id weft cannot take; skipped");
            continue;
        };
        sessions += 1;
        let session =
            Session { app, user, record, link_session_id: &link_session_id, source: LinkEventSource::LinkTokenGet };
        if recover_session(&session, found, deadline).await? {
            succeeded += 1;
        }
    }
    app.store.mark_link_token(user, record, LinkTokenMark::Asked, app.now()).await?;
    Ok((sessions, succeeded))
}

/// Records one session `/link/token/get` reported; whether it succeeded.
async fn recover_session(
    session: &Session<'_>,
    found: &LinkTokenGetSession,
    deadline: Deadline,
) -> Result<bool, ServiceError> {
    session.record_events(&found.events).await?;
    let at = found.finished_at.or(found.started_at).unwrap_or_else(|| session.app.now());
    let mut public_tokens: Vec<PublicToken> = Vec::new();
    if let Some(results) = &found.results {
        public_tokens.extend(results.item_add_results.iter().map(|r| r.public_token.clone()));
    }
    if let Some(success) = &found.on_success
        && !public_tokens.contains(&success.public_token)
    {
        public_tokens.push(success.public_token.clone());
    }
    let handed_off = found.events.iter().any(|e| e.event_name == "HANDOFF");
    let update_mode = session.record.mode() == LinkMode::Update;
    if !public_tokens.is_empty() || (update_mode && handed_off) {
        let institution = session.added(&public_tokens, deadline).await?;
        session.record_outcome(LinkEventKind::Success, institution, None, at).await?;
        return Ok(true);
    }
    if let Some(exit) = found.exit.as_ref().or(found.on_exit.as_ref()) {
        session.record_outcome(LinkEventKind::Exit, None, Some(exit), at).await?;
    }
    Ok(false)
}

/// Plaid's answer will not change on asking again (the token is unknown or expired).
fn is_definitive(e: &PlaidCallError) -> bool {
    matches!(e, PlaidCallError::Api { error, .. } if matches!(error.error_type.as_str(), "INVALID_INPUT" | "INVALID_REQUEST"))
}
