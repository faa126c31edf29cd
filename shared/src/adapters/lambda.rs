//! [`SelfInvoke`]: continues a churn run or a sweep by invoking this Lambda function again, asynchronously
//! (`InvocationType::Event`), with the run id.

use crate::domain::{ChurnInput, SweepInput};
use crate::ports::{Continuation, ContinuationError};
use async_trait::async_trait;

pub struct SelfInvoke {
    client: aws_sdk_lambda::Client,
    /// The churn remover's and the sweep's function names; `None` where not configured (a run then stays
    /// paused until invoked). Each function is configured with its own name only.
    churn_function: Option<String>,
    sweep_function: Option<String>,
}

impl SelfInvoke {
    pub fn new(client: aws_sdk_lambda::Client, churn_function: Option<String>, sweep_function: Option<String>) -> Self {
        Self { client, churn_function, sweep_function }
    }
}

impl SelfInvoke {
    async fn invoke(&self, function: Option<&String>, next: &impl serde::Serialize) -> Result<(), ContinuationError> {
        let Some(function) = function else { return Err(ContinuationError::NotConfigured) };
        let payload = serde_json::to_vec(next).map_err(|e| ContinuationError::Backend(Box::new(e)))?;
        self.client
            .invoke()
            .function_name(function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| ContinuationError::Backend(Box::new(aws_sdk_lambda::Error::from(e))))?;
        Ok(())
    }
}

#[async_trait]
impl Continuation for SelfInvoke {
    async fn continue_churn(&self, next: &ChurnInput) -> Result<(), ContinuationError> {
        self.invoke(self.churn_function.as_ref(), next).await
    }

    async fn continue_sweep(&self, next: &SweepInput) -> Result<(), ContinuationError> {
        self.invoke(self.sweep_function.as_ref(), next).await
    }
}

/// No continuation (local tools, tests): a run stopped by the deadline stays paused until invoked again.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoContinuation;

#[async_trait]
impl Continuation for NoContinuation {
    async fn continue_churn(&self, _next: &ChurnInput) -> Result<(), ContinuationError> {
        Err(ContinuationError::NotConfigured)
    }

    async fn continue_sweep(&self, _next: &SweepInput) -> Result<(), ContinuationError> {
        Err(ContinuationError::NotConfigured)
    }
}
