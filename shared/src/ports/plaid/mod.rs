//! The Plaid port: what the services need from Plaid, as small capability traits (one group of endpoints
//! each) composed into [`PlaidApi`], and the wire model they speak ([`wire`]: requests and responses,
//! lenient on responses; [`PlaidError`]: Plaid's error object; [`webhooks`]: the webhooks Plaid sends;
//! [`credentials`]: what the adapter signs its calls with).
//!
//! Adapter: [`crate::adapters::plaid_http::PlaidClient`]. Doubles implement the traits too.

pub mod credentials;
mod error;
pub mod webhooks;
pub mod wire;

pub use credentials::{CredentialError, CredentialSource, PlaidCredentials, StaticCredentials};
pub use error::{PlaidCallError, PlaidError};
pub use webhooks::{VerifiedWebhook, WebhookEvent};

use crate::domain::{AccessToken, AccountId, InstitutionId, LinkToken, PublicToken};
use wire::{
    AccountsGetResponse, Institution, InstitutionsGetByIdOptions, InstitutionsGetByIdResponse,
    ItemAccessTokenInvalidateResponse, ItemGetResponse, ItemRemoveRequestOptions, ItemRemoveResponse,
    ItemWebhookUpdateResponse, LinkTokenCreateRequest, LinkTokenCreateResponse, LinkTokenGetResponse,
    PublicTokenExchangeResponse, TransactionsSyncOptions, TransactionsSyncResponse, WebhookVerificationKeyGetResponse,
};

/// Link: tokens for Link and the exchange of what Link returns.
#[async_trait::async_trait]
pub trait PlaidLink: Send + Sync {
    /// `/link/token/create`.
    async fn link_token_create(&self, req: &LinkTokenCreateRequest) -> Result<LinkTokenCreateResponse, PlaidCallError>;

    /// `/link/token/get`: the token's Link sessions (success, exit, events, results), kept by Plaid up to six
    /// hours after a session ends.
    async fn link_token_get(&self, link_token: &LinkToken) -> Result<LinkTokenGetResponse, PlaidCallError>;

    /// `/item/public_token/exchange`. Not retried once the request may have reached Plaid (a public token is
    /// single use).
    async fn item_public_token_exchange(
        &self,
        public_token: &PublicToken,
    ) -> Result<PublicTokenExchangeResponse, PlaidCallError>;
}

/// Items: their state at Plaid, their accounts, their access token's rotation, their removal.
#[async_trait::async_trait]
pub trait PlaidItems: Send + Sync {
    /// `/item/get`.
    async fn item_get(&self, access_token: &AccessToken) -> Result<ItemGetResponse, PlaidCallError>;

    /// `/item/remove` with an optional reason.
    async fn item_remove_with(
        &self,
        access_token: &AccessToken,
        options: &ItemRemoveRequestOptions,
    ) -> Result<ItemRemoveResponse, PlaidCallError>;

    /// `/item/remove` without a reason.
    async fn item_remove(&self, access_token: &AccessToken) -> Result<(), PlaidCallError> {
        self.item_remove_with(access_token, &ItemRemoveRequestOptions::default()).await.map(|_| ())
    }

    /// `/item/webhook/update`.
    async fn item_webhook_update(
        &self,
        access_token: &AccessToken,
        webhook: &str,
    ) -> Result<ItemWebhookUpdateResponse, PlaidCallError>;

    /// `/item/access_token/invalidate`: a new access token for the item; the old one stops working. Not
    /// retried once the request may have reached Plaid (a lost answer loses the new token, and a second call
    /// with the old one can only meet INVALID_ACCESS_TOKEN).
    async fn item_access_token_invalidate(
        &self,
        access_token: &AccessToken,
    ) -> Result<ItemAccessTokenInvalidateResponse, PlaidCallError>;

    /// `/accounts/get`, optionally for some accounts only (free: balances as Plaid last refreshed them).
    async fn accounts_get(
        &self,
        access_token: &AccessToken,
        account_ids: Option<&[AccountId]>,
    ) -> Result<AccountsGetResponse, PlaidCallError>;

    /// `/accounts/balance/get`: balances asked of the institution now (Plaid's Balance product, billed per
    /// call). Same answer shape as `/accounts/get`.
    async fn accounts_balance_get(&self, access_token: &AccessToken) -> Result<AccountsGetResponse, PlaidCallError>;
}

/// Transactions: `/transactions/sync`.
#[async_trait::async_trait]
pub trait PlaidTransactions: Send + Sync {
    /// `/transactions/sync` with every option. `cursor: None` asks for the full history.
    async fn transactions_sync_with(
        &self,
        access_token: &AccessToken,
        cursor: Option<&str>,
        count: u32,
        options: &TransactionsSyncOptions,
    ) -> Result<TransactionsSyncResponse, PlaidCallError>;

    /// `/transactions/sync` with Plaid's default options.
    async fn transactions_sync(
        &self,
        access_token: &AccessToken,
        cursor: Option<&str>,
        count: u32,
    ) -> Result<TransactionsSyncResponse, PlaidCallError> {
        self.transactions_sync_with(access_token, cursor, count, &TransactionsSyncOptions::default()).await
    }
}

/// Institutions: `/institutions/get_by_id`.
#[async_trait::async_trait]
pub trait PlaidInstitutions: Send + Sync {
    /// `/institutions/get_by_id` with every option.
    async fn institutions_get_by_id_with(
        &self,
        institution_id: &InstitutionId,
        country_codes: &[String],
        options: &InstitutionsGetByIdOptions,
    ) -> Result<InstitutionsGetByIdResponse, PlaidCallError>;

    /// `/institutions/get_by_id`, the institution only (with its health when `include_status`).
    async fn institutions_get_by_id(
        &self,
        institution_id: &InstitutionId,
        country_codes: &[String],
        include_status: bool,
    ) -> Result<Institution, PlaidCallError> {
        let options = InstitutionsGetByIdOptions { include_status: Some(include_status), ..Default::default() };
        Ok(self.institutions_get_by_id_with(institution_id, country_codes, &options).await?.institution)
    }
}

/// Webhook verification keys: `/webhook_verification_key/get`.
#[async_trait::async_trait]
pub trait PlaidWebhookKeys: Send + Sync {
    async fn webhook_verification_key_get(
        &self,
        key_id: &str,
    ) -> Result<WebhookVerificationKeyGetResponse, PlaidCallError>;
}

/// Everything weft asks of Plaid. Implemented for every type that has all the capabilities.
pub trait PlaidApi: PlaidLink + PlaidItems + PlaidTransactions + PlaidInstitutions + PlaidWebhookKeys {}

impl<T: PlaidLink + PlaidItems + PlaidTransactions + PlaidInstitutions + PlaidWebhookKeys + ?Sized> PlaidApi for T {}
