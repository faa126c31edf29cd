//! The Plaid API credentials: a Secrets Manager secret `{"client_id": "...", "secret": "..."}`, fetched
//! once per container and kept in memory, refetched on demand when Plaid says the keys are wrong (the
//! secret was rotated).

use crate::ports::{CredentialError, CredentialSource, PlaidCredentials};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Mutex, RwLock};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("Secrets Manager GetSecretValue for {secret_id} failed: {message}")]
    Fetch {
        secret_id: String,
        message: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("secret {secret_id} has no string value")]
    NoString { secret_id: String },
    /// Deliberately without the parser's message, which could quote the secret.
    #[error("secret {secret_id} is not JSON {{\"client_id\": \"…\", \"secret\": \"…\"}} with non-empty strings")]
    Malformed { secret_id: String },
    /// The pseudonym key is shorter than 32 bytes.
    #[error("secret {secret_id} is too short for a pseudonym key (at least 32 characters)")]
    WeakKey { secret_id: String },
}

enum Source {
    SecretsManager { client: aws_sdk_secretsmanager::Client, secret_id: String },
    Fixed(Arc<PlaidCredentials>),
}

/// The current credentials, with a generation number that changes on every fetch.
type Current = Option<(u64, Arc<PlaidCredentials>)>;

/// The credentials of this container.
pub struct SecretCache {
    source: Source,
    current: RwLock<Current>,
    /// One fetch at a time: concurrent callers of a cold cache or of `refresh` share one call.
    fetching: Mutex<()>,
    calls: AtomicU64,
}

impl fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::SecretsManager { secret_id, .. } => write!(f, "SecretCache({secret_id})"),
            Source::Fixed(_) => f.write_str("SecretCache(fixed)"),
        }
    }
}

/// Parses the secret's JSON (the raw text is zeroized when dropped).
pub fn parse_credentials(secret_id: &str, raw: &str) -> Result<PlaidCredentials, SecretsError> {
    let malformed = || SecretsError::Malformed { secret_id: secret_id.to_owned() };
    let creds: PlaidCredentials = serde_json::from_str(raw).map_err(|_| malformed())?;
    use secrecy::ExposeSecret;
    if creds.client_id.trim().is_empty() || creds.secret.expose_secret().trim().is_empty() {
        return Err(malformed());
    }
    Ok(creds)
}

impl SecretCache {
    /// Credentials from the secret `secret_id` (id or ARN), fetched on first use.
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self::with_source(Source::SecretsManager { client, secret_id: secret_id.into() }, None)
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        Self::new(aws_sdk_secretsmanager::Client::new(sdk), secret_id)
    }

    /// Fixed credentials, no AWS (tests, local tools). `refresh` returns them again.
    pub fn fixed(credentials: PlaidCredentials) -> Self {
        let creds = Arc::new(credentials);
        Self::with_source(Source::Fixed(creds.clone()), Some((0, creds)))
    }

    fn with_source(source: Source, current: Current) -> Self {
        Self { source, current: RwLock::new(current), fetching: Mutex::new(()), calls: AtomicU64::new(0) }
    }

    /// The cached credentials, fetched first if this container has none yet.
    pub async fn get(&self) -> Result<Arc<PlaidCredentials>, SecretsError> {
        if let Some((_, creds)) = &*self.current.read().await {
            return Ok(creds.clone());
        }
        self.fetch_unless_changed(None).await
    }

    /// Fetches the secret again (after Plaid's `INVALID_API_KEYS`: it may have been rotated). Callers that
    /// ask while a refresh is under way get that refresh's result, not another call.
    pub async fn reload(&self) -> Result<Arc<PlaidCredentials>, SecretsError> {
        let seen = self.current.read().await.as_ref().map(|(generation, _)| *generation);
        self.fetch_unless_changed(Some(seen)).await
    }

    /// GetSecretValue calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Fetches, unless the credentials changed since the caller looked (`seen`: the generation it saw;
    /// `None`: it saw nothing cached and any cached value will do).
    async fn fetch_unless_changed(&self, seen: Option<Option<u64>>) -> Result<Arc<PlaidCredentials>, SecretsError> {
        let _one_at_a_time = self.fetching.lock().await;
        let now = self.current.read().await.clone();
        match (&now, seen) {
            (Some((_, creds)), None) => return Ok(creds.clone()),
            (Some((generation, creds)), Some(seen)) if Some(*generation) != seen => return Ok(creds.clone()),
            _ => {}
        }
        let creds = Arc::new(self.fetch().await?);
        let generation = now.map_or(1, |(g, _)| g + 1);
        *self.current.write().await = Some((generation, creds.clone()));
        Ok(creds)
    }

    async fn fetch(&self) -> Result<PlaidCredentials, SecretsError> {
        let (client, secret_id) = match &self.source {
            Source::Fixed(creds) => return Ok(PlaidCredentials::clone(creds)),
            Source::SecretsManager { client, secret_id } => (client, secret_id),
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut out = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| SecretsError::Fetch {
            secret_id: secret_id.clone(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
            source: Box::new(e),
        })?;
        let raw = Zeroizing::new(
            out.secret_string.take().ok_or_else(|| SecretsError::NoString { secret_id: secret_id.clone() })?,
        );
        parse_credentials(secret_id, &raw)
    }
}

/// The deployment's user pseudonym key: the secret's string, fetched once at init.
pub async fn pseudonym_key(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<crate::domain::UserPseudonyms, SecretsError> {
    let mut out = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| SecretsError::Fetch {
        secret_id: secret_id.to_owned(),
        message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        source: Box::new(e),
    })?;
    let raw = Zeroizing::new(
        out.secret_string.take().ok_or_else(|| SecretsError::NoString { secret_id: secret_id.to_owned() })?,
    );
    crate::domain::UserPseudonyms::new(raw.as_bytes())
        .map_err(|_| SecretsError::WeakKey { secret_id: secret_id.to_owned() })
}

/// The container's Secrets Manager cache is the production source of the Plaid client's credentials.
#[async_trait::async_trait]
impl CredentialSource for SecretCache {
    async fn current(&self) -> Result<Arc<PlaidCredentials>, CredentialError> {
        self.get().await.map_err(|e| CredentialError::with_source("loading the Plaid secret", e))
    }
    async fn refresh(&self) -> Result<Arc<PlaidCredentials>, CredentialError> {
        self.reload().await.map_err(|e| CredentialError::with_source("reloading the Plaid secret", e))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn parses_and_redacts() {
        let creds = parse_credentials("s", r#"{"client_id":"cid","secret":"shh-very-secret"}"#).unwrap();
        assert_eq!(creds.client_id, "cid");
        assert_eq!(creds.secret.expose_secret(), "shh-very-secret");
        assert!(!format!("{creds:?}").contains("shh"));
    }

    #[test]
    fn malformed_secrets_are_not_quoted() {
        for raw in [
            r#"{"client_id":"cid"}"#,
            r#"{"client_id":"cid","secret":5}"#,
            "shh-not-json",
            r#"{"client_id":"","secret":"x"}"#,
        ] {
            let err = parse_credentials("weft/dev/plaid", raw).unwrap_err();
            assert!(matches!(err, SecretsError::Malformed { .. }));
            assert!(!err.to_string().contains("shh"));
            assert!(std::error::Error::source(&err).is_none());
        }
    }

    #[tokio::test]
    async fn fixed_credentials() {
        let cache = SecretCache::fixed(parse_credentials("s", r#"{"client_id":"c","secret":"s"}"#).unwrap());
        assert_eq!(cache.get().await.unwrap().client_id, "c");
        assert_eq!(cache.reload().await.unwrap().client_id, "c");
        assert_eq!(cache.calls(), 0);
    }
}
