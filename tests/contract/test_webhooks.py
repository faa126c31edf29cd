"""Webhook delivery, body bytes, signatures (independent verifier), retries, /item/webhook/update,
/sandbox/item/reset_login, /sandbox/item/fire_webhook, /webhook_verification_key/get, key rotation."""
import base64

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.default_update_webhook import DefaultUpdateWebhook
from plaid.model.item_error_webhook import ItemErrorWebhook
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_login_repaired_webhook import ItemLoginRepairedWebhook
from plaid.model.item_webhook_update_request import ItemWebhookUpdateRequest
from plaid.model.new_accounts_available_webhook import NewAccountsAvailableWebhook
from plaid.model.pending_disconnect_webhook import PendingDisconnectWebhook
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.sync_updates_available_webhook import SyncUpdatesAvailableWebhook
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.user_account_revoked_webhook import UserAccountRevokedWebhook
from plaid.model.user_permission_revoked_webhook import UserPermissionRevokedWebhook
from plaid.model.webhook_type import WebhookType
from plaid.model.webhook_update_acknowledged_webhook import WebhookUpdateAcknowledgedWebhook
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from conftest import build_client
from helpers import Control, check_delivery, create_item, expect_error, strict
from verify_webhook import WebhookVerificationError, WebhookVerifier, sdk_key_fetcher


def kid_of(delivery):
    return jwt.get_unverified_header(delivery.verification)["kid"]


# ---- webhooks an Item gets by itself -------------------------------------------------------------------------


def test_new_transactions_item_announces_sync_updates(client, webhook_receiver, verifier):
    access_token, item_id = create_item(client, webhook=webhook_receiver.url)
    deliveries = webhook_receiver.wait_for(
        lambda d: d.json.get("webhook_code") == "SYNC_UPDATES_AVAILABLE" and d.json.get("historical_update_complete"),
        timeout=30)
    obj = check_delivery(deliveries[-1], verifier, SyncUpdatesAvailableWebhook)
    assert obj["item_id"] == item_id
    assert obj["initial_update_complete"] is True
    for d in webhook_receiver.deliveries:
        check_delivery(d, verifier)


# ---- /item/webhook/update -------------------------------------------------------------------------------------


def test_webhook_update_acknowledged(client, webhook_receiver, verifier):
    access_token, item_id = create_item(client, webhook="https://example.com/old")
    resp = strict(client.item_webhook_update(ItemWebhookUpdateRequest(access_token=access_token,
                                                                      webhook=webhook_receiver.url)))
    assert resp["item"]["webhook"] == webhook_receiver.url
    assert resp["item"]["item_id"] == item_id
    [delivery] = webhook_receiver.wait_code("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED")
    obj = check_delivery(delivery, verifier, WebhookUpdateAcknowledgedWebhook)
    assert obj["item_id"] == item_id
    assert obj["new_webhook_url"] == webhook_receiver.url
    assert delivery.path == "/plaid/webhook"
    assert strict(client.item_get(ItemGetRequest(access_token=access_token)))["item"]["webhook"] == webhook_receiver.url


def test_webhook_update_bad_token(client, webhook_receiver):
    expect_error(lambda: client.item_webhook_update(ItemWebhookUpdateRequest(
        access_token="access-sandbox-00000000-0000-4000-8000-000000000000", webhook=webhook_receiver.url)),
        400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")


# ---- /sandbox/item/reset_login --------------------------------------------------------------------------------


def test_reset_login(client, webhook_receiver, verifier):
    access_token, item_id = create_item(client, webhook=webhook_receiver.url)
    resp = strict(client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=access_token)))
    assert resp["reset_login"] is True

    item = strict(client.item_get(ItemGetRequest(access_token=access_token)))["item"]
    error = item["error"]
    assert error is not None
    assert (error["error_type"].value, error["error_code"]) == ("ITEM_ERROR", "ITEM_LOGIN_REQUIRED")

    expect_error(lambda: client.accounts_get(AccountsGetRequest(access_token=access_token)),
                 400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
    expect_error(lambda: client.transactions_sync(TransactionsSyncRequest(access_token=access_token)),
                 400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")

    [delivery] = webhook_receiver.wait_code("ITEM", "ERROR")
    obj = check_delivery(delivery, verifier, ItemErrorWebhook)
    assert obj["item_id"] == item_id
    err = obj["error"]
    assert (err["error_type"], err["error_code"]) == ("ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
    assert {"display_message", "documentation_url", "error_message", "request_id", "suggested_action"} <= set(err)
    assert err.get("status") == 400, "an error carried in a webhook includes its HTTP status"


# ---- /sandbox/item/fire_webhook -------------------------------------------------------------------------------

FIREABLE = [
    # (webhook_code, webhook_type, model)
    ("DEFAULT_UPDATE", "TRANSACTIONS", DefaultUpdateWebhook),
    ("SYNC_UPDATES_AVAILABLE", "TRANSACTIONS", SyncUpdatesAvailableWebhook),
    ("NEW_ACCOUNTS_AVAILABLE", "ITEM", NewAccountsAvailableWebhook),
    ("ERROR", "ITEM", ItemErrorWebhook),
    ("USER_PERMISSION_REVOKED", "ITEM", UserPermissionRevokedWebhook),
    ("USER_ACCOUNT_REVOKED", "ITEM", UserAccountRevokedWebhook),
    ("PENDING_DISCONNECT", "ITEM", PendingDisconnectWebhook),
    ("LOGIN_REPAIRED", "ITEM", ItemLoginRepairedWebhook),
]


@pytest.mark.parametrize("code,webhook_type,model", FIREABLE, ids=[c for c, _, _ in FIREABLE])
def test_fire_webhook(client, webhook_receiver, verifier, code, webhook_type, model):
    access_token, item_id = create_item(client, webhook=webhook_receiver.url)
    account_ids = {a["account_id"] for a in client.accounts_get(AccountsGetRequest(access_token=access_token))["accounts"]}
    resp = strict(client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
        access_token=access_token, webhook_code=code, webhook_type=WebhookType(webhook_type))))
    assert resp["webhook_fired"] is True
    deliveries = webhook_receiver.wait_code(webhook_type, code)
    obj = check_delivery(deliveries[-1], verifier, model)
    assert obj["item_id"] == item_id
    if code == "USER_ACCOUNT_REVOKED":
        assert obj["account_id"] in account_ids
    if code == "DEFAULT_UPDATE":
        assert isinstance(obj["new_transactions"], int)


def test_fire_webhook_without_webhook(client):
    access_token, _ = create_item(client)
    expect_error(lambda: client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
        access_token=access_token, webhook_code="DEFAULT_UPDATE", webhook_type=WebhookType("TRANSACTIONS"))),
        400, "SANDBOX_ERROR", "SANDBOX_WEBHOOK_INVALID")


def test_fire_webhook_bad_token(client):
    expect_error(lambda: client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
        access_token="access-sandbox-00000000-0000-4000-8000-000000000000", webhook_code="DEFAULT_UPDATE")),
        400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")


# ---- delivery mechanics ---------------------------------------------------------------------------------------


def test_retry_after_receiver_errors(client, webhook_receiver, verifier):
    access_token, item_id = create_item(client, webhook=webhook_receiver.url)
    webhook_receiver.fail_next(2, status=500, code="NEW_ACCOUNTS_AVAILABLE")
    client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
        access_token=access_token, webhook_code="NEW_ACCOUNTS_AVAILABLE", webhook_type=WebhookType("ITEM")))
    attempts = webhook_receiver.wait_code("ITEM", "NEW_ACCOUNTS_AVAILABLE", count=3, timeout=60)
    assert [d.answered for d in attempts[:3]] == [500, 500, 200]
    bodies = {d.body for d in attempts[:3]}
    assert len(bodies) == 1, "a retry must carry the same body"
    for d in attempts[:3]:
        check_delivery(d, verifier, NewAccountsAvailableWebhook)


def test_retry_after_receiver_timeout(client, webhook_receiver, verifier):
    """Plaid retries a webhook that got no answer within 10 seconds."""
    access_token, _ = create_item(client, webhook=webhook_receiver.url)
    webhook_receiver.stall_next(1, 12.0, code="NEW_ACCOUNTS_AVAILABLE")
    client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
        access_token=access_token, webhook_code="NEW_ACCOUNTS_AVAILABLE", webhook_type=WebhookType("ITEM")))
    attempts = webhook_receiver.wait_code("ITEM", "NEW_ACCOUNTS_AVAILABLE", count=2, timeout=45)
    assert attempts[0].answered == "stalled" and attempts[1].answered == 200
    assert attempts[1].received_at - attempts[0].received_at >= 9.5, "retried before the 10 s timeout"
    assert attempts[0].body == attempts[1].body
    check_delivery(attempts[1], verifier, NewAccountsAvailableWebhook)


@pytest.mark.parametrize("new_transactions", [None, 3])
def test_fire_default_update_new_transactions(client, webhook_receiver, verifier, new_transactions):
    from plaid.model.sandbox_item_fire_webhook_request_options import SandboxItemFireWebhookRequestOptions
    access_token, _ = create_item(client, webhook=webhook_receiver.url)
    kwargs = {}
    if new_transactions is not None:
        kwargs["options"] = SandboxItemFireWebhookRequestOptions(new_transactions=new_transactions)
    client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
        access_token=access_token, webhook_code="DEFAULT_UPDATE", webhook_type=WebhookType("TRANSACTIONS"), **kwargs))
    [d] = webhook_receiver.wait_code("TRANSACTIONS", "DEFAULT_UPDATE")
    obj = check_delivery(d, verifier, DefaultUpdateWebhook)
    assert obj["new_transactions"] == (new_transactions or 0), "spec: options.new_transactions, default 0"


def test_signature_binds_body(client, webhook_receiver, verifier):
    access_token, _ = create_item(client, webhook=webhook_receiver.url)
    client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
        access_token=access_token, webhook_code="NEW_ACCOUNTS_AVAILABLE", webhook_type=WebhookType("ITEM")))
    [delivery] = webhook_receiver.wait_code("ITEM", "NEW_ACCOUNTS_AVAILABLE")
    verifier.verify(delivery.body, delivery.verification)
    tampered = delivery.body.replace(b'"ITEM"', b'"IT3M"')
    with pytest.raises(WebhookVerificationError):
        verifier.verify(tampered, delivery.verification)


# ---- /webhook_verification_key/get ----------------------------------------------------------------------------


def _b64url(seg):
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def test_verification_key_shape(client, webhook_receiver):
    access_token, _ = create_item(client, webhook="https://example.com/x")
    client.item_webhook_update(ItemWebhookUpdateRequest(access_token=access_token, webhook=webhook_receiver.url))
    [delivery] = webhook_receiver.wait_code("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED")
    header = jwt.get_unverified_header(delivery.verification)
    assert header == {"alg": "ES256", "kid": header["kid"], "typ": "JWT"}, header
    resp = strict(client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=header["kid"])))
    key = resp["key"]
    assert (key["alg"], key["crv"], key["kty"], key["use"], key["kid"]) == ("ES256", "P-256", "EC", "sig", header["kid"])
    assert key["expired_at"] is None
    assert isinstance(key["created_at"], int)
    x, y = _b64url(key["x"]), _b64url(key["y"])
    assert len(x) == 32 and len(y) == 32
    ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()).public_key()


def test_unknown_key_id(client):
    expect_error(lambda: client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(
        key_id="6c5516e1-92dc-479e-a8ff-5a51992e0001")),
        400, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID")


@pytest.mark.private_emulator
def test_key_rotation(spawn_emulator, webhook_receiver):
    emu = spawn_emulator()
    client = build_client(emu.base_url)
    control = Control(emu.base_url)
    verifier = WebhookVerifier(sdk_key_fetcher(client), now=control.now)
    access_token, _ = create_item(client, webhook="https://example.com/x")

    client.item_webhook_update(ItemWebhookUpdateRequest(access_token=access_token, webhook=webhook_receiver.url))
    [before] = webhook_receiver.wait_code("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED")
    check_delivery(before, verifier)
    old_kid = kid_of(before)

    control.rotate_key()
    client.sandbox_item_fire_webhook(SandboxItemFireWebhookRequest(
        access_token=access_token, webhook_code="NEW_ACCOUNTS_AVAILABLE", webhook_type=WebhookType("ITEM")))
    [after] = webhook_receiver.wait_code("ITEM", "NEW_ACCOUNTS_AVAILABLE")
    new_kid = kid_of(after)
    assert new_kid != old_kid, "webhooks after rotation must be signed with the new key"
    # A fresh verifier (no cache) must fetch the new kid and accept.
    check_delivery(after, WebhookVerifier(sdk_key_fetcher(client), now=control.now))

    old = strict(client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=old_kid)))["key"]
    new = strict(client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=new_kid)))["key"]
    assert old["expired_at"] is not None, "the rotated-out key is still served, with expired_at set"
    assert isinstance(old["expired_at"], int)
    assert new["expired_at"] is None
    assert (old["x"], old["y"]) != (new["x"], new["y"])
