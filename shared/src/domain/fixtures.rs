//! Test fixtures of the domain's unit tests: one item and one account, built in one place.

use super::{Account, AccountId, Balances, Institution, InstitutionId, ItemId, ItemRecord, ItemStatus, UserId};
use time::OffsetDateTime;

/// A checking account `id` (mask "0000") with `current` as its balance.
pub(crate) fn account(id: &str, current: Option<f64>) -> Account {
    Account {
        account_id: AccountId::parse(id).expect("a valid account id"),
        name: "Plaid Checking".into(),
        official_name: None,
        mask: Some("0000".into()),
        account_type: "depository".into(),
        subtype: Some("checking".into()),
        balances: Balances { current, ..Default::default() },
        persistent_account_id: None,
        revoked_at: None,
    }
}

/// A healthy item `item_id` of user `u1` at `institution`, with `accounts`, created and updated at `at`.
pub(crate) fn item(item_id: &str, institution: &str, accounts: Vec<Account>, at: OffsetDateTime) -> ItemRecord {
    ItemRecord {
        user_id: UserId::parse("u1").expect("a valid user id"),
        item_id: ItemId::parse(item_id).expect("a valid item id"),
        institution: Institution {
            institution_id: InstitutionId::parse(institution).expect("a valid institution id"),
            name: "First Platypus Bank".into(),
        },
        accounts,
        status: ItemStatus::Healthy,
        error: None,
        consent_expiration_time: None,
        pending_disconnect_at: None,
        new_accounts_available: false,
        webhook_url: None,
        ignored_prompts: 0,
        created_at: at,
        updated_at: at,
        event_times: Default::default(),
        transactions_sync: Default::default(),
        checked_at: None,
        version: 1,
    }
}
