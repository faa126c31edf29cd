//! The audit trail: material interactions (links, exchanges, removals, erasures, limit hits, operator
//! actions), each as a structured record kept apart from the debug logs, for the retention the deployment
//! sets. No token, secret or personal data: users appear as their pseudonym.
//!
//! Adapter: [`crate::adapters::dynamodb`] (records in the table, expiring by TTL); double:
//! `crate::doubles::MemoryStore`.

use crate::domain::{ItemId, UserId, UserPseudonyms};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoreError;

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// An app user (their pseudonym).
    User(String),
    /// An operator (their pseudonym).
    Operator(String),
    /// Plaid (a webhook).
    Plaid,
    /// weft itself (a schedule: the churn remover, a sweep).
    System,
}

impl Actor {
    pub fn user(pseudonyms: &UserPseudonyms, user: &UserId) -> Self {
        Self::User(pseudonyms.client_user_id(user))
    }
    pub fn operator(pseudonyms: &UserPseudonyms, user: &UserId) -> Self {
        Self::Operator(pseudonyms.client_user_id(user))
    }
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    LinkTokenCreated,
    ItemLinked,
    ItemRemoved,
    UserErased,
    LimitHit,
    TokenRotated,
    ReportRead,
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Done,
    Refused,
    Failed,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: Actor,
    pub action: AuditAction,
    pub outcome: AuditOutcome,
    /// The item concerned, if any.
    pub item_id: Option<ItemId>,
    /// The subject of an operator action or an erasure (a pseudonym), if any.
    pub subject: Option<String>,
    /// A stable code saying more (`user`, `churn`, `revoked`, `duplicate`, a limit's name, an error code).
    pub detail: Option<String>,
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Keeps the record for the deployment's retention.
    async fn record(&self, record: &AuditRecord) -> Result<(), StoreError>;

    /// The records of the UTC day `day`, oldest first (operators' reports, tests).
    async fn records_of(&self, day: time::Date) -> Result<Vec<AuditRecord>, StoreError>;
}
