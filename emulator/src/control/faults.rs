//! Injected faults: arm, list, clear.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::{Control, Shared, body_of, control, reply};
use crate::api::Endpoint;
use crate::faults::{Fault, FaultSpec};
use crate::wire::PlaidError;

impl Control {
    /// Arms a fault; returns its id.
    pub fn inject_fault(&self, spec: FaultSpec) -> Result<u64, PlaidError> {
        if spec.endpoint != "*" && Endpoint::from_path(&spec.endpoint).is_none() {
            return Err(PlaidError::invalid_field(format!(
                "endpoint {} is not an emulated Plaid endpoint",
                spec.endpoint
            )));
        }
        self.app.lock_faults().add(spec)
    }

    /// The armed faults, oldest first.
    pub fn faults(&self) -> Vec<Fault> {
        self.app.lock_faults().list()
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.app.lock_faults().clear();
    }
}

pub async fn list(State(app): Shared) -> Response {
    reply(Ok(json!({"faults": control(&app).faults()})))
}

pub async fn add(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: FaultSpec = body_of(&app, &headers, body).await?;
        let id = control(&app).inject_fault(req)?;
        Ok(json!({"fault_id": id}))
    }
    .await;
    reply(result)
}

pub async fn clear(State(app): Shared) -> Response {
    control(&app).clear_faults();
    reply(Ok(json!({"faults": []})))
}
