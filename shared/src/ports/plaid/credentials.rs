//! Plaid API credentials and where the Plaid adapter gets them.

use secrecy::SecretString;
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;

/// Plaid's `client_id` and `secret` (`PLAID-CLIENT-ID` / `PLAID-SECRET`). The secret never prints.
#[derive(Clone, Deserialize)]
pub struct PlaidCredentials {
    pub client_id: String,
    pub secret: SecretString,
}

impl fmt::Debug for PlaidCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaidCredentials").field("client_id", &self.client_id).field("secret", &"***").finish()
    }
}

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

/// Where the Plaid client gets its credentials: Secrets Manager in production
/// ([`crate::adapters::secrets_manager::SecretCache`]), [`StaticCredentials`] in tests and local tools.
#[async_trait::async_trait]
pub trait CredentialSource: Send + Sync {
    /// The credentials to use now (cached).
    async fn current(&self) -> Result<Arc<PlaidCredentials>, CredentialError>;
    /// Loads the credentials again: called once when Plaid answers INVALID_API_KEYS (the secret was
    /// rotated under a warm container). Returns the fresh credentials.
    async fn refresh(&self) -> Result<Arc<PlaidCredentials>, CredentialError>;
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
