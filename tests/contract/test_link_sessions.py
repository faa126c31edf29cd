"""Hosted Link, LINK webhooks and /link/token/get, parsed by plaid-python's own models (strict)."""
import requests

from plaid.model.country_code import CountryCode
from plaid.model.depository_account_subtype import DepositoryAccountSubtype
from plaid.model.depository_account_subtypes import DepositoryAccountSubtypes
from plaid.model.depository_filter import DepositoryFilter
from plaid.model.item_add_result_webhook import ItemAddResultWebhook
from plaid.model.link_events_webhook import LinkEventsWebhook
from plaid.model.link_session_finished_webhook import LinkSessionFinishedWebhook
from plaid.model.link_token_account_filters import LinkTokenAccountFilters
from plaid.model.link_token_create_hosted_link import LinkTokenCreateHostedLink
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.link_token_get_request import LinkTokenGetRequest
from plaid.model.products import Products

from helpers import check_delivery, create_item, expect_error, strict

LINK_CODES = ("ITEM_ADD_RESULT", "EVENTS", "SESSION_FINISHED")
MODELS = {"ITEM_ADD_RESULT": ItemAddResultWebhook, "EVENTS": LinkEventsWebhook,
          "SESSION_FINISHED": LinkSessionFinishedWebhook}


def link_token(client, webhook=None, hosted_link=None, **extra):
    kwargs = dict(client_name="Weft", language="en", country_codes=[CountryCode("US")],
                  user=LinkTokenCreateRequestUser(client_user_id="user-contract-link"), **extra)
    if "access_token" not in extra:
        kwargs["products"] = [Products("transactions")]
    if webhook:
        kwargs["webhook"] = webhook
    if hosted_link is not None:
        kwargs["hosted_link"] = hosted_link
    return strict(client.link_token_create(LinkTokenCreateRequest(**kwargs)))


def link_deliveries(receiver, token, count):
    got = receiver.wait_for(lambda d: d.json.get("webhook_type") == "LINK" and d.json.get("link_token") == token,
                            count=count)
    return sorted(got, key=lambda d: LINK_CODES.index(d.json["webhook_code"]))


def check_link_webhooks(receiver, verifier, token, codes):
    got = link_deliveries(receiver, token, len(codes))
    assert [d.json["webhook_code"] for d in got] == list(codes)
    return {d.json["webhook_code"]: check_delivery(d, verifier, MODELS[d.json["webhook_code"]]) for d in got}


def token_get(client, token):
    return strict(client.link_token_get(LinkTokenGetRequest(link_token=token)))


def test_hosted_link_url_is_parsed_by_the_sdk_and_serves_link(client, emulator):
    resp = link_token(client, hosted_link=LinkTokenCreateHostedLink(
        completion_redirect_uri="https://app.example.com/done", url_lifetime_seconds=600, is_mobile_app=False))
    url = resp.hosted_link_url
    assert url.startswith(emulator.base_url + "/__emulator/hosted/"), url
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "Select your institution" in page.text
    # An empty hosted_link is enough.
    assert link_token(client, hosted_link=LinkTokenCreateHostedLink()).hosted_link_url.startswith(emulator.base_url)
    assert "hosted_link_url" not in link_token(client).to_dict()


def test_a_bad_completion_redirect_uri_is_invalid_field(client):
    expect_error(lambda: link_token(client, hosted_link=LinkTokenCreateHostedLink(completion_redirect_uri="nope")),
                 400, "INVALID_REQUEST", "INVALID_FIELD")
    expect_error(lambda: link_token(client, hosted_link=LinkTokenCreateHostedLink(url_lifetime_seconds=21 * 86400 + 1)),
                 400, "INVALID_REQUEST", "INVALID_FIELD")


def test_hosted_sessions_send_link_webhooks_the_sdk_parses(client, control, webhook_receiver, verifier):
    token = link_token(client, webhook=webhook_receiver.url, hosted_link=LinkTokenCreateHostedLink()).link_token
    outcome = control.complete_link(token)
    bodies = check_link_webhooks(webhook_receiver, verifier, token, LINK_CODES)
    assert bodies["ITEM_ADD_RESULT"]["public_token"] == outcome["public_token"]
    assert bodies["SESSION_FINISHED"]["status"] == "SUCCESS"
    assert bodies["SESSION_FINISHED"]["public_tokens"] == [outcome["public_token"]]
    assert [e["event_name"] for e in bodies["EVENTS"]["events"]] == [e["event_name"] for e in outcome["events"]]

    # An exit: no Item, so no ITEM_ADD_RESULT.
    token = link_token(client, webhook=webhook_receiver.url, hosted_link=LinkTokenCreateHostedLink()).link_token
    assert control.complete_link(token, password="error_INVALID_CREDENTIALS")["status"] == "exit"
    bodies = check_link_webhooks(webhook_receiver, verifier, token, ("EVENTS", "SESSION_FINISHED"))
    assert bodies["SESSION_FINISHED"]["status"] == "EXITED"
    assert bodies["SESSION_FINISHED"]["public_tokens"] == []


def test_update_mode_session_finished(client, control, webhook_receiver, verifier):
    access_token, item_id = create_item(client)
    control.set_condition(item_id, "ITEM_LOGIN_REQUIRED")
    token = link_token(client, webhook=webhook_receiver.url, hosted_link=LinkTokenCreateHostedLink(),
                       access_token=access_token).link_token
    assert control.complete_link(token)["status"] == "success"
    bodies = check_link_webhooks(webhook_receiver, verifier, token, ("EVENTS", "SESSION_FINISHED"))
    assert bodies["SESSION_FINISHED"]["status"] == "SUCCESS"
    assert bodies["SESSION_FINISHED"]["public_tokens"] == []
    session = token_get(client, token).link_sessions[0]
    assert session.results.item_add_results == []


def test_link_token_get_is_parsed_by_the_sdk(client, control):
    filters = LinkTokenAccountFilters(depository=DepositoryFilter(account_subtypes=DepositoryAccountSubtypes(
        [DepositoryAccountSubtype("checking")])))
    token = link_token(client, hosted_link=LinkTokenCreateHostedLink(), account_filters=filters).link_token
    # Nothing yet.
    got = token_get(client, token)
    assert got.link_token == token and got.link_sessions == []
    assert got.metadata.initial_products == [Products("transactions")]
    # A finished session, an exited one and an abandoned one.
    ok = control.complete_link(token)
    control.complete_link(token, password="error_ITEM_LOCKED")
    abandoned = control.post("/__emulator/link/start", {"link_token": token, "institution_id": "ins_109508"})
    got = token_get(client, token)
    by_id = {s.link_session_id: s for s in got.link_sessions}
    assert len(by_id) == 3
    done = by_id[ok["metadata"]["link_session_id"]]
    assert done.finished_at is not None
    assert done.on_success.public_token == ok["public_token"]
    result = done.results.item_add_results[0]
    assert result.public_token == ok["public_token"]
    assert result.institution.institution_id == "ins_109508"
    assert [a.mask for a in result.accounts] == ["0000"]
    assert done.events[-1].event_name == "HANDOFF" and done.events[0].event_id
    exited = next(s for s in got.link_sessions if s.exit is not None)
    assert exited.exit.error.error_code == "ITEM_LOCKED"
    assert exited.exit.metadata.status == "requires_credentials"
    left = by_id[abandoned["link_session_id"]]
    assert left.finished_at is None and left.results is None
    assert [e.event_name for e in left.events][-2:] == ["SELECT_INSTITUTION", "TRANSITION_VIEW"]
    # Finishing the abandoned session later.
    control.complete_link(token, link_session_id=abandoned["link_session_id"])
    left = next(s for s in token_get(client, token).link_sessions if s.link_session_id == abandoned["link_session_id"])
    assert left.finished_at is not None and left.results.item_add_results[0].public_token


def test_embedded_link_events_toggle(client, control, webhook_receiver, verifier):
    control.post("/__emulator/config/link_events", {"enabled": True})
    try:
        token = link_token(client, webhook=webhook_receiver.url).link_token
        control.complete_link(token)
        check_link_webhooks(webhook_receiver, verifier, token, LINK_CODES)
        assert token_get(client, token).link_sessions[0].events
    finally:
        control.post("/__emulator/config/link_events", {"enabled": False})
