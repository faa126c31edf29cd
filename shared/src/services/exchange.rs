//! Public-token exchange: duplicate check first, then exchange, encrypt, store; never an orphaned item.

use super::{App, ServiceError};
use crate::domain::{
    Account, AccountId, Balances, Institution, InstitutionId, ItemRecord, ItemStatus, PublicToken, UserId,
};
use crate::ports::{SealedItem, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The app's request: the public token and Link's `onSuccess` metadata.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    pub public_token: String,
    pub metadata: LinkSuccessMetadata,
}

/// Link's `onSuccess` metadata (fields Link may add later are ignored).
#[derive(Debug, Deserialize)]
pub struct LinkSuccessMetadata {
    pub institution: Option<LinkInstitution>,
    #[serde(default)]
    pub accounts: Vec<LinkAccount>,
    pub link_session_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LinkInstitution {
    pub institution_id: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct LinkAccount {
    pub id: String,
    pub name: String,
    pub mask: Option<String>,
    #[serde(rename = "type")]
    pub account_type: String,
    pub subtype: Option<String>,
}

/// An item as the app sees it: no token, ever.
#[derive(Debug, Clone, Serialize)]
pub struct ItemSummary {
    pub item_id: String,
    pub institution: Institution,
    pub accounts: Vec<Account>,
    pub status: ItemStatus,
    /// `"action": "healthy" | "needs_login" | "expiring" | "new_accounts" | "unavailable"`, with `"on"` (the
    /// date) for `expiring`.
    #[serde(flatten)]
    pub action: crate::domain::ItemView,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

impl From<&ItemRecord> for ItemSummary {
    fn from(item: &ItemRecord) -> Self {
        Self {
            item_id: item.item_id.to_string(),
            institution: item.institution.clone(),
            accounts: item.accounts.iter().filter(|a| a.revoked_at.is_none()).cloned().collect(),
            status: item.status,
            action: item.view(),
            created_at: item.created_at,
        }
    }
}

/// How many times storing a freshly exchanged item is tried before the item is removed at Plaid.
const STORE_ATTEMPTS: u32 = 3;

pub async fn exchange(app: &App, user: &UserId, req: ExchangeRequest) -> Result<ItemSummary, ServiceError> {
    let public_token = PublicToken::parse(req.public_token).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let institution =
        req.metadata.institution.ok_or_else(|| ServiceError::Invalid("metadata.institution is required".into()))?;
    let institution = Institution {
        institution_id: InstitutionId::parse(institution.institution_id)
            .map_err(|e| ServiceError::Invalid(format!("metadata.institution: {e}")))?,
        name: institution.name,
    };
    if req.metadata.accounts.is_empty() {
        return Err(ServiceError::Invalid("metadata.accounts must list the accounts the user shared".into()));
    }
    let accounts = req
        .metadata
        .accounts
        .into_iter()
        .map(|a| {
            Ok(Account {
                account_id: AccountId::parse(a.id)
                    .map_err(|e| ServiceError::Invalid(format!("metadata.accounts: {e}")))?,
                name: a.name,
                official_name: None,
                mask: a.mask,
                account_type: a.account_type,
                subtype: a.subtype,
                balances: Balances::default(),
                revoked_at: None,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;

    // A retried request (same public token) gets the same answer, without a second exchange.
    let idempotency_key = hex::encode(Sha256::digest(public_token.expose().as_bytes()));
    if let Some(item_id) = app.store.get_exchange(user, &idempotency_key).await?
        && let Some(item) = app.store.get_item(user, &item_id).await?
    {
        return Ok(ItemSummary::from(&item));
    }

    // Duplicates are refused before the public token is exchanged, so Plaid never creates (and bills) them.
    let existing = app.store.list_items(user).await?;
    for item in existing.iter().filter(|i| i.status != ItemStatus::Revoked) {
        if item.institution.institution_id == institution.institution_id {
            return Err(ServiceError::Duplicate { existing: item.item_id.clone(), reason: "same institution" });
        }
        let same_accounts = accounts.iter().any(|new| {
            item.accounts.iter().any(|old| {
                old.revoked_at.is_none() && old.name == new.name && old.mask == new.mask && old.mask.is_some()
            })
        });
        if same_accounts {
            return Err(ServiceError::Duplicate { existing: item.item_id.clone(), reason: "same accounts" });
        }
    }

    let exchanged = app.plaid.item_public_token_exchange(&public_token).await.map_err(|e| {
        if e.api_error().is_some_and(|p| p.error_code == "INVALID_PUBLIC_TOKEN") {
            ServiceError::InvalidPublicToken("the public token is invalid, expired or already used".into())
        } else {
            ServiceError::from(e)
        }
    })?;
    let item_id = exchanged.item_id.clone();
    tracing::info!(item_id = %item_id, link_session_id = ?req.metadata.link_session_id, institution_id = %institution.institution_id, "public token exchanged");

    let now = app.now();
    let record = ItemRecord {
        user_id: user.clone(),
        item_id: item_id.clone(),
        institution,
        accounts,
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
        version: 0,
    };

    let mut last_error = None;
    let mut sealed = None;
    for attempt in 0..STORE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt))).await;
        }
        match store_new_item(app, &record, &exchanged.access_token, &idempotency_key, &mut sealed).await {
            Ok(()) => {
                queue_first_sync(app, &item_id).await;
                return Ok(ItemSummary::from(&record));
            }
            Err(e) => {
                tracing::warn!(item_id = %item_id, attempt, error = %e, "storing the new item failed");
                last_error = Some(e);
            }
        }
    }
    // Plaid has the item but we could not keep it: remove it there, so it is neither orphaned nor billed.
    match app.plaid.item_remove(&exchanged.access_token).await {
        Ok(()) => tracing::error!(item_id = %item_id, "new item could not be stored; removed at Plaid"),
        Err(e) => tracing::error!(item_id = %item_id, error = %e, "new item could not be stored NOR removed at Plaid"),
    }
    Err(last_error.unwrap_or(ServiceError::Conflict))
}

/// Queues the new item's first sync. Plaid's first TRANSACTIONS webhooks may arrive before the item is
/// stored (they are then acknowledged as for an unknown item), so the exchange does not rely on them.
/// Best effort: a later webhook syncs the item anyway.
async fn queue_first_sync(app: &App, item_id: &crate::domain::ItemId) {
    let Some(queue) = &app.queue else { return };
    let request = crate::ports::SyncRequest {
        item_id: item_id.clone(),
        reason: "exchange".into(),
        dedup_key: format!("exchange-{item_id}"),
        webhook_key: None,
    };
    if let Err(e) = queue.request_sync(&request).await {
        tracing::warn!(item_id = %item_id, error = %e, "could not queue the first sync; a webhook will");
    }
}

/// Seals the access token under a new data key (once: a retry reuses it) and stores the item with the
/// exchange's idempotency record, atomically. An item already there was stored by an earlier attempt whose
/// answer was lost (Plaid's item ids are unique and a public token exchanges once).
async fn store_new_item(
    app: &App,
    record: &ItemRecord,
    access_token: &crate::domain::AccessToken,
    idempotency_key: &str,
    sealed: &mut Option<SealedItem>,
) -> Result<(), ServiceError> {
    let sealed = match sealed {
        Some(sealed) => sealed,
        None => {
            let (key, wrapped_key) = app.vault.new_item_key(&record.item_id).await?;
            let access_token = key.seal_access_token(access_token)?;
            sealed.insert(SealedItem { wrapped_key, access_token })
        }
    };
    match app.store.put_exchanged_item(record, sealed, idempotency_key).await {
        Ok(()) => Ok(()),
        Err(StoreError::AlreadyExists(_)) => {
            tracing::info!(item_id = %record.item_id, "the new item was stored by an earlier attempt");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
