//! Who is calling: the edge's checks of the two kinds of caller, before anything else runs.
//!
//! - [`bearer`]: the app's users, by their OIDC bearer JWT ([`AuthVerifier`]).
//! - [`webhook`]: Plaid, by the `Plaid-Verification` JWT on its webhooks ([`WebhookVerifier`]).
//!
//! Both fetch their keys through ports ([`crate::ports::JwksSource`], [`crate::ports::PlaidWebhookKeys`])
//! and cache them per container. Nothing here logs a token or a body.

pub mod bearer;
pub mod webhook;

pub use bearer::{AuthError, AuthOptions, AuthVerifier, Caller};
pub use webhook::{VerifyError, WebhookVerifier, WebhookVerifierConfig};
