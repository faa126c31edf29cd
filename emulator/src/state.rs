//! The emulator's in-memory state: Items, tokens, Link sessions and signing keys. Held behind one
//! `std::sync::Mutex` in [`crate::app::App`]; every operation holds it briefly and never across an
//! `.await`.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::keys::{KeyRing, StoredKey};
use crate::sandbox::Account;
use crate::transactions::TxLog;
use crate::wire::PlaidError;

/// Lifetime of a link token (Plaid: 4 hours).
pub const LINK_TOKEN_TTL_SECS: i64 = 4 * 3600;
/// Lifetime of a link token in update mode (Plaid: 30 minutes).
pub const UPDATE_LINK_TOKEN_TTL_SECS: i64 = 30 * 60;
/// Lifetime of a public token (Plaid: 30 minutes).
pub const PUBLIC_TOKEN_TTL_SECS: i64 = 30 * 60;

/// A condition set on an Item that its update-mode Link session clears.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingConditions {
    /// Set by PENDING_DISCONNECT: (reason, disconnect time, unix).
    pub pending_disconnect: Option<(String, i64)>,
}

/// An Item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub item_id: String,
    pub institution_id: String,
    pub institution_name: String,
    /// The sandbox username the Item was linked with (accounts' `persistent_account_id` derive from it).
    #[serde(default = "default_username")]
    pub username: String,
    pub webhook: Option<String>,
    /// The Item's error (ITEM_LOGIN_REQUIRED, USER_PERMISSION_REVOKED, ...), if any.
    pub error: Option<PlaidError>,
    /// Billed products.
    pub products: Vec<String>,
    pub created_at: i64,
    pub consent_expiration_time: Option<i64>,
    pub accounts: Vec<Account>,
    /// Accounts the user opened at the bank that update mode (with account selection) can add.
    pub new_accounts: Vec<Account>,
    /// Accounts whose access the user revoked (USER_ACCOUNT_REVOKED); hidden from the API.
    pub revoked_account_ids: Vec<String>,
    pub conditions: PendingConditions,
    pub log: TxLog,
    /// When the transaction history becomes available (unix seconds, emulator clock).
    pub history_ready_at: i64,
    /// Whether the initial TRANSACTIONS webhooks were sent.
    pub initial_webhooks_sent: bool,
    /// Whether the public token was exchanged (initial webhooks wait for it).
    pub exchanged: bool,
    /// (sent at, code) of the last webhook.
    pub last_webhook: Option<(i64, String)>,
    pub last_successful_update: Option<i64>,
    /// Control: the next paginated `/transactions/sync` read fails with
    /// TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION.
    pub fail_next_paginated_sync: bool,
    pub client_user_id: Option<String>,
    pub access_token: Option<String>,
    /// Removed through `/item/remove` (kept so the control API can show it).
    #[serde(default)]
    pub removed: bool,
    /// Control: webhooks are signed and logged (status `held`) but not sent.
    #[serde(default)]
    pub hold_webhooks: bool,
}

impl Item {
    /// The accounts the API shows (revoked ones hidden).
    pub fn visible_accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.iter().filter(|a| !self.revoked_account_ids.contains(&a.account_id))
    }

    pub fn history_ready(&self, now: i64) -> bool {
        now >= self.history_ready_at
    }

    /// The `item` object of `/item/get` (with `created_at`) or of `/accounts/get` etc.
    pub fn to_json(&self, available_products: &[&str], with_created_at: bool) -> Value {
        let error = self.error.as_ref().map(|e| e.to_json(&crate::ids::request_id()));
        let available: Vec<&str> =
            available_products.iter().copied().filter(|p| !self.products.iter().any(|b| b == p)).collect();
        let mut v = json!({
            "item_id": self.item_id,
            "institution_id": self.institution_id,
            "institution_name": self.institution_name,
            "webhook": self.webhook,
            "error": error,
            "available_products": available,
            "billed_products": self.products,
            "products": self.products,
            "consented_products": self.products,
            "consent_expiration_time": self.consent_expiration_time.map(unix_rfc3339),
            "update_type": "background",
            "auth_method": null,
        });
        if with_created_at && let Some(obj) = v.as_object_mut() {
            obj.insert("created_at".into(), json!(unix_rfc3339(self.created_at)));
        }
        v
    }
}

/// An Item from a state file written before Items recorded their login: `user_good`, the only one that
/// logs in.
fn default_username() -> String {
    crate::sandbox::GOOD_USERNAME.to_owned()
}

/// RFC 3339 of unix seconds.
pub fn unix_rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t).map(rfc3339).unwrap_or_default()
}

/// A link token and the settings Link will follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkTokenRecord {
    pub created_at: i64,
    pub expires_at: i64,
    pub client_name: String,
    pub language: String,
    pub country_codes: Vec<String>,
    pub products: Vec<String>,
    pub webhook: Option<String>,
    pub redirect_uri: Option<String>,
    pub client_user_id: Option<String>,
    /// `account_filters` as given.
    pub account_filters: Option<Value>,
    /// Update mode: the Item of the access token given.
    pub update_item_id: Option<String>,
    pub account_selection_enabled: bool,
    /// Hosted Link: the token was made with `hosted_link` (its URL and where it ends).
    #[serde(default)]
    pub hosted: Option<HostedLink>,
}

/// A link token's Hosted Link settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostedLink {
    /// The opaque id in the Hosted Link URL (`/__emulator/hosted/<id>`).
    pub id: String,
    /// Where the browser is sent (303) when the session ends.
    pub completion_redirect_uri: Option<String>,
    /// The URL stops working then (unix seconds; also the token's expiry).
    pub url_expires_at: i64,
    pub is_mobile_app: bool,
}

/// Lifetime of a finished Link session's record (Plaid: `/link/token/get` shows it up to six hours).
pub const LINK_SESSION_RETENTION_SECS: i64 = 6 * 3600;

/// What `/link/token/get` knows of one Link session: kept while it runs (events so far) and up to six
/// hours after it ends.
#[derive(Debug, Clone)]
pub struct LinkSessionRecord {
    pub link_session_id: String,
    pub link_token: String,
    /// Whether `/link/token/get` lists its events (Hosted Link, or Link events enabled).
    pub events_visible: bool,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    /// Unix milliseconds, once it ended.
    pub finished_at_ms: Option<i64>,
    /// The onEvent calls so far (`{event_name, metadata}`), with their ids.
    pub events: Vec<Value>,
    pub event_ids: Vec<String>,
    /// The institution picked (id, name), once picked.
    pub institution: Option<(String, String)>,
    /// Link's last request id (restoring a session continues with it).
    pub request_id: String,
    /// onSuccess's `{public_token, metadata}` (a public token only for a new Item).
    pub on_success: Option<Value>,
    /// onExit's `{error, metadata}`.
    pub exit: Option<Value>,
    /// `results.item_add_results`.
    pub item_add_results: Vec<Value>,
}

/// A public token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicTokenRecord {
    pub item_id: String,
    pub expires_at: i64,
    pub used: bool,
}

/// Everything the emulator knows.
#[derive(Debug)]
pub struct State {
    pub items: HashMap<String, Item>,
    /// Access token -> Item id (kept after the Item is removed, to answer ITEM_NOT_FOUND).
    pub access_tokens: HashMap<String, String>,
    pub removed_items: HashSet<String>,
    pub public_tokens: HashMap<String, PublicTokenRecord>,
    pub link_tokens: HashMap<String, LinkTokenRecord>,
    /// Link sessions by `link_session_id` (not persisted).
    pub link_sessions: HashMap<String, LinkSessionRecord>,
    pub keys: KeyRing,
}

impl State {
    pub fn new(now: i64) -> Self {
        Self {
            items: HashMap::new(),
            access_tokens: HashMap::new(),
            removed_items: HashSet::new(),
            public_tokens: HashMap::new(),
            link_tokens: HashMap::new(),
            link_sessions: HashMap::new(),
            keys: KeyRing::new(now),
        }
    }

    /// Resolves an access token to its Item id: INVALID_ACCESS_TOKEN when malformed or unknown,
    /// ITEM_NOT_FOUND when its Item was removed.
    pub fn item_id_for_token(&self, access_token: &str) -> Result<String, PlaidError> {
        if !crate::ids::is_well_formed_token(crate::ids::TokenKind::Access, access_token) {
            return Err(PlaidError::invalid_access_token());
        }
        let Some(item_id) = self.access_tokens.get(access_token) else {
            return Err(PlaidError::unknown_access_token());
        };
        if self.removed_items.contains(item_id) || self.items.get(item_id).is_none_or(|i| i.removed) {
            return Err(PlaidError::item_not_found());
        }
        Ok(item_id.clone())
    }

    /// The Item of an access token.
    pub fn item_for_token(&self, access_token: &str) -> Result<&Item, PlaidError> {
        let id = self.item_id_for_token(access_token)?;
        self.items.get(&id).ok_or_else(PlaidError::item_not_found)
    }

    /// The Item of an access token, mutably.
    pub fn item_for_token_mut(&mut self, access_token: &str) -> Result<&mut Item, PlaidError> {
        let id = self.item_id_for_token(access_token)?;
        self.items.get_mut(&id).ok_or_else(PlaidError::item_not_found)
    }

    /// Replaces the access token of an Item (`/item/access_token/invalidate`): the old token is
    /// forgotten, so it answers INVALID_ACCESS_TOKEN like any unknown token; the new one names the
    /// same Item (same id, accounts, log, so cursors stay valid). Errs like [`Self::item_id_for_token`].
    pub fn rotate_access_token(&mut self, old: &str) -> Result<String, PlaidError> {
        let item_id = self.item_id_for_token(old)?;
        let new = crate::ids::token(crate::ids::TokenKind::Access, "sandbox");
        self.access_tokens.remove(old);
        self.access_tokens.insert(new.clone(), item_id.clone());
        if let Some(item) = self.items.get_mut(&item_id) {
            item.access_token = Some(new.clone());
        }
        Ok(new)
    }

    /// Drops expired tokens (called now and then).
    pub fn prune(&mut self, now: i64) {
        self.link_tokens.retain(|_, t| t.expires_at + 24 * 3600 > now);
        self.public_tokens.retain(|_, t| t.expires_at + 24 * 3600 > now);
        let tokens = &self.link_tokens;
        self.link_sessions.retain(|_, s| match s.finished_at_ms {
            Some(end) => end / 1000 + LINK_SESSION_RETENTION_SECS > now,
            None => tokens.contains_key(&s.link_token),
        });
    }

    /// The Link token whose Hosted Link URL has this id.
    pub fn hosted_link_token(&self, hosted_id: &str) -> Option<(String, LinkTokenRecord)> {
        self.link_tokens
            .iter()
            .find(|(_, r)| r.hosted.as_ref().is_some_and(|h| h.id == hosted_id))
            .map(|(t, r)| (t.clone(), r.clone()))
    }

    /// The persisted form.
    pub fn snapshot(&self, clock_offset_ms: i64) -> Snapshot {
        Snapshot {
            version: 1,
            clock_offset_ms,
            items: self.items.values().cloned().collect(),
            access_tokens: self.access_tokens.clone(),
            removed_items: self.removed_items.iter().cloned().collect(),
            public_tokens: self.public_tokens.clone(),
            link_tokens: self.link_tokens.clone(),
            keys: self.keys.to_stored(),
        }
    }

    /// State from its persisted form.
    pub fn from_snapshot(snapshot: Snapshot, now: i64) -> Result<Self, crate::keys::KeyError> {
        let keys = KeyRing::from_stored(&snapshot.keys, now)?;
        let items = snapshot
            .items
            .into_iter()
            .map(|mut item| {
                item.log.reindex();
                (item.item_id.clone(), item)
            })
            .collect();
        Ok(Self {
            items,
            access_tokens: snapshot.access_tokens,
            removed_items: snapshot.removed_items.into_iter().collect(),
            public_tokens: snapshot.public_tokens,
            link_tokens: snapshot.link_tokens,
            link_sessions: HashMap::new(),
            keys,
        })
    }
}

/// The state file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub clock_offset_ms: i64,
    pub items: Vec<Item>,
    pub access_tokens: HashMap<String, String>,
    pub removed_items: Vec<String>,
    pub public_tokens: HashMap<String, PublicTokenRecord>,
    pub link_tokens: HashMap<String, LinkTokenRecord>,
    pub keys: Vec<StoredKey>,
}
