//! weft core: everything the Lambda functions share.
//!
//! - [`domain`]: the values the product talks about (users, items, accounts, transactions), parsed once at the edge.
//! - [`ports`]: small traits for what the services need from the outside world.
//! - adapters, one module per technology: [`plaid`] (HTTP client), [`store`] (DynamoDB), [`crypto`] (KMS envelope
//!   encryption), [`config`] (environment + Secrets Manager), [`auth`] (app users' OIDC bearer tokens),
//!   [`webhook`] (Plaid webhook verification).
//! - [`services`]: the use cases each function runs, written against the ports.
//! - [`http`]: the one place errors become HTTP responses.
//! - [`telemetry`]: JSON logs for CloudWatch.

pub mod api;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod plaid;
pub mod ports;
pub mod queue;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod webhook;
