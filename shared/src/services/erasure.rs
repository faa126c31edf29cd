//! The right to erasure: every item of a user removed at Plaid, then every record of the user deleted here
//! (each item's wrapped data key with it: crypto-shredding), then one audit record that names the user by
//! pseudonym only.
//!
//! It is resumable and idempotent: each step is, and nothing records progress but the data itself. A call
//! removes items until its deadline nears and answers [`Erasure::InProgress`]; the next call lists what is
//! left and goes on. An item Plaid already forgot (ITEM_NOT_FOUND) counts as removed; an item is never
//! deleted here while Plaid may still hold it. The user's other records are erased only once no item is
//! left, so a stopped erasure never leaves an item without its owner's records. Erasing a user with
//! nothing left (already erased, or unknown) answers [`Erasure::Done`].

use super::{ServiceError, Services, audit, item_state};
use crate::domain::{ItemRecord, UserId};
use crate::ports::{Actor, AuditAction, AuditOutcome};
use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::time::Duration;
use tokio::time::Instant;

/// How far an erasure got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erasure {
    /// Nothing of the user is left but the audit record of the erasure.
    Done,
    /// Stopped for lack of time with `items_left` items still to remove: call again to continue.
    InProgress { items_left: usize },
}

/// Items removed at once (a user has at most `WEFT_LIMIT_ITEMS_PER_USER` of them; Plaid's `/item/remove`
/// limit is per client, shared with every other function).
const CONCURRENCY: usize = 3;
/// Attempts at one item's `/item/remove` (on rate limits and Plaid's transient failures).
const REMOVE_ATTEMPTS: usize = 5;
/// Rounds of "remove the items, erase the records" while items keep appearing (a link finishing meanwhile).
const ROUNDS: usize = 3;

/// The waits between one item's `/item/remove` attempts: 0.25..0.5 s first, doubling up to 2..4 s.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(250))
        .with_max_delay(Duration::from_secs(2))
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(REMOVE_ATTEMPTS - 1)
}

/// Erases `user` for `actor` (the user themselves, or an operator), starting no new work after `deadline`
/// (at least one item is always tried, so calls in a row always get to the end).
pub async fn erase(
    services: &Services,
    user: &UserId,
    actor: Actor,
    deadline: Instant,
) -> Result<Erasure, ServiceError> {
    let subject = services.pseudonyms.client_user_id(user);
    match run(services, user, &actor, deadline).await {
        Ok(Erasure::Done) => {
            tracing::info!(event = "user_erased", subject = %subject, "user erased");
            audit::record_about(
                services,
                actor,
                AuditAction::UserErased,
                AuditOutcome::Done,
                None,
                Some(subject),
                None,
            )
            .await;
            Ok(Erasure::Done)
        }
        Ok(progress) => Ok(progress),
        Err(e) => {
            let detail = failure_code(&e);
            audit::record_about(
                services,
                actor,
                AuditAction::UserErased,
                AuditOutcome::Failed,
                None,
                Some(subject),
                Some(detail),
            )
            .await;
            Err(e)
        }
    }
}

/// A stable code for why an erasure stopped (the audit record's detail).
fn failure_code(e: &ServiceError) -> &'static str {
    match e {
        ServiceError::Plaid(_) => "plaid",
        ServiceError::Store(_) => "store",
        ServiceError::Vault(_) | ServiceError::Sealing(_) => "vault",
        _ => "other",
    }
}

async fn run(services: &Services, user: &UserId, actor: &Actor, deadline: Instant) -> Result<Erasure, ServiceError> {
    let mut tried_one = false;
    for _ in 0..ROUNDS {
        let items = services.store.list_items(user).await?;
        if !items.is_empty() {
            let left = remove_items(services, &items, actor, deadline, &mut tried_one).await?;
            if left > 0 {
                return Ok(Erasure::InProgress { items_left: left });
            }
        }
        let erased = services.store.erase_user_records(user).await?;
        tracing::info!(event = "user_records_erased", items = items.len(), records = erased, "user records erased");
        // An exchange that was storing an item meanwhile leaves it behind: another round removes it.
        let late = services.store.list_items(user).await?.len();
        if late == 0 {
            return Ok(Erasure::Done);
        }
        if Instant::now() >= deadline {
            return Ok(Erasure::InProgress { items_left: late });
        }
    }
    let left = services.store.list_items(user).await?.len();
    Ok(if left == 0 { Erasure::Done } else { Erasure::InProgress { items_left: left } })
}

/// What became of one item.
enum Step {
    /// Removed at Plaid (or already gone there) and deleted here.
    Removed,
    /// Not tried, or given up, for lack of time: nothing changed.
    OutOfTime,
}

/// Removes `items` a few at a time; returns how many are left (not tried for lack of time). The first
/// error (after the removals under way finish) fails the call; what was removed stays removed.
async fn remove_items(
    services: &Services,
    items: &[ItemRecord],
    actor: &Actor,
    deadline: Instant,
    tried_one: &mut bool,
) -> Result<usize, ServiceError> {
    let mut queue = items.iter();
    let mut in_flight = FuturesUnordered::new();
    let mut left = 0;
    let mut first_error = None;
    loop {
        while in_flight.len() < CONCURRENCY {
            let Some(item) = queue.next() else { break };
            // Every call tries at least one item, however little time it was given.
            if *tried_one && Instant::now() >= deadline {
                left += 1;
                continue;
            }
            *tried_one = true;
            in_flight.push(remove_one(services, item, actor, deadline));
        }
        let Some(step) = in_flight.next().await else { break };
        match step {
            Ok(Step::Removed) => {}
            Ok(Step::OutOfTime) => left += 1,
            Err(e) => {
                left += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(left),
    }
}

/// Removes one item at Plaid (backing off on rate limits and transient failures while time allows), then
/// deletes it here, its wrapped data key last.
async fn remove_one(
    services: &Services,
    listed: &ItemRecord,
    actor: &Actor,
    deadline: Instant,
) -> Result<Step, ServiceError> {
    // Read again with its sealed secrets (strongly consistent): it may be gone since the listing.
    let Some((item, sealed)) = services.store.get_item_sealed(&listed.user_id, &listed.item_id).await? else {
        return Ok(Step::Removed);
    };
    let (_, token) = services.unseal(&item.item_id, &sealed).await?;
    let mut waits = backoff().build();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match services.plaid.item_remove(&token).await {
            Ok(()) => break,
            Err(e) if e.is_item_not_found() => break,
            Err(e) if e.is_transient() => {
                let Some(delay) = waits.next() else {
                    audit_failed(services, &item, actor).await;
                    return Err(e.into());
                };
                tracing::info!(
                    event = "erasure_retry",
                    item_id = %item.item_id,
                    attempt,
                    rate_limited = e.is_rate_limited(),
                    error = %e,
                    "/item/remove failed; backing off"
                );
                if Instant::now() + delay >= deadline {
                    return Ok(Step::OutOfTime);
                }
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                audit_failed(services, &item, actor).await;
                return Err(e.into());
            }
        }
    }
    item_state::deleted(services, &item, actor.clone(), "erasure").await?;
    Ok(Step::Removed)
}

async fn audit_failed(services: &Services, item: &ItemRecord, actor: &Actor) {
    audit::record(
        services,
        actor.clone(),
        AuditAction::ItemRemoved,
        AuditOutcome::Failed,
        Some(&item.item_id),
        Some("erasure"),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        let delays: Vec<Duration> = backoff().build().collect();
        assert_eq!(delays.len(), REMOVE_ATTEMPTS - 1);
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(4)), "{delays:?}");
    }
}
