//! Link sessions as Plaid reports them, on the doubles: LINK webhooks exchange public tokens through the
//! app's exchange path (one item and one Plaid exchange however many report the same token), confirm
//! update mode with Plaid, store events once per (session, event id); sessions nothing closed are asked
//! about once with `/link/token/get`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod log_capture;
mod services_support;

use serde_json::json;
use services_support::{at, command, institution, item_error_webhook, link_item, stored, user};
use sha2::{Digest, Sha256};
use std::time::Duration;
use weft::domain::{
    ItemStatus, LinkEventKind, LinkEventSource, LinkSessionId, LinkToken, PublicToken, ReturningUser, UserId,
};
use weft::doubles::TestServices;
use weft::doubles::plaid::endpoints::{ITEM_GET, LINK_TOKEN_GET, PUBLIC_TOKEN_EXCHANGE};
use weft::ports::plaid::wire::LinkSessionEvent;
use weft::ports::{ExchangeRecords, ItemStore, LinkStore, VerifiedWebhook, WebhookEvent};
use weft::services::exchange::exchange;
use weft::services::link::{LinkTokenCommand, create};
use weft::services::link_events::{LinkEvent, record};
use weft::services::link_sessions::recover_open_sessions;
use weft::services::webhook::{Handled, intake, intake_within};
use weft::services::{Deadline, ServiceError};

fn session(s: &str) -> LinkSessionId {
    LinkSessionId::parse(s).unwrap()
}

/// A LINK webhook as the verifier hands it over (no item), signed at `iat` seconds after the start.
fn link_webhook(event: WebhookEvent, iat: i64) -> VerifiedWebhook {
    let body = format!("{event:?}-{iat}");
    VerifiedWebhook {
        item_id: None,
        environment: Some("sandbox".into()),
        event,
        issued_at: at(iat),
        key_id: "key-1".into(),
        body_sha256: hex::encode(Sha256::digest(body.as_bytes())),
    }
}

fn item_add_result(link_token: &LinkToken, s: &str, public_token: &PublicToken) -> WebhookEvent {
    WebhookEvent::LinkItemAddResult {
        link_session_id: session(s),
        link_token: link_token.clone(),
        public_token: public_token.clone(),
    }
}

fn session_finished(link_token: &LinkToken, s: &str, status: &str, tokens: &[&PublicToken]) -> WebhookEvent {
    WebhookEvent::LinkSessionFinished {
        link_session_id: session(s),
        link_token: link_token.clone(),
        status: status.into(),
        public_tokens: tokens.iter().map(|t| (*t).clone()).collect(),
    }
}

fn plaid_event(id: &str, name: &str, secs: i64, metadata: serde_json::Value) -> LinkSessionEvent {
    serde_json::from_value(json!({
        "event_id": id, "event_name": name,
        "timestamp": at(secs).format(&time::format_description::well_known::Rfc3339).unwrap(),
        "event_metadata": metadata,
    }))
    .unwrap()
}

async fn new_link_token(t: &TestServices, who: &str) -> LinkToken {
    create(&t.services, &user(who), LinkTokenCommand::default()).await.unwrap().link_token
}

async fn link_token_record(t: &TestServices, token: &LinkToken) -> (UserId, weft::domain::LinkTokenRecord) {
    t.store.find_link_token(token.as_str()).await.unwrap().expect("the link token is kept")
}

#[tokio::test]
async fn item_add_result_exchanges_the_token_for_the_link_tokens_user_from_plaids_data() {
    let t = TestServices::new();
    let link_token = new_link_token(&t, "alice").await;
    let bank = institution("ins_1");
    let public_token = t.plaid.add_public_token(&bank);

    let handled = intake(&t.services, &link_webhook(item_add_result(&link_token, "s1", &public_token), 5)).await;
    assert_eq!(handled.unwrap(), Handled::LinkSession);

    let items = t.store.list_items(&user("alice")).await.unwrap();
    assert_eq!(items.len(), 1, "the item is alice's: she owns the link token");
    assert_eq!(items[0].institution, bank, "institution and accounts from Plaid (the webhook has none)");
    assert_eq!(items[0].accounts.len(), 2);
    assert_eq!(t.plaid.calls(PUBLIC_TOKEN_EXCHANGE), 1);
    assert_eq!(t.queue.requests().len(), 1, "its first sync is queued, as for the app's exchange");
    let (owner, record) = link_token_record(&t, &link_token).await;
    assert_eq!(owner, user("alice"));
    assert!(record.closed_at.is_some(), "the session is closed: never asked about with /link/token/get");

    // Plaid sending it again (a new signature) changes nothing: the claim says it is done.
    let again = intake(&t.services, &link_webhook(item_add_result(&link_token, "s1", &public_token), 9)).await;
    assert_eq!(again.unwrap(), Handled::LinkSession);
    assert_eq!(t.plaid.calls(PUBLIC_TOKEN_EXCHANGE), 1);
    assert_eq!(t.store.item_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_client_and_the_webhook_exchanging_one_token_at_once_make_one_item_and_one_plaid_exchange() {
    let t = TestServices::new();
    let link_token = new_link_token(&t, "alice").await;
    let bank = institution("ins_1");
    let public_token = t.plaid.add_public_token(&bank);
    let client = command(&t, public_token.clone(), &bank);
    // Plaid takes its time to answer the first exchange: the other copy finds the claim held, and waits.
    t.plaid.answer_late(PUBLIC_TOKEN_EXCHANGE, Duration::from_secs(2));
    let webhook = link_webhook(session_finished(&link_token, "s1", "SUCCESS", &[&public_token]), 5);

    let alice = user("alice");
    let (by_client, by_webhook) = tokio::join!(exchange(&t.services, &alice, client), intake(&t.services, &webhook));
    let item = by_client.unwrap();
    assert_eq!(by_webhook.unwrap(), Handled::LinkSession);
    assert_eq!(t.plaid.calls(PUBLIC_TOKEN_EXCHANGE), 1, "one /item/public_token/exchange");
    assert_eq!(t.store.item_count(), 1, "one item");
    assert_eq!(t.plaid.item_ids(), vec![item.item_id.clone()], "nothing made at Plaid but that item");
}

#[tokio::test]
async fn a_token_the_client_exchanged_already_is_a_success_not_an_error() {
    let t = TestServices::new();
    let link_token = new_link_token(&t, "alice").await;
    let bank = institution("ins_1");
    let public_token = t.plaid.add_public_token(&bank);
    let item = exchange(&t.services, &user("alice"), command(&t, public_token.clone(), &bank)).await.unwrap();

    let webhook = link_webhook(session_finished(&link_token, "s1", "SUCCESS", &[&public_token]), 5);
    assert_eq!(intake(&t.services, &webhook).await.unwrap(), Handled::LinkSession);
    assert_eq!(t.plaid.calls(PUBLIC_TOKEN_EXCHANGE), 1);
    assert_eq!(t.store.list_items(&user("alice")).await.unwrap()[0].item_id, item.item_id);
}

#[tokio::test(start_paused = true)]
async fn an_exchange_in_progress_elsewhere_answers_so_plaid_sends_the_webhook_again() {
    let t = TestServices::new();
    let link_token = new_link_token(&t, "alice").await;
    let public_token = t.plaid.add_public_token(&institution("ins_1"));
    // Another request holds the claim on this public token (and will for a minute).
    let key = hex::encode(Sha256::digest(public_token.expose().as_bytes()));
    let now = t.now();
    t.store.claim_exchange(&user("alice"), &key, now, now + time::Duration::minutes(1)).await.unwrap();

    let webhook = link_webhook(item_add_result(&link_token, "s1", &public_token), 5);
    let err = intake_within(&t.services, &webhook, Deadline::after(Duration::from_secs(2))).await.unwrap_err();
    assert!(matches!(err, ServiceError::ExchangeInProgress), "{err:?}: a 5xx, so Plaid retries");
    assert_eq!(t.plaid.calls(PUBLIC_TOKEN_EXCHANGE), 0);

    // The other request gave up (its claim released): Plaid's retry exchanges.
    t.store.release_exchange(&user("alice"), &key).await.unwrap();
    assert_eq!(intake(&t.services, &webhook).await.unwrap(), Handled::LinkSession);
    assert_eq!(t.store.item_count(), 1);
}

#[tokio::test]
async fn a_duplicate_or_a_dead_token_is_handled_not_retried() {
    let t = TestServices::new();
    let link_token = new_link_token(&t, "alice").await;
    let first = link_item(&t, "alice", "ins_1").await;
    // The same bank again: Plaid made it, weft removes it (the duplicate), and Plaid need not retry.
    let again = t.plaid.add_public_token(&institution("ins_1"));
    let webhook = link_webhook(item_add_result(&link_token, "s1", &again), 5);
    assert_eq!(intake(&t.services, &webhook).await.unwrap(), Handled::LinkSession);
    assert_eq!(t.store.list_items(&user("alice")).await.unwrap()[0].item_id, first.item_id);
    assert_eq!(t.store.item_count(), 1);
    // A public token Plaid does not know any more (expired): nothing any retry can do.
    let dead = PublicToken::parse("public-sandbox-expired").unwrap();
    let webhook = link_webhook(session_finished(&link_token, "s2", "SUCCESS", &[&dead]), 6);
    assert_eq!(intake(&t.services, &webhook).await.unwrap(), Handled::LinkSession);
}

#[tokio::test]
async fn a_link_token_weft_does_not_hold_is_acknowledged() {
    let t = TestServices::new();
    let public_token = t.plaid.add_public_token(&institution("ins_1"));
    let stranger = LinkToken::parse("link-sandbox-someone-else").unwrap();
    let webhook = link_webhook(item_add_result(&stranger, "s1", &public_token), 5);
    assert_eq!(intake(&t.services, &webhook).await.unwrap(), Handled::UnknownLinkToken);
    assert_eq!(t.plaid.calls(PUBLIC_TOKEN_EXCHANGE), 0);
}

#[tokio::test]
async fn session_finished_after_update_mode_is_confirmed_with_item_get_never_taken_on_its_word() {
    let t = TestServices::new();
    let item = link_item(&t, "alice", "ins_1").await;
    assert_eq!(intake(&t.services, &item_error_webhook(&item.item_id, at(-3600))).await.unwrap(), Handled::Applied);
    t.plaid.set_item_error(&item.item_id, Some(weft::doubles::plaid::errors::login_required()));
    let command = LinkTokenCommand { update_item: Some(item.item_id.clone()), ..Default::default() };
    let link_token = create(&t.services, &user("alice"), command).await.unwrap().link_token;

    // Plaid still reports the error: the webhook's SUCCESS alone repairs nothing.
    let calls = t.plaid.calls(ITEM_GET);
    let webhook = link_webhook(session_finished(&link_token, "s1", "SUCCESS", &[]), 5);
    assert_eq!(intake(&t.services, &webhook).await.unwrap(), Handled::LinkSession);
    assert_eq!(t.plaid.calls(ITEM_GET), calls + 1, "asked Plaid");
    assert_eq!(stored(&t, &item).await.status, ItemStatus::LoginRequired);

    // Repaired at Plaid: the next report is confirmed.
    t.plaid.set_item_error(&item.item_id, None);
    t.clock.advance(time::Duration::minutes(1));
    let webhook = link_webhook(session_finished(&link_token, "s2", "SUCCESS", &[]), 70);
    assert_eq!(intake(&t.services, &webhook).await.unwrap(), Handled::LinkSession);
    assert_eq!(stored(&t, &item).await.status, ItemStatus::Healthy);
    assert_eq!(t.plaid.calls(PUBLIC_TOKEN_EXCHANGE), 1, "update mode exchanges nothing");
}

#[tokio::test]
async fn events_plaid_resends_cumulatively_are_stored_once() {
    let t = TestServices::new();
    let link_token = new_link_token(&t, "alice").await;
    let open = plaid_event("e1", "OPEN", 1, json!({}));
    let select =
        plaid_event("e2", "SELECT_INSTITUTION", 2, json!({"institution_id": "ins_1", "institution_name": "Bank"}));
    let handoff = plaid_event("e3", "HANDOFF", 3, json!({"institution_id": "ins_1"}));
    let events = |list: Vec<&LinkSessionEvent>| WebhookEvent::LinkEvents {
        link_session_id: session("s1"),
        link_token: link_token.clone(),
        events: list.into_iter().cloned().collect(),
    };
    let first = link_webhook(events(vec![&open, &select]), 5);
    let cumulative = link_webhook(events(vec![&open, &select, &handoff]), 6);
    for w in [&first, &cumulative, &cumulative] {
        assert!(matches!(intake(&t.services, w).await.unwrap(), Handled::LinkSession | Handled::Duplicate));
    }
    let day = TestServices::START.date();
    let stored = t.store.link_events_between(day, day).await.unwrap();
    let ids: Vec<_> = stored.iter().map(|e| e.event_id.clone().unwrap()).collect();
    assert_eq!(ids, ["e1", "e2", "e3"], "each (session, event id) once");
    assert!(stored.iter().all(|e| e.source == LinkEventSource::Webhook && e.user_id == user("alice")));
    let (_, record) = link_token_record(&t, &link_token).await;
    assert!(record.closed_at.is_none(), "events alone do not close the session (its public token is not in them)");
}

#[tokio::test]
async fn sessions_nothing_closed_are_asked_about_once_with_link_token_get() {
    let t = TestServices::with_env(&[("WEFT_LINK_SESSION_TIMEOUT_MINUTES", "30")]);
    let bank = institution("ins_1");
    // Closed by the client (onExit forwarded): never asked.
    let closed = new_link_token(&t, "alice").await;
    let exit = LinkEvent {
        kind: LinkEventKind::Exit,
        event_name: None,
        link_session_id: session("s-closed"),
        link_token: Some(closed.to_string()),
        request_id: None,
        institution_id: None,
        institution_name: None,
        error_type: None,
        error_code: None,
        error_message: None,
        exit_status: Some("requires_credentials".into()),
        view_name: None,
        client_timestamp: None,
    };
    record(&t.services, &user("alice"), vec![exit]).await.unwrap();
    // A tab closed after Link handed off: the public token is only at Plaid.
    let closed_tab = new_link_token(&t, "bob").await;
    let public_token = t.plaid.add_public_token(&bank);
    t.plaid.set_link_sessions(
        closed_tab.as_str(),
        vec![json!({
            "link_session_id": "s-tab", "started_at": "2026-11-30T06:00:10Z", "finished_at": "2026-11-30T06:02:00Z",
            "results": {"item_add_results": [{"public_token": public_token.expose(), "accounts": [],
                        "institution": {"institution_id": "ins_1", "name": "Bank ins_1"}}]},
            "events": [{"event_id": "t1", "event_name": "OPEN", "timestamp": "2026-11-30T06:00:10Z", "event_metadata": {}},
                       {"event_id": "t2", "event_name": "HANDOFF", "timestamp": "2026-11-30T06:02:00Z",
                        "event_metadata": {"institution_id": "ins_1"}}]
        })],
    );
    // Made later: not yet past the timeout when the sweep runs.
    t.clock.advance(time::Duration::minutes(20));
    let young = new_link_token(&t, "carol").await;
    t.clock.advance(time::Duration::minutes(15));

    let done = recover_open_sessions(&t.services, 100, Deadline::default()).await;
    assert_eq!((done.asked, done.sessions, done.succeeded, done.failed), (1, 1, 1, 0));
    assert_eq!(t.plaid.calls(LINK_TOKEN_GET), 1, "only the open token past the timeout");
    let items = t.store.list_items(&user("bob")).await.unwrap();
    assert_eq!(items.len(), 1, "the closed tab's item is exchanged, for bob");
    assert_eq!(items[0].institution, bank);
    assert!(link_token_record(&t, &closed_tab).await.1.asked_at.is_some());

    // Once per token: the next run asks only about the one that has come of age.
    t.clock.advance(time::Duration::minutes(30));
    let done = recover_open_sessions(&t.services, 100, Deadline::default()).await;
    assert_eq!(done.asked, 1);
    assert_eq!(t.plaid.calls(LINK_TOKEN_GET), 2);
    assert!(link_token_record(&t, &young).await.1.asked_at.is_some());
    let done = recover_open_sessions(&t.services, 100, Deadline::default()).await;
    assert_eq!(done.asked, 0);
    assert_eq!(t.plaid.calls(LINK_TOKEN_GET), 2);
}

#[tokio::test]
async fn a_failed_link_token_get_leaves_the_token_for_the_next_run() {
    let t = TestServices::new();
    let token = new_link_token(&t, "alice").await;
    t.clock.advance(time::Duration::minutes(31));
    t.plaid.fail_next(LINK_TOKEN_GET, weft::doubles::plaid::errors::server_error(LINK_TOKEN_GET));
    let done = recover_open_sessions(&t.services, 100, Deadline::default()).await;
    assert_eq!((done.asked, done.failed), (0, 1));
    assert!(link_token_record(&t, &token).await.1.is_open());
    let done = recover_open_sessions(&t.services, 100, Deadline::default()).await;
    assert_eq!((done.asked, done.failed), (1, 0));
    assert!(!link_token_record(&t, &token).await.1.is_open());
}

/// A client callback of session `s`.
fn steps(m: &std::collections::BTreeMap<String, u64>) -> Vec<(&str, u64)> {
    m.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

fn client_event(kind: LinkEventKind, name: Option<&str>, s: &str, institution: Option<&str>) -> LinkEvent {
    LinkEvent {
        kind,
        event_name: name.map(Into::into),
        link_session_id: session(s),
        link_token: None,
        request_id: None,
        institution_id: institution.map(Into::into),
        institution_name: institution.map(|i| format!("Bank {i}")),
        error_type: None,
        error_code: None,
        error_message: None,
        exit_status: None,
        view_name: None,
        client_timestamp: None,
    }
}

#[tokio::test]
async fn the_funnel_counts_each_session_once_from_every_source_handoff_over_sessions() {
    let t = TestServices::new();
    let alice = user("alice");
    // S1: a success the app forwarded, and Plaid's EVENTS for the same session (sent twice).
    let link_token = new_link_token(&t, "alice").await;
    let s1 = vec![
        client_event(LinkEventKind::Event, Some("OPEN"), "s1", None),
        client_event(LinkEventKind::Event, Some("SELECT_INSTITUTION"), "s1", Some("ins_1")),
        client_event(LinkEventKind::Event, Some("SUBMIT_CREDENTIALS"), "s1", Some("ins_1")),
        client_event(LinkEventKind::Event, Some("HANDOFF"), "s1", Some("ins_1")),
        client_event(LinkEventKind::Success, None, "s1", Some("ins_1")),
    ];
    record(&t.services, &alice, s1).await.unwrap();
    let plaid_s1 = WebhookEvent::LinkEvents {
        link_session_id: session("s1"),
        link_token: link_token.clone(),
        events: vec![
            plaid_event("p1", "OPEN", 1, json!({})),
            plaid_event("p2", "HANDOFF", 9, json!({"institution_id": "ins_1"})),
        ],
    };
    intake(&t.services, &link_webhook(plaid_s1.clone(), 20)).await.unwrap();
    intake(&t.services, &link_webhook(plaid_s1, 21)).await.unwrap();
    // S2: an exit at the credentials, as the app forwarded it.
    let mut error = client_event(LinkEventKind::Event, Some("ERROR"), "s2", Some("ins_1"));
    error.error_code = Some("INVALID_CREDENTIALS".into());
    let mut exit = client_event(LinkEventKind::Exit, None, "s2", Some("ins_1"));
    exit.error_code = Some("INVALID_CREDENTIALS".into());
    exit.exit_status = Some("requires_credentials".into());
    let s2 = vec![
        client_event(LinkEventKind::Event, Some("OPEN"), "s2", None),
        client_event(LinkEventKind::Event, Some("SELECT_INSTITUTION"), "s2", Some("ins_1")),
        client_event(LinkEventKind::Event, Some("SUBMIT_CREDENTIALS"), "s2", Some("ins_1")),
        error,
        exit,
    ];
    record(&t.services, &alice, s2).await.unwrap();
    // S3 and S4: tabs closed (no exit, nothing forwarded); /link/token/get recovers them. S3 stopped after
    // choosing its bank; S4 had handed off, its public token only at Plaid.
    let tab3 = new_link_token(&t, "bob").await;
    t.plaid.set_link_sessions(
        tab3.as_str(),
        vec![json!({"link_session_id": "s3", "started_at": "2026-11-30T06:00:05Z", "finished_at": null,
            "events": [{"event_id": "q1", "event_name": "OPEN", "timestamp": "2026-11-30T06:00:05Z", "event_metadata": {}},
                       {"event_id": "q2", "event_name": "SELECT_INSTITUTION", "timestamp": "2026-11-30T06:00:09Z",
                        "event_metadata": {"institution_id": "ins_2", "institution_name": "Bank ins_2"}}]})],
    );
    let tab4 = new_link_token(&t, "carol").await;
    let public_token = t.plaid.add_public_token(&institution("ins_1"));
    t.plaid.set_link_sessions(
        tab4.as_str(),
        vec![json!({"link_session_id": "s4", "started_at": "2026-11-30T06:00:05Z", "finished_at": "2026-11-30T06:01:00Z",
            "on_success": {"public_token": public_token.expose(), "metadata": {"institution": {"institution_id": "ins_1", "name": "Bank ins_1"}}},
            "events": [{"event_id": "r1", "event_name": "OPEN", "timestamp": "2026-11-30T06:00:05Z", "event_metadata": {}},
                       {"event_id": "r2", "event_name": "HANDOFF", "timestamp": "2026-11-30T06:01:00Z",
                        "event_metadata": {"institution_id": "ins_1"}}]})],
    );
    t.clock.advance(time::Duration::minutes(31));
    let done = recover_open_sessions(&t.services, 100, Deadline::default()).await;
    assert_eq!((done.sessions, done.succeeded), (2, 1), "{done:?}");
    assert_eq!(t.store.list_items(&user("carol")).await.unwrap().len(), 1, "S4's item is exchanged");

    let day = TestServices::START.date();
    let report = weft::services::link_events::conversion_report(&t.services, day, day).await.unwrap();
    assert_eq!((report.sessions, report.converted, report.conversion), (4, 2, 0.5));
    assert_eq!(
        steps(&report.by_step),
        [("handoff", 2), ("opened", 4), ("selected_institution", 4), ("submitted_credentials", 3)]
    );
    assert_eq!(steps(&report.dropped_at_step), [("selected_institution", 1), ("submitted_credentials", 1)]);
    assert_eq!(steps(&report.errors_by_code), [("INVALID_CREDENTIALS", 1)], "once per session");
    assert_eq!(steps(&report.sessions_by_source), [("client", 2), ("link_token_get", 2), ("webhook", 1)]);
    let ins1 = &report.by_institution["ins_1"];
    assert_eq!((ins1.sessions, ins1.submitted_credentials, ins1.succeeded, ins1.exited), (3, 3, 2, 1), "S1, S2 and S4");
    assert!((ins1.conversion - 2.0 / 3.0).abs() < 1e-9);
    let ins2 = &report.by_institution["ins_2"];
    assert_eq!((ins2.sessions, ins2.succeeded, ins2.exited, ins2.conversion), (1, 0, 0, 0.0));
}

// ---- returning users: the verified phone number (and email) go to Plaid only ---------------------------

/// Runs `f` on a current-thread runtime with every log line captured; the logs.
fn with_logs<F: std::future::Future<Output = ()>>(f: impl FnOnce() -> F) -> String {
    let captured = log_capture::Captured::default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tracing::subscriber::with_default(captured.subscriber(), || rt.block_on(f()));
    captured.text()
}

fn returning(phone: Option<&str>, email: Option<&str>) -> LinkTokenCommand {
    LinkTokenCommand {
        returning_user: ReturningUser { phone_number: phone.map(Into::into), email_address: email.map(Into::into) },
        ..Default::default()
    }
}

#[test]
fn a_verified_phone_number_goes_to_plaid_in_e164_and_nowhere_else() {
    let t = TestServices::new();
    let logs = with_logs(|| async {
        let created =
            create(&t.services, &user("alice"), returning(Some("+1 (415) 555-0123"), Some("alice@example.com")))
                .await
                .unwrap();
        let sent = &t.plaid.link_token_requests()[0]["user"];
        assert_eq!(sent["phone_number"], "+14155550123", "E.164, for Plaid's returning-user flow");
        assert_eq!(sent["email_address"], "alice@example.com");
        // Nothing weft keeps holds it: the link token record, the audit trail, the Link events.
        let (_, token_record) = link_token_record(&t, &created.link_token).await;
        record(&t.services, &user("alice"), vec![client_event(LinkEventKind::Event, Some("OPEN"), "s1", None)])
            .await
            .unwrap();
        let day = TestServices::START.date();
        let kept = format!(
            "{token_record:?} {} {:?} {:?}",
            serde_json::to_string(&token_record).unwrap(),
            t.store.audit_records(),
            t.store.link_events_between(day, day).await.unwrap()
        );
        for secret in ["4155550123", "555-0123", "alice@example.com"] {
            assert!(!kept.contains(secret), "stored: {secret}");
        }
    });
    for secret in ["4155550123", "555-0123", "alice@example.com"] {
        assert!(!logs.contains(secret), "logged: {secret}");
    }
}

#[test]
fn a_malformed_phone_number_is_dropped_with_a_warning_not_an_error() {
    let t = TestServices::new();
    let logs = with_logs(|| async {
        create(&t.services, &user("alice"), returning(Some("555-0199 ext 7"), Some("not-an-email"))).await.unwrap();
        let sent = &t.plaid.link_token_requests()[0]["user"];
        assert!(sent.get("phone_number").is_none() && sent.get("email_address").is_none(), "{sent}");
    });
    assert!(logs.contains("phone_number_dropped") && logs.contains("WARN"), "{logs}");
    assert!(logs.contains("email_address_dropped"), "{logs}");
    assert!(!logs.contains("555-0199") && !logs.contains("not-an-email"), "the value is never logged");
}

#[tokio::test]
async fn the_sweep_asks_after_its_run_and_on_its_own_hourly_never_in_a_dry_run() {
    use weft::domain::SweepInput;
    use weft::services::sweep::invoke;
    let t = TestServices::new();
    new_link_token(&t, "alice").await;
    t.clock.advance(time::Duration::minutes(31));
    let time = Some(Duration::from_secs(60));

    let dry = invoke(&t.services, SweepInput { dry_run: true, ..Default::default() }, time).await.unwrap();
    assert!(dry.link_sessions.is_none(), "a dry run asks Plaid about nothing it would change");
    assert_eq!(t.plaid.calls(LINK_TOKEN_GET), 0);

    let hourly = SweepInput { link_sessions_only: true, ..Default::default() };
    let summary = invoke(&t.services, hourly.clone(), time).await.unwrap();
    assert_eq!(summary.link_sessions.unwrap().asked, 1);
    assert_eq!(summary.invocation.checked, 0, "no item is asked about on the hourly run");

    new_link_token(&t, "bob").await;
    t.clock.advance(time::Duration::minutes(31));
    let daily = invoke(&t.services, SweepInput::default(), time).await.unwrap();
    assert_eq!(daily.link_sessions.unwrap().asked, 1, "after the item sweep");
    assert_eq!(t.plaid.calls(LINK_TOKEN_GET), 2);
    let bad = SweepInput { link_sessions_only: true, dry_run: true, ..Default::default() };
    assert!(matches!(invoke(&t.services, bad, time).await, Err(ServiceError::Invalid(_))));
}
