//! The endpoints the client calls: their paths, how far a failed call may be retried, and the call counter.

use crate::ports::PlaidCallError;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The endpoints, for the call counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    LinkTokenCreate,
    LinkTokenGet,
    PublicTokenExchange,
    ItemGet,
    ItemRemove,
    AccountsGet,
    AccountsBalanceGet,
    InstitutionsGetById,
    TransactionsSync,
    WebhookVerificationKeyGet,
    ItemWebhookUpdate,
    ItemAccessTokenInvalidate,
}

impl Endpoint {
    const ALL: [Endpoint; 12] = [
        Self::LinkTokenCreate,
        Self::LinkTokenGet,
        Self::PublicTokenExchange,
        Self::ItemGet,
        Self::ItemRemove,
        Self::AccountsGet,
        Self::AccountsBalanceGet,
        Self::InstitutionsGetById,
        Self::TransactionsSync,
        Self::WebhookVerificationKeyGet,
        Self::ItemWebhookUpdate,
        Self::ItemAccessTokenInvalidate,
    ];

    pub(super) fn path(self) -> &'static str {
        match self {
            Self::LinkTokenCreate => "/link/token/create",
            Self::LinkTokenGet => "/link/token/get",
            Self::PublicTokenExchange => "/item/public_token/exchange",
            Self::ItemGet => "/item/get",
            Self::ItemRemove => "/item/remove",
            Self::AccountsGet => "/accounts/get",
            Self::AccountsBalanceGet => "/accounts/balance/get",
            Self::InstitutionsGetById => "/institutions/get_by_id",
            Self::TransactionsSync => "/transactions/sync",
            Self::WebhookVerificationKeyGet => "/webhook_verification_key/get",
            Self::ItemWebhookUpdate => "/item/webhook/update",
            Self::ItemAccessTokenInvalidate => "/item/access_token/invalidate",
        }
    }

    /// How far a failed call may be retried.
    pub(super) fn retry(self) -> Retry {
        match self {
            // Single use: once the request may have reached Plaid, a second one can only meet
            // INVALID_PUBLIC_TOKEN (and the item the first one created would be unreachable).
            // Same for a token rotation: the answer holds the only working access token.
            Self::PublicTokenExchange | Self::ItemAccessTokenInvalidate => Retry::NotIfMaybeProcessed,
            _ => Retry::Transient,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// 429, 5xx, connect errors, timeouts, broken connections.
    Transient,
    /// Only what provably did not run at Plaid: a connect error (nothing was sent), 429 (refused before
    /// processing) and 503 (planned maintenance).
    NotIfMaybeProcessed,
}

/// HTTP requests sent per endpoint (every attempt counts: it is what Plaid sees and rate-limits).
#[derive(Debug, Default)]
pub(super) struct CallCounter([AtomicU64; Endpoint::ALL.len()]);

impl CallCounter {
    pub(super) fn add(&self, endpoint: Endpoint) {
        if let Some(i) = Endpoint::ALL.iter().position(|e| *e == endpoint) {
            self.0[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    pub(super) fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        Endpoint::ALL.iter().zip(&self.0).map(|(e, c)| (e.path(), c.load(Ordering::Relaxed))).collect()
    }
}

pub(super) fn retryable(retry: Retry, error: &PlaidCallError) -> bool {
    match (retry, error) {
        (Retry::Transient, e) => match e {
            PlaidCallError::Api { error, .. } => error.is_rate_limited() || error.is_server_error(),
            PlaidCallError::Status { status, .. } => *status == 429 || *status >= 500,
            PlaidCallError::Timeout { .. } | PlaidCallError::Transport { .. } | PlaidCallError::Connect { .. } => true,
            _ => false,
        },
        (Retry::NotIfMaybeProcessed, e) => match e {
            PlaidCallError::Api { error, .. } => error.is_rate_limited() || error.status == Some(503),
            PlaidCallError::Status { status, .. } => *status == 429 || *status == 503,
            PlaidCallError::Connect { .. } => true,
            _ => false,
        },
    }
}
