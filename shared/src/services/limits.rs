//! Abuse limits per user (the handbook's privacy protections): link tokens per hour, exchanges per day,
//! items per user, links of the same institution per month, and a credential-stuffing signal (Link exits
//! with INVALID_CREDENTIALS at several institutions in an hour) that blocks new link tokens for a while.
//!
//! Counting is the store's atomic conditional write ([`crate::ports::LimitStore`]), so several Lambda
//! instances at once let exactly the limit's worth through. Past a limit: [`ServiceError::RateLimited`]
//! (429 with `Retry-After`), an audit record, and nothing else changes. A limit taken for an action that
//! then does not happen is given back.

use super::{ServiceError, Services, audit};
use crate::domain::{InstitutionId, ItemStatus, UserId};
use crate::ports::{Actor, AuditAction, AuditOutcome, LimitWindow};
use std::time::Duration;
use time::{OffsetDateTime, Time};

/// The names limits are counted and logged under.
pub mod names {
    pub const LINK_TOKENS: &str = "link_tokens";
    pub const EXCHANGES: &str = "exchanges";
    pub const ITEMS: &str = "items";
    pub const LINKS_PREFIX: &str = "links:";
    pub const CREDENTIAL_FAILURES: &str = "credential_failures";
    pub const BALANCE_REFRESHES: &str = "balance_refreshes";
}

fn hour_of(now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let start = now.replace_time(Time::from_hms(now.hour(), 0, 0).unwrap_or(Time::MIDNIGHT));
    (start, start + time::Duration::HOUR)
}

fn day_of(now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let start = now.replace_time(Time::MIDNIGHT);
    (start, start + time::Duration::DAY)
}

fn month_of(now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let start = now.replace_day(1).unwrap_or(now).replace_time(Time::MIDNIGHT);
    let next = match start.month() {
        time::Month::December => {
            start.replace_year(start.year() + 1).and_then(|d| d.replace_month(time::Month::January))
        }
        m => start.replace_month(m.next()),
    };
    (start, next.unwrap_or(start + time::Duration::days(31)))
}

fn window(user: &UserId, name: &str, (start, end): (OffsetDateTime, OffsetDateTime)) -> LimitWindow {
    LimitWindow { user: user.clone(), name: name.to_owned(), start, expires_at: Some(end) }
}

/// The items counter: no window (what it counts lives until removed).
fn items_window(user: &UserId) -> LimitWindow {
    LimitWindow {
        user: user.clone(),
        name: names::ITEMS.to_owned(),
        start: OffsetDateTime::UNIX_EPOCH,
        expires_at: None,
    }
}

fn until(end: OffsetDateTime, now: OffsetDateTime) -> Duration {
    Duration::from_secs(u64::try_from((end - now).whole_seconds()).unwrap_or(0).max(1))
}

async fn refused(services: &Services, user: &UserId, limit: &'static str, retry_after: Duration) -> ServiceError {
    tracing::warn!(event = "limit_hit", limit, retry_after_s = retry_after.as_secs(), "abuse limit reached");
    audit::record(
        services,
        Actor::user(&services.pseudonyms, user),
        AuditAction::LimitHit,
        AuditOutcome::Refused,
        None,
        Some(limit),
    )
    .await;
    ServiceError::RateLimited { limit, retry_after }
}

/// Before a link token: the user is not blocked, and has link tokens left this hour.
pub async fn link_token(services: &Services, user: &UserId) -> Result<(), ServiceError> {
    let now = services.now();
    let hour = hour_of(now);
    let limit = services.config.limits.link_tokens_per_hour;
    // Both at once (one round trip): a blocked user's attempt also takes a slot of the hour, which changes
    // nothing for them (they are refused either way) and nothing for anyone else.
    let window = window(user, names::LINK_TOKENS, hour);
    let (blocked, taken) = tokio::join!(
        services.store.blocked_until(user, names::LINK_TOKENS, now),
        services.store.take(&window, limit, now)
    );
    if let Some(blocked) = blocked? {
        return Err(refused(services, user, names::CREDENTIAL_FAILURES, until(blocked, now)).await);
    }
    if !taken? {
        return Err(refused(services, user, names::LINK_TOKENS, until(hour.1, now)).await);
    }
    Ok(())
}

/// Before a real-time balance refresh (billed by Plaid): refreshes left today.
pub async fn balance_refresh(services: &Services, user: &UserId) -> Result<(), ServiceError> {
    let now = services.now();
    let day = day_of(now);
    let limit = services.config.limits.balance_refreshes_per_day;
    if !services.store.take(&window(user, names::BALANCE_REFRESHES, day), limit, now).await? {
        return Err(refused(services, user, names::BALANCE_REFRESHES, until(day.1, now)).await);
    }
    Ok(())
}

/// The limits an exchange took: given back if the exchange does not end with a new item.
#[must_use]
pub struct ExchangeSlots {
    taken: Vec<LimitWindow>,
}

impl ExchangeSlots {
    /// The exchange did not make an item: its uses are given back (best effort).
    pub async fn give_back(self, services: &Services) {
        for w in self.taken {
            if let Err(e) = services.store.give_back(&w).await {
                tracing::warn!(limit = %w.name, error = %crate::telemetry::chain(&e), "could not give a limit back");
            }
        }
    }
}

/// Before an exchange: exchanges left today, links of this institution left this month (when the
/// institution is known before Plaid is asked: see [`ExchangeSlots::take_institution`]), an item slot.
pub async fn exchange(
    services: &Services,
    user: &UserId,
    institution: Option<&InstitutionId>,
) -> Result<ExchangeSlots, ServiceError> {
    let now = services.now();
    let limits = &services.config.limits;
    let mut wanted = vec![(window(user, names::EXCHANGES, day_of(now)), limits.exchanges_per_day, names::EXCHANGES)];
    if let Some(institution) = institution {
        wanted.push(institution_window(services, user, institution));
    }
    wanted.push((items_window(user), limits.items_per_user, names::ITEMS));
    // All at once (one round trip instead of three); what was taken is given back if any is refused, and the
    // first refusal in the order above is the one reported.
    let answers =
        futures::future::join_all(wanted.iter().map(|(w, limit, _)| services.store.take(w, *limit, now))).await;
    let mut slots = ExchangeSlots { taken: Vec::new() };
    let mut failure: Option<ServiceError> = None;
    for ((w, limit, name), answer) in wanted.into_iter().zip(answers) {
        match answer {
            Ok(true) => slots.taken.push(w),
            // A drifted items counter is recounted only while nothing is refused (as when taken one by one).
            Ok(false)
                if failure.is_none()
                    && w.expires_at.is_none()
                    && recount_items(services, user, &w, limit, now).await =>
            {
                slots.taken.push(w);
            }
            Ok(false) if failure.is_none() => {
                let retry_after = w.expires_at.map_or(Duration::from_secs(24 * 3600), |end| until(end, now));
                failure = Some(refused(services, user, name, retry_after).await);
            }
            Ok(false) => {}
            Err(e) => {
                failure.get_or_insert(e.into());
            }
        }
    }
    match failure {
        Some(e) => {
            slots.give_back(services).await;
            Err(e)
        }
        None => Ok(slots),
    }
}

/// The links of `institution` this month.
fn institution_window(
    services: &Services,
    user: &UserId,
    institution: &InstitutionId,
) -> (LimitWindow, u32, &'static str) {
    let links = format!("{}{}", names::LINKS_PREFIX, institution);
    let limit = services.config.limits.links_per_institution_per_month;
    (window(user, &links, month_of(services.now())), limit, "links_per_institution")
}

impl ExchangeSlots {
    /// The institution's link limit, taken once Plaid said which institution an exchange linked (a public
    /// token Plaid handed weft comes with no metadata). Refused: the slots stay held (the caller gives them
    /// back with the item it removes).
    pub async fn take_institution(
        &mut self,
        services: &Services,
        user: &UserId,
        institution: &InstitutionId,
    ) -> Result<(), ServiceError> {
        let (w, limit, name) = institution_window(services, user, institution);
        let now = services.now();
        if !services.store.take(&w, limit, now).await? {
            let retry_after = w.expires_at.map_or(Duration::from_secs(24 * 3600), |end| until(end, now));
            return Err(refused(services, user, name, retry_after).await);
        }
        self.taken.push(w);
        Ok(())
    }
}

/// How long an item slot can be held by an exchange still in flight: Lambda's longest timeout, so no
/// exchange that took a slot before it can still be about to store its item.
pub const SLOT_HOLD_MAX: time::Duration = time::Duration::minutes(15);

/// The items counter refused: it may have drifted from the items there are (a give-back that failed).
/// Once no slot was taken for [`SLOT_HOLD_MAX`] (a slot taken since may be an exchange whose item is not
/// stored yet, so the items undercount), brings the counter in line with the items and takes again.
/// Whether the slot was taken.
async fn recount_items(services: &Services, user: &UserId, w: &LimitWindow, limit: u32, now: OffsetDateTime) -> bool {
    let Ok(items) = services.store.list_items(user).await else { return false };
    let live = items.iter().filter(|i| i.status != ItemStatus::Revoked).count();
    let live = u32::try_from(live).unwrap_or(u32::MAX);
    if live >= limit || !services.store.reset(w, live, now - SLOT_HOLD_MAX).await.unwrap_or(false) {
        return false;
    }
    tracing::warn!(event = "limit_recounted", limit = names::ITEMS, live, "the items counter had drifted; recounted");
    services.store.take(w, limit, now).await.unwrap_or(false)
}

/// An item of the user's is gone: its slot is given back.
pub async fn item_removed(services: &Services, user: &UserId) {
    if let Err(e) = services.store.give_back(&items_window(user)).await {
        tracing::warn!(error = %crate::telemetry::chain(&e), "could not give an item slot back");
    }
}

/// A Link session ended with INVALID_CREDENTIALS at `institution`: counted; many at several institutions
/// in an hour block new link tokens for a while.
pub async fn credential_failure(
    services: &Services,
    user: &UserId,
    institution: Option<&str>,
) -> Result<(), ServiceError> {
    let now = services.now();
    let w = window(user, names::CREDENTIAL_FAILURES, hour_of(now));
    let (count, institutions) = services.store.record_failure(&w, institution.unwrap_or("unknown")).await?;
    if count >= services.config.limits.credential_failures_per_hour && institutions >= 2 {
        let block = time::Duration::minutes(services.config.limits.credential_block_minutes.into());
        services.store.block(user, names::LINK_TOKENS, now + block).await?;
        tracing::warn!(
            event = "limit_hit",
            limit = names::CREDENTIAL_FAILURES,
            count,
            institutions,
            "credential failures at several institutions: new link tokens blocked"
        );
        audit::record(
            services,
            Actor::user(&services.pseudonyms, user),
            AuditAction::LimitHit,
            AuditOutcome::Done,
            None,
            Some(names::CREDENTIAL_FAILURES),
        )
        .await;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn windows_are_the_hour_the_day_and_the_month() {
        let now = datetime!(2026-12-31 23:45:12 UTC);
        assert_eq!(hour_of(now), (datetime!(2026-12-31 23:00 UTC), datetime!(2027-01-01 00:00 UTC)));
        assert_eq!(day_of(now), (datetime!(2026-12-31 00:00 UTC), datetime!(2027-01-01 00:00 UTC)));
        assert_eq!(month_of(now), (datetime!(2026-12-01 00:00 UTC), datetime!(2027-01-01 00:00 UTC)));
        assert_eq!(month_of(datetime!(2026-02-10 10:00 UTC)).1, datetime!(2026-03-01 00:00 UTC));
        assert_eq!(until(datetime!(2027-01-01 00:00 UTC), now), Duration::from_secs(14 * 60 + 48));
    }
}
