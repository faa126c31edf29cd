//! Item events for the app: published from the outbox the item changes write them to ([`crate::ports::Outbox`]).
//!
//! - **Right away**: the use case that wrote events publishes them once its write is done
//!   ([`publish_now`], best effort) and removes them from the outbox.
//! - **Later**: the `events` function drains what is left ([`drain`]: every few minutes, the events older
//!   than a minute, so it rarely races the first path): a bus that failed, a function that died between its
//!   write and its publish. Nothing is lost; an event may be published twice (same `event_id`).
//! - Each event the user should act on (needs login, expiring, new accounts, a reminder) carries a ready
//!   update-mode Hosted Link URL ([`super::link::relink`]), made only where the deployment's pseudonym key
//!   is (the user-facing functions and `events`: elsewhere such an event waits for the next drain); if Plaid cannot make one now, the event waits in
//!   the outbox for the next drain, up to [`RELINK_PATIENCE`], then goes without a URL.
//! - **Reminders** ([`remind`]): while an item needs the user's login (or consent renewal), a reminder
//!   event on the configured schedule (days since it began needing them); each one counts as a re-link prompt the user ignored, which is what
//!   the churn policy counts. A repair stops them (the item leaves the index they are read from).

use super::{ServiceError, Services, link};
use crate::domain::{AppEvent, AppEventKind, ChurnIndex, ItemView};
use crate::ports::{EVENT_BATCH, OutgoingEvent};
use std::collections::HashSet;

/// How long an event waits in the outbox for its re-link URL before it goes without one.
pub const RELINK_PATIENCE: time::Duration = time::Duration::hours(1);
/// Events the drain leaves to the writer that just made them.
pub const DRAIN_MIN_AGE: time::Duration = time::Duration::minutes(1);
/// Events one drain reads at most.
const DRAIN_MAX: usize = 1000;

/// What a publish or a drain did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    pub published: usize,
    /// Left in the outbox for the next drain (the bus or Plaid failed).
    pub left: usize,
}

/// Publishes events just written to the outbox, then removes them from it. Never fails its caller: what is
/// not published stays in the outbox for [`drain`].
pub async fn publish_now(services: &Services, events: &[AppEvent]) -> Published {
    if events.is_empty() {
        return Published::default();
    }
    publish(services, events.to_vec()).await
}

/// Publishes the outbox's events that occurred before `now - min_age`, oldest first.
pub async fn drain(services: &Services, min_age: time::Duration) -> Result<Published, ServiceError> {
    let until = services.now() - min_age;
    let pending = services.store.pending_events(until, DRAIN_MAX).await?;
    Ok(publish(services, pending).await)
}

async fn publish(services: &Services, events: Vec<AppEvent>) -> Published {
    let mut done = Published::default();
    let mut ready = Vec::with_capacity(events.len());
    for event in events {
        match outgoing(services, event).await {
            Some(out) => ready.push(out),
            None => done.left += 1,
        }
    }
    for batch in ready.chunks(EVENT_BATCH) {
        let failed: HashSet<String> = match services.bus.publish(batch).await {
            Ok(failed) => failed.into_iter().collect(),
            Err(e) => {
                tracing::warn!(events = batch.len(), error = %crate::telemetry::chain(&e), "events not published; they stay in the outbox");
                done.left += batch.len();
                continue;
            }
        };
        let published: Vec<AppEvent> =
            batch.iter().filter(|o| !failed.contains(&o.event.event_id)).map(|o| o.event.clone()).collect();
        done.left += batch.len() - published.len();
        done.published += published.len();
        for e in &published {
            tracing::info!(event = "app_event_published", event_id = %e.event_id, event_type = e.kind.name(), item_id = %e.item_id, "item event published");
        }
        // Published: out of the outbox. If this fails, the drain publishes them again (same ids).
        if let Err(e) = services.store.remove_events(&published).await {
            tracing::warn!(error = %crate::telemetry::chain(&e), "published events stay in the outbox; they will be published again");
        }
    }
    done
}

/// The event as published, with its re-link URL when the user should act; `None`: not now (Plaid could not
/// make the URL; the event stays in the outbox).
async fn outgoing(services: &Services, event: AppEvent) -> Option<OutgoingEvent> {
    if !event.kind.wants_relink() {
        return Some(OutgoingEvent { event, relink: None });
    }
    if !services.stable_pseudonyms {
        // This function cannot make Link tokens for the user (no pseudonym key): the `events` function
        // publishes it, with its URL, at its next drain.
        return None;
    }
    match link::relink(services, &event.item_id).await {
        Ok(relink) => Some(OutgoingEvent { event, relink }),
        Err(e) if services.now() - event.occurred_at < RELINK_PATIENCE => {
            tracing::warn!(event_id = %event.event_id, item_id = %event.item_id, error = %crate::telemetry::chain(&e), "no re-link URL yet; the event waits in the outbox");
            None
        }
        Err(e) => {
            tracing::warn!(event_id = %event.event_id, item_id = %event.item_id, error = %crate::telemetry::chain(&e), "no re-link URL; the event goes without one");
            Some(OutgoingEvent { event, relink: None })
        }
    }
}

/// What a reminder pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reminded {
    /// Items that need the user, looked at.
    pub scanned: usize,
    /// Reminders due and written (then published).
    pub reminded: usize,
    pub published: Published,
}

/// Writes a reminder for every item needing the user whose next reminder is due by the schedule (counted as
/// an ignored prompt, atomically with the event), then publishes them.
pub async fn remind(services: &Services) -> Result<Reminded, ServiceError> {
    let now = services.now();
    let schedule = &services.config.events.reminders;
    let mut done = Reminded::default();
    let mut written = Vec::new();
    for shard in 0..crate::domain::CHURN_SHARDS {
        let mut page_token = None;
        loop {
            // Every item in error or awaiting update mode, oldest first (the churn error index).
            let page = services.store.churn_candidates(ChurnIndex::InError, shard, now, page_token.as_deref()).await?;
            for candidate in &page.candidates {
                let item = &candidate.item;
                done.scanned += 1;
                // Items in error the user cannot fix in Link are in this index too: no reminder for them.
                let action = match item.view() {
                    ItemView::NeedsLogin => "needs_login",
                    ItemView::Expiring { .. } => "expiring",
                    ItemView::NewAccounts | ItemView::Healthy | ItemView::Unavailable => continue,
                };
                let Some(since) = item.churn_error_since() else { continue };
                // One reminder however many came due since the last run (no burst after a pause); the count
                // moves to the schedule's.
                let number = schedule.due_count(now - since);
                if number <= item.ignored_prompts {
                    continue;
                }
                let event = AppEvent::new(item, AppEventKind::Reminder { action: action.into(), number }, now);
                let sent = item.ignored_prompts;
                if services.store.add_reminder(&item.user_id, &item.item_id, sent, number, &event).await? {
                    done.reminded += 1;
                    written.push(event);
                }
            }
            match page.next_page {
                Some(next) => page_token = Some(next),
                None => break,
            }
        }
    }
    done.published = publish(services, written).await;
    Ok(done)
}
