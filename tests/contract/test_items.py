"""/sandbox/public_token/create, /item/public_token/exchange, /item/get, /item/remove,
/item/access_token/invalidate."""
import pytest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.item_access_token_invalidate_request import ItemAccessTokenInvalidateRequest
from plaid.model.item_access_token_invalidate_response import ItemAccessTokenInvalidateResponse
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.item_remove_reason_code import ItemRemoveReasonCode
from plaid.model.item_remove_request import ItemRemoveRequest
from plaid.model.transactions_sync_request import TransactionsSyncRequest

from conftest import CLIENT_ID, SECRET
from helpers import (ACCESS_TOKEN_RE, ID37_RE, PUBLIC_TOKEN_RE, Control, create_item, create_public_token,
                     expect_error, raw_post, strict, sync_all, validate_as)
from plaid_errors import INVALID_ACCESS_TOKEN_UNKNOWN

# ---- /sandbox/public_token/create ----------------------------------------------------------------------------


def test_sandbox_public_token_create(client):
    resp = create_public_token(client)
    assert PUBLIC_TOKEN_RE.match(resp["public_token"]), resp["public_token"]


@pytest.mark.parametrize("code,error_type", [
    ("ITEM_LOCKED", "ITEM_ERROR"),
    ("INVALID_CREDENTIALS", "ITEM_ERROR"),
    ("INVALID_MFA", "ITEM_ERROR"),
    ("NO_ACCOUNTS", "ITEM_ERROR"),
    ("ITEM_NOT_SUPPORTED", "ITEM_ERROR"),
    ("INSTITUTION_DOWN", "INSTITUTION_ERROR"),
    ("INSTITUTION_NOT_RESPONDING", "INSTITUTION_ERROR"),
])
def test_error_passwords(client, code, error_type):
    expect_error(lambda: create_public_token(client, username="user_good", password=f"error_{code}"),
                 400, error_type, code)


def test_unknown_institution(client):
    expect_error(lambda: create_public_token(client, institution_id="ins_999999999"),
                 400, "INVALID_INPUT", "INVALID_INSTITUTION")


def test_balance_is_not_an_initial_product(client):
    expect_error(lambda: create_public_token(client, products=("balance",)), 400, "INVALID_INPUT", "INVALID_PRODUCT")


def test_missing_initial_products_raw(base_url):
    resp = raw_post(base_url, "/sandbox/public_token/create", {"institution_id": "ins_109508"},
                    client_id=CLIENT_ID, secret=SECRET)
    body = resp.json()
    assert (resp.status_code, body.get("error_code")) == (400, "MISSING_FIELDS"), body
    assert body["error_message"] == "the following required fields are missing: initial_products"


def test_webhook_option_sets_item_webhook(client):
    access_token, _ = create_item(client, webhook="https://example.com/sandbox-hook")
    item = strict(client.item_get(ItemGetRequest(access_token=access_token)))["item"]
    assert item["webhook"] == "https://example.com/sandbox-hook"


# ---- /item/public_token/exchange ------------------------------------------------------------------------------


def test_exchange(client):
    public_token = create_public_token(client)["public_token"]
    resp = strict(client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public_token)))
    assert ACCESS_TOKEN_RE.match(resp["access_token"]), resp["access_token"]
    assert ID37_RE.match(resp["item_id"]), resp["item_id"]


def test_exchange_twice_is_invalid_public_token(client):
    public_token = create_public_token(client)["public_token"]
    client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public_token))
    expect_error(lambda: client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public_token)),
                 400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN")


def test_unknown_public_token_message(client):
    from plaid_errors import INVALID_PUBLIC_TOKEN_UNKNOWN
    err = expect_error(lambda: client.item_public_token_exchange(ItemPublicTokenExchangeRequest(
        public_token="public-sandbox-00000000-0000-4000-8000-000000000000")), 400, "INVALID_INPUT",
        "INVALID_PUBLIC_TOKEN")
    assert err["error_message"] == INVALID_PUBLIC_TOKEN_UNKNOWN


@pytest.mark.parametrize("token", [
    "public-sandbox-00000000-0000-4000-8000-000000000000",
    "not-a-token",
    "access-sandbox-00000000-0000-4000-8000-000000000000",
])
def test_exchange_unknown_or_malformed(client, token):
    expect_error(lambda: client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=token)),
                 400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN")


def test_public_token_expires_after_30_minutes(spawn_emulator, make_client):
    emu = spawn_emulator()
    client = make_client(emu.base_url)
    control = Control(emu.base_url)
    fresh = create_public_token(client)["public_token"]
    stale = create_public_token(client)["public_token"]
    control.advance_clock(29 * 60)
    strict(client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=fresh)))
    control.advance_clock(2 * 60)
    expect_error(lambda: client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=stale)),
                 400, "INVALID_INPUT", "INVALID_PUBLIC_TOKEN")


# ---- /item/get ------------------------------------------------------------------------------------------------

ITEM_KEYS = {"item_id", "institution_id", "webhook", "error", "available_products", "billed_products",
             "products", "consent_expiration_time", "update_type"}


def test_item_get(client):
    access_token, item_id = create_item(client)
    resp = strict(client.item_get(ItemGetRequest(access_token=access_token)))
    item = resp["item"]
    assert item["item_id"] == item_id
    assert item["institution_id"] == "ins_109508"
    assert item["webhook"] is None
    assert item["error"] is None
    assert item["consent_expiration_time"] is None
    assert item["update_type"] == "background"
    assert [p.value for p in item["billed_products"]] == ["transactions"]
    assert "transactions" in [p.value for p in item["products"]]
    assert "transactions" not in [p.value for p in item["available_products"]]
    assert "status" in resp, "/item/get must return the status object"


def test_item_get_wire_keys_present_with_nulls(client, base_url):
    access_token, _ = create_item(client)
    resp = raw_post(base_url, "/item/get", {"access_token": access_token}, client_id=CLIENT_ID, secret=SECRET)
    assert resp.status_code == 200, resp.text
    assert "application/json" in resp.headers.get("Content-Type", "")
    body = resp.json()
    missing = ITEM_KEYS - set(body["item"])
    assert not missing, f"item lacks {sorted(missing)}: {body['item']}"
    status = body.get("status")
    assert isinstance(status, dict), body
    # ItemStatusNullable / ItemStatusTransactions / ItemStatusLastWebhook are nullable in the spec.
    assert {"transactions", "last_webhook"} <= set(status), status
    if status["transactions"] is not None:
        assert set(status["transactions"]) >= {"last_successful_update", "last_failed_update"}, status
    if status["last_webhook"] is not None:
        assert set(status["last_webhook"]) >= {"sent_at", "code_sent"}, status


def test_item_status_after_sync_and_webhook(client, webhook_receiver):
    access_token, _ = create_item(client, webhook=webhook_receiver.url)
    sync_all(client, access_token)
    webhook_receiver.wait_for(lambda d: d.json.get("webhook_code") == "SYNC_UPDATES_AVAILABLE", timeout=30)
    status = strict(client.item_get(ItemGetRequest(access_token=access_token)))["status"]
    assert status["transactions"]["last_successful_update"] is not None
    assert status["last_webhook"]["sent_at"] is not None
    assert status["last_webhook"]["code_sent"], status


# ---- /item/remove ---------------------------------------------------------------------------------------------


def test_item_remove_then_item_not_found(client):
    access_token, _ = create_item(client)
    resp = strict(client.item_remove(ItemRemoveRequest(access_token=access_token)))
    assert set(resp.to_dict()) == {"request_id"}
    expect_error(lambda: client.item_get(ItemGetRequest(access_token=access_token)),
                 400, "ITEM_ERROR", "ITEM_NOT_FOUND")
    expect_error(lambda: client.accounts_get(AccountsGetRequest(access_token=access_token)),
                 400, "ITEM_ERROR", "ITEM_NOT_FOUND")
    expect_error(lambda: client.transactions_sync(TransactionsSyncRequest(access_token=access_token)),
                 400, "ITEM_ERROR", "ITEM_NOT_FOUND")
    expect_error(lambda: client.item_remove(ItemRemoveRequest(access_token=access_token)),
                 400, "ITEM_ERROR", "ITEM_NOT_FOUND")


def test_item_remove_with_reason(client):
    access_token, _ = create_item(client)
    strict(client.item_remove(ItemRemoveRequest(access_token=access_token,
                                                reason_code=ItemRemoveReasonCode("OTHER"),
                                                reason_note="contract test")))


def test_remove_leaves_other_items_alone(client):
    a, _ = create_item(client)
    b, _ = create_item(client)
    client.item_remove(ItemRemoveRequest(access_token=a))
    strict(client.item_get(ItemGetRequest(access_token=b)))


# ---- /item/access_token/invalidate ----------------------------------------------------------------------------


def _invalidate(client, access_token):
    return client.item_access_token_invalidate(ItemAccessTokenInvalidateRequest(access_token=access_token))


def _expect_unknown_token(call):
    err = expect_error(call, 400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")
    assert err["error_message"] == INVALID_ACCESS_TOKEN_UNKNOWN, err


def test_access_token_invalidate_rotates_the_token(client, control):
    old, item_id = create_item(client)
    accounts = strict(client.accounts_get(AccountsGetRequest(access_token=old)))["accounts"]
    before = sync_all(client, old)
    resp = strict(_invalidate(client, old))
    assert isinstance(resp, ItemAccessTokenInvalidateResponse)
    assert set(resp.to_dict()) == {"new_access_token", "request_id"}, resp.to_dict()
    new = resp["new_access_token"]
    assert ACCESS_TOKEN_RE.match(new), new
    assert new != old

    # The old token is refused as unknown everywhere (not ITEM_NOT_FOUND: the Item lives on).
    _expect_unknown_token(lambda: client.item_get(ItemGetRequest(access_token=old)))
    _expect_unknown_token(lambda: client.accounts_get(AccountsGetRequest(access_token=old)))
    _expect_unknown_token(lambda: client.transactions_sync(TransactionsSyncRequest(access_token=old)))
    _expect_unknown_token(lambda: client.transactions_sync(TransactionsSyncRequest(access_token=old,
                                                                                   cursor=before.cursor)))

    # The new token is the same Item, and the cursor from before the rotation still works.
    item = strict(client.item_get(ItemGetRequest(access_token=new)))["item"]
    assert item["item_id"] == item_id
    after = strict(client.accounts_get(AccountsGetRequest(access_token=new)))["accounts"]
    assert [a["account_id"] for a in after] == [a["account_id"] for a in accounts]
    page = strict(client.transactions_sync(TransactionsSyncRequest(access_token=new, cursor=before.cursor)))
    assert (page["added"], page["modified"], page["removed"], page["has_more"]) == ([], [], [], False)
    assert set(sync_all(client, new).added) == set(before.added)
    assert control.item(item_id)["access_token"] == new


def test_access_token_invalidate_twice_unknown_and_removed(client):
    old, item_id = create_item(client)
    new = strict(_invalidate(client, old))["new_access_token"]
    _expect_unknown_token(lambda: _invalidate(client, old))
    assert strict(client.item_get(ItemGetRequest(access_token=new)))["item"]["item_id"] == item_id
    _expect_unknown_token(lambda: _invalidate(client, "access-sandbox-00000000-0000-4000-8000-000000000000"))
    expect_error(lambda: _invalidate(client, "garbage"), 400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")
    strict(client.item_remove(ItemRemoveRequest(access_token=new)))
    expect_error(lambda: _invalidate(client, new), 400, "ITEM_ERROR", "ITEM_NOT_FOUND")


def test_access_token_invalidate_wire(client, base_url):
    access_token, _ = create_item(client)
    resp = raw_post(base_url, "/item/access_token/invalidate", {"access_token": access_token},
                    client_id=CLIENT_ID, secret=SECRET)
    assert resp.status_code == 200, resp.text
    assert "application/json" in resp.headers.get("Content-Type", "")
    body = resp.json()
    assert set(body) == {"new_access_token", "request_id"}, body
    validate_as(ItemAccessTokenInvalidateResponse, body)
    resp = raw_post(base_url, "/item/access_token/invalidate", {}, client_id=CLIENT_ID, secret=SECRET)
    body = resp.json()
    assert (resp.status_code, body.get("error_code")) == (400, "MISSING_FIELDS"), body
    assert body["error_message"] == "the following required fields are missing: access_token"
