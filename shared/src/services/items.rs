//! The app's items: list, transactions, removal.

use super::{ServiceError, Services, item_state, limits};
use crate::domain::{AccountId, ItemId, ItemRecord, ItemStatus, SealedItem, UserId};
use crate::ports::{Actor, TransactionPage};

/// The caller's items with what the app should show for each. Listing counts nothing: the re-link
/// prompts the churn policy counts are the reminders weft sends ([`super::events::remind`]), not page views.
pub async fn list(app: &Services, user: &UserId) -> Result<Vec<ItemRecord>, ServiceError> {
    let mut items = app.store.list_items(user).await?;
    items.retain(|i| i.status != ItemStatus::Revoked);
    Ok(items)
}

/// One of the caller's items with its sealed secrets (one read), or NotFound (also for other users' items:
/// no existence leak).
pub(crate) async fn owned_item(
    app: &Services,
    user: &UserId,
    item_id: &ItemId,
) -> Result<(ItemRecord, SealedItem), ServiceError> {
    match app.store.get_item_sealed(user, item_id).await? {
        Some((item, sealed)) if item.status != ItemStatus::Revoked => Ok((item, sealed)),
        _ => Err(ServiceError::NotFound("item")),
    }
}

/// Transactions per page unless the caller asks otherwise.
pub const DEFAULT_PAGE: u32 = 100;
/// The largest page a caller may ask for.
pub const MAX_PAGE: u32 = 500;

/// A page of an item's transactions, newest first, decrypted.
pub async fn transactions(
    app: &Services,
    user: &UserId,
    item_id: &ItemId,
    cursor: Option<&str>,
    limit: u32,
) -> Result<TransactionPage, ServiceError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ServiceError::Invalid(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    let (item, sealed) = owned_item(app, user, item_id).await?;
    let key = app.unseal_key(&item.item_id, &sealed).await?;
    let TransactionPage { mut transactions, next_cursor } =
        app.store.list_transactions(&item.item_id, &key, cursor, limit).await.map_err(|e| match e {
            crate::ports::StoreError::InvalidCursor => {
                ServiceError::Invalid("the cursor is not valid for this list".into())
            }
            e => e.into(),
        })?;
    // A revoked account's transactions are deleted when the revocation arrives; one a sync was writing at
    // that moment is not shown either.
    let revoked: Vec<&AccountId> =
        item.accounts.iter().filter(|a| a.revoked_at.is_some()).map(|a| &a.account_id).collect();
    transactions.retain(|t| !revoked.contains(&&t.account_id));
    Ok(TransactionPage { transactions, next_cursor })
}

/// Refreshes the balances of one of the caller's items in real time (`/accounts/balance/get`, billed by
/// Plaid per call, hence a daily quota per user); returns the item with them. Balances otherwise come free
/// with every sync.
pub async fn refresh_balances(app: &Services, user: &UserId, item_id: &ItemId) -> Result<ItemRecord, ServiceError> {
    let (_, sealed) = owned_item(app, user, item_id).await?;
    limits::balance_refresh(app, user).await?;
    let (_, token) = app.unseal(item_id, &sealed).await?;
    let fresh = app.plaid.accounts_balance_get(&token).await?;
    let accounts = fresh.accounts.into_iter().map(crate::domain::Account::from).collect();
    item_state::refresh_accounts(app, item_id, accounts, app.now()).await?;
    let (item, _) = owned_item(app, user, item_id).await?;
    Ok(item)
}

/// Removes one of the caller's items: at Plaid first (ITEM_NOT_FOUND means already gone), then every
/// record of it, the wrapped data key last (crypto-shredding whatever a backup still holds).
pub async fn remove(app: &Services, user: &UserId, item_id: &ItemId) -> Result<(), ServiceError> {
    let (item, sealed) = owned_item(app, user, item_id).await?;
    item_state::remove_item(app, &item, &sealed, Actor::user(&app.pseudonyms, user), "user").await
}
