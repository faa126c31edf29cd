//! The webhooks weft acts on, typed. Anything else is [`WebhookEvent::Unknown`] (acknowledged, not acted on).

use super::PlaidError;
use super::wire::LinkSessionEvent;
use crate::domain::{ItemId, LinkSessionId, LinkToken, PublicToken};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

/// A webhook that passed every check (made by [`crate::auth::webhook::WebhookVerifier`]).
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedWebhook {
    /// The item it is about: every ITEM and TRANSACTIONS webhook names one; LINK webhooks name none.
    pub item_id: Option<ItemId>,
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
    /// LINK / ITEM_ADD_RESULT: an item added in a Link session (Hosted Link, Multi-Item Link).
    LinkItemAddResult { link_session_id: LinkSessionId, link_token: LinkToken, public_token: PublicToken },
    /// LINK / SESSION_FINISHED: a Link session ended (`status` SUCCESS or EXITED), with the public tokens it
    /// made (`public_tokens`, and the deprecated `public_token` if Plaid still sends it).
    LinkSessionFinished {
        link_session_id: LinkSessionId,
        link_token: LinkToken,
        status: String,
        public_tokens: Vec<PublicToken>,
    },
    /// LINK / EVENTS: a Link session's events (Plaid may send them again, cumulatively).
    LinkEvents { link_session_id: LinkSessionId, link_token: LinkToken, events: Vec<LinkSessionEvent> },
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
            Self::LinkItemAddResult { .. } | Self::LinkSessionFinished { .. } | Self::LinkEvents { .. } => "LINK",
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
            Self::LinkItemAddResult { .. } => "ITEM_ADD_RESULT",
            Self::LinkSessionFinished { .. } => "SESSION_FINISHED",
            Self::LinkEvents { .. } => "EVENTS",
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
            ("LINK", "ITEM_ADD_RESULT") => {
                let p: ItemAddResult = fields(body)?;
                Self::LinkItemAddResult {
                    link_session_id: p.link_session_id,
                    link_token: p.link_token,
                    public_token: public_token(p.public_token)?,
                }
            }
            ("LINK", "SESSION_FINISHED") => {
                let p: SessionFinished = fields(body)?;
                let mut public_tokens = Vec::new();
                for token in p.public_tokens.into_iter().flatten().chain(p.public_token) {
                    let token = public_token(token)?;
                    if !public_tokens.contains(&token) {
                        public_tokens.push(token);
                    }
                }
                Self::LinkSessionFinished {
                    link_session_id: p.link_session_id,
                    link_token: p.link_token,
                    status: p.status,
                    public_tokens,
                }
            }
            ("LINK", "EVENTS") => {
                let p: LinkEvents = fields(body)?;
                Self::LinkEvents {
                    link_session_id: p.link_session_id,
                    link_token: p.link_token,
                    events: p.events.unwrap_or_default(),
                }
            }
            (t, c) => Self::Unknown { webhook_type: t.to_owned(), webhook_code: c.to_owned() },
        })
    }
}

/// A public token from a verified body; the error names the rule broken, never the value.
fn public_token(token: String) -> Result<PublicToken, String> {
    PublicToken::parse(token).map_err(|e| e.to_string())
}

fn fields<T: DeserializeOwned>(body: Value) -> Result<T, String> {
    // serde_json's messages here name fields and expected types; the body is Plaid's and verified.
    serde_json::from_value(body).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
struct ItemAddResult {
    link_session_id: LinkSessionId,
    link_token: LinkToken,
    public_token: String,
}

#[derive(Deserialize)]
struct SessionFinished {
    link_session_id: LinkSessionId,
    link_token: LinkToken,
    status: String,
    #[serde(default)]
    public_tokens: Option<Vec<String>>,
    #[serde(default)]
    public_token: Option<String>,
}

#[derive(Deserialize)]
struct LinkEvents {
    link_session_id: LinkSessionId,
    link_token: LinkToken,
    #[serde(default)]
    events: Option<Vec<LinkSessionEvent>>,
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
    fn link_webhooks_as_plaid_sends_them() {
        // ItemAddResultWebhook's example.
        let e = WebhookEvent::from_value(
            "LINK",
            "ITEM_ADD_RESULT",
            json!({"webhook_type": "LINK", "webhook_code": "ITEM_ADD_RESULT",
                   "link_session_id": "356dbb28-7f98-44d1-8e6d-0cec580f3171",
                   "link_token": "link-sandbox-af1a0311-da53-4636-b754-dd15cc058176",
                   "public_token": "public-sandbox-b0e2c4ee-a763-4df5-bfe9-46a46bce993d", "environment": "sandbox"}),
        )
        .unwrap();
        assert_eq!((e.webhook_type(), e.code()), ("LINK", "ITEM_ADD_RESULT"));
        assert!(!format!("{e:?}").contains("b0e2c4ee"), "a public token is never printed");

        // LinkSessionFinishedWebhook: `public_tokens`, and the deprecated `public_token` folded in once.
        let e = WebhookEvent::from_value(
            "LINK",
            "SESSION_FINISHED",
            json!({"status": "SUCCESS", "link_session_id": "s1", "link_token": "link-sandbox-1",
                   "public_tokens": ["public-sandbox-a", "public-sandbox-b"], "public_token": "public-sandbox-a",
                   "environment": "sandbox"}),
        )
        .unwrap();
        match &e {
            WebhookEvent::LinkSessionFinished { status, public_tokens, .. } => {
                assert_eq!(status, "SUCCESS");
                assert_eq!(public_tokens.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        let exited = WebhookEvent::from_value(
            "LINK",
            "SESSION_FINISHED",
            json!({"status": "EXITED", "link_session_id": "s1", "link_token": "link-sandbox-1"}),
        )
        .unwrap();
        assert!(
            matches!(exited, WebhookEvent::LinkSessionFinished { ref public_tokens, .. } if public_tokens.is_empty())
        );

        // LinkEventsWebhook.
        let e = WebhookEvent::from_value(
            "LINK",
            "EVENTS",
            json!({"link_session_id": "s1", "link_token": "link-sandbox-1", "events": [
                {"event_id": "9469937a", "event_name": "TRANSITION_VIEW", "timestamp": "2024-05-21T00:17:54Z",
                 "event_metadata": {"request_id": "ClqZyuhovgkaQ3j"}},
                {"event_id": "978b772c", "event_name": "EXIT", "timestamp": "2024-05-21T00:18:13Z",
                 "event_metadata": {"error_code": "INVALID_CREDENTIALS", "exit_status": "requires_credentials",
                                    "institution_id": "ins_20", "institution_name": "Citizens Bank"}}]}),
        )
        .unwrap();
        match &e {
            WebhookEvent::LinkEvents { events, .. } => {
                assert_eq!(events.len(), 2);
                assert_eq!(events[1].event_metadata.exit_status.as_deref(), Some("requires_credentials"));
            }
            other => panic!("{other:?}"),
        }
        assert!(WebhookEvent::from_value("LINK", "ITEM_ADD_RESULT", json!({"link_session_id": "s1"})).is_err());
    }

    #[test]
    fn a_known_code_with_bad_fields_is_an_error() {
        assert!(WebhookEvent::from_value("ITEM", "USER_ACCOUNT_REVOKED", json!({})).is_err());
        assert!(
            WebhookEvent::from_value("ITEM", "PENDING_EXPIRATION", json!({"consent_expiration_time": "soon"})).is_err()
        );
    }
}
