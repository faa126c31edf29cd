//! Erasing a user's own records ([`UserRecords`]), and the Link-session markers that make their Link events
//! findable: `USER#<user>` / `LINKSESSION#<session>` (`type` `LINK_SESSION`, `ttl` the latest of its
//! events' expiries), written before the session's events.

use super::convert::{Attrs, get_s, key, n, s};
use super::keys::*;
use super::{DynamoStore, delete_request, is_conditional_failure, sdk_error};
use crate::domain::{LinkEventRecord, LinkSessionId, UserId};
use crate::ports::{StoreError, UserRecords};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// The sort key of a user's marker of a Link session (the session's partition key).
const SESSION_PREFIX: &str = "LINKSESSION#";

fn session_marker_sk(session: &LinkSessionId) -> String {
    link_session_pk(session)
}

/// The key attributes of a queried row.
fn key_of(row: Attrs) -> Attrs {
    row.into_iter().filter(|(k, _)| k == PK || k == SK).collect()
}

impl DynamoStore {
    /// Marks, in each reporting user's partition, the Link sessions of `events`, keeping each marker until the
    /// latest expiry of its events (`ttl` of each event, as [`crate::ports::LinkStore::put_link_events`]
    /// writes them). Called before the events are written, so no event is stored without its marker.
    pub(super) async fn mark_link_sessions(
        &self,
        events: &[LinkEventRecord],
        event_ttl: impl Fn(&LinkEventRecord) -> i64,
    ) -> Result<(), StoreError> {
        let mut markers: BTreeMap<(&UserId, &LinkSessionId), i64> = BTreeMap::new();
        for e in events {
            let ttl = event_ttl(e);
            let entry = markers.entry((&e.user_id, &e.link_session_id)).or_insert(ttl);
            *entry = (*entry).max(ttl);
        }
        for ((user, session), ttl) in markers {
            self.count();
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user), session_marker_sk(session))))
                .update_expression("SET #type = :type, #session = :session, #ttl = :ttl")
                // Never shortens a marker: a later batch may carry older (client) timestamps.
                .condition_expression("attribute_not_exists(#ttl) OR #ttl < :ttl")
                .expression_attribute_names("#type", TYPE)
                .expression_attribute_names("#session", "link_session_id")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":type", s("LINK_SESSION"))
                .expression_attribute_values(":session", s(session.as_str()))
                .expression_attribute_values(":ttl", n(ttl))
                .send()
                .await;
            match result {
                Ok(_) => {}
                Err(e) if is_conditional_failure(&e) => {} // kept longer already
                Err(e) => return Err(sdk_error("UpdateItem", e)),
            }
        }
        Ok(())
    }

    /// Deletes `user`'s events of one Link session (another user's events of the same session id stay).
    async fn erase_session_events(&self, user: &UserId, session_pk: &str) -> Result<usize, StoreError> {
        let query = self
            .query()
            .key_condition_expression("PK = :pk")
            .filter_expression("user_id = :user")
            .expression_attribute_values(":pk", s(session_pk))
            .expression_attribute_values(":user", s(user.as_str()))
            .projection_expression("PK, SK")
            .consistent_read(true);
        let deletes = self
            .query_all(query)
            .await?
            .into_iter()
            .map(|row| delete_request(key_of(row)))
            .collect::<Result<Vec<_>, _>>()?;
        let deleted = deletes.len();
        self.batch_write(deletes).await?;
        Ok(deleted)
    }
}

#[async_trait]
impl UserRecords for DynamoStore {
    async fn erase_user_records(&self, user: &UserId) -> Result<usize, StoreError> {
        let query = self
            .query()
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(user_pk(user)))
            .projection_expression("PK, SK")
            .consistent_read(true);
        let rows = self.query_all(query).await?;
        let mut deleted = 0;
        let mut rest = Vec::new();
        for row in rows {
            let sk = get_s(&row, SK).unwrap_or_default().to_owned();
            if sk.starts_with(ITEM_PREFIX) || sk.starts_with(INSTITUTION_PREFIX) {
                // Removed at Plaid first, then deleted with `delete_item` (with their institution guards):
                // never here.
                continue;
            }
            if sk.starts_with(SESSION_PREFIX) {
                // The session's events first, its marker after them: a retry finds the marker again.
                deleted += self.erase_session_events(user, &sk).await?;
                self.delete(key_of(row)).await?;
                deleted += 1;
                continue;
            }
            rest.push(delete_request(key_of(row))?);
        }
        deleted += rest.len();
        self.batch_write(rest).await?;
        Ok(deleted)
    }
}
