//! Plaid webhook verification: [`WebhookVerifier`] checks the `Plaid-Verification` JWS exactly as Plaid
//! documents it and turns the verified body into a typed [`WebhookEvent`].
//!
//! Refusals carry a reason code ([`VerifyError::reason`]); only [`VerifyError::KeyFetchFailed`] is
//! retryable (answer 5xx so Plaid delivers again), every other refusal is a 401. Nothing here logs the JWT
//! or the body.

mod clock;
mod event;
mod keys;
mod verifier;

pub use clock::{Clock, FixedClock, SystemClock};
pub use event::WebhookEvent;
pub use keys::{KeyFetchError, PlaidKeySource, WebhookKeySource};
pub use verifier::{VerifiedWebhook, VerifyError, WebhookVerifier, WebhookVerifierConfig};
