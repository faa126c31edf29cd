//! The churn remover's edge: a [`ChurnInput`] in (the schedule sends `{}`: a new, real run), the run's
//! summary out. Failures are typed errors the Lambda runtime reports (`errorType`, `errorMessage`).

use super::App;
use crate::domain::ChurnInput;
use crate::services::ServiceError;
use crate::services::churn::{self, ChurnSummary};
use lambda_runtime::{Diagnostic, LambdaEvent};
use std::time::SystemTime;

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChurnError {
    /// The event is not a churn input.
    #[error("invalid churn input: {0}")]
    InvalidInput(#[source] serde_json::Error),
    /// The input was refused (a bad value) or the run failed.
    #[error("churn run failed")]
    Run(#[source] ServiceError),
}

impl From<ChurnError> for Diagnostic {
    fn from(e: ChurnError) -> Self {
        let error_type = match &e {
            ChurnError::InvalidInput(_) | ChurnError::Run(ServiceError::Invalid(_)) => "InvalidChurnInput",
            ChurnError::Run(_) => "ChurnRunFailed",
        };
        Diagnostic { error_type: error_type.to_owned(), error_message: crate::telemetry::chain(&e) }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<serde_json::Value>) -> Result<ChurnSummary, ChurnError> {
    let input: ChurnInput = serde_json::from_value(event.payload).map_err(ChurnError::InvalidInput)?;
    let remaining = event.context.deadline().duration_since(SystemTime::now()).ok();
    churn::invoke(&app.services, input, remaining).await.map_err(|e| {
        tracing::error!(event = "churn_failed", error = %crate::telemetry::chain(&e), "churn run failed");
        ChurnError::Run(e)
    })
}
