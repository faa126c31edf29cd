//! `/transactions/sync` paging: the page after a cursor, over the net changes since it.

use std::sync::Arc;

use super::cursor::Cursor;
use super::log::{TxLog, Update};
use super::txn::Txn;

/// One page of `/transactions/sync`.
#[derive(Debug, Clone)]
pub struct SyncPage {
    pub added: Vec<Arc<Txn>>,
    pub modified: Vec<Arc<Txn>>,
    pub removed: Vec<(String, String)>,
    pub next_cursor: Cursor,
    pub has_more: bool,
}

/// Why a sync page cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("the log changed since the pagination cursor was issued")]
    MutationDuringPagination,
    #[error("the cursor points beyond the log")]
    InvalidCursor,
}

/// Computes the page after `cursor` (`None` = from the beginning).
pub fn sync_page(
    log: &TxLog,
    cursor: Option<Cursor>,
    count: usize,
    account_filter: Option<&str>,
) -> Result<SyncPage, SyncError> {
    let len = u32::try_from(log.len()).map_err(|_| SyncError::InvalidCursor)?;
    let (from, to, offset) = match cursor {
        None => (0, len, 0),
        Some(c) if c.is_mid_pagination() => {
            if c.to != len {
                return Err(SyncError::MutationDuringPagination);
            }
            (c.from, c.to, c.offset)
        }
        Some(c) => {
            if c.to > len {
                return Err(SyncError::InvalidCursor);
            }
            (c.to, len, 0)
        }
    };
    let mut updates = log.net_updates(from as usize, to as usize);
    if let Some(account) = account_filter {
        updates.retain(|u| u.account_id() == account);
    }
    let start = (offset as usize).min(updates.len());
    let end = start.saturating_add(count).min(updates.len());
    let has_more = end < updates.len();
    let mut page = SyncPage {
        added: Vec::new(),
        modified: Vec::new(),
        removed: Vec::new(),
        next_cursor: if has_more {
            Cursor { from, to, offset: u32::try_from(end).map_err(|_| SyncError::InvalidCursor)? }
        } else {
            Cursor::at(to)
        },
        has_more,
    };
    for update in updates.drain(start..end) {
        match update {
            Update::Added(t) => page.added.push(t),
            Update::Modified(t) => page.modified.push(t),
            Update::Removed { transaction_id, account_id } => page.removed.push((transaction_id, account_id)),
        }
    }
    Ok(page)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::sandbox::{Account, USER_GOOD_ACCOUNTS};
    use crate::transactions::history::initial_history;
    use crate::transactions::log::Change;

    fn accounts() -> Vec<Account> {
        USER_GOOD_ACCOUNTS.iter().map(|t| t.instantiate("item", 7)).collect()
    }

    #[test]
    fn paging_and_net_changes() {
        let mut log = initial_history("item", 7, date!(2026 - 03 - 15), &accounts());
        let total = log.current().len();
        let mut cursor = None;
        let mut seen = 0;
        loop {
            let page = sync_page(&log, cursor, 100, None).unwrap();
            seen += page.added.len();
            cursor = Some(page.next_cursor);
            if !page.has_more {
                break;
            }
        }
        assert_eq!(seen, total);
        let settled = cursor.unwrap();

        // add one, modify one, remove one, add-then-remove one
        let existing = log.current();
        let mut changed = (*existing[0]).clone();
        changed.amount_cents += 1;
        log.push(Change::Modified(Arc::new(changed)));
        log.push(Change::Removed {
            transaction_id: existing[1].transaction_id.clone(),
            account_id: existing[1].account_id.clone(),
        });
        let mut fresh = (*existing[2]).clone();
        fresh.transaction_id = "fresh".into();
        log.push(Change::Added(Arc::new(fresh)));
        let mut ephemeral = (*existing[2]).clone();
        ephemeral.transaction_id = "ephemeral".into();
        log.push(Change::Added(Arc::new(ephemeral)));
        log.push(Change::Removed { transaction_id: "ephemeral".into(), account_id: existing[2].account_id.clone() });
        let page = sync_page(&log, Some(settled), 100, None).unwrap();
        assert_eq!(page.added.len(), 1);
        assert_eq!(page.added[0].transaction_id, "fresh");
        assert_eq!(page.modified.len(), 1);
        assert_eq!(page.modified[0].amount_cents, existing[0].amount_cents + 1);
        assert_eq!(page.removed, vec![(existing[1].transaction_id.clone(), existing[1].account_id.clone())]);
    }

    #[test]
    fn mutation_during_pagination_is_detected() {
        let mut log = initial_history("item", 7, date!(2026 - 03 - 15), &accounts());
        let page = sync_page(&log, None, 10, None).unwrap();
        assert!(page.has_more);
        let t = log.current()[0].clone();
        log.push(Change::Removed { transaction_id: t.transaction_id.clone(), account_id: t.account_id.clone() });
        assert_eq!(sync_page(&log, Some(page.next_cursor), 10, None).unwrap_err(), SyncError::MutationDuringPagination);
    }

    /// A client that syncs now and then (restarting a loop on mutation errors, from the cursor the
    /// loop started with) always ends up with exactly the log's current transactions.
    mod properties {
        use std::collections::HashMap;

        use proptest::prelude::*;

        use super::super::*;
        use crate::transactions::log::Change;
        use crate::transactions::txn::{Location, PaymentMeta};

        #[derive(Debug, Clone)]
        enum Op {
            Add,
            Modify(usize),
            Remove(usize),
            /// Sync pages of this size; mutate after `mutate_after` pages if given.
            Sync {
                count: usize,
                mutate_after: Option<usize>,
            },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => Just(Op::Add),
                2 => any::<usize>().prop_map(Op::Modify),
                2 => any::<usize>().prop_map(Op::Remove),
                2 => (1usize..8, proptest::option::of(0usize..3))
                    .prop_map(|(count, mutate_after)| Op::Sync { count, mutate_after }),
            ]
        }

        fn txn(id: u64, amount: i64) -> Txn {
            Txn {
                transaction_id: format!("t{id}"),
                account_id: "acc".into(),
                amount_cents: amount,
                iso_currency_code: "USD".into(),
                date: "2026-01-01".into(),
                authorized_date: None,
                name: "x".into(),
                merchant_name: None,
                pending: false,
                pending_transaction_id: None,
                payment_channel: "other".into(),
                transaction_type: "special".into(),
                category: vec![],
                category_id: "0".into(),
                pfc_primary: "OTHER".into(),
                pfc_detailed: "OTHER".into(),
                location: Location::default(),
                payment_meta: PaymentMeta::default(),
                website: None,
            }
        }

        struct World {
            log: TxLog,
            next: u64,
        }

        impl World {
            fn mutate(&mut self, op: &Op) {
                let ids: Vec<String> = {
                    let mut v: Vec<String> = self.log.current().iter().map(|t| t.transaction_id.clone()).collect();
                    v.sort();
                    v
                };
                match op {
                    Op::Add => {
                        self.next += 1;
                        self.log.push(Change::Added(Arc::new(txn(self.next, 100))));
                    }
                    Op::Modify(i) if !ids.is_empty() => {
                        let mut t = (**self.log.get(&ids[i % ids.len()]).unwrap()).clone();
                        t.amount_cents += 1;
                        self.log.push(Change::Modified(Arc::new(t)));
                    }
                    Op::Remove(i) if !ids.is_empty() => {
                        let id = ids[i % ids.len()].clone();
                        self.log.push(Change::Removed { transaction_id: id, account_id: "acc".into() });
                    }
                    _ => {}
                }
            }
        }

        proptest! {
            #[test]
            fn client_view_converges(ops in proptest::collection::vec(op(), 1..60)) {
                let mut world = World { log: TxLog::default(), next: 0 };
                let mut view: HashMap<String, Txn> = HashMap::new();
                let mut cursor: Option<Cursor> = None;
                for op in &ops {
                    let Op::Sync { count, mutate_after } = op else {
                        world.mutate(op);
                        continue;
                    };
                    // One sync loop; a mutation may land mid-loop (then: restart from `cursor`).
                    let mut pending_mutation = *mutate_after;
                    'restart: loop {
                        let mut page_cursor = cursor;
                        let mut staged: Vec<SyncPage> = Vec::new();
                        let mut pages = 0;
                        loop {
                            match sync_page(&world.log, page_cursor, *count, None) {
                                Ok(page) => {
                                    page_cursor = Some(page.next_cursor);
                                    let more = page.has_more;
                                    staged.push(page);
                                    pages += 1;
                                    if !more {
                                        break;
                                    }
                                    if pending_mutation == Some(pages) {
                                        pending_mutation = None;
                                        world.mutate(&Op::Add);
                                    }
                                }
                                Err(SyncError::MutationDuringPagination) => continue 'restart,
                                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                            }
                        }
                        for page in staged {
                            for t in page.added.iter().chain(page.modified.iter()) {
                                view.insert(t.transaction_id.clone(), (**t).clone());
                            }
                            for (id, _) in page.removed {
                                view.remove(&id);
                            }
                        }
                        cursor = page_cursor;
                        break;
                    }
                    let current: HashMap<String, Txn> = world
                        .log
                        .current()
                        .iter()
                        .map(|t| (t.transaction_id.clone(), (**t).clone()))
                        .collect();
                    prop_assert_eq!(&view, &current);
                }
            }
        }
    }
}
