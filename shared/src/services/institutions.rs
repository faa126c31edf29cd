//! Institution health from `/institutions/get_by_id` with `include_status`, cached per container for a
//! few minutes (Plaid allows few calls per minute to this endpoint, and health moves slowly).

use super::{ServiceError, Services};
use crate::domain::InstitutionId;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a health answer is reused.
pub const TTL: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct HealthCache {
    entries: Mutex<HashMap<InstitutionId, (Instant, Value)>>,
}

pub async fn health(app: &Services, id: &InstitutionId) -> Result<Value, ServiceError> {
    if let Some((at, v)) = app.institution_health.entries.lock().await.get(id)
        && at.elapsed() < TTL
    {
        return Ok(v.clone());
    }
    let institution =
        app.plaid.institutions_get_by_id(id, &app.config.plaid.country_codes, true).await.map_err(|e| {
            if e.api_error().is_some_and(|p| p.error_code == "INVALID_INSTITUTION") {
                ServiceError::NotFound("institution")
            } else {
                e.into()
            }
        })?;
    let value = serde_json::json!({
        "institution_id": institution.institution_id,
        "name": institution.name,
        "oauth": institution.oauth,
        "products": institution.products,
        "status": institution.status,
    });
    let mut entries = app.institution_health.entries.lock().await;
    if entries.len() > 1000 {
        entries.retain(|_, (at, _)| at.elapsed() < TTL);
    }
    entries.insert(id.clone(), (Instant::now(), value.clone()));
    Ok(value)
}
