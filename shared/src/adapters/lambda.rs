//! [`SelfInvoke`]: continues a churn run by invoking this Lambda function again, asynchronously
//! (`InvocationType::Event`), with the run id.

use crate::domain::ChurnInput;
use crate::ports::{ChurnContinuation, ContinuationError};
use async_trait::async_trait;

pub struct SelfInvoke {
    client: aws_sdk_lambda::Client,
    /// The function's own name; `None` where it is not configured (a run then stays paused until invoked).
    function_name: Option<String>,
}

impl SelfInvoke {
    pub fn new(client: aws_sdk_lambda::Client, function_name: Option<String>) -> Self {
        Self { client, function_name }
    }
}

#[async_trait]
impl ChurnContinuation for SelfInvoke {
    async fn continue_churn(&self, next: &ChurnInput) -> Result<(), ContinuationError> {
        let Some(function) = &self.function_name else { return Err(ContinuationError::NotConfigured) };
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

/// No continuation (local tools, tests): a run stopped by the deadline stays paused until invoked again.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoContinuation;

#[async_trait]
impl ChurnContinuation for NoContinuation {
    async fn continue_churn(&self, _next: &ChurnInput) -> Result<(), ContinuationError> {
        Err(ContinuationError::NotConfigured)
    }
}
