//! The use cases, written against the ports only ([`crate::ports`]); [`crate::api`] calls them, and
//! [`crate::compose`] builds the [`Services`] they run against from configuration.
//!
//! | module | use case |
//! |---|---|
//! | [`link`] | Link tokens: new links, update mode, OAuth resume |
//! | [`exchange`] | public-token exchange: idempotent from before Plaid is asked, duplicates refused, the item stored sealed, never orphaned |
//! | [`items`] | the app's items: list, transactions, removal |
//! | [`link_events`] | Link callbacks the app forwards, and the conversion funnel |
//! | [`link_sessions`] | Link sessions as Plaid reports them: LINK webhooks, `/link/token/get` for sessions nothing closed |
//! | [`institutions`] | institution health, cached |
//! | [`webhook`] | webhook intake: dedup, item events, sync hand-off |
//! | [`sync`] | `/transactions/sync`: every page, exact, one sync per item at a time |
//! | [`churn`] | the end-of-month remover of churned items |
//! | [`limits`] | abuse limits per user |
//! | [`erasure`] | the right to erasure: a user's items at Plaid and every record of them, resumably |
//! | [`audit`] | the audit trail of material interactions |
//! | [`rotation`] | access-token rotation (incident response): one item or every item, resumable, paced |
//! | [`sweep`] | the reconciliation sweep: `/item/get` for items not heard from in a while, resumable, paced |
//! | [`events`] | item events for the app: published from the outbox, re-link URLs, reminders |
//! | [`item_state`] | the steps several use cases share: apply an item event, remove an item, catch up |

pub mod audit;
pub mod churn;
mod deadline;
pub mod erasure;
mod error;
pub mod events;
pub mod exchange;
pub mod institutions;
pub mod item_state;
pub mod items;
pub mod limits;
pub mod link;
pub mod link_events;
pub mod link_sessions;
mod pacer;
pub mod rotation;
pub mod sweep;
pub mod sync;
pub mod webhook;

pub use deadline::Deadline;
pub use error::ServiceError;

use crate::config::Config;
use crate::domain::{AccessToken, ItemId, ItemKey, SealedItem, UserPseudonyms};
use crate::ports::{AuditLog, Clock, Continuation, EventBus, KeyVault, PlaidApi, Store, SyncQueue};
use std::sync::Arc;
use time::OffsetDateTime;

/// The ports and settings the services run against (built once per container).
pub struct Services {
    pub config: Config,
    pub plaid: Arc<dyn PlaidApi>,
    pub store: Arc<dyn Store>,
    pub vault: Arc<dyn KeyVault>,
    pub queue: Arc<dyn SyncQueue>,
    pub continuation: Arc<dyn Continuation>,
    pub clock: Arc<dyn Clock>,
    pub audit: Arc<dyn AuditLog>,
    /// Where item events for the app go (their outbox is in the store).
    pub bus: Arc<dyn EventBus>,
    /// The users as Plaid sees them (`client_user_id`).
    pub pseudonyms: UserPseudonyms,
    /// Whether `pseudonyms` are the deployment's (stable) ones: only then may weft make Link tokens for a
    /// user (functions that do not serve users do not hold the key).
    pub stable_pseudonyms: bool,
    institution_health: institutions::HealthCache,
}

/// The ports [`Services`] is built from.
pub struct Ports {
    pub plaid: Arc<dyn PlaidApi>,
    pub store: Arc<dyn Store>,
    pub vault: Arc<dyn KeyVault>,
    pub queue: Arc<dyn SyncQueue>,
    pub continuation: Arc<dyn Continuation>,
    pub clock: Arc<dyn Clock>,
    pub audit: Arc<dyn AuditLog>,
    pub bus: Arc<dyn EventBus>,
}

impl Services {
    pub fn new(config: Config, ports: Ports) -> Self {
        let Ports { plaid, store, vault, queue, continuation, clock, audit, bus } = ports;
        Self {
            config,
            plaid,
            store,
            vault,
            queue,
            continuation,
            clock,
            audit,
            bus,
            pseudonyms: UserPseudonyms::ephemeral(),
            stable_pseudonyms: false,
            institution_health: institutions::HealthCache::default(),
        }
    }

    /// Sets the deployment's pseudonym key (a container without one gets a random key: its pseudonyms are
    /// still never the subject, but not stable across containers).
    pub fn with_pseudonyms(mut self, pseudonyms: UserPseudonyms) -> Self {
        self.pseudonyms = pseudonyms;
        self.stable_pseudonyms = true;
        self
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The item's data key, unwrapped (cached briefly by the vault).
    pub async fn unseal_key(&self, item_id: &ItemId, sealed: &SealedItem) -> Result<ItemKey, ServiceError> {
        Ok(self.vault.open_item_key(item_id, &sealed.wrapped_key).await?)
    }

    /// The item's data key and its access token (in memory only for the call that needs it).
    pub async fn unseal(&self, item_id: &ItemId, sealed: &SealedItem) -> Result<(ItemKey, AccessToken), ServiceError> {
        let key = self.unseal_key(item_id, sealed).await?;
        let token = key.open_access_token(&sealed.access_token)?;
        Ok((key, token))
    }
}
