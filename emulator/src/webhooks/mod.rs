//! Webhooks: Plaid's body serialisation, signing, asynchronous delivery with retries, and the
//! delivery log the control API exposes.
//!
//! [`Webhooks`] is the delivery component the emulator owns. It knows nothing of Items or keys:
//! what it needs from the emulator around it (the clock, a signature made with the current key)
//! it asks through [`Host`].

mod body;
mod delivery;
mod log;

pub use body::{Outgoing, body};
pub use delivery::{Host, WebhookConfig, Webhooks};
pub use log::{Attempt, Delivery, DeliveryStatus};
