//! [`App`]: everything a function needs, built once per container at init.

use super::ServiceError;
use super::institutions::HealthCache;
use crate::auth::AuthVerifier;
use crate::config::Config;
use crate::crypto::ItemKey;
use crate::domain::{AccessToken, ItemId, ItemRecord, UserId};
use crate::ports::{ItemStore, KeyVault, PlaidApi, SealedItem, SyncQueue};
use crate::webhook::WebhookVerifier;
use std::sync::Arc;
use time::OffsetDateTime;

/// Longest init waits for the issuer's keys before leaving them to the first request.
const ISSUER_KEYS_INIT_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// The ports and settings the services run against.
pub struct App {
    pub config: Config,
    pub plaid: Arc<dyn PlaidApi>,
    pub store: Arc<dyn ItemStore>,
    pub vault: Arc<dyn KeyVault>,
    pub queue: Option<Arc<dyn SyncQueue>>,
    pub auth: AuthVerifier,
    pub webhooks: WebhookVerifier,
    pub institution_health: HealthCache,
}

/// Why a function could not start (it fails its init, and Lambda reports it).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("loading the Plaid credentials: {0}")]
    Secrets(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("building the Plaid client: {0}")]
    Plaid(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl App {
    /// Builds the app from the environment: one AWS SDK config for every client, the Plaid credentials
    /// fetched from Secrets Manager (concurrently with everything else that does I/O), one HTTP client.
    /// For functions that serve no app user (webhook intake, sync worker, churn remover).
    pub async fn from_env() -> Result<Self, InitError> {
        Self::build(false).await
    }

    /// [`App::from_env`] for the functions behind the app's bearer tokens: init also fetches the issuer's
    /// keys, concurrently with the Plaid secret, so a new container's first request does not wait on the
    /// identity provider. Best effort: if the issuer does not answer, the first token fetches them.
    pub async fn from_env_serving_users() -> Result<Self, InitError> {
        Self::build(true).await
    }

    async fn build(prefetch_issuer_keys: bool) -> Result<Self, InitError> {
        let config = Config::from_env()?;
        // Building an HTTP client is blocking CPU work (each one parses the system's root certificates, a few
        // ms): the Plaid one is built on the blocking pool while this thread builds the AWS one and fetches the
        // secret, instead of after them.
        let plaid_config = crate::plaid::PlaidClientConfig::new(config.plaid.base_url.clone());
        let plaid_http = {
            let plaid_config = plaid_config.clone();
            tokio::task::spawn_blocking(move || plaid_config.http_client())
        };
        let sdk = crate::config::aws::load_sdk_config().await;
        let secrets = Arc::new(crate::config::secrets::SecretCache::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
            config.plaid_secret_id.clone(),
        ));
        // The only I/O init does, all at once: the Plaid secret (init fails without it) and, for functions
        // serving app users, the issuer's keys (best effort, bounded so a slow issuer cannot stall init).
        let fetch_secret = async { secrets.current().await.map(drop).map_err(|e| InitError::Secrets(Box::new(e))) };
        let http_and_auth = async {
            let http = plaid_http
                .await
                .map_err(|e| InitError::Plaid(Box::new(e)))?
                .map_err(|e| InitError::Plaid(Box::new(e)))?;
            let auth = AuthVerifier::with_http_client(config.auth.clone(), http.clone());
            if prefetch_issuer_keys {
                // A failure is logged by the verifier; the first request fetches instead.
                let _ = tokio::time::timeout(ISSUER_KEYS_INIT_BUDGET, auth.prefetch()).await;
            }
            Ok::<_, InitError>((http, auth))
        };
        let ((), (http, auth)) = tokio::try_join!(fetch_secret, http_and_auth)?;
        let plaid = Arc::new(crate::plaid::PlaidClient::with_http_client(plaid_config, http, secrets.clone()));
        let store =
            Arc::new(crate::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.table_name.clone()));
        let vault = Arc::new(crate::crypto::KmsEnvelope::from_sdk_config(&sdk, config.kms_key_id.clone()));
        let queue: Option<Arc<dyn SyncQueue>> = config.sync_queue_url.as_ref().map(|url| {
            Arc::new(crate::queue::SqsSyncQueue::new(aws_sdk_sqs::Client::new(&sdk), url.clone())) as Arc<dyn SyncQueue>
        });
        let webhooks = WebhookVerifier::new(plaid.clone());
        Ok(Self { config, plaid, store, vault, queue, auth, webhooks, institution_health: HealthCache::default() })
    }

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// The verified app user behind a bearer token.
    pub async fn authenticate(&self, token: &str) -> Result<UserId, crate::auth::AuthError> {
        self.auth.verify(token).await
    }

    /// The queue the webhook hands syncs to.
    pub fn queue(&self) -> Result<&dyn SyncQueue, ServiceError> {
        self.queue
            .as_deref()
            .ok_or_else(|| ServiceError::Invalid("WEFT_SYNC_QUEUE_URL is not configured for this function".into()))
    }

    /// The item's data key, unwrapped (cached briefly by the vault).
    pub async fn unseal_key(&self, item_id: &ItemId, sealed: &SealedItem) -> Result<ItemKey, ServiceError> {
        Ok(self.vault.open_item_key(item_id, &sealed.wrapped_key).await?)
    }

    /// The item's data key and its access token (in memory only for the call that needs it).
    pub async fn unseal(&self, item_id: &ItemId, sealed: &SealedItem) -> Result<(ItemKey, AccessToken), ServiceError> {
        let key = self.unseal_key(item_id, sealed).await?;
        let token = key.open_access_token(&sealed.access_token)?;
        Ok((key, token))
    }

    /// The sealed secrets of an item read without them (paths that rarely need them; the others read the
    /// item with [`ItemStore::get_item_sealed`] or [`ItemStore::find_item_sealed`], in one call).
    ///
    /// [`ItemStore::get_item_sealed`]: crate::ports::ItemStore::get_item_sealed
    /// [`ItemStore::find_item_sealed`]: crate::ports::ItemStore::find_item_sealed
    pub async fn load_sealed(&self, item: &ItemRecord) -> Result<SealedItem, ServiceError> {
        self.store.load_sealed(&item.user_id, &item.item_id).await?.ok_or(ServiceError::NotFound("item"))
    }
}
