//! Rate limits: read them, change them.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Control, Shared, body_of, control, reply};
use crate::api::Endpoint;
use crate::ratelimit::{Limit, RateLimits};
use crate::wire::PlaidError;

/// Body of `POST /__emulator/rate_limits`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitsBody {
    /// Limits to set, per endpoint path.
    #[serde(default)]
    limits: BTreeMap<String, Limit>,
    /// Drop every limit before applying `limits`.
    #[serde(default)]
    replace: bool,
    /// Restore Plaid's defaults before applying `limits`.
    #[serde(default)]
    defaults: bool,
}

impl Control {
    /// The rate limits in force.
    pub fn rate_limits(&self) -> RateLimits {
        self.app.lock_limiter().limits.clone()
    }

    /// Replaces the rate limits (and resets the counters).
    pub fn set_rate_limits(&self, limits: RateLimits) {
        let mut limiter = self.app.lock_limiter();
        limiter.limits = limits;
        limiter.reset();
    }
}

pub async fn get(State(app): Shared) -> Response {
    reply(Ok(json!({"limits": control(&app).rate_limits()})))
}

pub async fn set(State(app): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: RateLimitsBody = body_of(&app, &headers, body).await?;
        for path in req.limits.keys() {
            if Endpoint::from_path(path).is_none() {
                return Err(PlaidError::invalid_field(format!("{path} is not an emulated Plaid endpoint")));
            }
        }
        let c = control(&app);
        let mut limits = if req.defaults {
            RateLimits::default()
        } else if req.replace {
            RateLimits::unlimited()
        } else {
            c.rate_limits()
        };
        limits.0.extend(req.limits);
        c.set_rate_limits(limits.clone());
        Ok(json!({"limits": limits}))
    }
    .await;
    reply(result)
}
