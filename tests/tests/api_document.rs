//! The OpenAPI document: the committed `docs/openapi.json` is what the code generates, and it describes
//! exactly the HTTP API's routes in `infra/template.yaml` (no stack needed).

use std::collections::BTreeSet;
use weft_tests::gateway::routes_from_template;
use weft_tests::procs::repo_root;

#[test]
fn the_committed_document_is_what_the_code_generates() {
    let committed = std::fs::read_to_string(repo_root().join("docs/openapi.json")).expect("docs/openapi.json");
    let generated = weft::api::openapi::document();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the code: regenerate it with \
         `cargo run -p weft --example openapi > docs/openapi.json` and review the diff"
    );
}

#[test]
fn the_document_describes_exactly_the_templates_routes() {
    let doc: serde_json::Value = serde_json::from_str(&weft::api::openapi::document()).expect("json");
    let mut documented = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            documented.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    let routes = routes_from_template(&repo_root().join("infra/template.yaml")).expect("template");
    let deployed: BTreeSet<(String, String)> = routes.into_iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(documented, deployed, "documented vs deployed routes");
}

#[test]
fn every_route_but_plaids_needs_the_bearer_token_and_documents_its_errors() {
    let doc: serde_json::Value = serde_json::from_str(&weft::api::openapi::document()).expect("json");
    assert_eq!(doc["security"], serde_json::json!([{ "bearer": [] }]));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for (method, op) in operations.as_object().expect("operations") {
            let responses = op["responses"].as_object().expect("responses");
            for status in ["400", "401", "404", "500", "502", "503"] {
                let error = &responses[status];
                assert_eq!(
                    error["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            if path == "/webhooks/plaid" {
                assert_eq!(op["security"], serde_json::json!([{}]), "Plaid calls it without a bearer token");
            } else {
                assert!(op.get("security").is_none(), "{method} {path} keeps the document's bearer requirement");
                assert!(responses.contains_key("429"), "{method} {path}: limits answer 429");
            }
        }
    }
}

#[test]
fn the_committed_events_schema_is_what_the_code_generates() {
    let committed =
        std::fs::read_to_string(repo_root().join("docs/events.schema.json")).expect("docs/events.schema.json");
    assert!(
        committed == weft::api::openapi::events_schema(),
        "docs/events.schema.json differs from the code: regenerate it with \
         `cargo run -p weft --example events_schema > docs/events.schema.json` and review the diff"
    );
}

#[test]
fn every_kind_of_event_detail_validates_against_the_schema() {
    use weft::domain::{AppEvent, AppEventKind, ItemId, UserId};
    use weft::ports::{OutgoingEvent, Relink};
    let schema: serde_json::Value = serde_json::from_str(&weft::api::openapi::events_schema()).expect("json");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let at = time::macros::datetime!(2026-12-01 10:00 UTC);
    let kinds = vec![
        AppEventKind::Linked { institution_id: "ins_1".into(), institution_name: "First Platypus Bank".into() },
        AppEventKind::NeedsLogin { error_code: Some("ITEM_LOGIN_REQUIRED".into()) },
        AppEventKind::Expiring { on: Some(at), reason: "pending_disconnect".into() },
        AppEventKind::NewAccounts,
        AppEventKind::Repaired,
        AppEventKind::Removed { reason: "churn".into() },
        AppEventKind::TransactionsUpdated { added: 3, modified: 1, removed: 0 },
        AppEventKind::Reminder { action: "needs_login".into(), number: 2 },
    ];
    let mut names = BTreeSet::new();
    for kind in kinds {
        names.insert(kind.name());
        let relink =
            kind.wants_relink().then(|| Relink { url: "https://hosted.plaid.com/link/x".into(), expires_at: at });
        let event = AppEvent {
            event_id: "e-1".into(),
            user_id: UserId::parse("alice").expect("user"),
            item_id: ItemId::parse("item-1").expect("item"),
            occurred_at: at,
            kind,
        };
        let detail = OutgoingEvent { event, relink }.detail();
        let errors: Vec<String> = validator.iter_errors(&detail).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{detail}: {errors:?}");
    }
    assert_eq!(names.len(), 8, "every kind once");
    // And what is not an event detail is refused.
    assert!(!validator.is_valid(&serde_json::json!({ "type": "item.linked" })));
}
