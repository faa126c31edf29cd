//! `/institutions/get_by_id`.

use super::*;

// ---------------------------------------------------------------------------------------------------------
// /institutions/get_by_id

/// `/institutions/get_by_id`'s `options`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct InstitutionsGetByIdOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_status: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_optional_metadata: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstitutionsGetByIdResponse {
    pub institution: Institution,
    #[serde(default)]
    pub request_id: String,
}

/// Plaid's institution (with `status` when asked for).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Institution {
    pub institution_id: InstitutionId,
    #[serde(default, deserialize_with = "de_null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "de_null_default")]
    pub products: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub country_codes: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub routing_numbers: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub dtc_numbers: Vec<String>,
    #[serde(default, deserialize_with = "de_null_default")]
    pub oauth: bool,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub logo: Option<String>,
    #[serde(default)]
    pub primary_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<InstitutionStatus>,
}

/// Institution health per product.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InstitutionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_logins: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions_updates: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investments_updates: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liabilities_updates: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investments: Option<ProductStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liabilities: Option<ProductStatus>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductStatus {
    /// `HEALTHY`, `DEGRADED` or `DOWN`.
    #[serde(default, deserialize_with = "de_null_default")]
    pub status: String,
    #[serde(default)]
    pub last_status_change: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<ProductStatusBreakdown>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductStatusBreakdown {
    #[serde(default)]
    pub success: Option<f64>,
    #[serde(default)]
    pub error_plaid: Option<f64>,
    #[serde(default)]
    pub error_institution: Option<f64>,
    #[serde(default)]
    pub refresh_interval: Option<String>,
}
