//! The audit trail in the table: `AUDIT#<yyyy-mm-dd>` / `<sortable time>#<uuid>`, the record as JSON
//! (`record`), kept for the deployment's retention (`ttl`). Apart from the debug logs, readable by day.

use super::convert::{get_s, key, n, s};
use super::keys::*;
use super::{DynamoStore, corrupt};
use crate::ports::{AuditLog, AuditRecord, StoreError};
use async_trait::async_trait;
use time::Date;

fn audit_pk(day: Date) -> String {
    format!("AUDIT#{}", day_string(day))
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn record(&self, record: &AuditRecord) -> Result<(), StoreError> {
        let at = record.at.to_offset(time::UtcOffset::UTC);
        let sk = format!("{}#{}", sort_time(at), uuid::Uuid::new_v4().simple());
        let mut attrs = key(audit_pk(at.date()), sk);
        attrs.insert(TYPE.to_owned(), s("AUDIT"));
        let json = serde_json::to_string(record).map_err(|e| StoreError::backend("encode", e))?;
        attrs.insert("record".to_owned(), s(json));
        attrs.insert(TTL.to_owned(), n(epoch(at + self.audit_retention)));
        self.put(attrs).await
    }

    async fn records_of(&self, day: Date) -> Result<Vec<AuditRecord>, StoreError> {
        let query =
            self.query().key_condition_expression("PK = :pk").expression_attribute_values(":pk", s(audit_pk(day)));
        self.query_all(query)
            .await?
            .iter()
            .map(|row| {
                let json = get_s(row, "record").ok_or_else(|| corrupt("audit record", None))?;
                serde_json::from_str(json).map_err(|e| corrupt("audit record", Some(Box::new(e))))
            })
            .collect()
    }
}
