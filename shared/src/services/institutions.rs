//! Institution health from `/institutions/get_by_id` with `include_status`, cached per container for a
//! few minutes (Plaid allows few calls per minute to this endpoint, and health moves slowly).

use super::{ServiceError, Services};
use crate::domain::InstitutionId;
use crate::ports::plaid::wire::InstitutionStatus;
use moka::future::Cache;
use std::time::Duration;

/// `GET /institutions/{institution_id}/health`: the institution's status as Plaid reports it (cached briefly).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct InstitutionHealth {
    pub institution_id: InstitutionId,
    pub name: String,
    /// Whether the institution connects through OAuth.
    pub oauth: bool,
    /// The Plaid products the institution supports.
    pub products: Vec<String>,
    /// Plaid's health per product (`null` when Plaid gives none).
    pub status: Option<InstitutionStatus>,
}

/// How long a health answer is reused.
pub const TTL: Duration = Duration::from_secs(300);
/// How many institutions' health a container keeps.
pub const CAPACITY: u64 = 1000;

/// Health answers by institution: a [`moka`] cache bounded to [`CAPACITY`], each answer kept [`TTL`].
pub struct HealthCache {
    entries: Cache<InstitutionId, InstitutionHealth>,
}

impl Default for HealthCache {
    fn default() -> Self {
        Self { entries: Cache::builder().max_capacity(CAPACITY).time_to_live(TTL).build() }
    }
}

/// The institution's name: from the health cache when it holds the institution, else asked of Plaid (and
/// cached with its health).
pub async fn name(app: &Services, id: &InstitutionId) -> Result<String, ServiceError> {
    Ok(health(app, id).await?.name)
}

pub async fn health(app: &Services, id: &InstitutionId) -> Result<InstitutionHealth, ServiceError> {
    if let Some(v) = app.institution_health.entries.get(id).await {
        return Ok(v);
    }
    let institution =
        app.plaid.institutions_get_by_id(id, &app.config.plaid.country_codes, true).await.map_err(|e| {
            if e.api_error().is_some_and(|p| p.error_code == "INVALID_INSTITUTION") {
                ServiceError::NotFound("institution")
            } else {
                e.into()
            }
        })?;
    let value = InstitutionHealth {
        institution_id: institution.institution_id,
        name: institution.name,
        oauth: institution.oauth,
        products: institution.products,
        status: institution.status,
    };
    app.institution_health.entries.insert(id.clone(), value.clone()).await;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_short_lived() {
        let cache = HealthCache::default();
        assert_eq!(cache.entries.policy().max_capacity(), Some(CAPACITY));
        assert_eq!(cache.entries.policy().time_to_live(), Some(TTL));
    }
}
