//! A real moto server for the adapter tests, and fresh resources per test (table, KMS key, secret), so
//! tests run in parallel without seeing each other's data.
//!
//! The server is the one named by `WEFT_TEST_AWS_ENDPOINT` (scripts/test.sh starts one for every test
//! binary), else one started by this test binary on a free loopback port, under a shell guard that kills
//! it when the binary exits however it exits.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use weft::domain::{
    Account, AccountId, Balances, Institution, InstitutionId, ItemId, ItemRecord, ItemStatus, Transaction,
    TransactionDetails, TransactionId, UserId,
};

struct Moto {
    endpoint: String,
    /// The guard's stdin: closing it (at exit) stops the server.
    _guard: Option<Mutex<Child>>,
}

static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

fn start_moto() -> Result<Moto, String> {
    if let Ok(endpoint) = std::env::var("WEFT_TEST_AWS_ENDPOINT") {
        return Ok(Moto { endpoint, _guard: None });
    }
    let bin = repo_root().join(".venv/bin/moto_server");
    if !bin.exists() {
        return Err(format!("{} not found: run scripts/bootstrap.sh", bin.display()));
    }
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let log = std::env::temp_dir().join(format!("weft-shared-moto-{}.log", std::process::id()));
    let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    // The server runs in the background of a shell that waits on its stdin; when this process exits the
    // pipe closes and the shell kills the server's process group.
    let script = r#"set -m; "$@" </dev/null & pid=$!; read -r _; kill -TERM -- -$pid 2>/dev/null || kill -TERM $pid; sleep 0.5; kill -KILL -- -$pid 2>/dev/null; exit 0"#;
    let child = Command::new("sh")
        .args(["-c", script, "tether"])
        .arg(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| e.to_string())?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("moto did not start on {port}; see {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Moto { endpoint: format!("http://127.0.0.1:{port}"), _guard: Some(Mutex::new(child)) })
}

/// The moto endpoint of this test run.
pub fn endpoint() -> String {
    match MOTO.get_or_init(start_moto) {
        Ok(m) => m.endpoint.clone(),
        Err(e) => panic!("no moto server: {e}"),
    }
}

/// An SDK config for moto (explicit, so no test touches the process environment).
pub async fn sdk() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn key_attr(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().unwrap()
}

fn gsi(name: &str, pk: &str, sk: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key_attr(pk, KeyType::Hash))
        .key_schema(key_attr(sk, KeyType::Range))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .unwrap()
}

/// A fresh table with the schema of docs/data-model.md (and infra/template.yaml): PK/SK, GSI1, GSI2, TTL.
pub async fn new_table(sdk: &SdkConfig) -> String {
    let name = unique("weft-test");
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let mut create = client.create_table().table_name(&name).billing_mode(BillingMode::PayPerRequest);
    for attr in ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"] {
        create = create.attribute_definitions(
            AttributeDefinition::builder().attribute_name(attr).attribute_type(ScalarAttributeType::S).build().unwrap(),
        );
    }
    create
        .key_schema(key_attr("PK", KeyType::Hash))
        .key_schema(key_attr("SK", KeyType::Range))
        .global_secondary_indexes(gsi("GSI1", "GSI1PK", "GSI1SK"))
        .global_secondary_indexes(gsi("GSI2", "GSI2PK", "GSI2SK"))
        .send()
        .await
        .expect("create table");
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name("ttl").enabled(true).build().unwrap(),
        )
        .send()
        .await
        .expect("enable TTL");
    name
}

/// A fresh symmetric KMS key; returns its id.
pub async fn new_kms_key(sdk: &SdkConfig) -> String {
    let client = aws_sdk_kms::Client::new(sdk);
    let out = client.create_key().description(unique("weft-test")).send().await.expect("create key");
    out.key_metadata.expect("key metadata").key_id
}

/// A fresh secret holding `value`; returns its ARN.
pub async fn new_secret(sdk: &SdkConfig, value: &str) -> String {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out =
        client.create_secret().name(unique("weft-test")).secret_string(value).send().await.expect("create secret");
    out.arn.expect("secret arn")
}

/// Every record of the table, as raw attribute maps (for the tests that look at what is at rest).
pub async fn scan_all(
    sdk: &SdkConfig,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let mut all = Vec::new();
    let mut start = None;
    loop {
        let out = client.scan().table_name(table).set_exclusive_start_key(start).send().await.expect("scan");
        all.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return all,
        }
    }
}

// ---- domain fixtures ---------------------------------------------------------------------------------

/// A fresh store on a fresh table.
pub async fn store() -> (SdkConfig, String, weft::adapters::dynamodb::DynamoStore) {
    let sdk = sdk().await;
    let table = new_table(&sdk).await;
    let store = weft::adapters::dynamodb::DynamoStore::from_sdk_config(&sdk, &table);
    (sdk, table, store)
}

/// A fresh KMS envelope on a fresh key.
pub async fn vault(sdk: &SdkConfig) -> weft::adapters::kms::KmsEnvelope {
    let key = new_kms_key(sdk).await;
    weft::adapters::kms::KmsEnvelope::from_sdk_config(sdk, key)
}

/// A fresh data key for the item from `vault`, and `token` sealed under it.
pub async fn seal(
    vault: &impl weft::ports::KeyVault,
    record: &ItemRecord,
    token: &str,
) -> (weft::domain::ItemKey, weft::domain::SealedItem) {
    let (key, wrapped_key) = vault.new_item_key(&record.item_id).await.unwrap();
    let access_token = key.seal_access_token(&weft::domain::AccessToken::parse(token).unwrap()).unwrap();
    (key, weft::domain::SealedItem { wrapped_key, access_token })
}

/// Stores a new item with its sealed secrets (and an exchange record keyed by the item, as an exchange
/// would).
pub async fn put_new_item(
    store: &weft::adapters::dynamodb::DynamoStore,
    record: &ItemRecord,
    sealed: &weft::domain::SealedItem,
) -> Result<(), weft::ports::StoreError> {
    use weft::ports::ItemStore;
    store.insert_item(record, sealed, &exchange_key(record.item_id.as_str())).await
}

/// The exchange key [`put_new_item`] records for an item.
pub fn exchange_key(item: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(item.as_bytes()))
}

/// Upserts, as a sync applies them.
pub fn upserts(txns: &[Transaction]) -> Vec<weft::ports::TransactionChange> {
    txns.iter().map(|t| weft::ports::TransactionChange::Upsert(Box::new(t.clone()))).collect()
}

pub fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

pub fn item_id(id: &str) -> ItemId {
    ItemId::parse(id).unwrap()
}

pub fn item_record(user_id: &str, item: &str) -> ItemRecord {
    let t0 = OffsetDateTime::from_unix_timestamp(1_760_000_000).unwrap();
    ItemRecord {
        user_id: user(user_id),
        item_id: item_id(item),
        // One institution per item: a user holds one live item of an institution (the store's guard).
        institution: Institution {
            institution_id: InstitutionId::parse(format!("ins_{item}")).unwrap(),
            name: "First Platypus Bank".into(),
        },
        accounts: vec![Account {
            account_id: AccountId::parse("acc_checking").unwrap(),
            name: "Plaid Checking".into(),
            official_name: Some("Plaid Gold Standard 0% Interest Checking".into()),
            mask: Some("0000".into()),
            account_type: "depository".into(),
            subtype: Some("checking".into()),
            balances: Balances {
                available: Some(100.0),
                current: Some(110.5),
                limit: None,
                iso_currency_code: Some("USD".into()),
                as_of: Some(time::macros::datetime!(2026-11-30 06:00 UTC)),
            },
            persistent_account_id: Some("pa_0000".into()),
            revoked_at: None,
        }],
        status: ItemStatus::Healthy,
        error: None,
        consent_expiration_time: None,
        pending_disconnect_at: None,
        new_accounts_available: false,
        webhook_url: Some("https://example.com/webhooks/plaid".into()),
        ignored_prompts: 0,
        created_at: t0,
        updated_at: t0,
        event_times: Default::default(),
        transactions_sync: Default::default(),
        checked_at: None,
        version: 0,
    }
}

pub fn transaction(item: &str, id: &str, date: &str, amount: f64) -> Transaction {
    Transaction {
        item_id: item_id(item),
        transaction_id: TransactionId::parse(id).unwrap(),
        account_id: AccountId::parse("acc_checking").unwrap(),
        date: date.into(),
        pending: false,
        details: TransactionDetails {
            amount,
            iso_currency_code: Some("USD".into()),
            unofficial_currency_code: None,
            name: format!("Secret Merchant {id}"),
            merchant_name: Some("Zyxwv Coffee".into()),
            pending_transaction_id: None,
            authorized_date: Some(date.into()),
            payment_channel: "in store".into(),
            category: Some("Food and Drink".into()),
        },
    }
}

/// Whether any string, number or binary anywhere in `value` contains `needle`.
pub fn attribute_contains(value: &aws_sdk_dynamodb::types::AttributeValue, needle: &[u8]) -> bool {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let has = |bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    match value {
        A::S(s) | A::N(s) => has(s.as_bytes()),
        A::B(b) => has(b.as_ref()),
        A::Ss(v) | A::Ns(v) => v.iter().any(|s| has(s.as_bytes())),
        A::Bs(v) => v.iter().any(|b| has(b.as_ref())),
        A::L(v) => v.iter().any(|a| attribute_contains(a, needle)),
        A::M(m) => m.iter().any(|(k, a)| has(k.as_bytes()) || attribute_contains(a, needle)),
        _ => false,
    }
}
