"""Account.persistent_account_id: Plaid's identifier of an account across Items, at institutions with tokenized
account numbers (Sandbox: Chase ins_56, PNC ins_13, U.S. Bank ins_127990, and Platypus OAuth Bank ins_127287,
per the spec's AccountBase description). The same login linked twice gives the same persistent_account_id per
account while account_id differs per Item; elsewhere the key is absent (optional in the spec, not nullable)."""
import re

import plaid
import pytest
from plaid.model.account_base import AccountBase
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_get_request import AccountsGetRequest

from helpers import create_item, strict, sync_all, validate_as

PERSISTENT_ID_RE = re.compile(r"^[0-9a-f]{56}$")
DEPOSITORY_MASKS = {"0000", "1111", "2222", "4444"}  # Plaid Checking, Saving, CD, Money Market


def _persistent_ids(accounts):
    """mask -> (account_id, persistent_account_id or None) from SDK-parsed accounts."""
    return {a["mask"]: (a["account_id"], a.get("persistent_account_id")) for a in accounts}


def _views(client, access_token):
    """The accounts of every response that carries them: /accounts/get, /accounts/balance/get, /transactions/sync."""
    got = strict(client.accounts_get(AccountsGetRequest(access_token=access_token)))
    balance = strict(client.accounts_balance_get(AccountsBalanceGetRequest(access_token=access_token)))
    sync = sync_all(client, access_token, count=500)
    return {
        "/accounts/get": got["accounts"],
        "/accounts/balance/get": balance["accounts"],
        "/transactions/sync": sync.pages[0]["accounts"],
    }


@pytest.mark.parametrize("institution_id", ["ins_56", "ins_13", "ins_127990", "ins_127287"])
def test_same_persistent_account_id_across_two_items_of_one_login(client, institution_id):
    first, first_item = create_item(client, institution_id=institution_id)
    second, second_item = create_item(client, institution_id=institution_id)
    assert first_item != second_item
    per_item = []
    for access_token in (first, second):
        views = _views(client, access_token)
        for endpoint, accounts in views.items():
            assert accounts, endpoint
            for a in accounts:
                # Parsed by plaid-python (strict response checking) into the model's attribute.
                assert isinstance(a, AccountBase), (endpoint, type(a))
                if a["mask"] in DEPOSITORY_MASKS:
                    assert PERSISTENT_ID_RE.match(a.persistent_account_id), (endpoint, a.to_dict())
                else:
                    assert "persistent_account_id" not in a, (endpoint, a.to_dict())
        ids = _persistent_ids(views["/accounts/get"])
        assert _persistent_ids(views["/accounts/balance/get"]) == ids
        assert _persistent_ids(views["/transactions/sync"]) == ids
        per_item.append(ids)
    assert set(per_item[0]) == set(per_item[1])
    for mask, (account_id, persistent_id) in per_item[0].items():
        other_account_id, other_persistent_id = per_item[1][mask]
        assert account_id != other_account_id, f"{mask}: account_id is per Item"
        assert persistent_id == other_persistent_id, f"{institution_id} {mask}: same login, same account"
    depository = [p for m, (_, p) in per_item[0].items() if m in DEPOSITORY_MASKS]
    assert len(set(depository)) == len(depository), "one persistent_account_id per account"


def test_persistent_account_ids_differ_between_institutions(client):
    chase, _ = create_item(client, institution_id="ins_56")
    pnc, _ = create_item(client, institution_id="ins_13")
    chase_ids = _persistent_ids(client.accounts_get(AccountsGetRequest(access_token=chase))["accounts"])
    pnc_ids = _persistent_ids(client.accounts_get(AccountsGetRequest(access_token=pnc))["accounts"])
    assert chase_ids["0000"][1] != pnc_ids["0000"][1]


def test_absent_at_an_institution_without_tokenized_account_numbers(client):
    access_token, _ = create_item(client, institution_id="ins_109508")
    for endpoint, accounts in _views(client, access_token).items():
        assert accounts, endpoint
        for a in accounts:
            assert "persistent_account_id" not in a, (endpoint, a.to_dict())


def test_the_sdk_accepts_the_key_absent_or_a_string_never_null():
    """Why the emulator omits the key rather than sending null: the spec makes it optional but not nullable."""
    base = {"account_id": "a" * 37, "mask": "0000", "name": "Plaid Checking", "official_name": None,
            "type": "depository", "subtype": "checking",
            "balances": {"available": 100.0, "current": 110.0, "limit": None, "iso_currency_code": "USD",
                         "unofficial_currency_code": None}}
    assert "persistent_account_id" not in validate_as(AccountBase, dict(base))
    parsed = validate_as(AccountBase, {**base, "persistent_account_id": "f" * 56})
    assert parsed.persistent_account_id == "f" * 56
    with pytest.raises(plaid.ApiTypeError):
        validate_as(AccountBase, {**base, "persistent_account_id": None})
