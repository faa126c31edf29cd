//! The Plaid capabilities on [`PlaidClient`]: one request body per endpoint, and the calls.

use super::PlaidClient;
use super::endpoints::Endpoint;
use crate::domain::{AccessToken, AccountId, InstitutionId, LinkToken, PublicToken};
use crate::ports::plaid::wire::*;
use crate::ports::{PlaidCallError, PlaidInstitutions, PlaidItems, PlaidLink, PlaidTransactions, PlaidWebhookKeys};
use serde::Serialize;

#[derive(Serialize)]
struct AccessTokenOnly<'a> {
    access_token: &'a str,
}

#[derive(Serialize)]
struct LinkTokenGet<'a> {
    link_token: &'a str,
}

#[derive(Serialize)]
struct PublicTokenExchange<'a> {
    public_token: &'a str,
}

#[derive(Serialize)]
struct ItemRemove<'a> {
    access_token: &'a str,
    #[serde(flatten)]
    options: &'a ItemRemoveRequestOptions,
}

#[derive(Serialize)]
struct AccountsGet<'a> {
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<AccountsGetOptions<'a>>,
}

#[derive(Serialize)]
struct AccountsGetOptions<'a> {
    account_ids: Vec<&'a str>,
}

#[derive(Serialize)]
struct InstitutionsGetById<'a> {
    institution_id: &'a str,
    country_codes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a InstitutionsGetByIdOptions>,
}

#[derive(Serialize)]
struct TransactionsSync<'a> {
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<&'a str>,
    count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a TransactionsSyncOptions>,
}

#[derive(Serialize)]
struct WebhookVerificationKeyGet<'a> {
    key_id: &'a str,
}

#[derive(Serialize)]
struct ItemWebhookUpdate<'a> {
    access_token: &'a str,
    webhook: &'a str,
}

#[async_trait::async_trait]
impl PlaidLink for PlaidClient {
    async fn link_token_create(&self, req: &LinkTokenCreateRequest) -> Result<LinkTokenCreateResponse, PlaidCallError> {
        self.call(Endpoint::LinkTokenCreate, req).await
    }

    async fn link_token_get(&self, link_token: &LinkToken) -> Result<LinkTokenGetResponse, PlaidCallError> {
        self.call(Endpoint::LinkTokenGet, &LinkTokenGet { link_token: link_token.as_str() }).await
    }

    async fn item_public_token_exchange(
        &self,
        public_token: &PublicToken,
    ) -> Result<PublicTokenExchangeResponse, PlaidCallError> {
        self.call(Endpoint::PublicTokenExchange, &PublicTokenExchange { public_token: public_token.expose() }).await
    }
}

#[async_trait::async_trait]
impl PlaidItems for PlaidClient {
    async fn item_get(&self, access_token: &AccessToken) -> Result<ItemGetResponse, PlaidCallError> {
        self.call(Endpoint::ItemGet, &AccessTokenOnly { access_token: access_token.expose() }).await
    }

    async fn item_remove_with(
        &self,
        access_token: &AccessToken,
        options: &ItemRemoveRequestOptions,
    ) -> Result<ItemRemoveResponse, PlaidCallError> {
        self.call(Endpoint::ItemRemove, &ItemRemove { access_token: access_token.expose(), options }).await
    }

    async fn item_access_token_invalidate(
        &self,
        access_token: &AccessToken,
    ) -> Result<ItemAccessTokenInvalidateResponse, PlaidCallError> {
        self.call(Endpoint::ItemAccessTokenInvalidate, &AccessTokenOnly { access_token: access_token.expose() }).await
    }

    async fn accounts_get(
        &self,
        access_token: &AccessToken,
        account_ids: Option<&[AccountId]>,
    ) -> Result<AccountsGetResponse, PlaidCallError> {
        let options =
            account_ids.map(|ids| AccountsGetOptions { account_ids: ids.iter().map(AccountId::as_str).collect() });
        self.call(Endpoint::AccountsGet, &AccountsGet { access_token: access_token.expose(), options }).await
    }

    async fn accounts_balance_get(&self, access_token: &AccessToken) -> Result<AccountsGetResponse, PlaidCallError> {
        let body = AccountsGet { access_token: access_token.expose(), options: None };
        self.call(Endpoint::AccountsBalanceGet, &body).await
    }

    async fn item_webhook_update(
        &self,
        access_token: &AccessToken,
        webhook: &str,
    ) -> Result<ItemWebhookUpdateResponse, PlaidCallError> {
        self.call(Endpoint::ItemWebhookUpdate, &ItemWebhookUpdate { access_token: access_token.expose(), webhook })
            .await
    }
}

#[async_trait::async_trait]
impl PlaidInstitutions for PlaidClient {
    async fn institutions_get_by_id_with(
        &self,
        institution_id: &InstitutionId,
        country_codes: &[String],
        options: &InstitutionsGetByIdOptions,
    ) -> Result<InstitutionsGetByIdResponse, PlaidCallError> {
        let options = (*options != InstitutionsGetByIdOptions::default()).then_some(options);
        let body = InstitutionsGetById { institution_id: institution_id.as_str(), country_codes, options };
        self.call(Endpoint::InstitutionsGetById, &body).await
    }
}

#[async_trait::async_trait]
impl PlaidTransactions for PlaidClient {
    async fn transactions_sync_with(
        &self,
        access_token: &AccessToken,
        cursor: Option<&str>,
        count: u32,
        options: &TransactionsSyncOptions,
    ) -> Result<TransactionsSyncResponse, PlaidCallError> {
        let body = TransactionsSync {
            access_token: access_token.expose(),
            // An empty cursor means "from the start", like none.
            cursor: cursor.filter(|c| !c.is_empty()),
            count: count.clamp(1, 500),
            options: (!options.is_empty()).then_some(options),
        };
        self.call(Endpoint::TransactionsSync, &body).await
    }
}

#[async_trait::async_trait]
impl PlaidWebhookKeys for PlaidClient {
    async fn webhook_verification_key_get(
        &self,
        key_id: &str,
    ) -> Result<WebhookVerificationKeyGetResponse, PlaidCallError> {
        self.call(Endpoint::WebhookVerificationKeyGet, &WebhookVerificationKeyGet { key_id }).await
    }
}
