//! The app-facing item APIs: list, transactions, remove, Link events and their conversion report,
//! institution health.

use super::exchange::ItemSummary;
use super::{App, ServiceError};
use crate::domain::{ItemEvent, ItemId, ItemRecord, ItemStatus, ItemView, Transaction, UserId};
use crate::ports::{LinkEventRecord, SealedItem, TransactionPage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The caller's items with what the app should show for each. Showing a re-link prompt counts it, so
/// the churn remover can find users who ignore them.
pub async fn list(app: &App, user: &UserId) -> Result<Vec<ItemSummary>, ServiceError> {
    let mut items = app.store.list_items(user).await?;
    items.retain(|i| i.status != ItemStatus::Revoked);
    for item in items.iter_mut() {
        if matches!(item.view(), ItemView::NeedsLogin | ItemView::Expiring { .. }) {
            item.ignored_prompts = item.ignored_prompts.saturating_add(1);
            if let Err(e) = app.store.update_item(item).await {
                // Counting is best effort; the list still answers.
                tracing::warn!(item_id = %item.item_id, error = %e, "could not count the re-link prompt");
            }
        }
    }
    Ok(items.iter().map(ItemSummary::from).collect())
}

/// One of the caller's items with its sealed secrets (one read), or NotFound (also for other users' items:
/// no existence leak).
async fn owned_item(app: &App, user: &UserId, item_id: &str) -> Result<(ItemRecord, SealedItem), ServiceError> {
    let item_id = ItemId::parse(item_id).map_err(|_| ServiceError::NotFound("item"))?;
    match app.store.get_item_sealed(user, &item_id).await? {
        Some((item, sealed)) if item.status != ItemStatus::Revoked => Ok((item, sealed)),
        _ => Err(ServiceError::NotFound("item")),
    }
}

#[derive(Debug, Serialize)]
pub struct TransactionsPage {
    pub transactions: Vec<Transaction>,
    /// Pass back as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of an item's transactions, newest first, decrypted.
pub async fn transactions(
    app: &App,
    user: &UserId,
    item_id: &str,
    cursor: Option<String>,
    limit: Option<u32>,
) -> Result<TransactionsPage, ServiceError> {
    let limit = limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ServiceError::Invalid("limit must be between 1 and 500".into()));
    }
    let (item, sealed) = owned_item(app, user, item_id).await?;
    let key = app.unseal_key(&item.item_id, &sealed).await?;
    let TransactionPage { mut transactions, next_cursor } =
        app.store.list_transactions(&item.item_id, &key, cursor.as_deref(), limit).await?;
    // A revoked account's transactions are deleted when the revocation arrives; one a sync was writing at
    // that moment is not shown either.
    let revoked: Vec<&crate::domain::AccountId> =
        item.accounts.iter().filter(|a| a.revoked_at.is_some()).map(|a| &a.account_id).collect();
    transactions.retain(|t| !revoked.contains(&&t.account_id));
    Ok(TransactionsPage { transactions, next_cursor })
}

/// Removes one of the caller's items: at Plaid first (ITEM_NOT_FOUND means already gone), then every
/// record of it, the wrapped data key last (crypto-shredding whatever a backup still holds).
pub async fn remove(app: &App, user: &UserId, item_id: &str) -> Result<(), ServiceError> {
    let (item, sealed) = owned_item(app, user, item_id).await?;
    remove_item(app, &item, &sealed).await
}

pub(crate) async fn remove_item(app: &App, item: &ItemRecord, sealed: &SealedItem) -> Result<(), ServiceError> {
    let (_, token) = app.unseal(&item.item_id, sealed).await?;
    match app.plaid.item_remove(&token).await {
        Ok(()) => {}
        Err(e) if e.is_item_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    app.store.delete_item(&item.user_id, &item.item_id).await?;
    tracing::info!(item_id = %item.item_id, "item removed at Plaid and deleted");
    Ok(())
}

/// A Link callback the app forwards: `onEvent`, `onExit` or `onSuccess`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEventIn {
    /// `EVENT` (onEvent), `EXIT` (onExit) or `SUCCESS` (onSuccess).
    pub kind: String,
    /// onEvent's eventName (OPEN, SELECT_INSTITUTION, SUBMIT_CREDENTIALS, HANDOFF, ERROR, EXIT, …).
    pub event_name: Option<String>,
    pub link_session_id: String,
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
    /// When Link emitted it (RFC 3339); defaults to now.
    pub timestamp: Option<String>,
}

const KINDS: [&str; 3] = ["EVENT", "EXIT", "SUCCESS"];

/// Records Link events; an update-mode success marks its item repaired.
pub async fn record_link_events(app: &App, user: &UserId, events: Vec<LinkEventIn>) -> Result<usize, ServiceError> {
    if events.is_empty() || events.len() > 100 {
        return Err(ServiceError::Invalid("events must hold 1 to 100 events".into()));
    }
    let now = app.now();
    let mut records = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        if !KINDS.contains(&e.kind.as_str()) {
            return Err(ServiceError::Invalid(format!("events[{i}].kind must be one of EVENT, EXIT, SUCCESS")));
        }
        if e.kind == "EVENT" && e.event_name.is_none() {
            return Err(ServiceError::Invalid(format!("events[{i}].event_name is required for EVENT")));
        }
        let session = crate::domain::LinkSessionId::parse(e.link_session_id.clone())
            .map_err(|err| ServiceError::Invalid(format!("events[{i}].link_session_id {}", err.reason)))?;
        let at = match &e.timestamp {
            Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map_err(|_| ServiceError::Invalid(format!("events[{i}].timestamp must be RFC 3339")))?,
            None => now,
        };
        if e.kind == "SUCCESS"
            && let Some(token) = &e.link_token
        {
            complete_update_mode(app, user, token, at).await?;
        }
        tracing::info!(link_session_id = %session, link_token = ?e.link_token, request_id = ?e.request_id, kind = %e.kind, event_name = ?e.event_name, error_code = ?e.error_code, "link event");
        records.push(LinkEventRecord {
            user_id: user.clone(),
            link_session_id: session,
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
            timestamp: at,
            seq: i as u32,
        });
    }
    app.store.put_link_events(&records).await?;
    Ok(records.len())
}

async fn complete_update_mode(
    app: &App,
    user: &UserId,
    link_token: &str,
    at: time::OffsetDateTime,
) -> Result<(), ServiceError> {
    let Some(record) = app.store.get_link_token(user, link_token).await? else { return Ok(()) };
    let Some(item_id) = record.item_id else { return Ok(()) };
    if app.store.get_item(user, &item_id).await?.is_none() {
        return Ok(());
    }
    super::webhook::apply_item_event(app, &item_id, &ItemEvent::UpdateModeCompleted, at).await?;
    Ok(())
}

/// The Link funnel by institution: sessions that opened, chose the institution, submitted credentials,
/// and succeeded, with errors and exits by code.
#[derive(Debug, Default, Serialize)]
pub struct ConversionReport {
    pub from: String,
    pub to: String,
    pub sessions: u64,
    pub by_institution: BTreeMap<String, Funnel>,
    pub errors_by_code: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
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

pub async fn conversion_report(app: &App, from: time::Date, to: time::Date) -> Result<ConversionReport, ServiceError> {
    if to < from || (to - from).whole_days() > 92 {
        return Err(ServiceError::Invalid("the range must be from <= to and at most 92 days".into()));
    }
    let events = app.store.link_events_between(from, to).await?;
    let mut report = ConversionReport { from: from.to_string(), to: to.to_string(), ..Default::default() };
    // Each stage counts a session once.
    let mut seen: std::collections::HashSet<(String, &'static str)> = Default::default();
    let mut session_institution: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for e in &events {
        if let Some(ins) = &e.institution_id {
            session_institution
                .entry(e.link_session_id.to_string())
                .or_insert((ins.clone(), e.institution_name.clone()));
        }
    }
    let sessions: std::collections::HashSet<&str> = events.iter().map(|e| e.link_session_id.as_str()).collect();
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
        let stage: Option<&'static str> = match (e.kind.as_str(), e.event_name.as_deref()) {
            ("EVENT", Some("SELECT_INSTITUTION")) => Some("selected"),
            ("EVENT", Some("SUBMIT_CREDENTIALS")) => Some("submitted"),
            ("SUCCESS", _) | ("EVENT", Some("HANDOFF")) => Some("succeeded"),
            ("EXIT", _) => Some("exited"),
            _ => None,
        };
        if let Some(code) = &e.error_code
            && seen.insert((format!("{session}/{code}"), "error"))
        {
            *funnel.errors_by_code.entry(code.clone()).or_default() += 1;
            *report.errors_by_code.entry(code.clone()).or_default() += 1;
        }
        if let Some(stage) = stage
            && seen.insert((session.clone(), stage))
        {
            match stage {
                "selected" => funnel.selected += 1,
                "submitted" => funnel.submitted_credentials += 1,
                "succeeded" => funnel.succeeded += 1,
                _ => funnel.exited += 1,
            }
        }
    }
    for funnel in report.by_institution.values_mut() {
        funnel.conversion = if funnel.selected == 0 { 0.0 } else { funnel.succeeded as f64 / funnel.selected as f64 };
    }
    Ok(report)
}
