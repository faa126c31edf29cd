//! Writing the audit trail ([`crate::ports::AuditLog`]): best effort, never failing the action it records
//! (a failed write is logged at ERROR, so the alarm on the function's errors sees it).

use super::Services;
use crate::domain::ItemId;
use crate::ports::{Actor, AuditAction, AuditOutcome, AuditRecord};

/// Records one material interaction.
pub async fn record(
    services: &Services,
    actor: Actor,
    action: AuditAction,
    outcome: AuditOutcome,
    item_id: Option<&ItemId>,
    detail: Option<&str>,
) {
    record_about(services, actor, action, outcome, item_id, None, detail).await;
}

/// Records one material interaction concerning another user (`subject`, a pseudonym).
pub async fn record_about(
    services: &Services,
    actor: Actor,
    action: AuditAction,
    outcome: AuditOutcome,
    item_id: Option<&ItemId>,
    subject: Option<String>,
    detail: Option<&str>,
) {
    let record = AuditRecord {
        at: services.now(),
        actor,
        action,
        outcome,
        item_id: item_id.cloned(),
        subject,
        detail: detail.map(str::to_owned),
    };
    if let Err(e) = services.audit.record(&record).await {
        tracing::error!(event = "audit_failed", action = ?record.action, error = %crate::telemetry::chain(&e), "could not write an audit record");
    }
}
