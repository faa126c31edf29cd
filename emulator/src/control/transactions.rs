//! An Item's transactions: read them, change them, make the next paginated sync fail.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::items::{ItemRef, resolve};
use super::{Control, Shared, body_of, control, not_found, reply};
use crate::items::{self, MutationResult, TransactionMutation};
use crate::transactions::{WireOptions, WireTxn};
use crate::wire::PlaidError;

impl Control {
    /// Adds, modifies and removes transactions of an Item; fires the webhooks Plaid would.
    pub fn mutate_transactions(
        &self,
        item: &str,
        mutation: &TransactionMutation,
    ) -> Result<MutationResult, PlaidError> {
        let now = self.app.clock.now();
        let mut state = self.app.lock_state();
        let id = resolve(&state, item)?;
        let it = state.items.get_mut(&id).ok_or_else(|| not_found("item"))?;
        let (result, out) = items::mutate_transactions(it, mutation, now, self.app.seed())?;
        drop(state);
        self.app.send_webhooks(out);
        self.app.changed();
        Ok(result)
    }

    /// Makes the Item's next paginated `/transactions/sync` read (a cursor issued with
    /// `has_more: true`) fail with TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION.
    pub fn fail_next_paginated_sync(&self, item: &str) -> Result<(), PlaidError> {
        let mut state = self.app.lock_state();
        let id = resolve(&state, item)?;
        if let Some(it) = state.items.get_mut(&id) {
            it.fail_next_paginated_sync = true;
        }
        Ok(())
    }

    /// An Item's current transactions (as `/transactions/sync` shows them), newest first.
    pub fn transactions(&self, item: &str) -> Result<Vec<Value>, PlaidError> {
        let state = self.app.lock_state();
        let id = resolve(&state, item)?;
        let it = state.items.get(&id).ok_or_else(|| not_found("item"))?;
        let options = WireOptions { include_personal_finance_category: true, include_original_description: false };
        Ok(it.log.current().iter().filter_map(|t| serde_json::to_value(WireTxn { txn: t, options }).ok()).collect())
    }
}

pub async fn list(State(app): Shared, ItemRef(id): ItemRef) -> Response {
    reply(control(&app).transactions(&id).map(|t| json!({"transactions": t})))
}

pub async fn mutate(State(app): Shared, ItemRef(id): ItemRef, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let req: TransactionMutation = body_of(&app, &headers, body).await?;
        control(&app).mutate_transactions(&id, &req)
    }
    .await;
    reply(result)
}

pub async fn fail_next_page(State(app): Shared, ItemRef(id): ItemRef) -> Response {
    reply(control(&app).fail_next_paginated_sync(&id).map(|()| json!({"fail_next_paginated_sync": true})))
}
