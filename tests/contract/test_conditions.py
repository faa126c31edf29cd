"""Item conditions set through the control API: what Plaid's API and webhooks show for each."""
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.new_accounts_available_webhook import NewAccountsAvailableWebhook
from plaid.model.pending_disconnect_webhook import PendingDisconnectWebhook
from plaid.model.pending_expiration_webhook import PendingExpirationWebhook
from plaid.model.user_account_revoked_webhook import UserAccountRevokedWebhook
from plaid.model.user_permission_revoked_webhook import UserPermissionRevokedWebhook

from helpers import check_delivery, create_item, parse_rfc3339, strict


def test_pending_expiration(client, control, webhook_receiver, verifier):
    access_token, item_id = create_item(client, webhook=webhook_receiver.url)
    control.set_condition(access_token, "PENDING_EXPIRATION")
    [d] = webhook_receiver.wait_code("ITEM", "PENDING_EXPIRATION")
    obj = check_delivery(d, verifier, PendingExpirationWebhook)
    assert obj["item_id"] == item_id
    item = strict(client.item_get(ItemGetRequest(access_token=access_token)))["item"]
    assert item["consent_expiration_time"] is not None
    assert item["consent_expiration_time"] == parse_rfc3339(obj["consent_expiration_time"])
    assert parse_rfc3339(obj["consent_expiration_time"]).timestamp() > control.now()


def test_pending_disconnect(client, control, webhook_receiver, verifier):
    access_token, item_id = create_item(client, webhook=webhook_receiver.url)
    control.set_condition(access_token, "PENDING_DISCONNECT")
    [d] = webhook_receiver.wait_code("ITEM", "PENDING_DISCONNECT")
    obj = check_delivery(d, verifier, PendingDisconnectWebhook)
    assert obj["item_id"] == item_id
    assert parse_rfc3339(obj["disconnect_time"]).timestamp() > control.now()


def test_user_account_revoked_is_one_account_not_the_item(client, control, webhook_receiver, verifier):
    access_token, item_id = create_item(client, webhook=webhook_receiver.url)
    before = client.accounts_get(AccountsGetRequest(access_token=access_token))["accounts"]
    victim = before[0]["account_id"]
    control.set_condition(access_token, "USER_ACCOUNT_REVOKED", account_id=victim)
    [d] = webhook_receiver.wait_code("ITEM", "USER_ACCOUNT_REVOKED")
    obj = check_delivery(d, verifier, UserAccountRevokedWebhook)
    assert (obj["item_id"], obj["account_id"]) == (item_id, victim)
    after = strict(client.accounts_get(AccountsGetRequest(access_token=access_token)))["accounts"]
    assert {a["account_id"] for a in after} == {a["account_id"] for a in before} - {victim}
    assert strict(client.item_get(ItemGetRequest(access_token=access_token)))["item"]["error"] is None


def test_user_permission_revoked(client, control, webhook_receiver, verifier):
    access_token, item_id = create_item(client, webhook=webhook_receiver.url)
    control.set_condition(access_token, "USER_PERMISSION_REVOKED")
    [d] = webhook_receiver.wait_code("ITEM", "USER_PERMISSION_REVOKED")
    obj = check_delivery(d, verifier, UserPermissionRevokedWebhook)
    assert obj["item_id"] == item_id


def test_new_accounts_available(client, control, webhook_receiver, verifier):
    access_token, item_id = create_item(client, webhook=webhook_receiver.url)
    control.set_condition(access_token, "NEW_ACCOUNTS_AVAILABLE")
    [d] = webhook_receiver.wait_code("ITEM", "NEW_ACCOUNTS_AVAILABLE")
    obj = check_delivery(d, verifier, NewAccountsAvailableWebhook)
    assert obj["item_id"] == item_id
