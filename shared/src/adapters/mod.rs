//! Adapters: the ports implemented on real technology, one module per technology. SDK and HTTP types
//! never leave an adapter: callers see domain types, the ports' vocabulary and the ports' errors.
//!
//! | adapter | port | technology |
//! |---|---|---|
//! | [`plaid_http::PlaidClient`] | [`crate::ports::PlaidApi`] | Plaid's HTTP API (reqwest, rustls) |
//! | [`dynamodb::DynamoStore`] | [`crate::ports::Store`] | one DynamoDB table |
//! | [`kms::KmsEnvelope`] | [`crate::ports::KeyVault`] | AWS KMS data keys |
//! | [`secrets_manager::SecretCache`] | [`crate::ports::CredentialSource`] | AWS Secrets Manager |
//! | [`eventbridge::EventBridgeBus`] | [`crate::ports::EventBus`] | Amazon EventBridge (`PutEvents`) |
//! | [`sqs::SqsSyncQueue`] | [`crate::ports::SyncQueue`] | SQS FIFO |
//! | [`lambda::SelfInvoke`] | [`crate::ports::Continuation`] | Lambda asynchronous invocation |
//! | [`jwks_http::HttpJwks`] | [`crate::ports::JwksSource`] | the identity provider's JWKS over HTTP |
//!
//! Beside them, [`tls`]: the one rustls configuration every HTTPS client of a container shares, and
//! [`aws_http`]: the AWS SDK's HTTP client on it.

pub mod aws_http;
pub mod dynamodb;
pub mod eventbridge;
pub mod jwks_http;
pub mod kms;
pub mod lambda;
pub mod plaid_http;
pub mod secrets_manager;
pub mod sqs;
pub mod tls;
