//! The Plaid ports on [`ScriptedPlaid`].

use super::endpoints::*;
use super::{FakeItem, RemoveCall, ScriptedPlaid, State, errors, new_item, sync};
use crate::domain::{AccessToken, AccountId, InstitutionId, LinkToken, PublicToken};
use crate::ports::plaid::wire::{
    AccountsGetResponse, InstitutionsGetByIdOptions, InstitutionsGetByIdResponse, Item,
    ItemAccessTokenInvalidateResponse, ItemGetResponse, ItemRemoveRequestOptions, ItemRemoveResponse,
    ItemWebhookUpdateResponse, LinkTokenCreateRequest, LinkTokenCreateResponse, LinkTokenGetResponse,
    PublicTokenExchangeResponse, RemovedTransaction, TransactionsSyncOptions, TransactionsSyncResponse,
    WebhookVerificationKeyGetResponse,
};
use crate::ports::{PlaidCallError, PlaidInstitutions, PlaidItems, PlaidLink, PlaidTransactions, PlaidWebhookKeys};
use async_trait::async_trait;

fn request_id() -> String {
    format!("req-{}", uuid::Uuid::new_v4().simple())
}

fn wire_item(item: &FakeItem) -> Item {
    Item {
        item_id: item.item_id.clone(),
        institution_id: Some(item.institution.institution_id.to_string()),
        institution_name: Some(item.institution.name.clone()),
        webhook: item.webhook.clone(),
        error: item.error.clone(),
        available_products: vec![],
        billed_products: vec!["transactions".to_owned()],
        products: vec!["transactions".to_owned()],
        consented_products: vec!["transactions".to_owned()],
        consent_expiration_time: item.consent_expiration_time,
        update_type: Some("background".to_owned()),
        auth_method: None,
        created_at: None,
    }
}

impl ScriptedPlaid {
    /// `/accounts/get` and `/accounts/balance/get` (`endpoint`): the item's accounts (or those named), or its
    /// error.
    fn accounts(
        &self,
        endpoint: &'static str,
        access_token: &AccessToken,
        account_ids: Option<&[AccountId]>,
    ) -> Result<AccountsGetResponse, PlaidCallError> {
        let mut s = self.lock();
        Self::begin(&mut s, endpoint)?;
        let item = item_mut(&mut s, endpoint, access_token)?;
        if let Some(error) = &item.error {
            return Err(PlaidCallError::Api { endpoint, error: Box::new(error.clone()) });
        }
        let accounts = item
            .accounts
            .iter()
            .filter(|a| account_ids.is_none_or(|ids| ids.contains(&a.account_id)))
            .cloned()
            .collect();
        Ok(AccountsGetResponse { accounts, item: wire_item(item), request_id: request_id() })
    }
}

/// The (not removed) item an access token names.
fn item_mut<'a>(
    s: &'a mut State,
    endpoint: &'static str,
    token: &AccessToken,
) -> Result<&'a mut FakeItem, PlaidCallError> {
    let item_id = s.by_token.get(token.expose()).ok_or_else(|| errors::invalid_access_token(endpoint))?;
    let item = s.items.get_mut(item_id).ok_or_else(|| errors::invalid_access_token(endpoint))?;
    if item.removed {
        return Err(errors::item_not_found(endpoint));
    }
    Ok(item)
}

#[async_trait]
impl PlaidLink for ScriptedPlaid {
    async fn link_token_create(&self, req: &LinkTokenCreateRequest) -> Result<LinkTokenCreateResponse, PlaidCallError> {
        let mut s = self.lock();
        Self::begin(&mut s, LINK_TOKEN_CREATE)?;
        if let Some(token) = &req.access_token {
            item_mut(&mut s, LINK_TOKEN_CREATE, token)?;
        }
        s.link_token_requests.push(serde_json::to_value(req).unwrap_or_default());
        let link_token = LinkToken::parse(format!("link-sandbox-{}", uuid::Uuid::new_v4())).map_err(|e| {
            PlaidCallError::Decode { endpoint: LINK_TOKEN_CREATE, request_id: None, detail: e.to_string() }
        })?;
        let expiration = self.clock.now() + time::Duration::hours(4);
        s.link_sessions.insert(link_token.to_string(), Vec::new());
        let hosted_link_url = req.hosted_link.as_ref().map(|_| format!("https://hosted.plaid.test/link/{link_token}"));
        Ok(LinkTokenCreateResponse { link_token, expiration, hosted_link_url, request_id: request_id() })
    }

    async fn link_token_get(&self, link_token: &LinkToken) -> Result<LinkTokenGetResponse, PlaidCallError> {
        let mut s = self.lock();
        Self::begin(&mut s, LINK_TOKEN_GET)?;
        let Some(sessions) = s.link_sessions.get(link_token.as_str()) else {
            return Err(errors::api(LINK_TOKEN_GET, "INVALID_INPUT", "INVALID_LINK_TOKEN", 400));
        };
        let body = serde_json::json!({
            "link_token": link_token.as_str(), "created_at": null, "expiration": null, "metadata": {},
            "link_sessions": sessions, "request_id": request_id(),
        });
        serde_json::from_value(body).map_err(|e| PlaidCallError::Decode {
            endpoint: LINK_TOKEN_GET,
            request_id: None,
            detail: e.to_string(),
        })
    }

    async fn item_public_token_exchange(
        &self,
        public_token: &PublicToken,
    ) -> Result<PublicTokenExchangeResponse, PlaidCallError> {
        let answer = {
            let mut s = self.lock();
            Self::begin(&mut s, PUBLIC_TOKEN_EXCHANGE)?;
            // Single use: the token is spent by its first exchange.
            let pending = s.public_tokens.get_mut(public_token.expose()).and_then(Option::take);
            match pending {
                None => Err(errors::invalid_public_token()),
                Some(pending) => {
                    let (item_id, access_token) = new_item(&mut s, pending.institution, pending.accounts);
                    Ok(PublicTokenExchangeResponse { access_token, item_id, request_id: request_id() })
                }
            }
        };
        self.lateness(PUBLIC_TOKEN_EXCHANGE).await;
        answer
    }
}

#[async_trait]
impl PlaidItems for ScriptedPlaid {
    async fn item_get(&self, access_token: &AccessToken) -> Result<ItemGetResponse, PlaidCallError> {
        let mut s = self.lock();
        Self::begin(&mut s, ITEM_GET)?;
        let item = item_mut(&mut s, ITEM_GET, access_token)?;
        Ok(ItemGetResponse { item: wire_item(item), status: None, request_id: request_id() })
    }

    /// Logs the call for the item it names (before the script may fail it), then removes the item.
    async fn item_remove_with(
        &self,
        access_token: &AccessToken,
        _options: &ItemRemoveRequestOptions,
    ) -> Result<ItemRemoveResponse, PlaidCallError> {
        let mut s = self.lock();
        let at = tokio::time::Instant::now();
        let named = s.by_token.get(access_token.expose()).cloned();
        if let Some(item) = named.as_ref().and_then(|id| s.items.get_mut(id)) {
            item.remove_calls += 1;
        }
        let result = Self::begin(&mut s, ITEM_REMOVE).and_then(|()| {
            item_mut(&mut s, ITEM_REMOVE, access_token)?.removed = true;
            Ok(())
        });
        if let Some(item_id) = named {
            s.removals.push(RemoveCall { item_id, at, removed: result.is_ok() });
        }
        result.map(|()| ItemRemoveResponse { request_id: request_id() })
    }

    /// A new token for the item; the old one names nothing any more (INVALID_ACCESS_TOKEN). Works on items
    /// in error, as Plaid's does.
    async fn item_access_token_invalidate(
        &self,
        access_token: &AccessToken,
    ) -> Result<ItemAccessTokenInvalidateResponse, PlaidCallError> {
        let mut s = self.lock();
        Self::begin(&mut s, ITEM_ACCESS_TOKEN_INVALIDATE)?;
        let item = item_mut(&mut s, ITEM_ACCESS_TOKEN_INVALIDATE, access_token)?;
        let new = format!("access-sandbox-{}", uuid::Uuid::new_v4());
        let new_access_token = AccessToken::parse(new.clone()).map_err(|e| PlaidCallError::Decode {
            endpoint: ITEM_ACCESS_TOKEN_INVALIDATE,
            request_id: None,
            detail: e.to_string(),
        })?;
        item.access_token = new.clone();
        let item_id = item.item_id.clone();
        s.by_token.remove(access_token.expose());
        s.by_token.insert(new, item_id);
        Ok(ItemAccessTokenInvalidateResponse { new_access_token, request_id: request_id() })
    }

    async fn item_webhook_update(
        &self,
        access_token: &AccessToken,
        webhook: &str,
    ) -> Result<ItemWebhookUpdateResponse, PlaidCallError> {
        let mut s = self.lock();
        Self::begin(&mut s, ITEM_WEBHOOK_UPDATE)?;
        let item = item_mut(&mut s, ITEM_WEBHOOK_UPDATE, access_token)?;
        item.webhook = Some(webhook.to_owned());
        Ok(ItemWebhookUpdateResponse { item: wire_item(item), request_id: request_id() })
    }

    async fn accounts_get(
        &self,
        access_token: &AccessToken,
        account_ids: Option<&[AccountId]>,
    ) -> Result<AccountsGetResponse, PlaidCallError> {
        self.accounts(ACCOUNTS_GET, access_token, account_ids)
    }

    /// As `/accounts/get`: the double's balances are always current.
    async fn accounts_balance_get(&self, access_token: &AccessToken) -> Result<AccountsGetResponse, PlaidCallError> {
        self.accounts(ACCOUNTS_BALANCE_GET, access_token, None)
    }
}

#[async_trait]
impl PlaidTransactions for ScriptedPlaid {
    async fn transactions_sync_with(
        &self,
        access_token: &AccessToken,
        cursor: Option<&str>,
        count: u32,
        _options: &TransactionsSyncOptions,
    ) -> Result<TransactionsSyncResponse, PlaidCallError> {
        let mut s = self.lock();
        if let Some(item) = s.by_token.get(access_token.expose()).cloned().and_then(|id| s.items.get_mut(&id)) {
            item.sync_cursors.push(cursor.map(str::to_owned));
            let call = item.sync_cursors.len();
            let due: Vec<_> = item.scripted_changes.iter().filter(|(at, _)| *at == call).cloned().collect();
            item.scripted_changes.retain(|(at, _)| *at != call);
            for (_, changes) in due {
                item.log.extend(changes);
            }
        }
        Self::begin(&mut s, TRANSACTIONS_SYNC)?;
        let item = item_mut(&mut s, TRANSACTIONS_SYNC, access_token)?;
        if let Some(error) = &item.error {
            return Err(PlaidCallError::Api { endpoint: TRANSACTIONS_SYNC, error: Box::new(error.clone()) });
        }
        let accounts = item.accounts.clone();
        if !item.history_ready {
            return Ok(TransactionsSyncResponse {
                added: vec![],
                modified: vec![],
                removed: vec![],
                next_cursor: String::new(),
                has_more: false,
                accounts,
                transactions_update_status: Some("NOT_READY".to_owned()),
                request_id: request_id(),
            });
        }
        let page = sync::page(item.item_id.as_str(), &item.log, cursor, count)?;
        let account_of = |id: &str| {
            item.log.iter().rev().find_map(|c| match c {
                super::SyncChange::Added(t) | super::SyncChange::Modified(t) if t.transaction_id == id => {
                    Some(t.account_id.clone())
                }
                _ => None,
            })
        };
        let removed = page
            .removed
            .into_iter()
            .map(|id| RemovedTransaction { account_id: account_of(&id), transaction_id: id })
            .collect();
        Ok(TransactionsSyncResponse {
            added: page.added,
            modified: page.modified,
            removed,
            next_cursor: page.next_cursor,
            has_more: page.has_more,
            accounts,
            transactions_update_status: Some("HISTORICAL_UPDATE_COMPLETE".to_owned()),
            request_id: request_id(),
        })
    }
}

#[async_trait]
impl PlaidInstitutions for ScriptedPlaid {
    async fn institutions_get_by_id_with(
        &self,
        institution_id: &InstitutionId,
        _country_codes: &[String],
        options: &InstitutionsGetByIdOptions,
    ) -> Result<InstitutionsGetByIdResponse, PlaidCallError> {
        let mut s = self.lock();
        Self::begin(&mut s, INSTITUTIONS_GET_BY_ID)?;
        let mut institution = s
            .institutions
            .get(institution_id.as_str())
            .cloned()
            .ok_or_else(|| errors::api(INSTITUTIONS_GET_BY_ID, "INVALID_INPUT", "INVALID_INSTITUTION", 400))?;
        if options.include_status != Some(true) {
            institution.status = None;
        }
        Ok(InstitutionsGetByIdResponse { institution, request_id: request_id() })
    }
}

#[async_trait]
impl PlaidWebhookKeys for ScriptedPlaid {
    async fn webhook_verification_key_get(
        &self,
        key_id: &str,
    ) -> Result<WebhookVerificationKeyGetResponse, PlaidCallError> {
        let mut s = self.lock();
        Self::begin(&mut s, WEBHOOK_VERIFICATION_KEY_GET)?;
        let key = s.webhook_keys.get(key_id).cloned().ok_or_else(|| {
            errors::api(WEBHOOK_VERIFICATION_KEY_GET, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID", 400)
        })?;
        Ok(WebhookVerificationKeyGetResponse { key, request_id: request_id() })
    }
}
