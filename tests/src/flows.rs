//! Steps the end-to-end suites and the webhook benchmark share: linking an item through the app's API,
//! bounded waiting for asynchronous effects, the app's and the emulator's views of an item's transactions,
//! webhooks taken from the emulator's delivery log and posted again, and reads of the raw table.
//!
//! Everything returns `Result<_, String>` with a message that says what was expected; tests unwrap.

use crate::app_client::AppClient;
use crate::stack::LocalStack;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long an asynchronous effect (webhook delivery, queued sync) may take before a test fails. Generous:
/// the functions are debug builds served one invocation at a time, on a machine other suites share.
pub const WAIT: Duration = Duration::from_secs(60);

/// Prepares a test stack's emulator: no rate limits (the suites sync many pages in little time), and a
/// webhook timeout of 25 s instead of Plaid's 10 s, since the one local instance of the webhook function
/// serves every suite's deliveries in turn (a delivery timed out while queued would be retried and add to the
/// queue). It stays well under [`WAIT`]: a delivery whose attempt gets no answer (once in a CI run here, a
/// PENDING_EXPIRATION never reached the function and a 60 s timeout outlasted the test's wait) is retried, as
/// Plaid retries, while the test still waits. Weft deduplicates the retry if the first attempt did arrive.
pub async fn relax_emulator(stack: &LocalStack) -> Result<(), String> {
    let emulator = stack.emulator();
    emulator.post("rate_limits", json!({ "limits": {}, "replace": true })).await?;
    emulator.post("webhooks/config", json!({ "timeout_ms": 25_000 })).await?;
    Ok(())
}

/// A user id no other test uses.
pub fn unique_user(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Polls `check` every 200 ms until it returns `Some`, for at most `timeout`; then fails naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Link token -> Link completed in the emulator -> exchange: the new item's id.
pub async fn link_and_exchange(app: &AppClient, stack: &LocalStack, institution: &str) -> Result<String, String> {
    let created = app.post("/link/token", &json!({})).await;
    if created.status != 200 {
        return Err(format!("POST /link/token: {}", created.text));
    }
    let token = created.body["link_token"].as_str().unwrap_or_default().to_owned();
    let outcome = stack.complete_link(&token, institution, "user_good", "pass_good").await?;
    if outcome["status"] != "success" {
        return Err(format!("Link did not succeed: {outcome}"));
    }
    let answer = app
        .post("/items/exchange", &json!({ "public_token": outcome["public_token"], "metadata": outcome["metadata"] }))
        .await;
    if answer.status != 200 {
        return Err(format!("POST /items/exchange: {}", answer.text));
    }
    answer.body["item"]["item_id"].as_str().map(str::to_owned).ok_or_else(|| format!("no item_id in {}", answer.text))
}

/// One of the caller's items as `GET /items` shows it.
pub async fn app_item(app: &AppClient, item_id: &str) -> Result<Option<Value>, String> {
    let list = app.get("/items").await;
    if list.status != 200 {
        return Err(format!("GET /items: {}", list.text));
    }
    Ok(list.body["items"].as_array().into_iter().flatten().find(|i| i["item_id"] == item_id).cloned())
}

/// What both sides must agree on for each transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Txn {
    pub account_id: String,
    pub amount: f64,
    pub date: String,
    pub pending: bool,
    pub name: String,
}

impl Txn {
    fn from_json(t: &Value) -> Result<(String, Txn), String> {
        let field = |k: &str| t[k].as_str().map(str::to_owned).ok_or_else(|| format!("transaction without {k}: {t}"));
        Ok((
            field("transaction_id")?,
            Txn {
                account_id: field("account_id")?,
                amount: t["amount"].as_f64().ok_or_else(|| format!("transaction without amount: {t}"))?,
                date: field("date")?,
                pending: t["pending"].as_bool().ok_or_else(|| format!("transaction without pending: {t}"))?,
                name: field("name")?,
            },
        ))
    }
}

/// Every transaction of the item as the app serves it, read page by page (`limit` per page) through
/// `GET /items/{id}/transactions`. Fails if a transaction id appears twice or the pages are not newest first.
pub async fn app_transactions(app: &AppClient, item_id: &str, limit: u32) -> Result<BTreeMap<String, Txn>, String> {
    let mut all = BTreeMap::new();
    let mut cursor: Option<String> = None;
    let mut last_date: Option<String> = None;
    for _ in 0..10_000 {
        let path = match &cursor {
            Some(c) => format!("/items/{item_id}/transactions?limit={limit}&cursor={c}"),
            None => format!("/items/{item_id}/transactions?limit={limit}"),
        };
        let page = app.get(&path).await;
        if page.status != 200 {
            return Err(format!("GET {path}: {} {}", page.status, page.text));
        }
        let txns = page.body["transactions"].as_array().ok_or_else(|| format!("no transactions in {}", page.text))?;
        if txns.len() > limit as usize {
            return Err(format!("a page of {} for limit {limit}", txns.len()));
        }
        for t in txns {
            let (id, txn) = Txn::from_json(t)?;
            if last_date.as_ref().is_some_and(|d| *d < txn.date) {
                return Err(format!("transactions are not newest first: {} after {last_date:?}", txn.date));
            }
            last_date = Some(txn.date.clone());
            if all.insert(id.clone(), txn).is_some() {
                return Err(format!("transaction {id} listed twice"));
            }
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(all),
        }
    }
    Err("more than 10,000 pages".into())
}

/// The item's current transactions as the emulator (Plaid) has them.
pub async fn emulator_transactions(stack: &LocalStack, item_id: &str) -> Result<BTreeMap<String, Txn>, String> {
    let view = stack.emulator().get(&format!("items/{item_id}/transactions")).await?;
    let mut all = BTreeMap::new();
    for t in view["transactions"].as_array().ok_or_else(|| format!("no transactions in {view}"))? {
        let (id, txn) = Txn::from_json(t)?;
        all.insert(id, txn);
    }
    Ok(all)
}

/// What differs between two transaction sets (empty when they are equal).
pub fn diff(app: &BTreeMap<String, Txn>, plaid: &BTreeMap<String, Txn>) -> String {
    let missing: Vec<&String> = plaid.keys().filter(|k| !app.contains_key(*k)).collect();
    let extra: Vec<&String> = app.keys().filter(|k| !plaid.contains_key(*k)).collect();
    let changed: Vec<(&String, &Txn, &Txn)> =
        app.iter().filter_map(|(k, a)| plaid.get(k).filter(|p| *p != a).map(|p| (k, a, p))).collect();
    if missing.is_empty() && extra.is_empty() && changed.is_empty() {
        return String::new();
    }
    format!(
        "app has {} transactions, Plaid {}; missing in the app: {} (e.g. {:?}); extra in the app: {} (e.g. {:?}); \
         different: {} (e.g. {:?})",
        app.len(),
        plaid.len(),
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first(),
        changed.len(),
        changed.first()
    )
}

/// Waits until the app serves exactly the item's transactions as the emulator has them (ids, accounts,
/// amounts, dates, pending flags, names); returns them.
pub async fn wait_until_mirrored(
    app: &AppClient,
    stack: &LocalStack,
    item_id: &str,
    page: u32,
) -> Result<BTreeMap<String, Txn>, String> {
    let started = Instant::now();
    loop {
        let last = match (emulator_transactions(stack, item_id).await, app_transactions(app, item_id, page).await) {
            (Ok(plaid), Ok(ours)) => {
                let d = diff(&ours, &plaid);
                if d.is_empty() && !plaid.is_empty() {
                    return Ok(ours);
                }
                d
            }
            (Err(e), _) | (_, Err(e)) => e,
        };
        if started.elapsed() >= WAIT {
            return Err(format!("the app did not mirror the emulator's transactions within {WAIT:?}: {last}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The emulator's delivery log for an item (optionally one webhook code), oldest first.
pub async fn deliveries(stack: &LocalStack, item_id: &str, code: Option<&str>) -> Result<Vec<Value>, String> {
    let path = match code {
        Some(c) => format!("webhooks?item_id={item_id}&webhook_code={c}"),
        None => format!("webhooks?item_id={item_id}"),
    };
    let log = stack.emulator().get(&path).await?;
    Ok(log["deliveries"].as_array().cloned().unwrap_or_default())
}

/// Waits until the emulator has `n` deliveries of `code` for the item in `status` (`delivered`, `held`,
/// `failed`); returns them.
pub async fn wait_for_deliveries(
    stack: &LocalStack,
    item_id: &str,
    code: &str,
    status: &str,
    n: usize,
) -> Result<Vec<Value>, String> {
    eventually(&format!("{n} {status} {code} webhook(s) for {item_id}"), WAIT, || async {
        let found: Vec<Value> =
            deliveries(stack, item_id, Some(code)).await.ok()?.into_iter().filter(|d| d["status"] == status).collect();
        (found.len() >= n).then_some(found)
    })
    .await
}

/// An answer from the webhook function.
#[derive(Debug, Clone)]
pub struct WebhookAnswer {
    pub status: u16,
    pub body: Value,
    pub elapsed: Duration,
}

/// POSTs a webhook to the webhook function as Plaid would (raw body, `Plaid-Verification` header if any).
pub async fn post_webhook(
    stack: &LocalStack,
    verification: Option<&str>,
    body: &[u8],
) -> Result<WebhookAnswer, String> {
    let mut req = stack.http.post(stack.webhook_url()).header("content-type", "application/json").body(body.to_vec());
    if let Some(h) = verification {
        req = req.header("plaid-verification", h);
    }
    let start = Instant::now();
    let resp = crate::http::send(req).await.map_err(|e| {
        // Tell what the function printed last: a request that got no answer is the function's story.
        let log = lambda_log(stack);
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        format!(
            "POST webhook: {e}\nlast lines of lambda.log:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    Ok(WebhookAnswer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), elapsed })
}

/// Sends a webhook from the delivery log again, byte for byte, with the header it was (or would have been)
/// sent with.
pub async fn redeliver(stack: &LocalStack, delivery: &Value) -> Result<WebhookAnswer, String> {
    let body = delivery["body"].as_str().ok_or_else(|| format!("delivery without body: {delivery}"))?;
    let header =
        delivery["plaid_verification"].as_str().ok_or_else(|| format!("delivery without header: {delivery}"))?;
    post_webhook(stack, Some(header), body.as_bytes()).await
}

/// Every record of the stack's table as `(PK, SK, the record's attributes as text)`: a scan of every page
/// (tests only).
pub async fn table_rows(stack: &LocalStack) -> Result<Vec<(String, String, String)>, String> {
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let mut rows = Vec::new();
    let mut start = None;
    loop {
        let out = dynamo
            .scan()
            .table_name(&stack.resources.table_name)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("scan: {e:?}"))?;
        for item in out.items() {
            let key = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            rows.push((key("PK"), key("SK"), format!("{item:?}")));
        }
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(rows),
        }
    }
}

/// Every record of the stack's table whose attributes mention `needle`, as `PK / SK` (a scan: tests only).
pub async fn records_mentioning(stack: &LocalStack, needle: &str) -> Result<Vec<String>, String> {
    let rows = table_rows(stack).await?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, text)| text.contains(needle))
        .map(|(pk, sk, _)| format!("{pk} / {sk}"))
        .collect())
}

/// One raw record of the stack's table, by key.
pub async fn record(
    stack: &LocalStack,
    pk: &str,
    sk: &str,
) -> Result<Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>, String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let out = dynamo
        .get_item()
        .table_name(&stack.resources.table_name)
        .key("PK", AttributeValue::S(pk.to_owned()))
        .key("SK", AttributeValue::S(sk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| format!("get_item: {e:?}"))?;
    Ok(out.item)
}

/// How many transaction records the table holds for an item.
pub async fn stored_transaction_count(stack: &LocalStack, item_id: &str) -> Result<usize, String> {
    use aws_sdk_dynamodb::types::{AttributeValue, Select};
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let mut count = 0usize;
    let mut start = None;
    loop {
        let out = dynamo
            .query()
            .table_name(&stack.resources.table_name)
            .key_condition_expression("PK = :pk AND begins_with(SK, :txn)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("ITEM#{item_id}")))
            .expression_attribute_values(":txn", AttributeValue::S("TXN#".into()))
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("query: {e:?}"))?;
        count += out.count as usize;
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(count),
        }
    }
}

/// Calls of one Plaid endpoint so far, for one item or (without `item_id`) in total.
pub async fn plaid_calls(stack: &LocalStack, endpoint: &str, item_id: Option<&str>) -> Result<u64, String> {
    let calls = stack.emulator().calls().await?;
    Ok(match item_id {
        Some(id) => calls["by_item"][id][endpoint].as_u64().unwrap_or(0),
        None => calls["total"][endpoint].as_u64().unwrap_or(0),
    })
}

/// Calls of one Plaid endpoint so far that named `institution_id` (e.g. `/institutions/get_by_id`).
pub async fn plaid_institution_calls(stack: &LocalStack, endpoint: &str, institution_id: &str) -> Result<u64, String> {
    let calls = stack.emulator().calls().await?;
    Ok(calls["by_institution"][institution_id][endpoint].as_u64().unwrap_or(0))
}

/// The lambda log so far (every function's output).
pub fn lambda_log(stack: &LocalStack) -> String {
    std::fs::read_to_string(stack.log_dir.join("lambda.log")).unwrap_or_default()
}

/// The environment the stack's functions run with (the env file cargo-lambda was given).
pub fn function_env(stack: &LocalStack) -> Result<std::collections::HashMap<String, String>, String> {
    let path = stack.log_dir.join("lambda.env");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (k, v) = line.split_once('=')?;
            let v = v.strip_prefix('"')?.strip_suffix('"')?;
            Some((k.to_owned(), v.replace("\\\"", "\"").replace("\\\\", "\\")))
        })
        .collect())
}

/// The services as a function of the stack runs them (same table, key, Plaid, configuration), in this
/// process: for running one use case next to the served functions, e.g. a second sync at the same time.
pub async fn in_process_app(stack: &LocalStack) -> Result<weft::services::Services, String> {
    use std::sync::Arc;
    let env = function_env(stack)?;
    let config = weft::config::Config::from_lookup(|k| env.get(k).cloned()).map_err(|e| e.to_string())?;
    let credentials =
        Arc::new(weft::ports::StaticCredentials::new(crate::stack::PLAID_CLIENT_ID, crate::stack::PLAID_SECRET));
    let plaid = Arc::new(
        weft::adapters::plaid_http::PlaidClient::new(config.plaid.base_url.clone(), credentials)
            .map_err(|e| e.to_string())?,
    );
    let store = Arc::new(weft::adapters::dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&stack.sdk),
        config.table_name.clone(),
    ));
    let ports = weft::services::Ports {
        plaid,
        store: store.clone(),
        audit: store,
        vault: Arc::new(weft::adapters::kms::KmsEnvelope::from_sdk_config(&stack.sdk, config.kms_key_id.clone())),
        queue: Arc::new(weft::adapters::sqs::NoSyncQueue),
        continuation: Arc::new(weft::adapters::lambda::NoContinuation),
        clock: Arc::new(weft::ports::SystemClock),
        bus: Arc::new(weft::adapters::eventbridge::NoEventBus),
    };
    Ok(weft::services::Services::new(config, ports))
}

/// Whether `text` holds something shaped like a JWT: a base64url header starting `eyJ` (`{"` encoded) of
/// at least 10 characters, a dot, and a base64url payload of at least 10 more. A random id or ciphertext
/// that merely contains the letters "eyJ" is not one (the check that looked for "eyJ" alone was flaky).
pub fn contains_jwt(text: &str) -> bool {
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices("eyJ").any(|(i, _)| {
        let rest = &text[i..];
        let header = rest.split('.').next().unwrap_or_default();
        let payload = rest.get(header.len() + 1..).unwrap_or_default();
        header.len() >= 10
            && header.chars().all(b64)
            && rest.len() > header.len()
            && payload.chars().take_while(|c| b64(*c)).count() >= 10
    })
}

/// Waits until nothing is under way for the item: every webhook the emulator sent for it delivered, and no
/// `/transactions/sync` call of it for two seconds (a queued sync starts within one). moto does not serialise
/// concurrent conditional writes as DynamoDB does, so a test that changes an item while a sync of it still
/// writes could see a lost update only moto makes: wait for quiet first.
pub async fn wait_until_settled(stack: &LocalStack, item_id: &str) -> Result<(), String> {
    let quiet = Duration::from_secs(2);
    let start = Instant::now();
    let mut last = (u64::MAX, Instant::now());
    loop {
        let pending = deliveries(stack, item_id, None).await?.iter().any(|d| d["status"] == "pending");
        let syncs = plaid_calls(stack, "/transactions/sync", Some(item_id)).await?;
        if pending || syncs != last.0 {
            last = (syncs, Instant::now());
        } else if last.1.elapsed() >= quiet {
            return Ok(());
        }
        if start.elapsed() >= WAIT {
            return Err(format!("webhooks or syncs of {item_id} still under way after {WAIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_jwt_is_found_and_an_id_containing_eyj_is_not() {
        let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjE3MDAwMDAwMDB9.c2lnbmF0dXJl";
        assert!(super::contains_jwt(&format!("{{\"token\":\"{jwt}\"}}")));
        assert!(!super::contains_jwt("TXN#nItivKNZtvPScZXkG44a0XekPVJUuppeyJTRg"));
        assert!(!super::contains_jwt("\"eyJTRg\". and more"));
    }
}
