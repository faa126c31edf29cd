//! Fault injection: make the next N calls of an endpoint fail (500, 503, 429, any Plaid error) or
//! stall, optionally only for one Item / access token so parallel tests do not interfere.

use serde::{Deserialize, Serialize};

use crate::ratelimit::limit_code;
use crate::wire::{ErrorType, PlaidError};

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 API_ERROR INTERNAL_SERVER_ERROR.
    InternalServerError,
    /// 503 API_ERROR PLANNED_MAINTENANCE.
    PlannedMaintenance,
    /// 429 RATE_LIMIT_EXCEEDED with the endpoint's code.
    RateLimit,
    /// Wait `stall_ms`, then answer normally (a client that hangs up meanwhile cancels the call: nothing
    /// happens).
    Stall,
    /// Do what the call does at once, then answer `stall_ms` later (Plaid acted; its answer is late, or
    /// never reaches a client that hangs up first).
    Late,
    /// The Plaid error given in `error`.
    Error,
}

/// A custom error for [`FaultKind::Error`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomError {
    /// HTTP status, 400..=599.
    pub status: u16,
    /// A Plaid `error_type`, e.g. `ITEM_ERROR`.
    pub error_type: String,
    /// Any `error_code`; documented ones get Plaid's texts.
    pub error_code: String,
    /// `error_message` (default: Plaid's for a documented code, else `injected <code>`).
    #[serde(default)]
    pub error_message: Option<String>,
}

/// A fault as the control API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Endpoint path (e.g. `/transactions/sync`), or `*` for every Plaid endpoint.
    pub endpoint: String,
    /// What the fault does.
    pub kind: FaultKind,
    /// How many calls it affects (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// For `stall`: how long.
    #[serde(default)]
    pub stall_ms: Option<u64>,
    /// Only calls carrying this access token.
    #[serde(default)]
    pub access_token: Option<String>,
    /// Only calls for this Item.
    #[serde(default)]
    pub item_id: Option<String>,
    /// For `error`.
    #[serde(default)]
    pub error: Option<CustomError>,
}

fn one() -> u32 {
    1
}

/// An armed fault.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    /// The id [`inject_fault`](crate::Control::inject_fault) returned.
    pub id: u64,
    /// The fault as it was armed.
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Calls still to affect.
    pub remaining: u32,
}

/// What the pipeline must do for a call.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    Fail(PlaidError),
    Stall(std::time::Duration),
    /// Answer this much later, after acting.
    Late(std::time::Duration),
}

/// The armed faults.
#[derive(Debug, Default)]
pub struct Faults {
    next_id: u64,
    armed: Vec<Fault>,
}

impl Faults {
    /// Arms a fault; returns its id.
    pub fn add(&mut self, spec: FaultSpec) -> Result<u64, PlaidError> {
        if spec.kind == FaultKind::Error {
            let Some(e) = &spec.error else {
                return Err(PlaidError::invalid_field("error is required for kind \"error\""));
            };
            if ErrorType::parse(&e.error_type).is_none() || !(400..=599).contains(&e.status) {
                return Err(PlaidError::invalid_field(
                    "error.error_type must be a Plaid error type and error.status 400..599",
                ));
            }
        }
        if matches!(spec.kind, FaultKind::Stall | FaultKind::Late) && spec.stall_ms.is_none() {
            return Err(PlaidError::invalid_field("stall_ms is required for kinds \"stall\" and \"late\""));
        }
        self.next_id += 1;
        let remaining = spec.count;
        self.armed.push(Fault { id: self.next_id, spec, remaining });
        Ok(self.next_id)
    }

    pub fn list(&self) -> Vec<Fault> {
        self.armed.clone()
    }

    pub fn clear(&mut self) {
        self.armed.clear();
    }

    /// Consumes the first matching fault for a call, if any.
    pub fn take(&mut self, path: &str, access_token: Option<&str>, item_id: Option<&str>) -> Option<FaultAction> {
        let idx = self.armed.iter().position(|f| {
            (f.spec.endpoint == "*" || f.spec.endpoint == path)
                && f.spec.access_token.as_deref().is_none_or(|t| Some(t) == access_token)
                && f.spec.item_id.as_deref().is_none_or(|i| Some(i) == item_id)
        })?;
        let fault = &mut self.armed[idx];
        fault.remaining = fault.remaining.saturating_sub(1);
        let action = action_of(&fault.spec, path);
        if fault.remaining == 0 {
            self.armed.remove(idx);
        }
        Some(action)
    }
}

fn action_of(spec: &FaultSpec, path: &str) -> FaultAction {
    match spec.kind {
        FaultKind::InternalServerError => FaultAction::Fail(PlaidError::internal()),
        FaultKind::PlannedMaintenance => FaultAction::Fail(PlaidError::planned_maintenance()),
        FaultKind::RateLimit => {
            let per_item = path != "/institutions/get_by_id";
            FaultAction::Fail(PlaidError::rate_limit(limit_code(path, per_item), path))
        }
        FaultKind::Stall => FaultAction::Stall(std::time::Duration::from_millis(spec.stall_ms.unwrap_or(0))),
        FaultKind::Late => FaultAction::Late(std::time::Duration::from_millis(spec.stall_ms.unwrap_or(0))),
        FaultKind::Error => {
            let Some(e) = &spec.error else {
                return FaultAction::Fail(PlaidError::internal());
            };
            let error_type = ErrorType::parse(&e.error_type).unwrap_or(ErrorType::ApiError);
            // Without a message, a documented code gets Plaid's texts (message and display).
            let mut error = PlaidError::documented(&e.error_code)
                .filter(|d| d.error_type == error_type)
                .unwrap_or_else(|| PlaidError::new(error_type, &e.error_code, format!("injected {}", e.error_code)))
                .with_status(e.status);
            if let Some(message) = &e.error_message {
                error.error_message = message.clone();
            }
            FaultAction::Fail(error)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn spec(kind: FaultKind, count: u32) -> FaultSpec {
        FaultSpec {
            endpoint: "/item/get".into(),
            kind,
            count,
            stall_ms: None,
            access_token: None,
            item_id: None,
            error: None,
        }
    }

    #[test]
    fn counts_down_and_scopes() {
        let mut f = Faults::default();
        f.add(spec(FaultKind::InternalServerError, 2)).unwrap();
        f.add(FaultSpec { access_token: Some("tok".into()), ..spec(FaultKind::PlannedMaintenance, 1) }).unwrap();
        assert!(f.take("/accounts/get", None, None).is_none());
        let Some(FaultAction::Fail(e)) = f.take("/item/get", None, None) else { panic!() };
        assert_eq!(e.http_status, 500);
        assert!(f.take("/item/get", None, None).is_some());
        assert!(f.take("/item/get", Some("other"), None).is_none());
        let Some(FaultAction::Fail(e)) = f.take("/item/get", Some("tok"), None) else { panic!() };
        assert_eq!((e.http_status, e.error_code.as_str()), (503, "PLANNED_MAINTENANCE"));
        assert!(f.list().is_empty());
    }
}
