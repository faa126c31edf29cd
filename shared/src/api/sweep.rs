//! The reconciliation sweep's edge: a [`SweepInput`] in (the schedule sends `{}`: a new, real run), the
//! invocation's summary out. Failures are typed errors the Lambda runtime reports (`errorType`,
//! `errorMessage`).

use super::App;
use crate::domain::SweepInput;
use crate::services::ServiceError;
use crate::services::sweep::{self, SweepSummary};
use lambda_runtime::{Diagnostic, LambdaEvent};
use std::time::SystemTime;

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The event is not a sweep input.
    #[error("invalid sweep input: {0}")]
    InvalidInput(#[source] serde_json::Error),
    /// The input was refused (a bad value, an unknown run) or the run failed.
    #[error("sweep failed")]
    Run(#[source] ServiceError),
}

impl From<SweepError> for Diagnostic {
    fn from(e: SweepError) -> Self {
        let error_type = match &e {
            SweepError::InvalidInput(_) | SweepError::Run(ServiceError::Invalid(_)) => "InvalidSweepInput",
            SweepError::Run(_) => "SweepFailed",
        };
        Diagnostic { error_type: error_type.to_owned(), error_message: crate::telemetry::chain(&e) }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<serde_json::Value>) -> Result<SweepSummary, SweepError> {
    let input: SweepInput = serde_json::from_value(event.payload).map_err(SweepError::InvalidInput)?;
    let remaining = event.context.deadline().duration_since(SystemTime::now()).ok();
    sweep::invoke(&app.services, input, remaining).await.map_err(|e| {
        tracing::error!(event = "sweep_failed", error = %crate::telemetry::chain(&e), "sweep failed");
        SweepError::Run(e)
    })
}
