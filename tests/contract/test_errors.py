"""Transport and cross-cutting errors: credentials, tokens, bodies, unknown routes, rate limits, injected faults."""
import plaid
import pytest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.institutions_get_by_id_request import InstitutionsGetByIdRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.products import Products
from plaid.model.transactions_sync_request import TransactionsSyncRequest

from conftest import CLIENT_ID, SECRET, build_client
from plaid_errors import INVALID_ACCESS_TOKEN_MALFORMED, INVALID_ACCESS_TOKEN_UNKNOWN, SANDBOX_LIMITS
from helpers import (Control, create_item, create_public_token, expect_error, expect_raw_error, raw_post, strict)


def _link_request():
    return LinkTokenCreateRequest(client_name="Weft", language="en", country_codes=[CountryCode("US")],
                                  user=LinkTokenCreateRequestUser(client_user_id="u-errors"),
                                  products=[Products("transactions")])


# ---- credentials ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_id,secret", [
    (CLIENT_ID, "f" * 30),
    ("0" * 24, SECRET),
])
def test_bad_keys(base_url, client, client_id, secret):
    bad = build_client(base_url, client_id=client_id, secret=secret)
    access_token, _ = create_item(client)
    expect_error(lambda: bad.link_token_create(_link_request()), 400, "INVALID_INPUT", "INVALID_API_KEYS")
    expect_error(lambda: bad.item_get(ItemGetRequest(access_token=access_token)),
                 400, "INVALID_INPUT", "INVALID_API_KEYS")
    expect_error(lambda: bad.institutions_get_by_id(InstitutionsGetByIdRequest(
        institution_id="ins_109508", country_codes=[CountryCode("US")])), 400, "INVALID_INPUT", "INVALID_API_KEYS")


def test_credentials_in_body_are_accepted(base_url):
    resp = raw_post(base_url, "/institutions/get_by_id",
                    {"client_id": CLIENT_ID, "secret": SECRET, "institution_id": "ins_109508",
                     "country_codes": ["US"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["institution"]["institution_id"] == "ins_109508"


def test_header_names_are_case_insensitive(base_url):
    resp = raw_post(base_url, "/institutions/get_by_id", {"institution_id": "ins_109508", "country_codes": ["US"]},
                    headers={"plaid-client-id": CLIENT_ID, "plaid-secret": SECRET})
    assert resp.status_code == 200, resp.text


def test_bad_secret_in_body(base_url):
    resp = raw_post(base_url, "/institutions/get_by_id",
                    {"client_id": CLIENT_ID, "secret": "nope", "institution_id": "ins_109508",
                     "country_codes": ["US"]})
    expect_raw_error(resp, 400, "INVALID_INPUT", "INVALID_API_KEYS")


# ---- tokens ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [
    "access-sandbox-00000000-0000-4000-8000-000000000000",
    "garbage",
    "public-sandbox-00000000-0000-4000-8000-000000000000",
])
def test_bad_access_token(client, token):
    expect_error(lambda: client.item_get(ItemGetRequest(access_token=token)), 400, "INVALID_INPUT",
                 "INVALID_ACCESS_TOKEN")
    expect_error(lambda: client.accounts_get(AccountsGetRequest(access_token=token)), 400, "INVALID_INPUT",
                 "INVALID_ACCESS_TOKEN")


def test_invalid_access_token_messages(client):
    err = expect_error(lambda: client.item_get(ItemGetRequest(access_token="garbage")), 400, "INVALID_INPUT",
                       "INVALID_ACCESS_TOKEN")
    assert err["error_message"] == INVALID_ACCESS_TOKEN_MALFORMED
    err = expect_error(lambda: client.item_get(ItemGetRequest(
        access_token="access-sandbox-00000000-0000-4000-8000-000000000000")), 400, "INVALID_INPUT",
        "INVALID_ACCESS_TOKEN")
    assert err["error_message"] == INVALID_ACCESS_TOKEN_UNKNOWN


def test_public_token_used_as_access_token(client):
    public_token = create_public_token(client)["public_token"]
    expect_error(lambda: client.item_get(ItemGetRequest(access_token=public_token)), 400, "INVALID_INPUT",
                 "INVALID_ACCESS_TOKEN")


# ---- malformed requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b'"a string"'])
def test_body_not_a_json_object(base_url, body):
    resp = raw_post(base_url, "/item/get", body, client_id=CLIENT_ID, secret=SECRET)
    expect_raw_error(resp, 400, "INVALID_REQUEST", "INVALID_BODY")


def test_wrong_content_type_is_invalid_body(base_url, client):
    """errors/invalid-request, INVALID_BODY, common causes: "The request content-type was not of type
    application/json"."""
    import json as _json
    import requests as _requests
    access_token, _ = create_item(client)
    resp = _requests.post(base_url + "/item/get", data=_json.dumps({"access_token": access_token}),
                          headers={"Content-Type": "text/plain", "PLAID-CLIENT-ID": CLIENT_ID, "PLAID-SECRET": SECRET},
                          timeout=15)
    expect_raw_error(resp, 400, "INVALID_REQUEST", "INVALID_BODY")


def test_missing_content_type_is_invalid_headers(base_url, client):
    """errors/invalid-request, INVALID_HEADERS: "The request was missing a header, typically the Content-Type
    header"."""
    import json as _json
    import requests as _requests
    access_token, _ = create_item(client)
    resp = _requests.post(base_url + "/item/get", data=_json.dumps({"access_token": access_token}).encode(),
                          headers={"PLAID-CLIENT-ID": CLIENT_ID, "PLAID-SECRET": SECRET}, timeout=15)
    assert "Content-Type" not in resp.request.headers
    expect_raw_error(resp, 400, "INVALID_REQUEST", "INVALID_HEADERS")


def test_wrong_field_type(base_url, client):
    access_token, _ = create_item(client)
    resp = raw_post(base_url, "/transactions/sync", {"access_token": access_token, "count": "ten"},
                    client_id=CLIENT_ID, secret=SECRET)
    expect_raw_error(resp, 400, "INVALID_REQUEST", "INVALID_FIELD")


def test_missing_access_token_raw(base_url):
    resp = raw_post(base_url, "/item/get", {}, client_id=CLIENT_ID, secret=SECRET)
    err = expect_raw_error(resp, 400, "INVALID_REQUEST", "MISSING_FIELDS")
    assert err["error_message"] == "the following required fields are missing: access_token"


def test_unknown_field_on_item_get(base_url, client):
    access_token, _ = create_item(client)
    resp = raw_post(base_url, "/item/get", {"access_token": access_token, "color": "blue"},
                    client_id=CLIENT_ID, secret=SECRET)
    err = expect_raw_error(resp, 400, "INVALID_REQUEST", "UNKNOWN_FIELDS")
    assert err["error_message"] == "the following fields are not recognized by this endpoint: color"


def test_spec_fields_not_acted_on_are_accepted(base_url, client):
    """Fields the 2020-09-14 spec defines must be accepted even when the emulator ignores them."""
    access_token, _ = create_item(client)
    resp = raw_post(base_url, "/transactions/sync",
                    {"access_token": access_token, "count": 10,
                     "options": {"include_original_description": True, "include_personal_finance_category": True,
                                 "include_logo_and_counterparty_beta": False, "days_requested": 90}},
                    client_id=CLIENT_ID, secret=SECRET)
    assert resp.status_code == 200, resp.text
    resp = raw_post(base_url, "/institutions/get_by_id",
                    {"institution_id": "ins_109508", "country_codes": ["US"],
                     "options": {"include_optional_metadata": True, "include_status": False,
                                 "include_auth_metadata": False, "include_payment_initiation_metadata": False}},
                    client_id=CLIENT_ID, secret=SECRET)
    assert resp.status_code == 200, resp.text


def test_unknown_route(base_url):
    resp = raw_post(base_url, "/no/such/endpoint", {}, client_id=CLIENT_ID, secret=SECRET)
    expect_raw_error(resp, 404, "INVALID_REQUEST", "NOT_FOUND")


# ---- rate limits and injected faults (private emulators) ------------------------------------------------------

RATE_LIMIT_CODES = {
    "/accounts/get": "ACCOUNTS_LIMIT",
    "/item/get": "ITEM_GET_LIMIT",
    "/transactions/sync": "TRANSACTIONS_SYNC_LIMIT",
}


@pytest.mark.private_emulator
@pytest.mark.parametrize("path", sorted(RATE_LIMIT_CODES))
def test_rate_limit(spawn_emulator, path):
    emu = spawn_emulator()
    client = build_client(emu.base_url)
    control = Control(emu.base_url)
    access_token, _ = create_item(client)
    control.rate_limit(path, per_item=3)
    call = {
        "/accounts/get": lambda: client.accounts_get(AccountsGetRequest(access_token=access_token)),
        "/item/get": lambda: client.item_get(ItemGetRequest(access_token=access_token)),
        "/transactions/sync": lambda: client.transactions_sync(TransactionsSyncRequest(access_token=access_token)),
    }[path]
    for _ in range(3):
        strict(call())
    expect_error(call, 429, "RATE_LIMIT_EXCEEDED", RATE_LIMIT_CODES[path])
    # Per item: another item is not limited.
    other, _ = create_item(client)
    if path == "/item/get":
        strict(client.item_get(ItemGetRequest(access_token=other)))
    # The window is one minute: after it, calls pass again.
    control.advance_clock(61)
    strict(call())


def _limited_call(client, path, access_token):
    from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
    return {
        "/accounts/get": lambda: client.accounts_get(AccountsGetRequest(access_token=access_token)),
        "/accounts/balance/get": lambda: client.accounts_balance_get(AccountsBalanceGetRequest(access_token=access_token)),
        "/item/get": lambda: client.item_get(ItemGetRequest(access_token=access_token)),
        "/transactions/sync": lambda: client.transactions_sync(TransactionsSyncRequest(access_token=access_token,
                                                                                       count=1)),
    }[path]


PER_ITEM_CODES = {"/accounts/get": "ACCOUNTS_LIMIT", "/accounts/balance/get": "BALANCE_LIMIT",
                  "/item/get": "ITEM_GET_LIMIT", "/transactions/sync": "TRANSACTIONS_SYNC_LIMIT"}


@pytest.mark.parametrize("path", sorted(PER_ITEM_CODES))
def test_default_sandbox_per_item_limit(client, control, path):
    """Plaid's Sandbox per-Item limits (docs: errors/rate-limit-exceeded, "Sandbox rate limits")."""
    import time
    per_item = SANDBOX_LIMITS[path][0]
    access_token, _ = create_item(client)
    call = _limited_call(client, path, access_token)
    if control.now() % 60 > 40:  # keep the burst inside one minute, whatever the window kind
        time.sleep(61 - control.now() % 60)
    for i in range(per_item):
        try:
            call()
        except plaid.ApiException as exc:
            pytest.fail(f"{path}: call {i + 1} of the {per_item} Plaid's Sandbox allows per Item per minute "
                        f"failed: {exc.status} {exc.body}")
    expect_error(call, 429, "RATE_LIMIT_EXCEEDED", PER_ITEM_CODES[path])


@pytest.mark.private_emulator
def test_default_institutions_get_by_id_client_limit(spawn_emulator):
    emu = spawn_emulator()
    client = build_client(emu.base_url)
    req = InstitutionsGetByIdRequest(institution_id="ins_109508", country_codes=[CountryCode("US")])
    for i in range(SANDBOX_LIMITS["/institutions/get_by_id"][1]):
        client.institutions_get_by_id(req)
    expect_error(lambda: client.institutions_get_by_id(req), 429, "RATE_LIMIT_EXCEEDED",
                 "INSTITUTIONS_GET_BY_ID_LIMIT")


@pytest.mark.private_emulator
@pytest.mark.parametrize("kind,status,error_type,error_code", [
    ("internal_server_error", 500, "API_ERROR", "INTERNAL_SERVER_ERROR"),
    ("planned_maintenance", 503, "API_ERROR", "PLANNED_MAINTENANCE"),
    ("rate_limit", 429, "RATE_LIMIT_EXCEEDED", "ACCOUNTS_LIMIT"),
    ("error", 400, "INSTITUTION_ERROR", "INSTITUTION_DOWN"),
])
def test_injected_fault(spawn_emulator, kind, status, error_type, error_code):
    emu = spawn_emulator()
    client = build_client(emu.base_url)
    control = Control(emu.base_url)
    access_token, _ = create_item(client)
    control.fault("/accounts/get", kind, count=2, status=status, error_type=error_type, error_code=error_code)
    for _ in range(2):
        expect_error(lambda: client.accounts_get(AccountsGetRequest(access_token=access_token)),
                     status, error_type, error_code)
    strict(client.accounts_get(AccountsGetRequest(access_token=access_token)))
    # Other endpoints were never affected.
    strict(client.item_get(ItemGetRequest(access_token=access_token)))


def test_sdk_raises_api_exception_type(client):
    with pytest.raises(plaid.ApiException):
        client.item_get(ItemGetRequest(access_token="garbage"))
