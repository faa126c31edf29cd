//! [`LimitedPlaid`]: Plaid's per-client rate limits and its answer time around another Plaid double, for
//! simulations of long runs (the churn remover's month-end run under a virtual clock).
//!
//! A call over its endpoint's per-client limit (calls in the last 60 s of the clock, as Plaid and the
//! emulator count them; refused calls do not count) is answered RATE_LIMIT_EXCEEDED (429) without reaching
//! the inner double. An admitted call takes the latency (tokio time: virtual under `tokio::time::pause`),
//! half on its way to the inner double and half on the answer's way back, so a caller dropped in between
//! has had its call done at Plaid without seeing the answer. Every Plaid call is passed through this way.

use super::plaid::errors;
use crate::domain::{AccessToken, AccountId, InstitutionId, PublicToken};
use crate::ports::plaid::wire::{
    AccountsGetResponse, InstitutionsGetByIdOptions, InstitutionsGetByIdResponse, ItemAccessTokenInvalidateResponse,
    ItemGetResponse, ItemRemoveRequestOptions, ItemRemoveResponse, ItemWebhookUpdateResponse, LinkTokenCreateRequest,
    LinkTokenCreateResponse, PublicTokenExchangeResponse, TransactionsSyncOptions, TransactionsSyncResponse,
    WebhookVerificationKeyGetResponse,
};
use crate::ports::{
    PlaidApi, PlaidCallError, PlaidInstitutions, PlaidItems, PlaidLink, PlaidTransactions, PlaidWebhookKeys,
};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::plaid::endpoints::*;

/// The time since a simulation began. [`LimitedPlaid`] counts its windows on it.
pub type SimClock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Plaid's production per-client limit of `/item/remove`, calls per minute.
pub const PRODUCTION_ITEM_REMOVE_PER_MINUTE: u32 = 2_000;

const WINDOW: Duration = Duration::from_secs(60);

/// Rate limits and latency around a Plaid double (see the module docs).
pub struct LimitedPlaid {
    inner: Arc<dyn PlaidApi>,
    limits: HashMap<&'static str, u32>,
    latency: Duration,
    clock: SimClock,
    windows: Mutex<HashMap<&'static str, VecDeque<Duration>>>,
    refused: AtomicU64,
}

impl std::fmt::Debug for LimitedPlaid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitedPlaid").field("limits", &self.limits).field("latency", &self.latency).finish()
    }
}

impl LimitedPlaid {
    /// `inner` with no limit and no latency, windows on tokio's clock from now.
    pub fn new(inner: Arc<dyn PlaidApi>) -> Self {
        let start = tokio::time::Instant::now();
        Self {
            inner,
            limits: HashMap::new(),
            latency: Duration::ZERO,
            clock: Arc::new(move || start.elapsed()),
            windows: Mutex::default(),
            refused: AtomicU64::new(0),
        }
    }

    /// At most `per_minute` calls of `endpoint` (see [`super::plaid::endpoints`]) for the whole client.
    pub fn with_client_limit(mut self, endpoint: &'static str, per_minute: u32) -> Self {
        self.limits.insert(endpoint, per_minute);
        self
    }

    /// Every admitted call takes `latency` (Plaid's answer time).
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Windows counted on `clock` (for a simulation whose runs each have their own tokio runtime).
    pub fn with_clock(mut self, clock: SimClock) -> Self {
        self.clock = clock;
        self
    }

    /// Calls refused with a 429 so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Runs `call` as Plaid would answer it: limits, then half the latency, the call, the other half.
    async fn answer<T>(
        &self,
        endpoint: &'static str,
        call: impl std::future::Future<Output = Result<T, PlaidCallError>>,
    ) -> Result<T, PlaidCallError> {
        self.admit(endpoint)?;
        let half = self.latency / 2;
        if !half.is_zero() {
            tokio::time::sleep(half).await;
        }
        let answer = call.await;
        if !half.is_zero() {
            tokio::time::sleep(self.latency - half).await;
        }
        answer
    }

    fn admit(&self, endpoint: &'static str) -> Result<(), PlaidCallError> {
        if let Some(&limit) = self.limits.get(endpoint) {
            let now = (self.clock)();
            let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            let calls = windows.entry(endpoint).or_default();
            while calls.front().is_some_and(|t| *t + WINDOW <= now) {
                calls.pop_front();
            }
            if calls.len() >= limit as usize {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(errors::rate_limited(endpoint));
            }
            calls.push_back(now);
        }
        Ok(())
    }
}

#[async_trait]
impl PlaidLink for LimitedPlaid {
    async fn link_token_create(&self, req: &LinkTokenCreateRequest) -> Result<LinkTokenCreateResponse, PlaidCallError> {
        self.answer(LINK_TOKEN_CREATE, self.inner.link_token_create(req)).await
    }

    async fn link_token_get(
        &self,
        link_token: &crate::domain::LinkToken,
    ) -> Result<crate::ports::plaid::wire::LinkTokenGetResponse, PlaidCallError> {
        self.answer(LINK_TOKEN_GET, self.inner.link_token_get(link_token)).await
    }

    async fn item_public_token_exchange(
        &self,
        public_token: &PublicToken,
    ) -> Result<PublicTokenExchangeResponse, PlaidCallError> {
        self.answer(PUBLIC_TOKEN_EXCHANGE, self.inner.item_public_token_exchange(public_token)).await
    }
}

#[async_trait]
impl PlaidItems for LimitedPlaid {
    async fn item_get(&self, access_token: &AccessToken) -> Result<ItemGetResponse, PlaidCallError> {
        self.answer(ITEM_GET, self.inner.item_get(access_token)).await
    }

    async fn item_remove_with(
        &self,
        access_token: &AccessToken,
        options: &ItemRemoveRequestOptions,
    ) -> Result<ItemRemoveResponse, PlaidCallError> {
        self.answer(ITEM_REMOVE, self.inner.item_remove_with(access_token, options)).await
    }

    async fn item_access_token_invalidate(
        &self,
        access_token: &AccessToken,
    ) -> Result<ItemAccessTokenInvalidateResponse, PlaidCallError> {
        self.answer(ITEM_ACCESS_TOKEN_INVALIDATE, self.inner.item_access_token_invalidate(access_token)).await
    }

    async fn item_webhook_update(
        &self,
        access_token: &AccessToken,
        webhook: &str,
    ) -> Result<ItemWebhookUpdateResponse, PlaidCallError> {
        self.answer(ITEM_WEBHOOK_UPDATE, self.inner.item_webhook_update(access_token, webhook)).await
    }

    async fn accounts_get(
        &self,
        access_token: &AccessToken,
        account_ids: Option<&[AccountId]>,
    ) -> Result<AccountsGetResponse, PlaidCallError> {
        self.answer(ACCOUNTS_GET, self.inner.accounts_get(access_token, account_ids)).await
    }

    async fn accounts_balance_get(&self, access_token: &AccessToken) -> Result<AccountsGetResponse, PlaidCallError> {
        self.answer(ACCOUNTS_BALANCE_GET, self.inner.accounts_balance_get(access_token)).await
    }
}

#[async_trait]
impl PlaidTransactions for LimitedPlaid {
    async fn transactions_sync_with(
        &self,
        access_token: &AccessToken,
        cursor: Option<&str>,
        count: u32,
        options: &TransactionsSyncOptions,
    ) -> Result<TransactionsSyncResponse, PlaidCallError> {
        self.answer(TRANSACTIONS_SYNC, self.inner.transactions_sync_with(access_token, cursor, count, options)).await
    }
}

#[async_trait]
impl PlaidInstitutions for LimitedPlaid {
    async fn institutions_get_by_id_with(
        &self,
        institution_id: &InstitutionId,
        country_codes: &[String],
        options: &InstitutionsGetByIdOptions,
    ) -> Result<InstitutionsGetByIdResponse, PlaidCallError> {
        self.answer(
            INSTITUTIONS_GET_BY_ID,
            self.inner.institutions_get_by_id_with(institution_id, country_codes, options),
        )
        .await
    }
}

#[async_trait]
impl PlaidWebhookKeys for LimitedPlaid {
    async fn webhook_verification_key_get(
        &self,
        key_id: &str,
    ) -> Result<WebhookVerificationKeyGetResponse, PlaidCallError> {
        self.answer(WEBHOOK_VERIFICATION_KEY_GET, self.inner.webhook_verification_key_get(key_id)).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::doubles::{FixedClock, ScriptedPlaid, TestServices};

    #[tokio::test(start_paused = true)]
    async fn refuses_over_the_client_limit_per_sliding_minute_and_answers_late() {
        let scripted = Arc::new(ScriptedPlaid::new(Arc::new(FixedClock::new(TestServices::START))));
        let plaid = LimitedPlaid::new(scripted.clone())
            .with_client_limit(ITEM_REMOVE, 2)
            .with_latency(Duration::from_millis(300));
        let institution = crate::domain::Institution {
            institution_id: InstitutionId::parse("ins_1").unwrap(),
            name: "First Platypus Bank".into(),
        };
        let tokens: Vec<AccessToken> = (0..4).map(|_| scripted.add_item(&institution).1).collect();
        let started = tokio::time::Instant::now();
        plaid.item_remove(&tokens[0]).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(300), "Plaid's answer time");
        tokio::time::sleep(Duration::from_secs(30)).await;
        plaid.item_remove(&tokens[1]).await.unwrap();
        let refused = plaid.item_remove(&tokens[2]).await.unwrap_err();
        assert!(refused.is_rate_limited(), "{refused:?}");
        assert_eq!(plaid.refused(), 1);
        assert_eq!(scripted.calls(ITEM_REMOVE), 2, "a refused call does not reach Plaid");
        // The first call leaves the window 60 s after it was made.
        tokio::time::sleep(Duration::from_secs(30)).await;
        plaid.item_remove(&tokens[2]).await.unwrap();
        assert!(plaid.item_remove(&tokens[3]).await.unwrap_err().is_rate_limited());
    }
}
