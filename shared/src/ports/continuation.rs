//! Continuing a long job in a new invocation: the churn remover and the reconciliation sweep stop a margin
//! before their deadline and ask to be run again with their run id, so a run of any size completes
//! invocation after invocation.
//!
//! Adapter: [`crate::adapters::lambda::SelfInvoke`] (asynchronous Lambda invocation of the function itself).

use crate::domain::{ChurnInput, SweepInput};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum ContinuationError {
    /// Nowhere to continue (the function's own name is not configured): the run stays paused until invoked
    /// again.
    #[error("no continuation is configured")]
    NotConfigured,
    #[error("could not start the continuation")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[async_trait]
pub trait Continuation: Send + Sync {
    /// Runs the churn remover again, later, with `next` (the same run id).
    async fn continue_churn(&self, next: &ChurnInput) -> Result<(), ContinuationError>;

    /// Runs the reconciliation sweep again, later, with `next` (the same run id).
    async fn continue_sweep(&self, next: &SweepInput) -> Result<(), ContinuationError>;
}
