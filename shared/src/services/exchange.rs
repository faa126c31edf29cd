//! Public-token exchange: claimed before Plaid is asked (concurrent and later requests with the same
//! public token get the first one's outcome), duplicates refused, the item sealed and stored, and never an
//! item left at Plaid that weft does not hold or cannot name.
//!
//! Time: the request's [`Deadline`] bounds everything. Plaid's exchange gets what is left less
//! [`COMPENSATION_RESERVE`] (to store the item, or remove it at Plaid if it cannot be stored); an answer
//! that arrives within that is used. If it does not arrive, the outcome is unknown and the app is told so
//! ([`ServiceError::ExchangeOutcomeUnknown`]), not "retry".

use super::{Deadline, ServiceError, Services, audit, institutions, limits};
use crate::domain::{
    AccessToken, Account, AppEvent, AppEventKind, Duplicate, Institution, InstitutionId, ItemId, ItemRecord,
    ItemStatus, PublicToken, SealedItem, UserId, duplicate_of,
};
use crate::ports::plaid::wire::{ItemRemoveReasonCode, ItemRemoveRequestOptions};
use crate::ports::{
    Actor, AuditAction, AuditOutcome, ExchangeClaim, PlaidCallError, StoreError, SyncReason, SyncRequest,
};
use backon::{ExponentialBuilder, Retryable};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;

/// An exchange, with the time it has: parsed at the edge from the app's request (the public token and
/// Link's `onSuccess` metadata), or made by weft for a public token Plaid handed it (a LINK webhook,
/// `/link/token/get`), which comes with no metadata.
#[derive(Debug)]
pub struct ExchangeCommand {
    pub public_token: PublicToken,
    /// What Link's `onSuccess` says was linked: required (and validated at the edge) on the app's path.
    /// `None` when Plaid handed weft the token: then the institution is known only from Plaid, once
    /// exchanged, and the duplicate filter and the per-institution limit run on Plaid's data only.
    pub claimed: Option<LinkMetadata>,
    pub link_session_id: Option<String>,
    /// When the answer is due.
    pub deadline: Deadline,
}

/// Link's `onSuccess` metadata: what the app says the user linked.
#[derive(Debug, Clone)]
pub struct LinkMetadata {
    /// The institution Link says the user picked.
    pub institution: Institution,
    /// The accounts Link says the user shared.
    pub accounts: Vec<Account>,
}

impl ExchangeCommand {
    /// The exchange of a public token Plaid handed weft (no `onSuccess` metadata).
    pub fn from_plaid(public_token: PublicToken, link_session_id: Option<String>, deadline: Deadline) -> Self {
        Self { public_token, claimed: None, link_session_id, deadline }
    }

    /// The same command, due at `deadline`.
    pub fn within(self, deadline: Deadline) -> Self {
        Self { deadline, ..self }
    }
}

/// How many times storing a freshly exchanged item is tried before the item is removed at Plaid.
const STORE_ATTEMPTS: usize = 3;

/// Kept back from the deadline once Plaid has answered: sealing and storing the item (with its retries),
/// or else removing it at Plaid.
pub const COMPENSATION_RESERVE: Duration = Duration::from_secs(6);

/// How often a request waits for another one exchanging the same public token.
const WAIT_STEP: Duration = Duration::from_millis(250);

/// Waits between those attempts: 200 ms, then 400 ms.
fn store_backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(200))
        .with_factor(2.0)
        .with_max_times(STORE_ATTEMPTS - 1)
}

/// The idempotency key of an exchange: hex SHA-256 of its public token.
fn exchange_key(public_token: &PublicToken) -> String {
    hex::encode(Sha256::digest(public_token.expose().as_bytes()))
}

/// Exchanges the public token and stores the new item (its access token sealed); returns the item.
pub async fn exchange(app: &Services, user: &UserId, command: ExchangeCommand) -> Result<ItemRecord, ServiceError> {
    let key = exchange_key(&command.public_token);
    // The user's items (the duplicate filter's input) are read while the claim is taken: one round trip
    // instead of two. A claim that had to wait for another request reads them again once it holds it; a
    // retry of a finished exchange read them for nothing (one Query, on a path that makes no other).
    let (claimed, listed) = tokio::join!(claim(app, user, &key, command.deadline), app.store.list_items(user));
    let waited = match claimed? {
        Claim::Done(item) => return Ok(*item), // a retry: the first request's item, without a second exchange
        Claim::Held { waited } => waited,
    };
    let existing = if waited { app.store.list_items(user).await } else { listed };
    let outcome = match existing {
        Ok(existing) => exchange_claimed(app, user, &key, existing, command).await,
        Err(e) => Err(e.into()),
    };
    if outcome.is_err() {
        // Nothing was made: a later request with this public token may try (Plaid decides if it still can).
        if let Err(e) = app.store.release_exchange(user, &key).await {
            tracing::warn!(error = %crate::telemetry::chain(&e), "could not release the exchange claim; it expires at the deadline");
        }
    }
    outcome
}

/// What [`claim`] came to.
enum Claim {
    /// The exchange was done by an earlier request: its item.
    Done(Box<ItemRecord>),
    /// This request holds the claim; `waited` if another request held it first.
    Held { waited: bool },
}

/// Claims the exchange for this request, or waits for the request that holds it.
async fn claim(app: &Services, user: &UserId, key: &str, deadline: Deadline) -> Result<Claim, ServiceError> {
    let mut waited = false;
    loop {
        let now = app.now();
        let until = now + deadline.remaining();
        match app.store.claim_exchange(user, key, now, until).await? {
            ExchangeClaim::Claimed => return Ok(Claim::Held { waited }),
            ExchangeClaim::Done(item_id) => {
                return match app.store.get_item(user, &item_id).await? {
                    Some(item) => Ok(Claim::Done(Box::new(item))),
                    None => Err(ServiceError::PublicTokenUsed),
                };
            }
            ExchangeClaim::InProgress { .. } if deadline.remaining() <= WAIT_STEP => {
                return Err(ServiceError::ExchangeInProgress);
            }
            ExchangeClaim::InProgress { .. } => {
                waited = true;
                tokio::time::sleep(WAIT_STEP).await;
            }
        }
    }
}

/// The exchange, once this request holds its claim; `existing` are the user's items.
async fn exchange_claimed(
    app: &Services,
    user: &UserId,
    idempotency_key: &str,
    existing: Vec<ItemRecord>,
    command: ExchangeCommand,
) -> Result<ItemRecord, ServiceError> {
    let ExchangeCommand { public_token, claimed, link_session_id, deadline } = command;

    // Duplicates are refused before the public token is exchanged, so Plaid never creates (and bills) them.
    // A cheap first filter on Link's metadata, so Plaid never creates (and bills) the obvious duplicates.
    // The decision is made again on Plaid's own data once the item exists.
    if let Some(claimed) = &claimed
        && let Some(Duplicate { existing, reason }) =
            duplicate_of(&existing, &claimed.institution.institution_id, &claimed.accounts)
    {
        return Err(ServiceError::Duplicate { existing, reason });
    }

    // Abuse limits (exchanges today, links of this institution this month, items): taken before Plaid is
    // asked, given back if no item comes of it. Without Link's metadata the institution's is taken once
    // Plaid has said which institution it is (below).
    let claimed_institution = claimed.as_ref().map(|c| &c.institution.institution_id);
    let mut slots = limits::exchange(app, user, claimed_institution).await?;
    let actor = || Actor::user(&app.pseudonyms, user);
    let budget = deadline.remaining_before(COMPENSATION_RESERVE);
    // The call runs as its own task, so an answer that comes after this request has given up is still
    // received (while the container runs) and its item removed at Plaid: never left billed unnamed.
    let mut call = tokio::spawn({
        let (plaid, public_token) = (app.plaid.clone(), public_token.clone());
        async move { plaid.item_public_token_exchange(&public_token).await }
    });
    let answer = match tokio::time::timeout(budget, &mut call).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(panicked)) => {
            tracing::error!(error = %panicked, "the exchange call's task failed");
            Err(())
        }
        Err(_elapsed) => {
            tokio::spawn(remove_if_answered_late(app.plaid.clone(), call));
            Err(())
        }
    };
    let exchanged = match answer {
        Ok(Ok(exchanged)) => exchanged,
        Ok(Err(e)) => {
            slots.give_back(app).await;
            let detail = e.error_code().unwrap_or("plaid_unavailable").to_owned();
            audit::record(app, actor(), AuditAction::ItemLinked, AuditOutcome::Failed, None, Some(&detail)).await;
            return Err(match e {
                e if e.is_invalid_public_token() => ServiceError::InvalidPublicToken(e),
                e @ (PlaidCallError::Timeout { .. } | PlaidCallError::Transport { .. }) => {
                    outcome_unknown(Some(e), budget)
                }
                e => e.into(),
            });
        }
        Err(_elapsed) => {
            slots.give_back(app).await;
            audit::record(app, actor(), AuditAction::ItemLinked, AuditOutcome::Failed, None, Some("outcome_unknown"))
                .await;
            return Err(outcome_unknown(None, budget));
        }
    };
    let item_id = exchanged.item_id.clone();
    let access_token = &exchanged.access_token;
    tracing::info!(item_id = %item_id, link_session_id = ?link_session_id, claimed_institution = ?claimed_institution.map(InstitutionId::as_str), "public token exchanged");
    let unkept = Unkept { app, user, item_id: &item_id, access_token, deadline };

    // What was linked, as Plaid says: the institution and the accounts with their balances; meanwhile the
    // access token is sealed under a new data key (it needs only the item id), which the store below uses.
    // A sealing failure here is left to the store's attempts, which seal again and report it.
    let budget = deadline.remaining_before(COMPENSATION_RESERVE);
    let sealed = OnceCell::new();
    let (seen, _sealing) = tokio::join!(
        tokio::time::timeout(budget, plaid_view(app, access_token)),
        tokio::time::timeout(budget, seal(app, &item_id, access_token, &sealed))
    );
    let seen = match seen {
        Ok(Ok(seen)) => seen,
        Ok(Err(e)) => return Err(unkept.undo(slots, "plaid_view", e, None).await),
        Err(_elapsed) => {
            let e = ServiceError::Plaid(PlaidCallError::Timeout { endpoint: "/accounts/get" });
            return Err(unkept.undo(slots, "plaid_view", e, None).await);
        }
    };
    match claimed_institution {
        Some(claimed) if *claimed != seen.institution.institution_id => {
            tracing::warn!(item_id = %item_id, claimed = %claimed, actual = %seen.institution.institution_id, "Link's metadata named another institution than Plaid; Plaid's is kept");
        }
        Some(_) => {}
        None => {
            // No metadata: the institution's link limit is taken now, on Plaid's word.
            if let Err(e) = slots.take_institution(app, user, &seen.institution.institution_id).await {
                return Err(unkept.undo(slots, "limit", e, Some(LIMIT_NOTE)).await);
            }
        }
    }
    if let Some(Duplicate { existing: other, reason }) =
        duplicate_of(&existing, &seen.institution.institution_id, &seen.accounts)
    {
        let e = ServiceError::Duplicate { existing: other, reason };
        return Err(unkept.undo(slots, "duplicate", e, Some(DUPLICATE_NOTE)).await);
    }

    let now = app.now();
    let record = ItemRecord {
        user_id: user.clone(),
        item_id: item_id.clone(),
        institution: seen.institution,
        accounts: seen.accounts,
        status: ItemStatus::Healthy,
        error: None,
        consent_expiration_time: None,
        pending_disconnect_at: None,
        new_accounts_available: false,
        webhook_url: app.config.plaid.webhook_url.clone(),
        ignored_prompts: 0,
        created_at: now,
        updated_at: now,
        event_times: Default::default(),
        transactions_sync: Default::default(),
        // The exchange just read the item from Plaid (`/item/get`, `/accounts/get`).
        checked_at: Some(now),
        version: 0,
    };

    // The access token is sealed once (above, or the first attempt that gets a data key); later attempts
    // reuse it.
    let attempt = AtomicU32::new(0);
    let store = || async {
        let attempt = attempt.fetch_add(1, Ordering::Relaxed);
        store_new_item(app, &record, access_token, idempotency_key, &sealed).await.inspect_err(|e| {
            tracing::warn!(item_id = %item_id, attempt, error = %crate::telemetry::chain(e), "storing the new item failed");
        })
    };
    // Storing gets what is left but a margin to remove the item at Plaid if it cannot be stored.
    let store_budget = deadline.remaining_before(COMPENSATION_RESERVE / 2);
    let stored =
        store.retry(store_backoff()).sleep(tokio::time::sleep).when(|e| !matches!(e, ServiceError::Duplicate { .. }));
    let error = match tokio::time::timeout(store_budget, stored).await {
        Ok(Ok(linked)) => {
            // All at once: independent, and the item is stored whatever becomes of any of them (an event
            // not published now stays in the outbox).
            let actor = Actor::user(&app.pseudonyms, user);
            tokio::join!(
                super::events::publish_now(app, linked.as_slice()),
                queue_first_sync(app, &item_id),
                audit::record(app, actor, AuditAction::ItemLinked, AuditOutcome::Done, Some(&item_id), None)
            );
            return Ok(record);
        }
        // Another exchange of this institution for this user was stored meanwhile: the store decided.
        Ok(Err(ServiceError::Duplicate { reason, .. })) => {
            let other = live_item_of(app, user, &record).await.unwrap_or_else(|| item_id.clone());
            let e = ServiceError::Duplicate { existing: other, reason };
            return Err(unkept.undo(slots, "duplicate", e, Some(DUPLICATE_NOTE)).await);
        }
        Ok(Err(e)) => e,
        Err(_elapsed) => ServiceError::Store(StoreError::backend("insert_item", "no time left to store the item")),
    };
    let undone = unkept.undo(slots, "not_stored", error, None).await;
    Err(ServiceError::ExchangeUndone(Box::new(undone)))
}

/// Why a duplicate is removed at Plaid (`reason_note`).
const DUPLICATE_NOTE: &str = "duplicate of an item the user already has";

/// Why an item over the user's link limit is removed at Plaid (`reason_note`).
const LIMIT_NOTE: &str = "over the user's link limit for this institution";

/// What Plaid says was linked.
struct PlaidView {
    institution: Institution,
    accounts: Vec<Account>,
}

/// `/accounts/get` (free): the item's institution and accounts with balances; the institution's name from
/// the item, or `/institutions/get_by_id` (cached) when Plaid leaves it out.
async fn plaid_view(app: &Services, access_token: &AccessToken) -> Result<PlaidView, ServiceError> {
    let got = app.plaid.accounts_get(access_token, None).await?;
    let institution_id = got.item.institution_id.clone().unwrap_or_default();
    let institution_id = InstitutionId::parse(institution_id).map_err(ServiceError::PlaidData)?;
    let name = match got.item.institution_name.clone().filter(|n| !n.is_empty()) {
        Some(name) => name,
        None => institutions::name(app, &institution_id).await?,
    };
    let as_of = Some(app.now());
    let accounts = got
        .accounts
        .into_iter()
        .map(|a| {
            let mut account = Account::from(a);
            account.balances.as_of = as_of;
            account
        })
        .collect();
    Ok(PlaidView { institution: Institution { institution_id, name }, accounts })
}

/// The user's live item of `record`'s institution other than `record` itself.
async fn live_item_of(app: &Services, user: &UserId, record: &ItemRecord) -> Option<ItemId> {
    let items = app.store.list_items(user).await.ok()?;
    items
        .into_iter()
        .find(|i| {
            i.item_id != record.item_id
                && i.status != ItemStatus::Revoked
                && i.institution.institution_id == record.institution.institution_id
        })
        .map(|i| i.item_id)
}

/// An item Plaid made that weft does not keep: it is removed at Plaid (neither orphaned nor billed).
struct Unkept<'a> {
    app: &'a Services,
    user: &'a UserId,
    item_id: &'a ItemId,
    access_token: &'a AccessToken,
    deadline: Deadline,
}

impl Unkept<'_> {
    /// Gives the limits back, audits the failure (`detail`), removes the item at Plaid within the deadline
    /// (with `note` as the reason), and returns `error`.
    async fn undo(
        &self,
        slots: limits::ExchangeSlots,
        detail: &str,
        error: ServiceError,
        note: Option<&str>,
    ) -> ServiceError {
        let (app, item_id) = (self.app, self.item_id);
        slots.give_back(app).await;
        let actor = Actor::user(&app.pseudonyms, self.user);
        audit::record(app, actor, AuditAction::ItemLinked, AuditOutcome::Failed, Some(item_id), Some(detail)).await;
        let options = ItemRemoveRequestOptions {
            reason_code: note.map(|_| ItemRemoveReasonCode::Other),
            reason_note: note.map(str::to_owned),
        };
        let removal = app.plaid.item_remove_with(self.access_token, &options);
        match tokio::time::timeout(self.deadline.remaining(), removal).await {
            Ok(Ok(_)) => tracing::warn!(item_id = %item_id, why = detail, "new item not kept; removed at Plaid"),
            Ok(Err(e)) => {
                tracing::error!(event = "plaid_item_orphaned", item_id = %item_id, why = detail, error = %crate::telemetry::chain(&e), "new item not kept NOR removed at Plaid")
            }
            Err(_elapsed) => {
                tracing::error!(event = "plaid_item_orphaned", item_id = %item_id, why = detail, "new item not kept NOR removed at Plaid in time")
            }
        }
        error
    }
}

/// The exchange's answer came after its request gave up (and told the app the outcome is unknown): the
/// item, if Plaid made one, is nobody's; it is removed at Plaid.
async fn remove_if_answered_late(
    plaid: std::sync::Arc<dyn crate::ports::PlaidApi>,
    call: tokio::task::JoinHandle<Result<crate::ports::plaid::wire::PublicTokenExchangeResponse, PlaidCallError>>,
) {
    let Ok(Ok(late)) = call.await else { return };
    tracing::warn!(event = "plaid_exchange_answered_late", item_id = %late.item_id, "the exchange's answer came after its request's deadline; removing the item at Plaid");
    let options = ItemRemoveRequestOptions {
        reason_code: Some(ItemRemoveReasonCode::Other),
        reason_note: Some("exchange answered after the request's deadline".to_owned()),
    };
    if let Err(e) = plaid.item_remove_with(&late.access_token, &options).await {
        tracing::error!(event = "plaid_item_orphaned", item_id = %late.item_id, error = %crate::telemetry::chain(&e), "a late-answered item could not be removed at Plaid");
    }
}

/// Plaid may have run the exchange, but its answer did not arrive within `budget`.
fn outcome_unknown(error: Option<PlaidCallError>, budget: Duration) -> ServiceError {
    tracing::error!(
        event = "plaid_exchange_outcome_unknown",
        budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
        error = ?error.as_ref().map(|e| crate::telemetry::chain(e)),
        "no answer from Plaid to the exchange in time; the public token may be spent"
    );
    ServiceError::ExchangeOutcomeUnknown(error)
}

/// Queues the new item's first sync. Plaid's first TRANSACTIONS webhooks may arrive before the item is
/// stored (they are then acknowledged as for an unknown item), so the exchange does not rely on them.
/// Best effort: a later webhook syncs the item anyway.
async fn queue_first_sync(app: &Services, item_id: &ItemId) {
    let request = SyncRequest {
        item_id: item_id.clone(),
        reason: SyncReason::Exchange,
        dedup_key: format!("exchange-{item_id}"),
        webhook_key: None,
    };
    if let Err(e) = app.queue.request_sync(&request).await {
        tracing::warn!(item_id = %item_id, error = %crate::telemetry::chain(&e), "could not queue the first sync; a webhook will");
    }
}

/// The access token sealed under a new data key for the item, once: later calls reuse it (a failed one
/// leaves it to the next).
async fn seal<'a>(
    app: &Services,
    item_id: &ItemId,
    access_token: &AccessToken,
    sealed: &'a OnceCell<SealedItem>,
) -> Result<&'a SealedItem, ServiceError> {
    sealed
        .get_or_try_init(|| async {
            let (key, wrapped_key) = app.vault.new_item_key(item_id).await?;
            let access_token = key.seal_access_token(access_token)?;
            Ok::<_, ServiceError>(SealedItem { wrapped_key, access_token })
        })
        .await
}

/// Seals the access token under a new data key (once: a retry reuses it) and stores the item with the
/// exchange's idempotency record, atomically. An item already there was stored by an earlier attempt whose
/// answer was lost (Plaid's item ids are unique and a public token exchanges once). Returns the
/// `item.linked` event this attempt put in the outbox, to publish now (an earlier attempt's stays in the
/// outbox, which the drain publishes).
async fn store_new_item(
    app: &Services,
    record: &ItemRecord,
    access_token: &AccessToken,
    idempotency_key: &str,
    sealed: &OnceCell<SealedItem>,
) -> Result<Option<AppEvent>, ServiceError> {
    let sealed = seal(app, &record.item_id, access_token, sealed).await?;
    let linked = AppEvent::new(
        record,
        AppEventKind::Linked {
            institution_id: record.institution.institution_id.to_string(),
            institution_name: record.institution.name.clone(),
        },
        app.now(),
    );
    match app.store.insert_item_with_events(record, sealed, idempotency_key, std::slice::from_ref(&linked)).await {
        Ok(()) => Ok(Some(linked)),
        Err(StoreError::AlreadyExists("institution")) => {
            Err(ServiceError::Duplicate { existing: record.item_id.clone(), reason: "same institution" })
        }
        Err(StoreError::AlreadyExists(_)) => {
            tracing::info!(item_id = %record.item_id, "the new item was stored by an earlier attempt");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
