//! What a webhook says: its JSON body, and the exact bytes Plaid sends (and signs) for it.

use serde_json::{Map, Value, json};

/// Serialises a webhook body the way Plaid does (and signs): keys sorted, 2-space indentation,
/// `": "` separators, no trailing newline.
pub fn plaid_body(value: &Value) -> Vec<u8> {
    // Rebuild every object with its keys inserted in sorted order, so the output is sorted even
    // if serde_json's `preserve_order` feature is enabled somewhere in the build.
    let sorted = sort_keys(value);
    serde_json::to_vec_pretty(&sorted).unwrap_or_default()
}

fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                if let Some(v) = map.get(k) {
                    out.insert(k.clone(), sort_keys(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// A webhook to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub item_id: String,
    pub body: Value,
}

impl Outgoing {
    /// The body's `webhook_type` (empty if missing).
    pub fn webhook_type(&self) -> &str {
        self.body["webhook_type"].as_str().unwrap_or_default()
    }

    /// The body's `webhook_code` (empty if missing).
    pub fn webhook_code(&self) -> &str {
        self.body["webhook_code"].as_str().unwrap_or_default()
    }
}

/// Builds a webhook body: `webhook_type`, `webhook_code`, `item_id`, `environment` plus `extra`.
pub fn body(webhook_type: &str, webhook_code: &str, item_id: &str, extra: Value) -> Value {
    let mut v = json!({
        "environment": "sandbox",
        "item_id": item_id,
        "webhook_code": webhook_code,
        "webhook_type": webhook_type,
    });
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
        obj.extend(extra);
    }
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Serialising the JSON value of Plaid's own signed webhook gives exactly the bytes Plaid
    /// signed.
    #[test]
    fn serialisation_matches_plaid_signed_vector() {
        let vector: Value = serde_json::from_str(include_str!("../../testdata/plaid-webhook-2020.json")).unwrap();
        let body = vector["body"].as_str().unwrap();
        let value: Value = serde_json::from_str(body).unwrap();
        assert_eq!(String::from_utf8(plaid_body(&value)).unwrap(), body);
        // Same bytes from a value built in another key order.
        let rebuilt = json!({
            "webhook_type": "TRANSACTIONS",
            "webhook_code": "HISTORICAL_UPDATE",
            "new_transactions": 390,
            "item_id": "yxQbxDjnD8hr69pKbQpbcKeVn3GL9QuyA7NV3",
            "error": null,
        });
        assert_eq!(String::from_utf8(plaid_body(&rebuilt)).unwrap(), body);
    }

    #[test]
    fn nested_and_empty_values() {
        let v = json!({"b": {"z": 1, "a": []}, "a": {}});
        assert_eq!(
            String::from_utf8(plaid_body(&v)).unwrap(),
            "{\n  \"a\": {},\n  \"b\": {\n    \"a\": [],\n    \"z\": 1\n  }\n}"
        );
    }
}
