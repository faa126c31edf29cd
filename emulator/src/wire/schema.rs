//! Request validation against the request schemas of Plaid's OpenAPI spec, in Plaid's order:
//! unknown fields, then missing fields, then field types and values.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use super::error::PlaidError;

/// One node of a request schema (see `tools/gen_request_schema.py`).
#[derive(Debug, Deserialize)]
pub struct Node {
    t: Kind,
    #[serde(default)]
    null: bool,
    #[serde(default)]
    fields: BTreeMap<String, Node>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    items: Option<Box<Node>>,
    #[serde(default, rename = "enum")]
    allowed: Option<Vec<String>>,
    #[serde(default)]
    min_length: Option<usize>,
    #[serde(default)]
    max_length: Option<usize>,
    #[serde(default)]
    min_items: Option<usize>,
    #[serde(default)]
    max_items: Option<usize>,
    #[serde(default)]
    inclusive_minimum: Option<f64>,
    #[serde(default)]
    inclusive_maximum: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    String,
    Bool,
    Int,
    Number,
    Date,
    Datetime,
    Array,
    Object,
    /// An object whose fields are not checked (composed schemas in the spec).
    ObjectAny,
    /// A free-form map.
    Map,
    Any,
}

static SCHEMAS: OnceLock<Option<HashMap<String, Node>>> = OnceLock::new();

fn schemas() -> Option<&'static HashMap<String, Node>> {
    SCHEMAS.get_or_init(|| serde_json::from_str(include_str!("../request_schema.json")).ok()).as_ref()
}

/// The request schema of an endpoint path.
pub fn schema_for(path: &str) -> Option<&'static Node> {
    schemas().and_then(|s| s.get(path))
}

/// Parses the schemas now (so the first request does not pay for it). Returns false if the
/// embedded schema file is broken.
pub fn preload() -> bool {
    schemas().is_some()
}

/// Checks a request body against the endpoint's schema, in Plaid's order: unknown fields, then
/// missing fields, then field types and values.
pub fn validate(schema: &Node, body: &Value) -> Result<(), PlaidError> {
    let mut unknown = Vec::new();
    collect_unknown(schema, body, "", &mut unknown);
    if !unknown.is_empty() {
        return Err(PlaidError::unknown_fields(&unknown));
    }
    let mut missing = Vec::new();
    collect_missing(schema, body, "", &mut missing);
    if !missing.is_empty() {
        return Err(PlaidError::missing_fields(&missing));
    }
    check_value(schema, body, "")
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") }
}

fn collect_unknown(node: &Node, value: &Value, prefix: &str, out: &mut Vec<String>) {
    match (node.t, value) {
        (Kind::Object, Value::Object(map)) => {
            for (key, v) in map {
                let path = join(prefix, key);
                match node.fields.get(key) {
                    None => {
                        if !out.contains(&path) {
                            out.push(path);
                        }
                    }
                    Some(child) => collect_unknown(child, v, &path, out),
                }
            }
        }
        (Kind::Array, Value::Array(items)) => {
            if let Some(item_node) = &node.items {
                for item in items {
                    collect_unknown(item_node, item, prefix, out);
                }
            }
        }
        _ => {}
    }
}

fn collect_missing(node: &Node, value: &Value, prefix: &str, out: &mut Vec<String>) {
    match (node.t, value) {
        (Kind::Object, Value::Object(map)) => {
            for key in &node.required {
                if map.get(key).is_none_or(Value::is_null) {
                    out.push(join(prefix, key));
                }
            }
            for (key, v) in map {
                if let Some(child) = node.fields.get(key) {
                    collect_missing(child, v, &join(prefix, key), out);
                }
            }
        }
        (Kind::Array, Value::Array(items)) => {
            if let Some(item_node) = &node.items {
                for item in items {
                    let before = out.len();
                    collect_missing(item_node, item, prefix, out);
                    if out.len() > before {
                        break;
                    }
                }
            }
        }
        _ => {}
    }
}

fn is_products_path(path: &str) -> bool {
    path.rsplit('.').next().is_some_and(|last| last.ends_with("products"))
}

fn check_value(node: &Node, value: &Value, path: &str) -> Result<(), PlaidError> {
    if value.is_null() {
        // Optional fields may be null (treated as absent); required ones were reported as missing.
        return Ok(());
    }
    let field = if path.is_empty() { "body" } else { path };
    match node.t {
        Kind::Any => Ok(()),
        Kind::String | Kind::Date | Kind::Datetime => {
            let Some(s) = value.as_str() else {
                return Err(PlaidError::invalid_field(format!("{field} must be a string")));
            };
            if node.t == Kind::Date && !is_date(s) {
                return Err(PlaidError::invalid_field(format!("{field} must be a date in the format YYYY-MM-DD")));
            }
            if node.t == Kind::Datetime
                && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_err()
            {
                return Err(PlaidError::invalid_field(format!("{field} must be an ISO 8601 timestamp")));
            }
            let len = s.chars().count();
            if node.min_length.is_some_and(|min| len < min) {
                return Err(PlaidError::invalid_field(format!("{field} must be a non-empty string")));
            }
            if node.max_length.is_some_and(|max| len > max) {
                return Err(PlaidError::invalid_field(format!(
                    "{field} must be at most {} characters long",
                    node.max_length.unwrap_or_default()
                )));
            }
            if let Some(allowed) = &node.allowed
                && !allowed.iter().any(|a| a == s)
            {
                if is_products_path(path) {
                    return Err(PlaidError::invalid_product(format!("invalid product names: [{s}]")));
                }
                return Err(PlaidError::invalid_field(format!("{field} must be one of: {}", allowed.join(", "))));
            }
            Ok(())
        }
        Kind::Bool => {
            if value.is_boolean() {
                Ok(())
            } else {
                Err(PlaidError::invalid_field(format!("{field} must be a boolean")))
            }
        }
        Kind::Int | Kind::Number => {
            let ok = if node.t == Kind::Int { value.is_i64() || value.is_u64() } else { value.is_number() };
            let n = value.as_f64();
            let in_range = n.is_some_and(|n| {
                node.inclusive_minimum.is_none_or(|min| n >= min) && node.inclusive_maximum.is_none_or(|max| n <= max)
            });
            if ok && in_range {
                return Ok(());
            }
            let kind = if node.t == Kind::Int { "an integer" } else { "a number" };
            let msg = match (node.inclusive_minimum, node.inclusive_maximum) {
                (Some(min), Some(max)) => format!("{field} must be {kind} between {min} and {max}"),
                (Some(min), None) => {
                    format!("{field} must be {kind} greater than or equal to {min}")
                }
                (None, Some(max)) => format!("{field} must be {kind} less than or equal to {max}"),
                (None, None) => format!("{field} must be {kind}"),
            };
            Err(PlaidError::invalid_field(msg))
        }
        Kind::Array => {
            let Some(items) = value.as_array() else {
                return Err(PlaidError::invalid_field(format!("{field} must be an array")));
            };
            if node.min_items.is_some_and(|min| items.len() < min) {
                return Err(PlaidError::invalid_field(format!("{field} must be a non-empty array")));
            }
            if let Some(max) = node.max_items
                && items.len() > max
            {
                return Err(PlaidError::invalid_field(format!("{field} must contain at most {max} items")));
            }
            if let Some(item_node) = &node.items {
                for item in items {
                    if item.is_null() && !item_node.null {
                        return Err(PlaidError::invalid_field(format!("{field} must not contain null values")));
                    }
                    check_value(item_node, item, path)?;
                }
            }
            Ok(())
        }
        Kind::Object | Kind::ObjectAny | Kind::Map => {
            let Some(map) = value.as_object() else {
                return Err(PlaidError::invalid_field(format!("{field} must be an object")));
            };
            if node.t == Kind::Object {
                for (key, v) in map {
                    if let Some(child) = node.fields.get(key) {
                        check_value(child, v, &join(path, key))?;
                    }
                }
            }
            Ok(())
        }
    }
}

fn is_date(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, &fmt).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(path: &str, body: Value) -> Result<(), PlaidError> {
        validate(schema_for(path).unwrap(), &body)
    }

    #[test]
    fn schema_loads_for_every_endpoint() {
        assert!(preload());
        for p in [
            "/link/token/create",
            "/item/public_token/exchange",
            "/item/get",
            "/item/remove",
            "/accounts/get",
            "/accounts/balance/get",
            "/institutions/get_by_id",
            "/transactions/sync",
            "/webhook_verification_key/get",
            "/item/webhook/update",
            "/sandbox/public_token/create",
            "/sandbox/item/reset_login",
            "/sandbox/item/fire_webhook",
        ] {
            assert!(schema_for(p).is_some(), "{p}");
        }
    }

    #[test]
    fn unknown_fields_are_dotted_and_nested() {
        let err = check(
            "/transactions/sync",
            json!({"access_token": "x", "options": {"include_personal_finance_category": true, "zzz": 1}, "foo": 2}),
        )
        .unwrap_err();
        assert_eq!(err.error_code, "UNKNOWN_FIELDS");
        assert_eq!(err.error_message, "the following fields are not recognized by this endpoint: foo, options.zzz");
    }

    #[test]
    fn missing_and_wrong_types() {
        let err = check("/transactions/sync", json!({})).unwrap_err();
        assert_eq!(err.error_code, "MISSING_FIELDS");
        assert_eq!(err.error_message, "the following required fields are missing: access_token");
        let err = check("/transactions/sync", json!({"access_token": "x", "count": "5"})).unwrap_err();
        assert_eq!(err.error_code, "INVALID_FIELD");
        let err = check("/transactions/sync", json!({"access_token": "x", "count": 501})).unwrap_err();
        assert_eq!(err.error_message, "count must be an integer between 1 and 500");
        assert!(check("/transactions/sync", json!({"access_token": "x", "count": 500})).is_ok());
        let err = check("/transactions/sync", json!({"access_token": 5})).unwrap_err();
        assert_eq!(err.error_code, "INVALID_FIELD");
        let err = check(
            "/link/token/create",
            json!({"client_name": "a", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u"}, "products": ["nope"]}),
        )
        .unwrap_err();
        assert_eq!(err.error_code, "INVALID_PRODUCT");
        let err = check(
            "/link/token/create",
            json!({"client_name": "a", "language": "en", "country_codes": [], "user": {"client_user_id": "u"}}),
        )
        .unwrap_err();
        assert_eq!(err.error_message, "country_codes must be a non-empty array");
    }
}
