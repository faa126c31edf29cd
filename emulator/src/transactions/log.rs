//! An Item's append-only change log and the net changes between two positions in it.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::txn::Txn;

/// One entry of an Item's change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Added(Arc<Txn>),
    Modified(Arc<Txn>),
    Removed { transaction_id: String, account_id: String },
}

impl Change {
    fn transaction_id(&self) -> &str {
        match self {
            Change::Added(t) | Change::Modified(t) => &t.transaction_id,
            Change::Removed { transaction_id, .. } => transaction_id,
        }
    }
}

/// A net change between two log positions.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Added(Arc<Txn>),
    Modified(Arc<Txn>),
    Removed { transaction_id: String, account_id: String },
}

impl Update {
    /// The account the transaction belongs to.
    pub fn account_id(&self) -> &str {
        match self {
            Update::Added(t) | Update::Modified(t) => &t.account_id,
            Update::Removed { account_id, .. } => account_id,
        }
    }
}

/// An Item's append-only change log, plus an index of the current transactions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TxLog {
    entries: Vec<Change>,
    #[serde(skip)]
    current: HashMap<String, Arc<Txn>>,
}

impl TxLog {
    /// A log from persisted entries (rebuilds the index).
    pub fn from_entries(entries: Vec<Change>) -> Self {
        let mut log = TxLog { entries: Vec::new(), current: HashMap::new() };
        for e in entries {
            log.push(e);
        }
        log
    }

    /// Rebuilds the index after deserialising.
    pub fn reindex(&mut self) {
        let entries = std::mem::take(&mut self.entries);
        *self = Self::from_entries(entries);
    }

    /// How many entries the log holds (the position of its end).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Appends a change.
    pub fn push(&mut self, change: Change) {
        match &change {
            Change::Added(t) | Change::Modified(t) => {
                self.current.insert(t.transaction_id.clone(), Arc::clone(t));
            }
            Change::Removed { transaction_id, .. } => {
                self.current.remove(transaction_id);
            }
        }
        self.entries.push(change);
    }

    /// A current transaction.
    pub fn get(&self, transaction_id: &str) -> Option<&Arc<Txn>> {
        self.current.get(transaction_id)
    }

    /// The current transactions, newest date first.
    pub fn current(&self) -> Vec<Arc<Txn>> {
        let mut all: Vec<Arc<Txn>> = self.current.values().cloned().collect();
        all.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.transaction_id.cmp(&b.transaction_id)));
        all
    }

    /// The net changes between positions `from` and `to` (`from <= to <= len`), in order of each
    /// transaction's first change in the span.
    pub fn net_updates(&self, from: usize, to: usize) -> Vec<Update> {
        let to = to.min(self.entries.len());
        let from = from.min(to);
        let span = &self.entries[from..to];
        // For each transaction touched in the span: (first index, existed before, last change).
        let mut order: Vec<&str> = Vec::new();
        let mut seen: HashMap<&str, (bool, &Change)> = HashMap::new();
        for change in span {
            let id = change.transaction_id();
            match seen.get_mut(id) {
                Some(entry) => entry.1 = change,
                None => {
                    let existed_before = !matches!(change, Change::Added(_));
                    seen.insert(id, (existed_before, change));
                    order.push(id);
                }
            }
        }
        let mut out = Vec::with_capacity(order.len());
        for id in order {
            let Some((existed, last)) = seen.get(id) else {
                continue;
            };
            match (existed, last) {
                (true, Change::Added(t) | Change::Modified(t)) => out.push(Update::Modified(Arc::clone(t))),
                (false, Change::Added(t) | Change::Modified(t)) => out.push(Update::Added(Arc::clone(t))),
                (true, Change::Removed { transaction_id, account_id }) => {
                    out.push(Update::Removed { transaction_id: transaction_id.clone(), account_id: account_id.clone() })
                }
                (false, Change::Removed { .. }) => {}
            }
        }
        out
    }
}

#[cfg(test)]
impl TxLog {
    /// Every entry, oldest first.
    pub fn entries(&self) -> &[Change] {
        &self.entries
    }

    /// Whether a transaction with this id ever existed (ids are never reused).
    pub fn ever_had(&self, transaction_id: &str) -> bool {
        self.current.contains_key(transaction_id) || self.entries.iter().any(|e| e.transaction_id() == transaction_id)
    }
}
