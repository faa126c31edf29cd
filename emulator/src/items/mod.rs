//! Item lifecycle: creation (from Link or `/sandbox/public_token/create`), conditions Plaid puts
//! Items in (login required, permission revoked, pending expiration...), update-mode repair,
//! transaction changes, and the webhooks each of these fires.
//!
//! Functions here work on a locked [`State`] (or one of its Items) and return the webhooks to
//! send, which the caller sends after releasing the lock.

mod conditions;
mod mutations;

use serde_json::{Value, json};
use time::OffsetDateTime;

pub use conditions::{Condition, set_condition};
pub use mutations::{ModifyTransaction, MutationResult, NewTransaction, TransactionMutation, mutate_transactions};

use crate::sandbox::{self, Account, Institution};
use crate::state::{Item, PUBLIC_TOKEN_TTL_SECS, PublicTokenRecord, State};
use crate::transactions;
use crate::webhooks::{Outgoing, body};
use crate::wire::PlaidError;

/// What a new Item is made of.
pub struct NewItem<'a> {
    pub institution: &'a Institution,
    /// The sandbox username that logged in (already checked).
    pub username: &'a str,
    pub products: Vec<String>,
    pub webhook: Option<String>,
    pub client_user_id: Option<String>,
    /// Picks the accounts (from the instantiated `user_good` set) the Item gets.
    pub select: &'a dyn Fn(&Account) -> bool,
}

/// Creates an Item and a public token for it. Returns (item id, public token).
pub fn create_item(
    state: &mut State,
    new: NewItem<'_>,
    now: OffsetDateTime,
    seed: u64,
    history_delay_secs: i64,
) -> Result<(String, String), PlaidError> {
    let item_id = crate::ids::item_id();
    let accounts: Vec<Account> = sandbox::USER_GOOD_ACCOUNTS
        .iter()
        .map(|t| t.instantiate_for(&item_id, seed, new.institution, new.username))
        .filter(|a| (new.select)(a))
        .collect();
    if accounts.is_empty() {
        return Err(PlaidError::login_error("NO_ACCOUNTS"));
    }
    let unix = now.unix_timestamp();
    let log = transactions::initial_history(&item_id, seed, now.date(), &accounts);
    let item = Item {
        item_id: item_id.clone(),
        institution_id: new.institution.id.to_owned(),
        institution_name: new.institution.name.to_owned(),
        username: new.username.to_owned(),
        webhook: new.webhook.filter(|w| !w.is_empty()),
        error: None,
        products: new.products,
        created_at: unix,
        consent_expiration_time: None,
        accounts,
        new_accounts: Vec::new(),
        revoked_account_ids: Vec::new(),
        conditions: Default::default(),
        log,
        history_ready_at: unix.saturating_add(history_delay_secs),
        initial_webhooks_sent: false,
        exchanged: false,
        last_webhook: None,
        last_successful_update: None,
        fail_next_paginated_sync: false,
        client_user_id: new.client_user_id,
        access_token: None,
        removed: false,
        hold_webhooks: false,
    };
    state.items.insert(item_id.clone(), item);
    let public_token = crate::ids::token(crate::ids::TokenKind::Public, "sandbox");
    state.public_tokens.insert(
        public_token.clone(),
        PublicTokenRecord {
            item_id: item_id.clone(),
            expires_at: unix.saturating_add(PUBLIC_TOKEN_TTL_SECS),
            used: false,
        },
    );
    Ok((item_id, public_token))
}

/// A webhook to the Item's URL, if it has one.
pub fn to_item(item: &Item, webhook_type: &str, code: &str, extra: Value) -> Option<Outgoing> {
    let url = item.webhook.as_ref().filter(|w| !w.is_empty())?;
    Some(Outgoing {
        url: url.clone(),
        item_id: item.item_id.clone(),
        body: body(webhook_type, code, &item.item_id, extra),
    })
}

fn sync_updates_available(item: &Item, historical: bool) -> Option<Outgoing> {
    to_item(
        item,
        "TRANSACTIONS",
        "SYNC_UPDATES_AVAILABLE",
        json!({"initial_update_complete": true, "historical_update_complete": historical}),
    )
}

/// Sends the initial TRANSACTIONS webhooks once the Item's history is ready and its public token
/// was exchanged: INITIAL_UPDATE, SYNC_UPDATES_AVAILABLE (initial), HISTORICAL_UPDATE,
/// SYNC_UPDATES_AVAILABLE (historical).
pub fn initial_webhooks(item: &mut Item, now: OffsetDateTime) -> Vec<Outgoing> {
    let unix = now.unix_timestamp();
    if item.initial_webhooks_sent || !item.exchanged || !item.history_ready(unix) {
        return Vec::new();
    }
    item.initial_webhooks_sent = true;
    item.last_successful_update = Some(unix.max(item.history_ready_at));
    if !item.products.iter().any(|p| p == "transactions") {
        return Vec::new();
    }
    let current = item.log.current();
    let cutoff = crate::clock::ymd(now.date() - time::Duration::days(30));
    let recent = current.iter().filter(|t| t.date >= cutoff).count();
    [
        to_item(item, "TRANSACTIONS", "INITIAL_UPDATE", json!({"new_transactions": recent, "error": null})),
        sync_updates_available(item, false),
        to_item(item, "TRANSACTIONS", "HISTORICAL_UPDATE", json!({"new_transactions": current.len(), "error": null})),
        sync_updates_available(item, true),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Checks every Item for history that became ready (after a delay or a clock jump).
pub fn ready_webhooks(state: &mut State, now: OffsetDateTime) -> Vec<Outgoing> {
    let mut out = Vec::new();
    for item in state.items.values_mut().filter(|i| !i.removed) {
        out.extend(initial_webhooks(item, now));
    }
    out
}

/// Completes an update-mode Link session: repairs ITEM_LOGIN_REQUIRED, clears pending
/// expiration/disconnect, and adds the selected new accounts. No LOGIN_REPAIRED: Plaid fires that only
/// when an Item leaves ITEM_LOGIN_REQUIRED *without* update mode in the app (the app learns of the repair
/// from Link's onSuccess).
pub fn repair(item: &mut Item, add_new_account_ids: &[String]) {
    if item.error.as_ref().is_some_and(|e| e.error_code == "ITEM_LOGIN_REQUIRED") {
        item.error = None;
    }
    item.conditions.pending_disconnect = None;
    item.consent_expiration_time = None;
    if !item.new_accounts.is_empty() {
        let new_accounts = std::mem::take(&mut item.new_accounts);
        for account in new_accounts {
            if add_new_account_ids.contains(&account.account_id) {
                item.accounts.push(account);
            }
        }
    }
}

/// Fails product calls (accounts, transactions) of an Item in error.
pub fn product_gate(item: &Item) -> Result<(), PlaidError> {
    match &item.error {
        Some(e) => Err(e.clone()),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn item_at(state: &mut State, institution_id: &str, seed: u64) -> String {
        let inst = sandbox::institution(institution_id).unwrap();
        let (item_id, _) = create_item(
            state,
            NewItem {
                institution: inst,
                username: sandbox::GOOD_USERNAME,
                products: vec!["transactions".to_owned()],
                webhook: None,
                client_user_id: None,
                select: &|_| true,
            },
            OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
            seed,
            0,
        )
        .unwrap();
        item_id
    }

    /// (mask, account_id, persistent_account_id) of an Item's accounts.
    fn ids(state: &State, item_id: &str) -> Vec<(String, String, Option<String>)> {
        state.items[item_id]
            .accounts
            .iter()
            .map(|a| (a.mask.clone(), a.account_id.clone(), a.persistent_account_id.clone()))
            .collect()
    }

    #[test]
    fn persistent_account_ids_are_the_same_across_items_of_one_login_at_a_tokenized_institution() {
        for institution_id in ["ins_56", "ins_13", "ins_127990", "ins_127287"] {
            let mut state = State::new(0);
            let first = item_at(&mut state, institution_id, 3);
            let second = item_at(&mut state, institution_id, 3);
            let (a, b) = (ids(&state, &first), ids(&state, &second));
            assert_eq!(a.len(), b.len());
            for ((mask_a, id_a, pid_a), (mask_b, id_b, pid_b)) in a.iter().zip(&b) {
                assert_eq!(mask_a, mask_b);
                assert_ne!(id_a, id_b, "account_id is per Item");
                assert_eq!(pid_a, pid_b, "{institution_id} {mask_a}: persistent_account_id is per login");
            }
            // Depository accounts have one (distinct per account), the others none.
            let depository: Vec<&String> = a.iter().filter_map(|(_, _, p)| p.as_ref()).collect();
            assert_eq!(depository.len(), 4, "{institution_id}: checking, savings, CD, money market");
            let distinct: std::collections::HashSet<&&String> = depository.iter().collect();
            assert_eq!(distinct.len(), depository.len());
            for (mask, _, pid) in &a {
                let account = state.items[&first].accounts.iter().find(|x| &x.mask == mask).unwrap();
                assert_eq!(pid.is_some(), account.account_type == "depository", "{institution_id} {mask}");
                let json = account.to_json();
                assert_eq!(json.get("persistent_account_id").and_then(Value::as_str), pid.as_deref());
            }
        }
    }

    #[test]
    fn persistent_account_ids_are_per_institution_and_seed() {
        let mut state = State::new(0);
        let chase = item_at(&mut state, "ins_56", 3);
        let pnc = item_at(&mut state, "ins_13", 3);
        let chase_other_seed = item_at(&mut state, "ins_56", 4);
        let checking = |item: &str| ids(&state, item)[0].2.clone().unwrap();
        assert_ne!(checking(&chase), checking(&pnc));
        assert_ne!(checking(&chase), checking(&chase_other_seed));
    }

    #[test]
    fn no_persistent_account_id_at_an_institution_without_tokenized_account_numbers() {
        let mut state = State::new(0);
        let item_id = item_at(&mut state, "ins_109508", 3);
        let item = &state.items[&item_id];
        assert!(!item.accounts.is_empty());
        for account in &item.accounts {
            assert_eq!(account.persistent_account_id, None);
            assert!(account.to_json().get("persistent_account_id").is_none(), "key omitted, not null");
        }
    }

    #[test]
    fn a_new_account_gets_its_persistent_account_id_from_the_items_login() {
        let mut state = State::new(0);
        let first = item_at(&mut state, "ins_56", 3);
        let second = item_at(&mut state, "ins_56", 3);
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_001);
        let mut new_ids = Vec::new();
        for item_id in [&first, &second] {
            let item = state.items.get_mut(item_id).unwrap();
            set_condition(item, Condition::NewAccountsAvailable, None, now, 3).unwrap();
            let account = &item.new_accounts[0];
            assert_eq!(account.mask, "9999");
            new_ids.push(account.persistent_account_id.clone().unwrap());
        }
        assert_eq!(new_ids[0], new_ids[1]);
        let plain = item_at(&mut state, "ins_109508", 3);
        let item = state.items.get_mut(&plain).unwrap();
        set_condition(item, Condition::NewAccountsAvailable, None, now, 3).unwrap();
        assert_eq!(item.new_accounts[0].persistent_account_id, None);
    }
}
