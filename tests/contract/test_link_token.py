"""/link/token/create (+ Link completion through the emulator's control route)."""
import datetime as dt

from plaid.model.country_code import CountryCode
from plaid.model.credit_account_subtype import CreditAccountSubtype
from plaid.model.credit_account_subtypes import CreditAccountSubtypes
from plaid.model.credit_filter import CreditFilter
from plaid.model.depository_account_subtype import DepositoryAccountSubtype
from plaid.model.depository_account_subtypes import DepositoryAccountSubtypes
from plaid.model.depository_filter import DepositoryFilter
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.link_token_account_filters import LinkTokenAccountFilters
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_update import LinkTokenCreateRequestUpdate
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.link_token_transactions import LinkTokenTransactions
from plaid.model.products import Products
from plaid.model.accounts_get_request import AccountsGetRequest

from conftest import CLIENT_ID, SECRET
from helpers import (Control, LINK_TOKEN_RE, PUBLIC_TOKEN_RE, create_item, expect_error, expect_raw_error, field_list,
                     parse_rfc3339, raw_post, strict)

FOUR_HOURS = 4 * 3600
THIRTY_MINUTES = 30 * 60


def link_request(**overrides):
    kwargs = dict(
        client_name="Weft",
        language="en",
        country_codes=[CountryCode("US")],
        user=LinkTokenCreateRequestUser(client_user_id="user-contract-1"),
        products=[Products("transactions")],
    )
    kwargs.update(overrides)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return LinkTokenCreateRequest(**kwargs)


def raw_link_body(**overrides):
    body = {"client_name": "Weft", "language": "en", "country_codes": ["US"],
            "user": {"client_user_id": "user-contract-raw"}, "products": ["transactions"]}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _lifetime(resp, control):
    expiration = parse_rfc3339(resp["expiration"])
    assert expiration.tzinfo is not None, "expiration must carry a UTC offset (RFC 3339)"
    return expiration.timestamp() - control.now()


def test_create_normal(client, control):
    resp = strict(client.link_token_create(link_request(webhook="https://example.com/hook")))
    assert LINK_TOKEN_RE.match(resp["link_token"]), resp["link_token"]
    assert abs(_lifetime(resp, control) - FOUR_HOURS) < 120, resp["expiration"]


def test_tokens_are_unique(client):
    tokens = {client.link_token_create(link_request())["link_token"] for _ in range(3)}
    assert len(tokens) == 3


def test_expiration_is_rfc3339_on_the_wire(base_url):
    resp = raw_post(base_url, "/link/token/create", raw_link_body(), client_id=CLIENT_ID, secret=SECRET)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) >= {"link_token", "expiration", "request_id"}
    # RFC 3339 date-time: 2026-11-24T14:00:00Z (or an explicit offset).
    text = body["expiration"]
    assert "T" in text and (text.endswith("Z") or text[-6] in "+-"), text
    dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_update_mode_with_access_token(client, control):
    access_token, _ = create_item(client)
    resp = strict(client.link_token_create(link_request(products=None, access_token=access_token)))
    assert LINK_TOKEN_RE.match(resp["link_token"])
    assert abs(_lifetime(resp, control) - THIRTY_MINUTES) < 120, resp["expiration"]


def test_update_mode_account_selection(client):
    access_token, _ = create_item(client)
    resp = strict(client.link_token_create(link_request(
        products=None, access_token=access_token,
        update=LinkTokenCreateRequestUpdate(account_selection_enabled=True))))
    assert LINK_TOKEN_RE.match(resp["link_token"])


def test_update_mode_with_unknown_access_token(client):
    expect_error(lambda: client.link_token_create(link_request(
        products=None, access_token="access-sandbox-00000000-0000-4000-8000-000000000000")),
        400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")


def test_redirect_uri_for_oauth(client):
    resp = strict(client.link_token_create(link_request(redirect_uri="https://app.example.com/oauth-return")))
    assert LINK_TOKEN_RE.match(resp["link_token"])


def test_redirect_uri_with_query_string_is_refused(client):
    expect_error(lambda: client.link_token_create(link_request(redirect_uri="https://app.example.com/cb?x=1")),
                 400, "INVALID_REQUEST", "INVALID_FIELD")


def test_account_filters_and_transactions_options(client):
    filters = LinkTokenAccountFilters(
        depository=DepositoryFilter(account_subtypes=DepositoryAccountSubtypes(
            [DepositoryAccountSubtype("checking"), DepositoryAccountSubtype("savings")])),
        credit=CreditFilter(account_subtypes=CreditAccountSubtypes([CreditAccountSubtype("credit card")])),
    )
    resp = strict(client.link_token_create(link_request(
        account_filters=filters, transactions=LinkTokenTransactions(days_requested=730),
        link_customization_name="default", webhook="https://example.com/hook")))
    assert LINK_TOKEN_RE.match(resp["link_token"])


def test_missing_user_is_missing_fields(client):
    err = expect_error(lambda: client.link_token_create(link_request(user=None)),
                       400, "INVALID_REQUEST", "MISSING_FIELDS")
    fields = field_list(err["error_message"], "the following required fields are missing: ")
    assert fields & {"user", "user.client_user_id"}, err["error_message"]


def test_missing_top_level_fields_raw(base_url):
    resp = raw_post(base_url, "/link/token/create", raw_link_body(client_name=None, language=None),
                    client_id=CLIENT_ID, secret=SECRET)
    err = expect_raw_error(resp, 400, "INVALID_REQUEST", "MISSING_FIELDS")
    assert field_list(err["error_message"], "the following required fields are missing: ") == {
        "client_name", "language"}


def test_missing_nested_field_raw(base_url):
    resp = raw_post(base_url, "/link/token/create", raw_link_body(user={}), client_id=CLIENT_ID, secret=SECRET)
    err = expect_raw_error(resp, 400, "INVALID_REQUEST", "MISSING_FIELDS")
    assert field_list(err["error_message"], "the following required fields are missing: ") == {
        "user.client_user_id"}


def test_unknown_fields_raw(base_url):
    body = raw_link_body(bogus_field=1, user={"client_user_id": "u", "shoe_size": 44})
    resp = raw_post(base_url, "/link/token/create", body, client_id=CLIENT_ID, secret=SECRET)
    err = expect_raw_error(resp, 400, "INVALID_REQUEST", "UNKNOWN_FIELDS")
    assert field_list(err["error_message"], "the following fields are not recognized by this endpoint: ") == {
        "bogus_field", "user.shoe_size"}


def test_balance_product_is_invalid_product(client):
    expect_error(lambda: client.link_token_create(link_request(products=[Products("balance")])),
                 400, "INVALID_INPUT", "INVALID_PRODUCT")


def test_products_required_outside_update_mode(client):
    err = expect_error(lambda: client.link_token_create(link_request(products=None)),
                       400, "INVALID_REQUEST", "MISSING_FIELDS")
    assert "products" in field_list(err["error_message"], "the following required fields are missing: ")


# ---- Link completion (control route) -------------------------------------------------------------------------


def test_link_completion_gives_exchangeable_public_token(client, control):
    link = client.link_token_create(link_request(webhook="https://example.com/from-link"))
    done = control.complete_link(link["link_token"], institution_id="ins_109508")
    public_token = done["public_token"]
    assert PUBLIC_TOKEN_RE.match(public_token), done
    exchanged = strict(client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public_token)))
    item = strict(client.item_get(ItemGetRequest(access_token=exchanged["access_token"])))["item"]
    assert item["item_id"] == exchanged["item_id"]
    assert item["institution_id"] == "ins_109508"
    assert item["webhook"] == "https://example.com/from-link"
    assert [p.value for p in item["billed_products"]] == ["transactions"]


def test_link_completion_applies_account_filters(client, control):
    filters = LinkTokenAccountFilters(depository=DepositoryFilter(account_subtypes=DepositoryAccountSubtypes(
        [DepositoryAccountSubtype("checking"), DepositoryAccountSubtype("savings")])))
    link = client.link_token_create(link_request(account_filters=filters))
    public_token = control.complete_link(link["link_token"], institution_id="ins_109508")["public_token"]
    access_token = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=public_token))["access_token"]
    accounts = strict(client.accounts_get(AccountsGetRequest(access_token=access_token)))["accounts"]
    assert sorted((a["type"].value, a["subtype"].value) for a in accounts) == [
        ("depository", "checking"), ("depository", "savings")]


def test_update_mode_completion_repairs_login(client, control, webhook_receiver):
    access_token, item_id = create_item(client, webhook=webhook_receiver.url)
    from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
    client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=access_token))
    assert client.item_get(ItemGetRequest(access_token=access_token))["item"]["error"]["error_code"] == \
        "ITEM_LOGIN_REQUIRED"
    link = client.link_token_create(link_request(products=None, access_token=access_token))
    control.complete_link(link["link_token"])
    item = strict(client.item_get(ItemGetRequest(access_token=access_token)))["item"]
    assert item["item_id"] == item_id
    assert item["error"] is None
    strict(client.accounts_get(AccountsGetRequest(access_token=access_token)))
    # LOGIN_REPAIRED is for an Item that left ITEM_LOGIN_REQUIRED *without* update mode in your app
    # (plaid/model/item_login_repaired_webhook.py); repairing it through your own update-mode Link must not fire it.
    import time
    time.sleep(2)
    codes = [d.json.get("webhook_code") for d in webhook_receiver.deliveries]
    assert "LOGIN_REPAIRED" not in codes, codes


def test_expired_link_token_cannot_complete(spawn_emulator, make_client):
    emu = spawn_emulator()
    client = make_client(emu.base_url)
    control = Control(emu.base_url)
    link = client.link_token_create(link_request())
    control.advance_clock(FOUR_HOURS + 60)
    resp = control.complete_link(link["link_token"], institution_id="ins_109508", expect_ok=False)
    assert not (isinstance(resp, dict) and resp.get("public_token")), resp
