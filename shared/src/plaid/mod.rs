//! The Plaid adapter: [`PlaidClient`] implements [`crate::ports::PlaidApi`] over HTTP.
//!
//! - One pooled `reqwest::Client` per container (connect timeout 3 s, per-attempt timeout 15 s by default).
//! - Headers `PLAID-CLIENT-ID`, `PLAID-SECRET` (marked sensitive), `Plaid-Version: 2020-09-14`; credentials
//!   come from a [`crate::ports::CredentialSource`] and are refreshed once on INVALID_API_KEYS.
//! - Typed bodies in [`types`]; Plaid's error object is [`PlaidError`], inside [`PlaidClientError::Api`].
//! - Retries with jittered exponential backoff for 429, 5xx, timeouts and broken connections only, never
//!   for other 4xx.
//!
//! ## `/item/public_token/exchange` and retries
//! A public token is single use. If a response is lost after Plaid processed the exchange, a retry can only
//! get INVALID_PUBLIC_TOKEN, and the item the first attempt created is unreachable (its access token was in
//! the lost response) while Plaid bills it. So the exchange is retried only when the first attempt
//! provably did not run: a connect error (nothing was sent), 429, or 503 (maintenance). A timeout or a
//! connection broken after sending is returned at once as [`PlaidClientError::Timeout`] /
//! [`PlaidClientError::Transport`] and logged as `plaid_exchange_outcome_unknown`; the service answers
//! "retry", the app's retry with the same public token meets INVALID_PUBLIC_TOKEN if Plaid did run it, and
//! the service maps that to "link again". The rare orphaned item then announces itself through webhooks
//! for an unknown `item_id`.

mod client;
mod error;
pub mod types;

pub use client::{PLAID_VERSION, PlaidClient, PlaidClientConfig};
pub use error::{PlaidClientError, PlaidError};
