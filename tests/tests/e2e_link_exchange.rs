//! End to end over HTTP against the local stack: link tokens (new, update mode, OAuth resume, bad input),
//! exchange (success, duplicates, bad or expired public token), and authentication.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use serde_json::{Value, json};
use weft_tests::app_client::AppClient;
use weft_tests::stack::{LocalStack, StackOptions, shared_stack};

fn options() -> StackOptions {
    StackOptions {
        env: vec![("WEFT_PLAID_REDIRECT_URI".into(), "https://app.example.com/oauth-return".into())],
        ..Default::default()
    }
}

fn stack() -> &'static LocalStack {
    shared_stack("link_exchange", options)
}

fn user() -> String {
    format!("user-{}", uuid::Uuid::new_v4().simple())
}

/// Link token -> simulated Link at `institution` -> (public token, Link's onSuccess metadata).
async fn link(app: &AppClient, stack: &LocalStack, institution: &str) -> (String, Value) {
    let created = app.post("/link/token", &json!({})).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let token = created.body["link_token"].as_str().unwrap().to_owned();
    let outcome = stack.complete_link(&token, institution, "user_good", "pass_good").await.unwrap();
    assert_eq!(outcome["status"], "success", "{outcome}");
    (outcome["public_token"].as_str().unwrap().to_owned(), outcome["metadata"].clone())
}

async fn link_and_exchange(app: &AppClient, stack: &LocalStack, institution: &str) -> String {
    let (public_token, metadata) = link(app, stack, institution).await;
    let answer = app.post("/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["item"]["item_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn link_token_for_a_new_link() {
    let stack = stack();
    let app = AppClient::new(stack, &user());
    let answer = app.post("/link/token", &json!({ "products": ["transactions"], "country_codes": ["US"] })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let token = answer.body["link_token"].as_str().unwrap();
    assert!(token.starts_with("link-sandbox-"), "{token}");
    assert_eq!(answer.body["mode"], "create");
    assert!(answer.body["expiration"].as_str().is_some());
}

#[tokio::test]
async fn link_token_refuses_bad_input_with_a_clear_error() {
    let stack = stack();
    let app = AppClient::new(stack, &user());
    for (body, why) in [
        (json!({ "products": ["balance"] }), "a product the deployment does not enable"),
        (json!({ "products": [] }), "no products"),
        (json!({ "country_codes": ["XX"] }), "a country code outside the config"),
        (json!({ "surprise": true }), "an unknown field"),
        (json!({ "products": "transactions" }), "a wrongly typed field"),
        (json!({ "platform": "symbian" }), "an unknown platform"),
        (json!({ "days_requested": 0 }), "days out of range"),
    ] {
        let answer = app.post("/link/token", &body).await;
        assert_eq!(answer.status, 400, "{why}: {}", answer.text);
        assert_eq!(answer.code(), "INVALID_REQUEST", "{why}");
        assert!(!answer.body["error"]["message"].as_str().unwrap().is_empty(), "{why}");
        assert!(answer.body["error"]["request_id"].as_str().is_some(), "{why}");
    }
    let not_json = app.raw("POST", "/link/token", Some(b"{not json".to_vec()), true).await;
    assert_eq!(not_json.status, 400, "{}", not_json.text);
    assert_eq!(not_json.code(), "INVALID_REQUEST");
}

#[tokio::test]
async fn exchange_stores_the_item_and_never_returns_the_token() {
    let stack = stack();
    let subject = user();
    let app = AppClient::new(stack, &subject);
    let (public_token, metadata) = link(&app, stack, "ins_109508").await;
    let answer = app.post("/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(!answer.text.contains("access-sandbox"), "the access token leaked: {}", answer.text);
    let item = &answer.body["item"];
    assert_eq!(item["institution"]["institution_id"], "ins_109508");
    assert_eq!(item["status"], "healthy");
    assert!(!item["accounts"].as_array().unwrap().is_empty());
    // Plaid's accounts, with their balances and when weft took them (Link's metadata has none).
    let at_plaid = stack.emulator().item(item["item_id"].as_str().unwrap()).await.unwrap();
    for account in item["accounts"].as_array().unwrap() {
        let id = &account["account_id"];
        let plaid = at_plaid["accounts"].as_array().unwrap().iter().find(|a| &a["account_id"] == id).unwrap();
        assert_eq!(account["balances"]["current"], plaid["balances"]["current"], "{account}");
        assert!(account["balances"]["current"].is_number(), "{account}");
        assert!(account["balances"]["as_of"].is_string(), "{account}");
    }

    // Plaid knows the user only by a stable pseudonym, never the subject (it may be an email).
    let at_plaid = stack.emulator().get(&format!("items/{}", item["item_id"].as_str().unwrap())).await.unwrap();
    let client_user_id = at_plaid["client_user_id"].as_str().unwrap_or_default();
    assert_eq!(client_user_id.len(), 43, "{at_plaid}");
    assert!(!client_user_id.contains(&subject) && !subject.contains(client_user_id));

    // A retried request (same public token) gets the same item, without a second exchange.
    let again = app.post("/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["item"]["item_id"], item["item_id"]);

    let list = app.get("/items").await;
    assert_eq!(list.status, 200, "{}", list.text);
    let ids: Vec<&str> =
        list.body["items"].as_array().unwrap().iter().map(|i| i["item_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![item["item_id"].as_str().unwrap()]);
}

#[tokio::test]
async fn a_false_institution_claim_is_stored_as_plaids_and_refused_as_a_duplicate() {
    let stack = stack();
    let app = AppClient::new(stack, &user());
    let first = link_and_exchange(&app, stack, "ins_109508").await;
    // The same bank again, the front end claiming a bank that does not exist, with renamed accounts.
    let (public_token, mut metadata) = link(&app, stack, "ins_109508").await;
    metadata["institution"] = json!({ "institution_id": "ins_999999", "name": "Claimed Other Bank" });
    for account in metadata["accounts"].as_array_mut().unwrap() {
        account["name"] = json!(format!("Renamed {}", account["name"].as_str().unwrap_or_default()));
    }
    let answer = app.post("/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(answer.status, 409, "{}", answer.text);
    assert_eq!(answer.code(), "DUPLICATE_ITEM");
    assert_eq!(answer.body["error"]["item_id"], first.as_str());
    // Plaid made the second item (the filter on the claim could not catch it): it is removed there.
    let items = stack.emulator().get("items").await.unwrap();
    let second: Vec<&Value> = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["institution_id"] == "ins_109508" && i["item_id"] != first.as_str())
        .filter(|i| i["client_user_id"] == items["items"].as_array().unwrap().iter().find(|j| j["item_id"] == first.as_str()).unwrap()["client_user_id"])
        .collect();
    assert_eq!(second.len(), 1, "{items}");
    assert_eq!(second[0]["removed"], true, "the duplicate is not left billed at Plaid: {}", second[0]);
    let listed = app.get("/items").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "{}", listed.text);
}

#[tokio::test]
async fn duplicate_institution_is_refused_before_exchanging() {
    let stack = stack();
    let app = AppClient::new(stack, &user());
    let first = link_and_exchange(&app, stack, "ins_109508").await;
    let (public_token, metadata) = link(&app, stack, "ins_109508").await;
    let answer = app.post("/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(answer.status, 409, "{}", answer.text);
    assert_eq!(answer.code(), "DUPLICATE_ITEM");
    assert_eq!(answer.body["error"]["item_id"], first.as_str());
    // The public token was not exchanged: it still is exchangeable at Plaid.
    let plaid = reqwest::Client::new()
        .post(format!("{}/item/public_token/exchange", stack.plaid.base_url()))
        .json(&json!({ "client_id": weft_tests::stack::PLAID_CLIENT_ID, "secret": weft_tests::stack::PLAID_SECRET, "public_token": public_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(plaid.status(), 200);
}

#[tokio::test]
async fn duplicate_accounts_at_another_institution_are_refused() {
    let stack = stack();
    let app = AppClient::new(stack, &user());
    let first = link_and_exchange(&app, stack, "ins_109508").await;
    // user_good has the same account names and masks at every sandbox institution.
    let (public_token, metadata) = link(&app, stack, "ins_109509").await;
    let answer = app.post("/items/exchange", &json!({ "public_token": public_token, "metadata": metadata })).await;
    assert_eq!(answer.status, 409, "{}", answer.text);
    assert_eq!(answer.code(), "DUPLICATE_ITEM");
    assert_eq!(answer.body["error"]["item_id"], first.as_str());
}

#[tokio::test]
async fn bad_and_used_public_tokens_are_refused() {
    let stack = stack();
    let app = AppClient::new(stack, &user());
    let (_, metadata) = link(&app, stack, "ins_109510").await;
    let bad = app
        .post(
            "/items/exchange",
            &json!({ "public_token": "public-sandbox-00000000-0000-0000-0000-000000000000", "metadata": metadata }),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.code(), "INVALID_PUBLIC_TOKEN");
    let malformed =
        app.post("/items/exchange", &json!({ "public_token": "access-sandbox-x", "metadata": metadata })).await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    assert_eq!(malformed.code(), "INVALID_REQUEST");
    let missing = app.post("/items/exchange", &json!({ "metadata": metadata })).await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert_eq!(missing.code(), "INVALID_REQUEST");
}

#[tokio::test]
async fn update_mode_token_for_own_item_only() {
    let stack = stack();
    let owner = AppClient::new(stack, &user());
    let item_id = link_and_exchange(&owner, stack, "ins_109511").await;
    let update = owner.post("/link/token", &json!({ "item_id": item_id })).await;
    assert_eq!(update.status, 200, "{}", update.text);
    assert_eq!(update.body["mode"], "update");
    assert_eq!(update.body["item_id"], item_id.as_str());
    // Completing Link with it is update mode: no public token.
    let outcome = stack
        .complete_link(update.body["link_token"].as_str().unwrap(), "ins_109511", "user_good", "pass_good")
        .await
        .unwrap();
    assert_eq!(outcome["status"], "success", "{outcome}");
    assert!(outcome["public_token"].is_null(), "{outcome}");

    let products = owner.post("/link/token", &json!({ "item_id": item_id, "products": ["transactions"] })).await;
    assert_eq!(products.status, 400, "{}", products.text);

    let stranger = AppClient::new(stack, &user());
    let other = stranger.post("/link/token", &json!({ "item_id": item_id })).await;
    assert_eq!(other.status, 404, "{}", other.text);
    assert_eq!(other.code(), "NOT_FOUND");
}

#[tokio::test]
async fn oauth_resume_returns_the_same_token() {
    let stack = stack();
    let app = AppClient::new(stack, &user());
    let none = app.get("/link/token/resume").await;
    assert_eq!(none.status, 404, "{}", none.text);
    let created = app.post("/link/token", &json!({})).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let resumed = app.get("/link/token/resume").await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(resumed.body["link_token"], created.body["link_token"]);
    // The token carries the redirect URI, so Link can complete at an OAuth institution.
    let outcome = stack
        .complete_link(created.body["link_token"].as_str().unwrap(), "ins_127287", "user_good", "pass_good")
        .await
        .unwrap();
    assert_eq!(outcome["status"], "success", "{outcome}");
}

#[tokio::test]
async fn authentication_is_required_and_verified() {
    let stack = stack();
    let app = AppClient::new(stack, &user());
    let none = app.raw("GET", "/items", None, false).await;
    assert_eq!(none.status, 401, "{}", none.text);
    assert_eq!(none.code(), "UNAUTHENTICATED");

    let expired = AppClient::with_token(stack, stack.issuer.mint_expired(&user()));
    assert_eq!(expired.get("/items").await.status, 401);

    let wrong_issuer = AppClient::with_token(stack, stack.issuer.mint_with_issuer(&user(), "https://evil.example.com"));
    assert_eq!(wrong_issuer.get("/items").await.status, 401);

    let garbage = AppClient::with_token(stack, "not.a.jwt".into());
    assert_eq!(garbage.post("/link/token", &json!({})).await.status, 401);
}

#[tokio::test]
async fn another_users_item_is_not_found() {
    let stack = stack();
    let owner = AppClient::new(stack, &user());
    let item_id = link_and_exchange(&owner, stack, "ins_109512").await;
    let stranger = AppClient::new(stack, &user());
    for answer in [
        stranger.get(&format!("/items/{item_id}/transactions")).await,
        stranger.delete(&format!("/items/{item_id}")).await,
    ] {
        assert_eq!(answer.status, 404, "{}", answer.text);
        assert_eq!(answer.code(), "NOT_FOUND");
    }
    assert!(stranger.get("/items").await.body["items"].as_array().unwrap().is_empty());
    // Still there for its owner.
    assert_eq!(owner.get(&format!("/items/{item_id}/transactions")).await.status, 200);
}
