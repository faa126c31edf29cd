//! [`ScriptedPlaid`]: Plaid in memory, with a script of failures. It implements every Plaid port
//! ([`crate::ports::PlaidApi`]) over in-memory items:
//!
//! - [`ScriptedPlaid::add_public_token`] is what Link gives the app; `/item/public_token/exchange` makes the
//!   item (`access-sandbox-…` and an item id) and uses the token up (a second exchange: INVALID_PUBLIC_TOKEN);
//! - `/item/access_token/invalidate` gives the item a new access token; the old one then gets
//!   INVALID_ACCESS_TOKEN everywhere;
//! - `/item/remove` removes the item (ITEM_NOT_FOUND after that); `/item/get`, `/accounts/get`,
//!   `/item/webhook/update`, `/link/token/create`, `/institutions/get_by_id`,
//!   `/webhook_verification_key/get` answer from what the test set up;
//! - `/transactions/sync` pages each item's changes ([`ScriptedPlaid::push_changes`]) by `count`, with
//!   opaque cursors and `has_more`, like Plaid: a null cursor gets the item's current transactions as
//!   `added` (never `removed`), a cursor gets the changes since it, and a cursor of a pagination whose data
//!   changed since it began gets TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION
//!   ([`ScriptedPlaid::change_before_sync_call`] changes the data in the middle of a pagination);
//! - an item in error ([`ScriptedPlaid::set_item_error`]) answers its error on `/transactions/sync` and
//!   `/accounts/get`;
//! - each endpoint has a script of failures ([`ScriptedPlaid::fail_next`], [`ScriptedPlaid::pass_next`]) and
//!   a call counter ([`ScriptedPlaid::calls`]); `/item/remove` calls are also logged per item with their
//!   (tokio) time, for pacing.

mod api;
pub mod errors;
mod sync;

pub use sync::SyncChange;

use crate::domain::{self, AccessToken, InstitutionId, ItemId, PublicToken};
use crate::ports::plaid::wire;
use crate::ports::{Clock, PlaidCallError, PlaidError};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Plaid's endpoints, as [`ScriptedPlaid::calls`] and [`ScriptedPlaid::fail_next`] name them.
pub mod endpoints {
    pub const LINK_TOKEN_CREATE: &str = "/link/token/create";
    pub const LINK_TOKEN_GET: &str = "/link/token/get";
    pub const PUBLIC_TOKEN_EXCHANGE: &str = "/item/public_token/exchange";
    pub const ITEM_GET: &str = "/item/get";
    pub const ITEM_REMOVE: &str = "/item/remove";
    pub const ITEM_WEBHOOK_UPDATE: &str = "/item/webhook/update";
    pub const ACCOUNTS_GET: &str = "/accounts/get";
    pub const ACCOUNTS_BALANCE_GET: &str = "/accounts/balance/get";
    pub const TRANSACTIONS_SYNC: &str = "/transactions/sync";
    pub const INSTITUTIONS_GET_BY_ID: &str = "/institutions/get_by_id";
    pub const WEBHOOK_VERIFICATION_KEY_GET: &str = "/webhook_verification_key/get";
    pub const ITEM_ACCESS_TOKEN_INVALIDATE: &str = "/item/access_token/invalidate";
    pub const ALL: [&str; 12] = [
        LINK_TOKEN_CREATE,
        LINK_TOKEN_GET,
        PUBLIC_TOKEN_EXCHANGE,
        ITEM_GET,
        ITEM_REMOVE,
        ITEM_WEBHOOK_UPDATE,
        ACCOUNTS_GET,
        ACCOUNTS_BALANCE_GET,
        TRANSACTIONS_SYNC,
        INSTITUTIONS_GET_BY_ID,
        WEBHOOK_VERIFICATION_KEY_GET,
        ITEM_ACCESS_TOKEN_INVALIDATE,
    ];
}

/// One `/item/remove` call that named a known item.
#[derive(Debug, Clone)]
pub struct RemoveCall {
    pub item_id: ItemId,
    /// When it was made (tokio's clock: virtual under `tokio::time::pause`).
    pub at: tokio::time::Instant,
    /// Whether it removed the item (not failed by the script, not already removed).
    pub removed: bool,
}

struct FakeItem {
    item_id: ItemId,
    access_token: String,
    institution: domain::Institution,
    accounts: Vec<wire::Account>,
    webhook: Option<String>,
    error: Option<PlaidError>,
    consent_expiration_time: Option<time::OffsetDateTime>,
    removed: bool,
    history_ready: bool,
    /// Every change to its transactions, in order.
    log: Vec<SyncChange>,
    /// Changes to make before answering the sync call with that number (1-based, of this item).
    scripted_changes: Vec<(usize, Vec<SyncChange>)>,
    /// The cursor of every sync call, in order.
    sync_cursors: Vec<Option<String>>,
    remove_calls: usize,
}

struct PendingLink {
    institution: domain::Institution,
    accounts: Vec<wire::Account>,
}

#[derive(Default)]
struct State {
    items: BTreeMap<ItemId, FakeItem>,
    by_token: HashMap<String, ItemId>,
    /// Public tokens not yet exchanged (`None` once used).
    public_tokens: HashMap<String, Option<PendingLink>>,
    institutions: BTreeMap<String, wire::Institution>,
    webhook_keys: HashMap<String, wire::WebhookVerificationKey>,
    calls: HashMap<&'static str, usize>,
    /// Per endpoint, what the next calls do: `Some(error)` fails, `None` answers normally.
    script: HashMap<&'static str, VecDeque<Option<PlaidCallError>>>,
    /// Per endpoint, how late the next calls answer after acting.
    late: HashMap<&'static str, VecDeque<std::time::Duration>>,
    removals: Vec<RemoveCall>,
    link_token_requests: Vec<serde_json::Value>,
    /// `/link/token/get`'s `link_sessions` per link token made here (JSON, as Plaid sends them).
    link_sessions: HashMap<String, Vec<serde_json::Value>>,
    next_id: u64,
}

/// Plaid in memory (see the module docs).
pub struct ScriptedPlaid {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ScriptedPlaid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedPlaid").finish_non_exhaustive()
    }
}

fn check_endpoint(endpoint: &str) -> &'static str {
    match endpoints::ALL.iter().find(|e| **e == endpoint) {
        Some(e) => e,
        None => panic!("ScriptedPlaid has no endpoint {endpoint:?}; see doubles::plaid::endpoints"),
    }
}

impl ScriptedPlaid {
    /// Plaid with no items; Link tokens expire four hours after `clock`'s now.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { state: Mutex::new(State::default()), clock }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- setting up ----------------------------------------------------------------------------------

    /// What Link gives the app after the user linked `institution`: a public token for an item with two
    /// accounts (checking and savings, masks unique in this Plaid, so two links never look like duplicates).
    pub fn add_public_token(&self, institution: &domain::Institution) -> PublicToken {
        let mut s = self.lock();
        let accounts = default_accounts(&mut s);
        self.add_public_token_locked(&mut s, institution, accounts)
    }

    /// [`ScriptedPlaid::add_public_token`] with the item's accounts given.
    pub fn add_public_token_with(
        &self,
        institution: &domain::Institution,
        accounts: Vec<wire::Account>,
    ) -> PublicToken {
        let mut s = self.lock();
        self.add_public_token_locked(&mut s, institution, accounts)
    }

    fn add_public_token_locked(
        &self,
        s: &mut State,
        institution: &domain::Institution,
        accounts: Vec<wire::Account>,
    ) -> PublicToken {
        let token = format!("public-sandbox-{}", uuid::Uuid::new_v4());
        s.public_tokens.insert(token.clone(), Some(PendingLink { institution: institution.clone(), accounts }));
        match PublicToken::parse(token) {
            Ok(t) => t,
            Err(e) => panic!("a generated public token does not parse: {e}"),
        }
    }

    /// The accounts Link reports for a public token not yet exchanged (what `onSuccess` metadata carries).
    pub fn link_accounts(&self, public_token: &PublicToken) -> Vec<domain::Account> {
        match self.lock().public_tokens.get(public_token.expose()) {
            Some(Some(pending)) => pending.accounts.iter().cloned().map(domain::Account::from).collect(),
            _ => Vec::new(),
        }
    }

    /// An item made directly (as if linked and exchanged elsewhere): its id and access token.
    pub fn add_item(&self, institution: &domain::Institution) -> (ItemId, AccessToken) {
        let mut s = self.lock();
        let accounts = default_accounts(&mut s);
        new_item(&mut s, institution.clone(), accounts)
    }

    /// Sets (or clears) the item's error: `/transactions/sync` and `/accounts/get` answer it, `/item/get`
    /// shows it. See [`errors::login_required`].
    pub fn set_item_error(&self, item_id: &ItemId, error: Option<PlaidError>) {
        if let Some(item) = self.lock().items.get_mut(item_id) {
            item.error = error;
        }
    }

    /// When the item's consent expires (`/item/get` shows it).
    pub fn set_consent_expiration(&self, item_id: &ItemId, at: Option<time::OffsetDateTime>) {
        if let Some(item) = self.lock().items.get_mut(item_id) {
            item.consent_expiration_time = at;
        }
    }

    /// The item's webhook URL at Plaid, as `/item/get` shows it (`/item/webhook/update` sets it too).
    pub fn set_webhook(&self, item_id: &ItemId, url: Option<&str>) {
        if let Some(item) = self.lock().items.get_mut(item_id) {
            item.webhook = url.map(str::to_owned);
        }
    }

    /// The item's webhook URL at Plaid.
    pub fn webhook(&self, item_id: &ItemId) -> Option<String> {
        self.lock().items.get(item_id).and_then(|i| i.webhook.clone())
    }

    /// The user shares one more account of the item (e.g. through update mode with account selection).
    pub fn add_account(&self, item_id: &ItemId, account: wire::Account) {
        if let Some(item) = self.lock().items.get_mut(item_id) {
            item.accounts.push(account);
        }
    }

    /// Whether the item's transaction history is ready (`false`: `/transactions/sync` answers an empty
    /// cursor, as Plaid does before the first extraction).
    pub fn set_history_ready(&self, item_id: &ItemId, ready: bool) {
        if let Some(item) = self.lock().items.get_mut(item_id) {
            item.history_ready = ready;
        }
    }

    /// New changes to the item's transactions (seen by the next sync).
    pub fn push_changes(&self, item_id: &ItemId, changes: Vec<SyncChange>) {
        if let Some(item) = self.lock().items.get_mut(item_id) {
            item.log.extend(changes);
        }
    }

    /// Makes `changes` just before the `nth` (1-based, from now) `/transactions/sync` call for the item is
    /// answered. If that call continues a pagination, Plaid answers it
    /// TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION, as it does when data changes mid-pagination.
    pub fn change_before_sync_call(&self, item_id: &ItemId, nth: usize, changes: Vec<SyncChange>) {
        if let Some(item) = self.lock().items.get_mut(item_id) {
            let at = item.sync_cursors.len() + nth.max(1);
            item.scripted_changes.push((at, changes));
        }
    }

    /// An institution `/institutions/get_by_id` knows.
    pub fn add_institution(&self, institution: wire::Institution) {
        self.lock().institutions.insert(institution.institution_id.to_string(), institution);
    }

    /// A key `/webhook_verification_key/get` knows.
    pub fn add_webhook_key(&self, key: wire::WebhookVerificationKey) {
        self.lock().webhook_keys.insert(key.kid.clone(), key);
    }

    // ---- the script ----------------------------------------------------------------------------------

    /// The next call of `endpoint` (after those already scripted) fails with `error`, doing nothing.
    pub fn fail_next(&self, endpoint: &str, error: PlaidCallError) {
        let endpoint = check_endpoint(endpoint);
        self.lock().script.entry(endpoint).or_default().push_back(Some(error));
    }

    /// The next `n` calls of `endpoint` (after those already scripted) answer normally: with
    /// [`ScriptedPlaid::fail_next`], fails a later call (e.g. the second page of a sync).
    pub fn pass_next(&self, endpoint: &str, n: usize) {
        let endpoint = check_endpoint(endpoint);
        let mut s = self.lock();
        let script = s.script.entry(endpoint).or_default();
        script.extend(std::iter::repeat_with(|| None).take(n));
    }

    /// The next call of `endpoint` does what it does at once, then answers `delay` later (tokio's clock):
    /// Plaid acted, its answer is late. For `/item/public_token/exchange`.
    pub fn answer_late(&self, endpoint: &str, delay: std::time::Duration) {
        let endpoint = check_endpoint(endpoint);
        self.lock().late.entry(endpoint).or_default().push_back(delay);
    }

    /// Waits as scripted by [`ScriptedPlaid::answer_late`] for this call of `endpoint`, if at all.
    async fn lateness(&self, endpoint: &'static str) {
        let delay = self.lock().late.get_mut(endpoint).and_then(VecDeque::pop_front);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
    }

    /// Counts a call and takes its line of the script.
    fn begin(s: &mut State, endpoint: &'static str) -> Result<(), PlaidCallError> {
        *s.calls.entry(endpoint).or_default() += 1;
        match s.script.get_mut(endpoint).and_then(VecDeque::pop_front) {
            Some(Some(error)) => Err(error),
            _ => Ok(()),
        }
    }

    // ---- inspection ----------------------------------------------------------------------------------

    /// Calls of `endpoint` so far (failed ones included).
    pub fn calls(&self, endpoint: &str) -> usize {
        let endpoint = check_endpoint(endpoint);
        self.lock().calls.get(endpoint).copied().unwrap_or(0)
    }

    /// The item's access token.
    pub fn access_token(&self, item_id: &ItemId) -> Option<AccessToken> {
        let s = self.lock();
        s.items.get(item_id).and_then(|i| AccessToken::parse(i.access_token.clone()).ok())
    }

    /// Whether the item exists at Plaid (made and not removed).
    pub fn has_item(&self, item_id: &ItemId) -> bool {
        self.lock().items.get(item_id).is_some_and(|i| !i.removed)
    }

    /// Whether the item was removed.
    pub fn is_removed(&self, item_id: &ItemId) -> bool {
        self.lock().items.get(item_id).is_some_and(|i| i.removed)
    }

    /// The items made so far (removed ones included), in id order.
    pub fn item_ids(&self) -> Vec<ItemId> {
        self.lock().items.keys().cloned().collect()
    }

    /// `/item/remove` calls that named the item (failed ones included).
    pub fn remove_calls(&self, item_id: &ItemId) -> usize {
        self.lock().items.get(item_id).map_or(0, |i| i.remove_calls)
    }

    /// Every `/item/remove` call that named a known item, in order.
    pub fn remove_log(&self) -> Vec<RemoveCall> {
        self.lock().removals.clone()
    }

    /// The cursor of every `/transactions/sync` call for the item, in order (`None`: a null cursor).
    pub fn sync_cursors(&self, item_id: &ItemId) -> Vec<Option<String>> {
        self.lock().items.get(item_id).map(|i| i.sync_cursors.clone()).unwrap_or_default()
    }

    /// The ids of the item's current transactions (all changes applied), sorted.
    pub fn transaction_ids(&self, item_id: &ItemId) -> Vec<String> {
        self.lock().items.get(item_id).map(|i| sync::live(&i.log).into_keys().collect()).unwrap_or_default()
    }

    /// The Link sessions `/link/token/get` reports for `link_token` (each a `LinkTokenGetSessionsResponse`
    /// as JSON). A token made by `/link/token/create` here has none until set.
    pub fn set_link_sessions(&self, link_token: &str, sessions: Vec<serde_json::Value>) {
        self.lock().link_sessions.insert(link_token.to_owned(), sessions);
    }

    /// Every `/link/token/create` request, as Plaid received it (JSON).
    pub fn link_token_requests(&self) -> Vec<serde_json::Value> {
        self.lock().link_token_requests.clone()
    }
}

/// Two accounts with masks no other item of this Plaid has.
fn default_accounts(s: &mut State) -> Vec<wire::Account> {
    s.next_id += 1;
    let n = s.next_id;
    vec![
        account(&format!("acc{n:04}c"), "Plaid Checking", &format!("{:04}", (n * 2) % 10_000), "checking"),
        account(&format!("acc{n:04}s"), "Plaid Saving", &format!("{:04}", (n * 2 + 1) % 10_000), "savings"),
    ]
}

/// A depository account.
pub fn account(account_id: &str, name: &str, mask: &str, subtype: &str) -> wire::Account {
    wire::Account {
        account_id: match domain::AccountId::parse(account_id) {
            Ok(id) => id,
            Err(e) => panic!("account id {account_id:?}: {e}"),
        },
        name: name.to_owned(),
        official_name: None,
        mask: Some(mask.to_owned()),
        account_type: "depository".to_owned(),
        subtype: Some(subtype.to_owned()),
        balances: wire::AccountBalances {
            available: Some(100.0),
            current: Some(110.0),
            iso_currency_code: Some("USD".to_owned()),
            ..Default::default()
        },
        verification_status: None,
        persistent_account_id: None,
    }
}

/// A transaction as `/transactions/sync` gives it.
pub fn transaction(transaction_id: &str, account_id: &str, date: &str, amount: f64) -> wire::Transaction {
    wire::Transaction {
        transaction_id: transaction_id.to_owned(),
        account_id: account_id.to_owned(),
        amount,
        iso_currency_code: Some("USD".to_owned()),
        unofficial_currency_code: None,
        date: date.to_owned(),
        pending: false,
        pending_transaction_id: None,
        account_owner: None,
        payment_channel: "online".to_owned(),
        name: format!("Purchase {transaction_id}"),
        merchant_name: None,
        original_description: None,
        authorized_date: None,
        authorized_datetime: None,
        datetime: None,
        transaction_code: None,
        category: None,
        category_id: None,
        personal_finance_category: None,
        logo_url: None,
        website: None,
        payment_meta: None,
        location: None,
    }
}

/// A healthy institution for `/institutions/get_by_id`.
pub fn institution(institution_id: &str, name: &str) -> wire::Institution {
    let healthy = || wire::ProductStatus { status: "HEALTHY".to_owned(), ..Default::default() };
    wire::Institution {
        institution_id: match InstitutionId::parse(institution_id) {
            Ok(id) => id,
            Err(e) => panic!("institution id {institution_id:?}: {e}"),
        },
        name: name.to_owned(),
        products: vec!["transactions".to_owned()],
        country_codes: vec!["US".to_owned()],
        routing_numbers: vec![],
        dtc_numbers: vec![],
        oauth: false,
        url: None,
        logo: None,
        primary_color: None,
        status: Some(wire::InstitutionStatus {
            item_logins: Some(healthy()),
            transactions_updates: Some(healthy()),
            ..Default::default()
        }),
    }
}

fn new_item(s: &mut State, institution: domain::Institution, accounts: Vec<wire::Account>) -> (ItemId, AccessToken) {
    s.next_id += 1;
    let item_id = match ItemId::parse(format!("item-{:04}", s.next_id)) {
        Ok(id) => id,
        Err(e) => panic!("a generated item id does not parse: {e}"),
    };
    let token = format!("access-sandbox-{}", uuid::Uuid::new_v4());
    let access_token = match AccessToken::parse(token.clone()) {
        Ok(t) => t,
        Err(e) => panic!("a generated access token does not parse: {e}"),
    };
    s.by_token.insert(token.clone(), item_id.clone());
    s.items.insert(
        item_id.clone(),
        FakeItem {
            item_id: item_id.clone(),
            access_token: token,
            institution,
            accounts,
            webhook: None,
            error: None,
            consent_expiration_time: None,
            removed: false,
            history_ready: true,
            log: Vec::new(),
            scripted_changes: Vec::new(),
            sync_cursors: Vec::new(),
            remove_calls: 0,
        },
    );
    (item_id, access_token)
}
