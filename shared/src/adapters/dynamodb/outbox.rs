//! The outbox: `PK = OUTBOX`, `SK = <occurred_at>#<event_id>` (time order), the event as JSON in `event`.
//! Written in the same transaction as the item change that made the event (or on its own for a removal);
//! deleted once published.

use super::convert::{Attrs, get_s, key, n, s};
use super::items::{ItemUpdate, cancelled_on_existing, condition_failed_at, invalid_request, item_key};
use super::keys::{PROMPTS, sort_time};
use super::{DynamoStore, delete_request, put_request, sdk_error};
use crate::domain::{AppEvent, ItemId, ItemRecord, SealedItem, UserId};
use crate::ports::{Outbox, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use time::OffsetDateTime;

const OUTBOX_PK: &str = "OUTBOX";
const EVENT: &str = "event";

fn event_sk(event: &AppEvent) -> String {
    format!("{}#{}", sort_time(event.occurred_at), event.event_id)
}

fn event_attrs(event: &AppEvent) -> Result<Attrs, StoreError> {
    let json = serde_json::to_string(event).map_err(|e| StoreError::backend("outbox event", e))?;
    let mut attrs = key(OUTBOX_PK.to_owned(), event_sk(event));
    attrs.insert(EVENT.to_owned(), s(json));
    Ok(attrs)
}

/// The outbox write of `event` for a transaction.
pub(super) fn put_event(table: &str, event: &AppEvent) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(event_attrs(event)?))
        .build()
        .map_err(|e| StoreError::Invalid(invalid_request(e)))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

#[async_trait]
impl Outbox for DynamoStore {
    async fn update_item_with_events(&self, item: &mut ItemRecord, events: &[AppEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return crate::ports::ItemStore::update_item(self, item).await;
        }
        let update = ItemUpdate::of(item)?;
        let write = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(&item.user_id, &item.item_id)))
            .update_expression(update.expression)
            .condition_expression(ItemUpdate::CONDITION)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .map_err(|e| StoreError::Invalid(invalid_request(e)))?;
        let mut writes = vec![TransactWriteItem::builder().update(write).build()];
        for event in events {
            writes.push(put_event(&self.table, event)?);
        }
        self.count();
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => {
                item.version = update.next_version;
                Ok(())
            }
            // Conflict or gone: the old record the condition failed on (`ALL_OLD`) tells which.
            Err(e) if condition_failed_at(&e, 0) => {
                Err(if cancelled_on_existing(&e, 0) { StoreError::Conflict } else { StoreError::NotFound("item") })
            }
            Err(e) => Err(sdk_error("TransactWriteItems", e)),
        }
    }

    async fn insert_item_with_events(
        &self,
        item: &ItemRecord,
        sealed: &SealedItem,
        exchange_key: &str,
        events: &[AppEvent],
    ) -> Result<(), StoreError> {
        self.insert_item_and_events(item, sealed, exchange_key, events).await
    }

    async fn add_events(&self, events: &[AppEvent]) -> Result<(), StoreError> {
        let puts = events.iter().map(|e| event_attrs(e).and_then(put_request)).collect::<Result<Vec<_>, _>>()?;
        self.batch_write(puts).await
    }

    async fn add_reminder(
        &self,
        user: &UserId,
        item_id: &ItemId,
        sent: u32,
        to: u32,
        event: &AppEvent,
    ) -> Result<bool, StoreError> {
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(user, item_id)))
            .update_expression("SET #p = :next")
            .condition_expression(
                "attribute_exists(PK) AND (#p = :sent OR (attribute_not_exists(#p) AND :sent = :zero))",
            )
            .expression_attribute_names("#p", PROMPTS)
            .expression_attribute_values(":next", n(u64::from(to)))
            .expression_attribute_values(":sent", n(u64::from(sent)))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(|e| StoreError::Invalid(invalid_request(e)))?;
        let writes = vec![TransactWriteItem::builder().update(count).build(), put_event(&self.table, event)?];
        self.count();
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed_at(&e, 0) => Ok(false),
            Err(e) => Err(sdk_error("TransactWriteItems", e)),
        }
    }

    async fn pending_events(&self, until: OffsetDateTime, limit: usize) -> Result<Vec<AppEvent>, StoreError> {
        // Every SK of an event at or before `until` sorts before `<until>$` ('$' follows '#').
        let query = self
            .query()
            .key_condition_expression("PK = :pk AND SK < :until")
            .expression_attribute_values(":pk", s(OUTBOX_PK))
            .expression_attribute_values(":until", s(format!("{}$", sort_time(until))))
            .limit(i32::try_from(limit.min(1000)).unwrap_or(1000))
            .consistent_read(true);
        let (rows, _) = self.query_page(query, None).await?;
        rows.iter()
            .take(limit)
            .map(|row| {
                let json = get_s(row, EVENT).ok_or_else(|| super::corrupt("outbox event", None))?;
                serde_json::from_str(json).map_err(|e| super::corrupt("outbox event", Some(Box::new(e))))
            })
            .collect()
    }

    async fn remove_events(&self, events: &[AppEvent]) -> Result<(), StoreError> {
        let deletes = events
            .iter()
            .map(|e| delete_request(key(OUTBOX_PK.to_owned(), event_sk(e))))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(deletes).await
    }
}
