"""/accounts/get and /institutions/get_by_id."""
import pytest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.accounts_get_request_options import AccountsGetRequestOptions
from plaid.model.country_code import CountryCode
from plaid.model.institutions_get_by_id_request import InstitutionsGetByIdRequest
from plaid.model.institutions_get_by_id_request_options import InstitutionsGetByIdRequestOptions

from helpers import ID37_RE, USER_GOOD_ACCOUNTS, create_item, expect_error, strict

# ---- /accounts/get --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_item(client):
    return create_item(client)


def _by_mask(accounts):
    return {a["mask"]: a for a in accounts}


def test_user_good_account_set(client, good_item):
    access_token, item_id = good_item
    resp = strict(client.accounts_get(AccountsGetRequest(access_token=access_token)))
    assert resp["item"]["item_id"] == item_id
    accounts = _by_mask(resp["accounts"])
    assert set(accounts) == set(USER_GOOD_ACCOUNTS), sorted(accounts)
    for mask, (name, type_, subtype) in USER_GOOD_ACCOUNTS.items():
        a = accounts[mask]
        assert (a["name"], a["type"].value, a["subtype"].value) == (name, type_, subtype), a.to_dict()
        assert ID37_RE.match(a["account_id"]), a["account_id"]
        assert a["balances"]["iso_currency_code"] == "USD"
        assert a["balances"]["unofficial_currency_code"] is None
    assert len({a["account_id"] for a in resp["accounts"]}) == len(USER_GOOD_ACCOUNTS)


def test_user_good_balances(client, good_item):
    accounts = _by_mask(client.accounts_get(AccountsGetRequest(access_token=good_item[0]))["accounts"])
    checking, saving, card = accounts["0000"]["balances"], accounts["1111"]["balances"], accounts["3333"]["balances"]
    assert (checking["available"], checking["current"]) == (100, 110)
    assert (saving["available"], saving["current"]) == (200, 210)
    assert (card["current"], card["limit"]) == (410, 2000)
    assert checking["limit"] is None


def test_account_ids_option(client, good_item):
    access_token = good_item[0]
    all_accounts = _by_mask(client.accounts_get(AccountsGetRequest(access_token=access_token))["accounts"])
    wanted = [all_accounts["0000"]["account_id"], all_accounts["3333"]["account_id"]]
    resp = strict(client.accounts_get(AccountsGetRequest(
        access_token=access_token, options=AccountsGetRequestOptions(account_ids=wanted))))
    assert sorted(a["account_id"] for a in resp["accounts"]) == sorted(wanted)


def test_account_ids_are_stable_and_per_item(client, good_item):
    first = client.accounts_get(AccountsGetRequest(access_token=good_item[0]))["accounts"]
    again = client.accounts_get(AccountsGetRequest(access_token=good_item[0]))["accounts"]
    assert [a["account_id"] for a in first] == [a["account_id"] for a in again]
    other, _ = create_item(client)
    other_ids = {a["account_id"] for a in client.accounts_get(AccountsGetRequest(access_token=other))["accounts"]}
    assert not other_ids & {a["account_id"] for a in first}


def test_unknown_account_id_option(client, good_item):
    expect_error(lambda: client.accounts_get(AccountsGetRequest(
        access_token=good_item[0], options=AccountsGetRequestOptions(account_ids=["x" * 37]))),
        400, "INVALID_INPUT", "INVALID_ACCOUNT_ID")


def test_accounts_get_bad_token(client):
    expect_error(lambda: client.accounts_get(AccountsGetRequest(access_token="access-sandbox-bogus")),
                 400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")


# ---- /institutions/get_by_id ----------------------------------------------------------------------------------

INSTITUTIONS = {
    "ins_109508": "First Platypus Bank",
    "ins_109509": None,
    "ins_109510": None,
    "ins_109511": "Tartan Bank",
    "ins_109512": "Houndstooth Bank",
    "ins_127287": "Platypus OAuth Bank",
    "ins_132241": None,  # notes abbreviate; checked by prefix below
    "ins_132363": "Unhealthy Platypus Bank - Degraded",
    "ins_132361": "Unhealthy Platypus Bank - Down",
    "ins_133402": "Unsupported Platypus Bank",
    # Real banks with tokenized account numbers (OAuth in Plaid's Sandbox); see test_persistent_account_id.py.
    "ins_56": "Chase",
    "ins_13": "PNC",
    "ins_127990": "U.S. Bank",
}
OAUTH_INSTITUTIONS = ("ins_127287", "ins_132241", "ins_56", "ins_13", "ins_127990")


def get_institution(client, institution_id, **options):
    kwargs = {}
    if options:
        kwargs["options"] = InstitutionsGetByIdRequestOptions(**options)
    return strict(client.institutions_get_by_id(InstitutionsGetByIdRequest(
        institution_id=institution_id, country_codes=[CountryCode("US")], **kwargs)))["institution"]


@pytest.mark.parametrize("institution_id", sorted(INSTITUTIONS))
def test_sandbox_institutions(client, institution_id):
    inst = get_institution(client, institution_id)
    assert inst["institution_id"] == institution_id
    if INSTITUTIONS[institution_id]:
        assert inst["name"] == INSTITUTIONS[institution_id]
    assert "US" in [c.value for c in inst["country_codes"]]
    assert inst["oauth"] is (institution_id in OAUTH_INSTITUTIONS)


def test_first_gingham_and_tattersall_names(client):
    assert get_institution(client, "ins_109509")["name"].startswith("First Gingham")
    assert get_institution(client, "ins_109510")["name"].startswith("Tattersall")
    assert get_institution(client, "ins_132241")["name"].startswith("First Platypus OAuth App2App")


@pytest.mark.parametrize("institution_id,expected", [
    ("ins_109508", "HEALTHY"),
    ("ins_132363", "DEGRADED"),
    ("ins_132361", "DOWN"),
])
def test_include_status(client, institution_id, expected):
    inst = get_institution(client, institution_id, include_status=True)
    status = inst.get("status")
    assert status is not None, "include_status=true must return institution.status"
    assert status["item_logins"]["status"] == expected
    assert status["transactions_updates"]["status"] in {"HEALTHY", "DEGRADED", "DOWN"}
    breakdown = status["item_logins"]["breakdown"]
    total = breakdown["success"] + breakdown["error_plaid"] + breakdown["error_institution"]
    assert abs(total - 1.0) < 0.02, breakdown.to_dict()


def test_optional_metadata(client):
    inst = get_institution(client, "ins_109508", include_optional_metadata=True)
    for key in ("url", "logo", "primary_color"):
        assert key in inst, f"include_optional_metadata=true: {key} missing (null is fine)"


def test_unknown_institution(client):
    expect_error(lambda: get_institution(client, "ins_424242424242"), 400, "INVALID_INPUT", "INVALID_INSTITUTION")


def test_oauth_institution_and_redirect_uri(client):
    from plaid.model.products import Products
    from plaid.model.link_token_create_request import LinkTokenCreateRequest
    from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
    # Plaid checks redirect_uri only when the user picks an OAuth bank in Link; the contract here is the flag on
    # the institution and a link token with redirect_uri being accepted.
    assert get_institution(client, "ins_127287")["oauth"] is True
    strict(client.link_token_create(LinkTokenCreateRequest(
        client_name="Weft", language="en", country_codes=[CountryCode("US")],
        user=LinkTokenCreateRequestUser(client_user_id="oauth-user"), products=[Products("transactions")],
        redirect_uri="https://app.example.com/oauth-return")))


# ---- /accounts/balance/get ------------------------------------------------------------------------------------


def test_accounts_balance_get(client, good_item):
    from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
    from plaid.model.accounts_balance_get_request_options import AccountsBalanceGetRequestOptions
    access_token, item_id = good_item
    resp = strict(client.accounts_balance_get(AccountsBalanceGetRequest(access_token=access_token)))
    assert resp["item"]["item_id"] == item_id
    accounts = _by_mask(resp["accounts"])
    assert set(accounts) == set(USER_GOOD_ACCOUNTS)
    assert (accounts["0000"]["balances"]["available"], accounts["0000"]["balances"]["current"]) == (100, 110)
    one = accounts["1111"]["account_id"]
    resp = strict(client.accounts_balance_get(AccountsBalanceGetRequest(
        access_token=access_token, options=AccountsBalanceGetRequestOptions(account_ids=[one]))))
    assert [a["account_id"] for a in resp["accounts"]] == [one]
