//! `/transactions/sync` over an item's log of changes.
//!
//! A cursor names a position in the item's log. A null cursor gets the item's current transactions (all
//! changes applied) as `added`, paged, and then the position at the end of the log; a cursor gets the log
//! from its position, each page netted (the last change of a transaction wins). A cursor in the middle of a
//! pagination remembers how long the log was when the pagination began: if the log grew since, the answer
//! is TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION (the caller must restart from the pagination's first
//! cursor).

use super::errors;
use crate::ports::PlaidCallError;
use crate::ports::plaid::wire;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One change to an item's transactions.
#[derive(Debug, Clone)]
pub enum SyncChange {
    Added(wire::Transaction),
    Modified(wire::Transaction),
    /// A transaction id.
    Removed(String),
}

impl SyncChange {
    fn id(&self) -> &str {
        match self {
            Self::Added(t) | Self::Modified(t) => &t.transaction_id,
            Self::Removed(id) => id,
        }
    }
}

/// The item's current transactions by id.
pub(super) fn live(log: &[SyncChange]) -> BTreeMap<String, wire::Transaction> {
    let mut live = BTreeMap::new();
    for change in log {
        match change {
            SyncChange::Added(t) | SyncChange::Modified(t) => {
                live.insert(t.transaction_id.clone(), t.clone());
            }
            SyncChange::Removed(id) => {
                live.remove(id);
            }
        }
    }
    live
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    item: String,
    /// Position in the log.
    pos: usize,
    /// Offset in the current transactions, while paging a null cursor's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snapshot: Option<usize>,
    /// The log's length when the pagination began, while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    began_at: Option<usize>,
}

fn encode(c: &Cursor) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode(s: &str) -> Option<Cursor> {
    use base64::Engine;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()?).ok()
}

fn invalid_cursor() -> PlaidCallError {
    errors::api(super::endpoints::TRANSACTIONS_SYNC, "INVALID_REQUEST", "INVALID_FIELD", 400)
}

/// One page for `cursor`: `added`, `modified`, `removed`, the next cursor and whether there is more.
pub(super) struct Page {
    pub added: Vec<wire::Transaction>,
    pub modified: Vec<wire::Transaction>,
    pub removed: Vec<String>,
    pub next_cursor: String,
    pub has_more: bool,
}

pub(super) fn page(
    item_id: &str,
    log: &[SyncChange],
    cursor: Option<&str>,
    count: u32,
) -> Result<Page, PlaidCallError> {
    let count = count.clamp(1, 500) as usize;
    let len = log.len();
    let cursor = match cursor {
        None => Cursor { item: item_id.to_owned(), pos: len, snapshot: Some(0), began_at: None },
        Some(c) => {
            let c = decode(c).ok_or_else(invalid_cursor)?;
            if c.item != item_id || c.pos > len {
                return Err(invalid_cursor());
            }
            c
        }
    };
    if cursor.began_at.is_some_and(|began| began != len) {
        return Err(errors::mutation_during_pagination());
    }
    let began_at = cursor.began_at.unwrap_or(len);
    let next = |pos: usize, snapshot: Option<usize>, more: bool| {
        encode(&Cursor { item: item_id.to_owned(), pos, snapshot, began_at: more.then_some(began_at) })
    };
    if let Some(offset) = cursor.snapshot {
        // A null cursor's answer: the current transactions, as added.
        let current: Vec<wire::Transaction> = live(log).into_values().collect();
        let end = (offset + count).min(current.len());
        let has_more = end < current.len();
        let added = current.get(offset.min(end)..end).map(<[_]>::to_vec).unwrap_or_default();
        let next_cursor = if has_more { next(len, Some(end), true) } else { next(len, None, false) };
        return Ok(Page { added, modified: vec![], removed: vec![], next_cursor, has_more });
    }
    let end = (cursor.pos + count).min(len);
    let has_more = end < len;
    // Netted per transaction: added if its first change in the page adds it, the last change wins.
    let mut order: Vec<&str> = Vec::new();
    let mut net: BTreeMap<&str, (bool, &SyncChange)> = BTreeMap::new();
    for change in log.get(cursor.pos..end).unwrap_or_default() {
        let id = change.id();
        match net.get_mut(id) {
            Some(entry) => entry.1 = change,
            None => {
                order.push(id);
                net.insert(id, (matches!(change, SyncChange::Added(_)), change));
            }
        }
    }
    let (mut added, mut modified, mut removed) = (vec![], vec![], vec![]);
    for id in order {
        match net.get(id) {
            Some((_, SyncChange::Removed(id))) => removed.push(id.clone()),
            Some((true, SyncChange::Added(t) | SyncChange::Modified(t))) => added.push(t.clone()),
            Some((false, SyncChange::Added(t) | SyncChange::Modified(t))) => modified.push(t.clone()),
            None => {}
        }
    }
    Ok(Page { added, modified, removed, next_cursor: next(end, None, has_more), has_more })
}
