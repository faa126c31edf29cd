//! Erasing a user's own records ([`UserRecords`]) as the adapter does: everything of the user but their
//! items (the Link events only of sessions the user's markers name, and only the user's own events of each),
//! and what a test looks at afterwards ([`MemoryStore::user_footprint`]).

use super::MemoryStore;
use crate::domain::UserId;
use crate::ports::{StoreError, UserRecords};
use async_trait::async_trait;

#[async_trait]
impl UserRecords for MemoryStore {
    async fn erase_user_records(&self, user: &UserId) -> Result<usize, StoreError> {
        self.faults.enter("erase_user_records").await?;
        let mut s = self.lock();
        let mut deleted = 0;
        let sessions: Vec<String> =
            s.link_sessions.iter().filter(|(u, _)| u == user).map(|(_, session)| session.clone()).collect();
        for session in sessions {
            let before = s.link_events.len();
            s.link_events.retain(|(sess, _, _), e| !(sess == &session && &e.user_id == user));
            deleted += before - s.link_events.len();
            s.link_sessions.remove(&(user.clone(), session));
            deleted += 1;
        }
        deleted += usize::from(s.profiles.remove(user).is_some());
        let before = s.exchanges.len();
        s.exchanges.retain(|(u, _), _| u != user);
        deleted += before - s.exchanges.len();
        let before = s.link_tokens.len();
        s.link_tokens.retain(|(u, _, _), _| u != user);
        deleted += before - s.link_tokens.len();
        let before = s.limits.len();
        s.limits.retain(|(u, _, _), _| u != user);
        deleted += before - s.limits.len();
        let before = s.blocks.len();
        s.blocks.retain(|(u, _), _| u != user);
        deleted += before - s.blocks.len();
        Ok(deleted)
    }
}

impl MemoryStore {
    /// Every record of `user` the store holds (the audit trail aside), each named as `kind key`: items and
    /// their transactions, the profile, exchange records, Link tokens, Link events, session markers, limit
    /// counters and blocks. Empty once the user is erased. Not counted, never failing.
    pub fn user_footprint(&self, user: &UserId) -> Vec<String> {
        let s = self.lock();
        let mut found = Vec::new();
        for ((u, item_id), _) in s.items.iter().filter(|((u, _), _)| u == user) {
            found.push(format!("item {u}/{item_id}"));
            let txns = s.transactions.get(item_id).map_or(0, |t| t.len());
            if txns > 0 {
                found.push(format!("transactions {item_id} ({txns})"));
            }
        }
        if s.profiles.contains_key(user) {
            found.push(format!("profile {user}"));
        }
        found.extend(s.exchanges.keys().filter(|(u, _)| u == user).map(|(_, k)| format!("exchange {k}")));
        found.extend(s.institutions.keys().filter(|(u, _)| u == user).map(|(_, i)| format!("institution guard {i}")));
        found.extend(s.link_tokens.keys().filter(|(u, _, _)| u == user).map(|(_, at, _)| format!("link token {at}")));
        found.extend(
            s.link_events
                .iter()
                .filter(|(_, e)| &e.user_id == user)
                .map(|((sess, at, seq), _)| format!("link event {sess}/{at}/{seq}")),
        );
        found.extend(s.link_sessions.iter().filter(|(u, _)| u == user).map(|(_, sess)| format!("session {sess}")));
        found.extend(
            s.limits.keys().filter(|(u, _, _)| u == user).map(|(_, name, start)| format!("limit {name}@{start}")),
        );
        found.extend(s.blocks.keys().filter(|(u, _)| u == user).map(|(_, name)| format!("block {name}")));
        found
    }
}
