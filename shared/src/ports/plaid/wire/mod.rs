//! Plaid's request and response bodies (API version 2020-09-14), as weft uses them.
//!
//! Requests serialise only the fields that are set (Plaid refuses unknown fields, and `null` is not the same
//! as absent for some). Responses parse leniently: unknown fields are ignored, nullable fields are `Option`,
//! and lists and flags Plaid may omit default to empty / `false`, so a newer Plaid does not break an older
//! weft. Identifiers the services rely on (`item_id`, `account_id`, tokens) are parsed into domain types.

use super::PlaidError;
use crate::domain::{self, AccessToken, AccountId, InstitutionId, ItemId, LinkToken, PublicToken, TransactionId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

mod accounts;
mod institutions;
mod items;
mod link;
mod transactions;
mod webhook_keys;

pub use accounts::*;
pub use institutions::*;
pub use items::*;
pub use link::*;
pub use transactions::*;
pub use webhook_keys::*;

/// A response body that carries Plaid's `request_id` (logged for every call).
pub trait PlaidResponse: serde::de::DeserializeOwned + Send {
    fn request_id(&self) -> &str;
}

macro_rules! plaid_response {
    ($($t:ty),* $(,)?) => {
        $(impl PlaidResponse for $t {
            fn request_id(&self) -> &str {
                &self.request_id
            }
        })*
    };
}

plaid_response!(
    LinkTokenCreateResponse,
    LinkTokenGetResponse,
    PublicTokenExchangeResponse,
    ItemGetResponse,
    ItemRemoveResponse,
    AccountsGetResponse,
    InstitutionsGetByIdResponse,
    TransactionsSyncResponse,
    WebhookVerificationKeyGetResponse,
    ItemWebhookUpdateResponse,
    ItemAccessTokenInvalidateResponse,
);

// ---------------------------------------------------------------------------------------------------------
// Secrets on the wire: tokens have no Serialize/Deserialize of their own (so they cannot leak into a log
// line or a stored document by accident); these helpers are the one place they are written and read.

fn ser_opt_access_token<S: Serializer>(t: &Option<AccessToken>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(t.expose()),
        None => s.serialize_none(),
    }
}

fn de_access_token<'de, D: Deserializer<'de>>(d: D) -> Result<AccessToken, D::Error> {
    let s = String::deserialize(d)?;
    // The error names the rule broken, never the value.
    AccessToken::parse(s).map_err(serde::de::Error::custom)
}

fn de_public_token<'de, D: Deserializer<'de>>(d: D) -> Result<PublicToken, D::Error> {
    let s = String::deserialize(d)?;
    // The error names the rule broken, never the value.
    PublicToken::parse(s).map_err(serde::de::Error::custom)
}

fn de_null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn link_token_request_serialises_only_what_is_set_and_exposes_the_token_only_on_the_wire() {
        let req = LinkTokenCreateRequest {
            client_name: "weft".into(),
            language: "en".into(),
            country_codes: vec!["US".into()],
            user: LinkTokenUser::new("u1".into()),
            products: None,
            webhook: None,
            access_token: Some(AccessToken::parse("access-sandbox-123").unwrap()),
            redirect_uri: None,
            android_package_name: None,
            link_customization_name: None,
            update: Some(LinkTokenUpdate { account_selection_enabled: true }),
            account_filters: None,
            transactions: None,
            hosted_link: None,
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(
            v,
            json!({"client_name": "weft", "language": "en", "country_codes": ["US"], "user": {"client_user_id": "u1"},
                   "access_token": "access-sandbox-123", "update": {"account_selection_enabled": true}})
        );
        assert!(!format!("{req:?}").contains("access-sandbox-123"));
    }

    #[test]
    fn the_users_phone_and_email_go_on_the_wire_only() {
        let user = LinkTokenUser {
            client_user_id: "u1".into(),
            phone_number: Some("+14155550123".into()),
            email_address: Some("a@example.com".into()),
        };
        let v = serde_json::to_value(&user).unwrap();
        assert_eq!(
            v,
            json!({"client_user_id": "u1", "phone_number": "+14155550123", "email_address": "a@example.com"})
        );
        let debug = format!("{user:?}");
        assert!(!debug.contains("4155550123") && !debug.contains("example.com"), "{debug}");
    }

    #[test]
    fn link_token_get_parses_sessions_results_and_events() {
        let r: LinkTokenGetResponse = serde_json::from_value(json!({
            "link_token": "link-sandbox-1", "created_at": "2026-11-30T06:00:00Z", "expiration": null,
            "metadata": {}, "request_id": "r1",
            "link_sessions": [{
                "link_session_id": "s1", "started_at": "2026-11-30T06:01:00Z", "finished_at": null,
                "results": {"item_add_results": [{"public_token": "public-sandbox-9", "accounts": [],
                            "institution": {"name": "Bank", "institution_id": "ins_1"}}],
                            "cra_item_add_results": [], "cra_update_results": [], "bank_income_results": [],
                            "payroll_income_results": [], "document_income_results": null},
                "exit": null,
                "events": [{"event_id": "e1", "event_name": "HANDOFF", "timestamp": "2026-11-30T06:02:00Z",
                            "event_metadata": {"institution_id": "ins_1", "brand_new": 1}}]
            }]
        }))
        .unwrap();
        let session = &r.link_sessions[0];
        let results = session.results.as_ref().unwrap();
        assert_eq!(results.item_add_results[0].public_token.expose(), "public-sandbox-9");
        assert_eq!(session.events[0].event_metadata.institution_id.as_deref(), Some("ins_1"));
        assert!(!format!("{r:?}").contains("public-sandbox-9"));
    }

    #[test]
    fn responses_ignore_unknown_fields_and_accept_nulls() {
        let v = json!({
            "added": null, "modified": [], "removed": [{"transaction_id": "t1", "account_id": "a1"}],
            "next_cursor": "c1", "has_more": false, "accounts": [], "request_id": "r1", "brand_new": {"x": 1}
        });
        let r: TransactionsSyncResponse = serde_json::from_value(v).unwrap();
        assert!(r.added.is_empty());
        assert_eq!(r.removed[0].transaction_id, "t1");
        assert_eq!(r.request_id(), "r1");
    }

    #[test]
    fn an_exchange_decode_error_does_not_echo_the_token() {
        let e = serde_json::from_value::<PublicTokenExchangeResponse>(
            json!({"access_token": "public-sandbox-xyz", "item_id": "i", "request_id": "r"}),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("xyz"), "{e}");
    }

    #[test]
    fn an_invalidate_response_parses_the_new_token_and_never_prints_it() {
        let r: ItemAccessTokenInvalidateResponse =
            serde_json::from_value(json!({"new_access_token": "access-sandbox-new1", "request_id": "r1"})).unwrap();
        assert_eq!(r.new_access_token.expose(), "access-sandbox-new1");
        assert_eq!(r.request_id(), "r1");
        assert!(!format!("{r:?}").contains("new1"));
        let e = serde_json::from_value::<ItemAccessTokenInvalidateResponse>(
            json!({"new_access_token": "public-sandbox-xyz", "request_id": "r"}),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("xyz"), "{e}");
    }

    #[test]
    fn transaction_into_domain_picks_the_category() {
        let t: Transaction = serde_json::from_value(json!({
            "transaction_id": "t1", "account_id": "a1", "amount": 12.5, "iso_currency_code": "USD",
            "unofficial_currency_code": null, "date": "2024-01-02", "pending": false,
            "pending_transaction_id": null, "payment_channel": "online", "name": "Coffee",
            "merchant_name": null, "category": ["Food and Drink", "Coffee"],
            "personal_finance_category": null, "location": {"city": null}, "payment_meta": {}
        }))
        .unwrap();
        let d = t.into_domain(&ItemId::parse("item1").unwrap()).unwrap();
        assert_eq!(d.details.category.as_deref(), Some("Food and Drink > Coffee"));
        assert_eq!(d.details.amount, 12.5);
    }
}
