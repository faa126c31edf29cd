//! Seeding populations for the churn remover the way they come to exist: real items at the Plaid emulator
//! (created through its control API, with real access tokens), stored through the real store adapter and
//! KMS envelope against the stack's moto table and key, their history (activity, errors, repairs) applied
//! through the domain's own state machine with times in the past.

use aws_config::SdkConfig;
use plaid_emulator::{Condition, Control, CreateItem};
use std::sync::Arc;
use time::OffsetDateTime;
use weft::adapters::dynamodb::DynamoStore;
use weft::adapters::kms::KmsEnvelope;
use weft::config::Config;
use weft::domain::SealedItem;
use weft::domain::{
    AccessToken, Account, AccountId, Balances, Institution, InstitutionId, ItemEvent, ItemId, ItemRecord, ItemStatus,
    Outcome, UserId,
};
use weft::ports::{ItemStore, KeyVault, StaticCredentials, SystemClock, UserStore};
use weft::services::{Ports, Services};

/// Sandbox institutions items are spread over (any works; a spread looks like real data).
pub const INSTITUTIONS: [&str; 5] = ["ins_109508", "ins_109509", "ins_109510", "ins_109511", "ins_109512"];

/// The [`Services`] for calling them in-process, with their adapters at hand (for their call counters).
pub struct InProcess {
    pub app: Services,
    pub store: Arc<DynamoStore>,
    pub plaid: Arc<weft::adapters::plaid_http::PlaidClient>,
}

/// [`Services`] wired to a stack's resources, for calling the services in-process (the churn benchmark, a sync
/// to give seeded items real transactions). Plaid credentials are the emulator's, without Secrets Manager.
pub fn app(
    sdk: &SdkConfig,
    table: &str,
    kms_key_id: &str,
    plaid_base_url: &str,
    client_id: &str,
    secret: &str,
) -> Result<InProcess, String> {
    let vars = [
        ("WEFT_TABLE_NAME", table),
        ("WEFT_KMS_KEY_ID", kms_key_id),
        ("WEFT_PLAID_SECRET_ID", "unused-in-process"),
        ("WEFT_PLAID_ENV", "sandbox"),
        ("WEFT_PLAID_BASE_URL", plaid_base_url),
        ("WEFT_AUTH_ISSUER", "http://127.0.0.1/unused"),
        ("WEFT_AUTH_AUDIENCE", "unused"),
    ];
    let config = Config::from_lookup(|k| vars.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned()))
        .map_err(|e| e.to_string())?;
    let plaid = Arc::new(
        weft::adapters::plaid_http::PlaidClient::new(
            plaid_base_url,
            Arc::new(StaticCredentials::new(client_id, secret)),
        )
        .map_err(|e| e.to_string())?,
    );
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table));
    let vault = Arc::new(KmsEnvelope::from_sdk_config(sdk, kms_key_id));
    let app = Services::new(
        config,
        Ports {
            plaid: plaid.clone(),
            store: store.clone(),
            vault,
            queue: Arc::new(weft::adapters::sqs::NoSyncQueue),
            continuation: Arc::new(weft::adapters::lambda::NoContinuation),
            clock: Arc::new(SystemClock),
            audit: store.clone(),
            bus: Arc::new(weft::adapters::eventbridge::NoEventBus),
        },
    );
    Ok(InProcess { app, store, plaid })
}

/// Writes users and items into a stack's table (and the matching items into its emulator).
pub struct Seeder {
    pub store: Arc<DynamoStore>,
    pub vault: Arc<KmsEnvelope>,
    pub plaid: Control,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Seeder {
    pub fn new(sdk: &SdkConfig, table: &str, kms_key_id: &str, plaid: Control) -> Self {
        let store =
            DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table).with_touch_interval(std::time::Duration::ZERO);
        Self { store: Arc::new(store), vault: Arc::new(KmsEnvelope::from_sdk_config(sdk, kms_key_id)), plaid }
    }

    pub fn for_stack(stack: &crate::stack::LocalStack) -> Self {
        Self::new(&stack.sdk, &stack.resources.table_name, &stack.resources.kms_key_id, stack.plaid.control().clone())
    }

    /// A user last active at `last_active` (as the API records activity, only with an older clock).
    pub async fn user(&self, name: &str, last_active: OffsetDateTime) -> Result<UserId, String> {
        let user = UserId::parse(name).map_err(err)?;
        self.store.touch_user(&user, last_active).await.map_err(err)?;
        Ok(user)
    }

    /// A real item at the emulator (at `institution`), exchanged there, and stored here healthy as of
    /// `created_at`: accounts from the emulator, access token sealed under a fresh KMS data key.
    pub async fn item(
        &self,
        user: &UserId,
        institution: &str,
        created_at: OffsetDateTime,
    ) -> Result<ItemRecord, String> {
        let created = self
            .plaid
            .create_item(&CreateItem { institution_id: Some(institution.to_owned()), ..Default::default() })
            .map_err(err)?;
        let view = self.plaid.item(&created.item_id).map_err(err)?;
        let accounts = view["accounts"]
            .as_array()
            .map(|accounts| {
                accounts
                    .iter()
                    .map(|a| {
                        Ok(Account {
                            account_id: AccountId::parse(a["account_id"].as_str().unwrap_or_default()).map_err(err)?,
                            name: a["name"].as_str().unwrap_or_default().to_owned(),
                            official_name: a["official_name"].as_str().map(str::to_owned),
                            mask: a["mask"].as_str().map(str::to_owned),
                            account_type: a["type"].as_str().unwrap_or_default().to_owned(),
                            subtype: a["subtype"].as_str().map(str::to_owned),
                            balances: Balances::default(),
                            persistent_account_id: None,
                            revoked_at: None,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()
            })
            .transpose()?
            .unwrap_or_default();
        let record = ItemRecord {
            user_id: user.clone(),
            item_id: ItemId::parse(created.item_id.clone()).map_err(err)?,
            institution: Institution {
                institution_id: InstitutionId::parse(institution).map_err(err)?,
                name: view["institution_name"].as_str().unwrap_or(institution).to_owned(),
            },
            accounts,
            status: ItemStatus::Healthy,
            error: None,
            consent_expiration_time: None,
            pending_disconnect_at: None,
            new_accounts_available: false,
            webhook_url: None,
            ignored_prompts: 0,
            created_at,
            updated_at: created_at,
            event_times: Default::default(),
            transactions_sync: Default::default(),
            checked_at: None,
            version: 0,
        };
        let token = AccessToken::parse(created.access_token).map_err(err)?;
        let (key, wrapped_key) = self.vault.new_item_key(&record.item_id).await.map_err(err)?;
        let sealed = SealedItem { wrapped_key, access_token: key.seal_access_token(&token).map_err(err)? };
        let exchange_key = format!("seed-{}", record.item_id);
        self.store.insert_item(&record, &sealed, &exchange_key).await.map_err(err)?;
        Ok(record)
    }

    /// Applies an item event Plaid produced at `at`, and saves the item (as the webhook does).
    pub async fn apply(&self, item: &mut ItemRecord, event: ItemEvent, at: OffsetDateTime) -> Result<(), String> {
        match item.apply(&event, at) {
            Outcome::Changed => self.store.update_item(item).await.map_err(err),
            other => Err(format!("{event:?} at {at} did not change {}: {other:?}", item.item_id)),
        }
    }

    /// ITEM_LOGIN_REQUIRED since `since`, at the emulator (its product calls now fail) and here.
    pub async fn login_required(&self, item: &mut ItemRecord, since: OffsetDateTime) -> Result<(), String> {
        self.plaid.set_condition(item.item_id.as_str(), Condition::ItemLoginRequired, None).map_err(err)?;
        let event = ItemEvent::Error { error_type: "ITEM_ERROR".into(), error_code: "ITEM_LOGIN_REQUIRED".into() };
        self.apply(item, event, since).await
    }

    /// An institution error the user cannot fix (INSTITUTION_NOT_RESPONDING) since `since`.
    pub async fn institution_error(&self, item: &mut ItemRecord, since: OffsetDateTime) -> Result<(), String> {
        let event = ItemEvent::Error {
            error_type: "INSTITUTION_ERROR".into(),
            error_code: "INSTITUTION_NOT_RESPONDING".into(),
        };
        self.apply(item, event, since).await
    }

    /// The item was repaired at `at` (ITEM / LOGIN_REPAIRED).
    pub async fn repaired(&self, item: &mut ItemRecord, at: OffsetDateTime) -> Result<(), String> {
        self.apply(item, ItemEvent::LoginRepaired, at).await
    }

    /// Sets the item's unacted re-link prompt count directly (the end-to-end suite counts them through the
    /// items API instead; this is for bulk seeding).
    pub async fn prompts(&self, item: &mut ItemRecord, count: u32) -> Result<(), String> {
        item.ignored_prompts = count;
        self.store.update_item(item).await.map_err(err)
    }
}

/// Every record of `table` that mentions `needle` in any attribute (a scan: for tests only), as
/// `PK / SK` strings.
pub async fn records_mentioning(sdk: &SdkConfig, table: &str, needle: &str) -> Result<Vec<String>, String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    fn mentions(value: &AttributeValue, needle: &str) -> bool {
        match value {
            AttributeValue::S(s) => s.contains(needle),
            AttributeValue::B(b) => b.as_ref().windows(needle.len().max(1)).any(|w| w == needle.as_bytes()),
            AttributeValue::L(l) => l.iter().any(|v| mentions(v, needle)),
            AttributeValue::M(m) => m.iter().any(|(k, v)| k.contains(needle) || mentions(v, needle)),
            AttributeValue::Ss(ss) => ss.iter().any(|s| s.contains(needle)),
            _ => false,
        }
    }
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::Error::from(e).to_string())?;
        for row in page.items() {
            if row.values().any(|v| mentions(v, needle)) {
                let key = |k: &str| row.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                found.push(format!("{} / {}", key("PK"), key("SK")));
            }
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(found),
        }
    }
}
