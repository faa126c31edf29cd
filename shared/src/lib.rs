//! weft core: everything the Lambda functions share. Data flows one way:
//! `functions -> api -> services -> ports <- adapters`, with [`compose`] wiring adapters into services.
//!
//! - [`domain`]: the values the product talks about (users, items, accounts, transactions, sealing, the
//!   item state machine, the churn policy), parsed once at the edge. Pure.
//! - [`ports`]: small capability traits for what the services need from the outside world, and the
//!   vocabulary they speak (Plaid's wire model). Depend on [`domain`] only.
//! - [`adapters`]: the ports on real technology, one module per technology (Plaid over HTTP, DynamoDB,
//!   KMS, Secrets Manager, SQS, Lambda, the issuer's JWKS).
//! - [`services`]: the use cases, written against the ports.
//! - [`auth`]: who is calling: app users' bearer tokens, Plaid's webhook signatures.
//! - [`api`]: each function's edge: events in, service calls, answers out; errors to HTTP in one place.
//! - [`config`]: the environment, read once into a typed, validated [`config::Config`].
//! - [`compose`]: builds the adapters from config and wires the [`api::App`] a function runs.
//! - [`telemetry`]: JSON logs and metric lines for CloudWatch.
//! - `doubles` (feature `doubles`): in-memory doubles of every port, for fast service tests.

pub mod adapters;
pub mod api;
pub mod auth;
pub mod compose;
pub mod config;
pub mod domain;
#[cfg(any(test, feature = "doubles"))]
pub mod doubles;
pub mod ports;
pub mod services;
pub mod telemetry;
