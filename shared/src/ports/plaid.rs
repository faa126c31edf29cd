//! The Plaid port: what the services need from Plaid ([`PlaidApi`], one method per endpoint) and what the
//! Plaid client needs from configuration ([`CredentialSource`]).
//!
//! [`crate::plaid::PlaidClient`] is the adapter; tests use doubles. Request and response types live in
//! [`crate::plaid::types`] (serde, lenient on responses); failures are [`PlaidClientError`].

use crate::config::secrets::SecretCache;
use crate::domain::{AccessToken, AccountId, InstitutionId, PublicToken};
use crate::plaid::PlaidClientError;
use crate::plaid::types::{
    AccountsGetResponse, Institution, InstitutionsGetByIdOptions, InstitutionsGetByIdResponse, ItemGetResponse,
    ItemRemoveRequestOptions, ItemRemoveResponse, ItemWebhookUpdateResponse, LinkTokenCreateRequest,
    LinkTokenCreateResponse, PublicTokenExchangeResponse, TransactionsSyncOptions, TransactionsSyncResponse,
    WebhookVerificationKeyGetResponse,
};
use secrecy::SecretString;
use std::sync::Arc;

/// Plaid API credentials (`PLAID-CLIENT-ID` / `PLAID-SECRET`): the config module's type, the secret never prints.
pub use crate::config::secrets::PlaidCredentials;

/// Why credentials could not be had.
#[derive(Debug, thiserror::Error)]
#[error("Plaid credentials unavailable: {message}")]
pub struct CredentialError {
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl CredentialError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { message: message.into(), source: Some(Box::new(source)) }
    }
}

/// Where the Plaid client gets its credentials. The production source (Secrets Manager, cached) lives in
/// [`crate::config`]; [`StaticCredentials`] serves tests and local runs.
#[async_trait::async_trait]
pub trait CredentialSource: Send + Sync {
    /// The credentials to use now (cached).
    async fn current(&self) -> Result<Arc<PlaidCredentials>, CredentialError>;
    /// Loads the credentials again: called once when Plaid answers INVALID_API_KEYS (the secret was
    /// rotated under a warm container). Returns the fresh credentials.
    async fn refresh(&self) -> Result<Arc<PlaidCredentials>, CredentialError>;
}

/// The container's Secrets Manager cache is the production source.
#[async_trait::async_trait]
impl CredentialSource for SecretCache {
    async fn current(&self) -> Result<Arc<PlaidCredentials>, CredentialError> {
        SecretCache::get(self).await.map_err(|e| CredentialError::with_source("loading the Plaid secret", e))
    }
    async fn refresh(&self) -> Result<Arc<PlaidCredentials>, CredentialError> {
        SecretCache::refresh(self).await.map_err(|e| CredentialError::with_source("reloading the Plaid secret", e))
    }
}

/// Fixed credentials (tests, local tools).
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub Arc<PlaidCredentials>);

impl StaticCredentials {
    pub fn new(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self(Arc::new(PlaidCredentials { client_id: client_id.into(), secret: SecretString::from(secret.into()) }))
    }
}

#[async_trait::async_trait]
impl CredentialSource for StaticCredentials {
    async fn current(&self) -> Result<Arc<PlaidCredentials>, CredentialError> {
        Ok(self.0.clone())
    }
    async fn refresh(&self) -> Result<Arc<PlaidCredentials>, CredentialError> {
        Ok(self.0.clone())
    }
}

/// Plaid, one method per endpoint weft uses. The `_with` methods take every option; the short forms
/// cover what the services ask for and are provided on top of them, so a double implements only the
/// `_with` forms.
#[async_trait::async_trait]
pub trait PlaidApi: Send + Sync {
    /// `/link/token/create`.
    async fn link_token_create(
        &self,
        req: &LinkTokenCreateRequest,
    ) -> Result<LinkTokenCreateResponse, PlaidClientError>;

    /// `/item/public_token/exchange`. Not retried once the request may have reached Plaid (a public token is
    /// single use); see [`crate::plaid`].
    async fn item_public_token_exchange(
        &self,
        public_token: &PublicToken,
    ) -> Result<PublicTokenExchangeResponse, PlaidClientError>;

    /// `/item/get`.
    async fn item_get(&self, access_token: &AccessToken) -> Result<ItemGetResponse, PlaidClientError>;

    /// `/item/remove` with an optional reason.
    async fn item_remove_with(
        &self,
        access_token: &AccessToken,
        options: &ItemRemoveRequestOptions,
    ) -> Result<ItemRemoveResponse, PlaidClientError>;

    /// `/item/remove` without a reason.
    async fn item_remove(&self, access_token: &AccessToken) -> Result<(), PlaidClientError> {
        self.item_remove_with(access_token, &ItemRemoveRequestOptions::default()).await.map(|_| ())
    }

    /// `/accounts/get`, optionally for some accounts only.
    async fn accounts_get(
        &self,
        access_token: &AccessToken,
        account_ids: Option<&[AccountId]>,
    ) -> Result<AccountsGetResponse, PlaidClientError>;

    /// `/institutions/get_by_id` with every option.
    async fn institutions_get_by_id_with(
        &self,
        institution_id: &InstitutionId,
        country_codes: &[String],
        options: &InstitutionsGetByIdOptions,
    ) -> Result<InstitutionsGetByIdResponse, PlaidClientError>;

    /// `/institutions/get_by_id`, the institution only (with its health when `include_status`).
    async fn institutions_get_by_id(
        &self,
        institution_id: &InstitutionId,
        country_codes: &[String],
        include_status: bool,
    ) -> Result<Institution, PlaidClientError> {
        let options = InstitutionsGetByIdOptions { include_status: Some(include_status), ..Default::default() };
        Ok(self.institutions_get_by_id_with(institution_id, country_codes, &options).await?.institution)
    }

    /// `/transactions/sync` with every option. `cursor: None` asks for the full history.
    async fn transactions_sync_with(
        &self,
        access_token: &AccessToken,
        cursor: Option<&str>,
        count: u32,
        options: &TransactionsSyncOptions,
    ) -> Result<TransactionsSyncResponse, PlaidClientError>;

    /// `/transactions/sync` with Plaid's default options.
    async fn transactions_sync(
        &self,
        access_token: &AccessToken,
        cursor: Option<&str>,
        count: u32,
    ) -> Result<TransactionsSyncResponse, PlaidClientError> {
        self.transactions_sync_with(access_token, cursor, count, &TransactionsSyncOptions::default()).await
    }

    /// `/webhook_verification_key/get`.
    async fn webhook_verification_key_get(
        &self,
        key_id: &str,
    ) -> Result<WebhookVerificationKeyGetResponse, PlaidClientError>;

    /// `/item/webhook/update`.
    async fn item_webhook_update(
        &self,
        access_token: &AccessToken,
        webhook: &str,
    ) -> Result<ItemWebhookUpdateResponse, PlaidClientError>;
}
