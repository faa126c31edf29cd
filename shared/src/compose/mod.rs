//! Composition: the one place that builds the adapters from configuration and wires them into the
//! services and the edge ([`crate::api::App`]). Functions call it once, at init.
//!
//! Init does all of its I/O at once and nothing twice: the Plaid secret from Secrets Manager (init fails
//! without it) and, for the functions behind the app's bearer tokens, the issuer's keys (best effort,
//! bounded); every AWS client shares one `SdkConfig`; one HTTP client serves Plaid and the issuer; every
//! HTTPS client shares one TLS configuration ([`crate::adapters::tls`]: roots compiled in, nothing read or parsed
//! at init).

mod aws;
mod lazy;

use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::eventbridge::{EventBridgeBus, NoEventBus};
use crate::adapters::jwks_http::HttpJwks;
use crate::adapters::kms::KmsEnvelope;
use crate::adapters::lambda::SelfInvoke;
use crate::adapters::plaid_http::{PlaidClient, PlaidClientConfig};
use crate::adapters::secrets_manager::{self, SecretCache};
use crate::adapters::sqs::{NoSyncQueue, SqsSyncQueue};
use crate::api::App;
use crate::auth::{AuthVerifier, WebhookVerifier};
use crate::config::{Config, ConfigError};
use crate::ports::{CredentialSource, SyncQueue, SystemClock};
use crate::services::{Ports, Services};
use lazy::Lazy;
use std::sync::Arc;
use std::time::Duration;

pub use aws::load_sdk_config;

/// Longest init waits for the issuer's keys before leaving them to the first request.
const ISSUER_KEYS_INIT_BUDGET: Duration = Duration::from_secs(2);

/// Why a function could not start (it fails its init, and Lambda reports it).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("loading the Plaid credentials")]
    Secrets(#[source] crate::ports::CredentialError),
    #[error("loading the user pseudonym key")]
    PseudonymKey(#[source] crate::adapters::secrets_manager::SecretsError),
    #[error("building the HTTP client")]
    Http(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Which functions need what at init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// The app's users (bearer tokens): the issuer's keys are fetched at init too.
    Users,
    /// The queue, a schedule: no user tokens, and nothing done on a user's behalf.
    Events,
    /// Events that act on a user's behalf (Plaid's LINK webhooks and the sweep's `/link/token/get` exchange
    /// public tokens for the user who owns the link token): no user tokens, but the pseudonym key, which
    /// names users in the audit trail (required, as for [`Serves::Users`]).
    EventsForUsers,
}

/// Builds the function's [`App`] from the environment.
pub async fn from_env(serves: Serves) -> Result<App, InitError> {
    let config = Config::from_env()?;
    // Every HTTPS client shares one TLS configuration with compiled-in roots (`adapters::tls`): building them reads
    // and parses nothing.
    let plaid_config = PlaidClientConfig::new(config.plaid.base_url.clone());
    let http = plaid_config.http_client().map_err(|e| InitError::Http(Box::new(e)))?;
    let sdk = load_sdk_config().await;
    // One Secrets Manager client for both secrets: building a client parses the SDK's partition table (each
    // SDK crate once per container; measured with callgrind and perf, docs/benchmarks.md).
    let secrets_client = aws_sdk_secretsmanager::Client::new(&sdk);
    let secrets = Arc::new(SecretCache::new(secrets_client.clone(), config.plaid_secret_id.clone()));
    let fetch_secret = async { secrets.current().await.map(drop).map_err(InitError::Secrets) };
    // Functions serving app users (or acting for them: LINK webhooks, the sweep's /link/token/get) need the
    // pseudonym key (init fails without it); the others never name a user.
    let pseudonym_secret = match (serves, &config.pseudonym_secret_id) {
        (Serves::Users | Serves::EventsForUsers, None) => {
            return Err(ConfigError::Missing("WEFT_PSEUDONYM_SECRET_ID").into());
        }
        (Serves::Users | Serves::EventsForUsers, Some(id)) => Some(id.clone()),
        (Serves::Events, _) => None,
    };
    let fetch_pseudonyms = async {
        match &pseudonym_secret {
            Some(id) => {
                secrets_manager::pseudonym_key(&secrets_client, id).await.map(Some).map_err(InitError::PseudonymKey)
            }
            None => Ok(None),
        }
    };
    let http_and_users = async {
        let jwks = Arc::new(HttpJwks::new(http.clone(), config.auth.jwks_url.clone()));
        let users = AuthVerifier::new(config.auth.clone(), jwks);
        if serves == Serves::Users {
            // A failure is logged by the verifier; the first request fetches instead.
            let _ = tokio::time::timeout(ISSUER_KEYS_INIT_BUDGET, users.prefetch()).await;
        }
        Ok::<_, InitError>((http.clone(), users))
    };
    let ((), pseudonyms, (http, users)) = tokio::try_join!(fetch_secret, fetch_pseudonyms, http_and_users)?;

    let plaid = Arc::new(PlaidClient::with_http_client(plaid_config, http, secrets));
    let queue: Arc<dyn SyncQueue> = match &config.sync_queue_url {
        Some(url) => {
            let (sdk, url) = (sdk.clone(), url.clone());
            Arc::new(Lazy::new(move || SqsSyncQueue::new(aws_sdk_sqs::Client::new(&sdk), url.clone())))
        }
        None => Arc::new(NoSyncQueue),
    };
    let store = Arc::new(
        DynamoStore::from_sdk_config(&sdk, config.table_name.clone())
            .with_audit_retention(time::Duration::days(config.audit_retention_days.into())),
    );
    let ports = Ports {
        plaid: plaid.clone(),
        store: store.clone(),
        audit: store,
        // KMS, SQS and Lambda clients are built on their first call: not every function makes one.
        vault: Arc::new(Lazy::new({
            let (sdk, key) = (sdk.clone(), config.kms_key_id.clone());
            move || KmsEnvelope::from_sdk_config(&sdk, key.clone())
        })),
        queue,
        continuation: Arc::new(Lazy::new({
            let (sdk, churn, sweep) =
                (sdk.clone(), config.churn.function_name.clone(), config.sweep.function_name.clone());
            move || SelfInvoke::new(aws_sdk_lambda::Client::new(&sdk), churn.clone(), sweep.clone())
        })),
        clock: Arc::new(SystemClock),
        bus: match &config.events.bus_name {
            Some(name) => {
                let (sdk, name) = (sdk.clone(), name.clone());
                Arc::new(Lazy::new(move || EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), name.clone())))
            }
            None => Arc::new(NoEventBus),
        },
    };
    let webhooks = WebhookVerifier::from_plaid(plaid);
    let mut services = Services::new(config, ports);
    if let Some(pseudonyms) = pseudonyms {
        services = services.with_pseudonyms(pseudonyms);
    }
    Ok(App { services, users, webhooks })
}
