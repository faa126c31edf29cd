//! The local stack and the end-to-end harness.
//!
//! [`stack::LocalStack`] starts (or reuses) every stand-in the functions need, all on loopback ports picked
//! at run time: moto's server for DynamoDB / KMS / Secrets Manager / SQS, the Plaid emulator, the dev OIDC
//! issuer, and `cargo lambda watch` serving the functions. It provisions the table, key and secret from
//! `infra/template.yaml` (through `infra/local/provision.py`), so what runs locally is what gets deployed.
//! The `local-stack` binary runs it with a demo; the end-to-end tests in `tests/` start their own.

pub mod app_client;
pub mod bench;
pub mod dev_issuer;
pub mod emulator;
pub mod event_tap;
pub mod flows;
pub mod gateway;
pub mod http;
pub mod lambda;
pub mod moto;
pub mod procs;
pub mod provision;
pub mod seed;
pub mod sqs_trigger;
pub mod stack;
