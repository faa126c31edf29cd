//! The webhooks weft acts on, typed. Anything else is [`WebhookEvent::Unknown`] (acknowledged, not acted on).

use super::PlaidError;
use crate::domain::ItemId;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

/// A webhook that passed every check (made by [`crate::auth::webhook::WebhookVerifier`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedWebhook {
    pub item_id: ItemId,
    /// `sandbox` / `production` (absent in some older webhooks).
    pub environment: Option<String>,
    pub event: WebhookEvent,
    /// The JWT's `iat`: when Plaid produced the event (orders item state changes).
    pub issued_at: OffsetDateTime,
    /// The key that signed it.
    pub key_id: String,
    /// Hex SHA-256 of the body (checked against the JWT's `request_body_sha256`).
    pub body_sha256: String,
}

impl VerifiedWebhook {
    /// The dedup key of this delivery: the SHA-256 of its body and the time Plaid signed it (`iat`). Plaid's
    /// bodies carry no event id, and some are byte-identical for every event of their kind on one item (e.g.
    /// TRANSACTIONS / SYNC_UPDATES_AVAILABLE), so the body alone would make every later change look like a
    /// redelivery; a redelivery of the same signed request has the same `iat`.
    pub fn dedup_key(&self) -> String {
        format!("{}-{}", self.body_sha256, self.issued_at.unix_timestamp())
    }
}

/// A verified webhook's meaning. `item_id` and `environment` are on [`VerifiedWebhook`].
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    /// ITEM / ERROR: the item is in an error state (ITEM_LOGIN_REQUIRED, …).
    ItemError { error: Option<PlaidError> },
    /// ITEM / PENDING_EXPIRATION: consent expires soon.
    PendingExpiration { consent_expiration_time: Option<OffsetDateTime> },
    /// ITEM / PENDING_DISCONNECT: the institution will disconnect the item (e.g. `INSTITUTION_MIGRATION`).
    PendingDisconnect { reason: Option<String>, disconnect_time: Option<OffsetDateTime> },
    /// ITEM / USER_PERMISSION_REVOKED: the whole item.
    UserPermissionRevoked { error: Option<PlaidError> },
    /// ITEM / USER_ACCOUNT_REVOKED: one account of the item, not the item.
    UserAccountRevoked { account_id: String, error: Option<PlaidError> },
    /// ITEM / NEW_ACCOUNTS_AVAILABLE.
    NewAccountsAvailable,
    /// ITEM / WEBHOOK_UPDATE_ACKNOWLEDGED.
    WebhookUpdateAcknowledged { new_webhook_url: String },
    /// ITEM / LOGIN_REPAIRED.
    LoginRepaired,
    /// TRANSACTIONS / SYNC_UPDATES_AVAILABLE.
    SyncUpdatesAvailable { initial_update_complete: bool, historical_update_complete: bool },
    /// TRANSACTIONS / DEFAULT_UPDATE.
    DefaultUpdate { new_transactions: u64 },
    /// TRANSACTIONS / INITIAL_UPDATE.
    InitialUpdate { new_transactions: u64 },
    /// TRANSACTIONS / HISTORICAL_UPDATE.
    HistoricalUpdate { new_transactions: u64 },
    /// TRANSACTIONS / TRANSACTIONS_REMOVED.
    TransactionsRemoved { removed_transactions: Vec<String> },
    /// Any other type or code.
    Unknown { webhook_type: String, webhook_code: String },
}

impl WebhookEvent {
    /// Plaid's `webhook_type`.
    pub fn webhook_type(&self) -> &str {
        match self {
            Self::ItemError { .. }
            | Self::PendingExpiration { .. }
            | Self::PendingDisconnect { .. }
            | Self::UserPermissionRevoked { .. }
            | Self::UserAccountRevoked { .. }
            | Self::NewAccountsAvailable
            | Self::WebhookUpdateAcknowledged { .. }
            | Self::LoginRepaired => "ITEM",
            Self::SyncUpdatesAvailable { .. }
            | Self::DefaultUpdate { .. }
            | Self::InitialUpdate { .. }
            | Self::HistoricalUpdate { .. }
            | Self::TransactionsRemoved { .. } => "TRANSACTIONS",
            Self::Unknown { webhook_type, .. } => webhook_type,
        }
    }

    /// Plaid's `webhook_code`.
    pub fn code(&self) -> &str {
        match self {
            Self::ItemError { .. } => "ERROR",
            Self::PendingExpiration { .. } => "PENDING_EXPIRATION",
            Self::PendingDisconnect { .. } => "PENDING_DISCONNECT",
            Self::UserPermissionRevoked { .. } => "USER_PERMISSION_REVOKED",
            Self::UserAccountRevoked { .. } => "USER_ACCOUNT_REVOKED",
            Self::NewAccountsAvailable => "NEW_ACCOUNTS_AVAILABLE",
            Self::WebhookUpdateAcknowledged { .. } => "WEBHOOK_UPDATE_ACKNOWLEDGED",
            Self::LoginRepaired => "LOGIN_REPAIRED",
            Self::SyncUpdatesAvailable { .. } => "SYNC_UPDATES_AVAILABLE",
            Self::DefaultUpdate { .. } => "DEFAULT_UPDATE",
            Self::InitialUpdate { .. } => "INITIAL_UPDATE",
            Self::HistoricalUpdate { .. } => "HISTORICAL_UPDATE",
            Self::TransactionsRemoved { .. } => "TRANSACTIONS_REMOVED",
            Self::Unknown { webhook_code, .. } => webhook_code,
        }
    }

    /// Reads the event from a webhook body's JSON value (already verified). `Err` names what is wrong
    /// (a known code whose fields are missing or of the wrong type).
    pub fn from_value(webhook_type: &str, webhook_code: &str, body: Value) -> Result<Self, String> {
        Ok(match (webhook_type, webhook_code) {
            ("ITEM", "ERROR") => {
                let p: WithError = fields(body)?;
                Self::ItemError { error: p.error }
            }
            ("ITEM", "PENDING_EXPIRATION") => {
                let p: PendingExpiration = fields(body)?;
                Self::PendingExpiration { consent_expiration_time: p.consent_expiration_time }
            }
            ("ITEM", "PENDING_DISCONNECT") => {
                let p: PendingDisconnect = fields(body)?;
                Self::PendingDisconnect { reason: p.reason, disconnect_time: p.disconnect_time }
            }
            ("ITEM", "USER_PERMISSION_REVOKED") => {
                let p: WithError = fields(body)?;
                Self::UserPermissionRevoked { error: p.error }
            }
            ("ITEM", "USER_ACCOUNT_REVOKED") => {
                let p: AccountRevoked = fields(body)?;
                Self::UserAccountRevoked { account_id: p.account_id, error: p.error }
            }
            ("ITEM", "NEW_ACCOUNTS_AVAILABLE") => Self::NewAccountsAvailable,
            ("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED") => {
                let p: WebhookAcknowledged = fields(body)?;
                Self::WebhookUpdateAcknowledged { new_webhook_url: p.new_webhook_url }
            }
            ("ITEM", "LOGIN_REPAIRED") => Self::LoginRepaired,
            ("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE") => {
                let p: SyncUpdates = fields(body)?;
                Self::SyncUpdatesAvailable {
                    initial_update_complete: p.initial_update_complete,
                    historical_update_complete: p.historical_update_complete,
                }
            }
            ("TRANSACTIONS", "DEFAULT_UPDATE") => {
                Self::DefaultUpdate { new_transactions: fields::<NewTransactions>(body)?.new_transactions }
            }
            ("TRANSACTIONS", "INITIAL_UPDATE") => {
                Self::InitialUpdate { new_transactions: fields::<NewTransactions>(body)?.new_transactions }
            }
            ("TRANSACTIONS", "HISTORICAL_UPDATE") => {
                Self::HistoricalUpdate { new_transactions: fields::<NewTransactions>(body)?.new_transactions }
            }
            ("TRANSACTIONS", "TRANSACTIONS_REMOVED") => {
                let p: Removed = fields(body)?;
                Self::TransactionsRemoved { removed_transactions: p.removed_transactions }
            }
            (t, c) => Self::Unknown { webhook_type: t.to_owned(), webhook_code: c.to_owned() },
        })
    }
}

fn fields<T: DeserializeOwned>(body: Value) -> Result<T, String> {
    // serde_json's messages here name fields and expected types; the body is Plaid's and verified.
    serde_json::from_value(body).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
struct WithError {
    #[serde(default)]
    error: Option<PlaidError>,
}

#[derive(Deserialize)]
struct PendingExpiration {
    #[serde(default, with = "time::serde::rfc3339::option")]
    consent_expiration_time: Option<OffsetDateTime>,
}

#[derive(Deserialize)]
struct PendingDisconnect {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    disconnect_time: Option<OffsetDateTime>,
}

#[derive(Deserialize)]
struct AccountRevoked {
    account_id: String,
    #[serde(default)]
    error: Option<PlaidError>,
}

#[derive(Deserialize)]
struct WebhookAcknowledged {
    new_webhook_url: String,
}

#[derive(Deserialize)]
struct SyncUpdates {
    #[serde(default)]
    initial_update_complete: bool,
    #[serde(default)]
    historical_update_complete: bool,
}

#[derive(Deserialize)]
struct NewTransactions {
    #[serde(default)]
    new_transactions: u64,
}

#[derive(Deserialize)]
struct Removed {
    #[serde(default)]
    removed_transactions: Vec<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_events() {
        let e = WebhookEvent::from_value(
            "ITEM",
            "ERROR",
            json!({"error": {"error_type": "ITEM_ERROR", "error_code": "ITEM_LOGIN_REQUIRED", "error_message": "x",
                             "display_message": null, "status": 400}}),
        )
        .unwrap();
        match &e {
            WebhookEvent::ItemError { error: Some(err) } => assert!(err.is_item_login_required()),
            other => panic!("{other:?}"),
        }
        assert_eq!((e.webhook_type(), e.code()), ("ITEM", "ERROR"));

        let e = WebhookEvent::from_value(
            "ITEM",
            "PENDING_DISCONNECT",
            json!({"reason": "INSTITUTION_MIGRATION", "disconnect_time": "2024-05-01T00:00:00Z"}),
        )
        .unwrap();
        assert!(matches!(e, WebhookEvent::PendingDisconnect { disconnect_time: Some(_), .. }));

        let e = WebhookEvent::from_value("ITEM", "USER_ACCOUNT_REVOKED", json!({"account_id": "acc1"})).unwrap();
        assert_eq!(e, WebhookEvent::UserAccountRevoked { account_id: "acc1".into(), error: None });

        let e = WebhookEvent::from_value(
            "TRANSACTIONS",
            "SYNC_UPDATES_AVAILABLE",
            json!({"initial_update_complete": true, "historical_update_complete": false}),
        )
        .unwrap();
        assert_eq!(
            e,
            WebhookEvent::SyncUpdatesAvailable { initial_update_complete: true, historical_update_complete: false }
        );

        let e = WebhookEvent::from_value(
            "TRANSACTIONS",
            "TRANSACTIONS_REMOVED",
            json!({"removed_transactions": ["a", "b"]}),
        )
        .unwrap();
        assert_eq!(e.code(), "TRANSACTIONS_REMOVED");

        let e = WebhookEvent::from_value("AUTH", "AUTOMATICALLY_VERIFIED", json!({})).unwrap();
        assert_eq!(
            e,
            WebhookEvent::Unknown { webhook_type: "AUTH".into(), webhook_code: "AUTOMATICALLY_VERIFIED".into() }
        );
        assert_eq!((e.webhook_type(), e.code()), ("AUTH", "AUTOMATICALLY_VERIFIED"));
    }

    #[test]
    fn a_known_code_with_bad_fields_is_an_error() {
        assert!(WebhookEvent::from_value("ITEM", "USER_ACCOUNT_REVOKED", json!({})).is_err());
        assert!(
            WebhookEvent::from_value("ITEM", "PENDING_EXPIRATION", json!({"consent_expiration_time": "soon"})).is_err()
        );
    }
}
