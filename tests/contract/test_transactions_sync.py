"""/transactions/sync: full history, paging, cursors, mutations, mutation during pagination."""
import datetime as dt

import plaid

import pytest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.transactions_sync_request import TransactionsSyncRequest

from conftest import CLIENT_ID, SECRET
from helpers import (Control, ID37_RE, create_item, error_of, expect_error, expect_raw_error, raw_post, sync_all,
                     sync_page)

TXN_KEYS = {"account_id", "amount", "iso_currency_code", "unofficial_currency_code", "date", "pending",
            "transaction_id", "pending_transaction_id", "account_owner", "payment_channel", "name", "merchant_name",
            "payment_meta", "location", "authorized_date", "authorized_datetime", "datetime", "transaction_code"}
PAYMENT_META_KEYS = {"by_order_of", "payee", "payer", "payment_method", "payment_processor", "ppd_id", "reason",
                     "reference_number"}
LOCATION_KEYS = {"address", "city", "region", "postal_code", "country", "lat", "lon", "store_number"}


@pytest.fixture(scope="module")
def history_item(client):
    access_token, item_id = create_item(client)
    full = sync_all(client, access_token, count=500)
    return access_token, item_id, full


def test_full_history(client, history_item):
    access_token, _, full = history_item
    assert full.added, "user_good must have transaction history"
    assert not full.modified and not full.removed
    account_ids = {a["account_id"] for a in client.accounts_get(AccountsGetRequest(access_token=access_token))["accounts"]}
    for t in full.added.values():
        assert ID37_RE.match(t["transaction_id"]), t["transaction_id"]
        assert t["account_id"] in account_ids
        assert isinstance(t["date"], dt.date)
        assert t["pending"] in (True, False)
        assert isinstance(t["amount"], float)
        assert t["iso_currency_code"] == "USD"
    for page in full.pages:
        assert {a["account_id"] for a in page["accounts"]} <= account_ids
        assert page["transactions_update_status"].value in {
            "TRANSACTIONS_UPDATE_STATUS_UNKNOWN", "NOT_READY", "INITIAL_UPDATE_COMPLETE", "HISTORICAL_UPDATE_COMPLETE"}


def test_history_invariants(client, control, history_item):
    _, _, full = history_item
    txns = list(full.added.values())
    today = dt.datetime.fromtimestamp(control.now(), dt.timezone.utc).date()
    assert any(t["amount"] > 0 for t in txns) and any(t["amount"] < 0 for t in txns), \
        "history should hold both money out (positive) and money in (negative)"
    for t in txns:
        assert t["date"] <= today, (t["transaction_id"], t["date"])
        assert t["date"] >= today - dt.timedelta(days=2 * 366)
        if t["authorized_date"] is not None:
            assert t["authorized_date"] <= today
        # A posted transaction that replaced a pending one points at an id no longer present.
        if t["pending_transaction_id"] is not None:
            assert t["pending"] is False
            assert t["pending_transaction_id"] not in full.added
    pending = [t for t in txns if t["pending"]]
    assert all(t["date"] >= today - dt.timedelta(days=14) for t in pending), "pending transactions are recent"


def test_account_id_option_filters_the_stream(client):
    access_token, _ = create_item(client)
    checking = _checking_account(client, access_token)
    full = sync_all(client, access_token, count=500)
    only = sync_all(client, access_token, count=500, account_id=checking)
    assert only.added, "the checking account has history"
    assert {t["account_id"] for t in only.added.values()} == {checking}
    assert set(only.added) == {tid for tid, t in full.added.items() if t["account_id"] == checking}


def test_account_id_option_unknown_account(client):
    access_token, _ = create_item(client)
    try:
        sync_page(client, access_token, count=10, account_id="x" * 37)
    except plaid.ApiException as exc:
        err = error_of(exc)
        assert exc.status == 400, err  # Plaid does not name the code; INVALID_ACCOUNT_ID is the natural one
    else:
        pytest.fail("an account_id not associated with the Item must be refused (spec: TransactionsSyncRequestOptions)")


def test_include_original_description(client):
    access_token, _ = create_item(client)
    with_desc = sync_page(client, access_token, count=20, include_original_description=True)
    assert all(isinstance(t.get("original_description"), str) and t["original_description"]
               for t in with_desc["added"]), [t.get("original_description") for t in with_desc["added"]]
    without = sync_page(client, access_token, count=20)
    assert all(t.get("original_description") is None for t in without["added"])


def test_wire_transaction_keys(base_url, history_item):
    access_token = history_item[0]
    resp = raw_post(base_url, "/transactions/sync", {"access_token": access_token, "count": 5},
                    client_id=CLIENT_ID, secret=SECRET)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) >= {"added", "modified", "removed", "next_cursor", "has_more", "accounts",
                         "transactions_update_status", "request_id"}
    assert len(body["added"]) == 5
    for t in body["added"]:
        missing = TXN_KEYS - set(t)
        assert not missing, f"transaction lacks {sorted(missing)}"
        assert set(t["payment_meta"]) >= PAYMENT_META_KEYS, t["payment_meta"]
        assert set(t["location"]) >= LOCATION_KEYS, t["location"]
        assert isinstance(t["amount"], (int, float)) and not isinstance(t["amount"], bool)


def _paged_equals_full(client, access_token, count):
    full = sync_all(client, access_token, count=500)
    paged = sync_all(client, access_token, count=count)
    assert set(paged.added) == set(full.added)
    ids = [t["transaction_id"] for p in paged.pages for t in p["added"]]
    assert len(ids) == len(set(ids)), "a transaction was delivered twice while paging"
    for page in paged.pages[:-1]:
        assert page["has_more"] is True
        assert len(page["added"]) + len(page["modified"]) + len(page["removed"]) == count
    assert paged.pages[-1]["has_more"] is False
    assert len(paged.pages[-1]["added"]) <= count
    for tid, t in paged.added.items():
        assert t.to_dict() == full.added[tid].to_dict()


@pytest.mark.parametrize("count", [7, 100])
def test_paged_history_equals_full_history(client, count):
    # A fresh Item per run: Plaid's sandbox allows 50 /transactions/sync calls per Item per minute.
    access_token, _ = create_item(client)
    _paged_equals_full(client, access_token, count)


@pytest.mark.private_emulator
def test_one_by_one_paging(spawn_emulator, make_client):
    emu = spawn_emulator()
    client = make_client(emu.base_url)
    Control(emu.base_url).rate_limit("/transactions/sync", per_item=100000, per_client=100000)
    access_token, _ = create_item(client)
    _paged_equals_full(client, access_token, 1)


def test_default_count_is_100(client):
    access_token, _ = create_item(client)
    full = sync_all(client, access_token, count=500)
    first = sync_page(client, access_token)
    assert len(first["added"]) == min(100, len(full.added))
    assert first["has_more"] is (len(full.added) > 100)


def test_cursors_are_opaque_strings_and_final_cursor_is_quiet(client):
    access_token, _ = create_item(client)
    full = sync_all(client, access_token, count=500)
    assert isinstance(full.cursor, str) and full.cursor
    again = sync_page(client, access_token, cursor=full.cursor)
    assert (again["added"], again["modified"], again["removed"], again["has_more"]) == ([], [], [], False)
    assert isinstance(again["next_cursor"], str) and again["next_cursor"]
    # Opaque: cursors are not guessable tokens such as page numbers.
    cursors = [p["next_cursor"] for p in sync_all(client, access_token, count=50).pages]
    assert all(not c.isdigit() for c in cursors), cursors
    assert len(set(cursors)) == len(cursors)


def test_cursor_shape(client):
    """Spec (TransactionsSyncRequest.cursor): at most 256 characters of base64."""
    import re
    access_token, _ = create_item(client)
    for page in sync_all(client, access_token, count=60).pages:
        c = page["next_cursor"]
        assert len(c) <= 256 and re.fullmatch(r"[A-Za-z0-9+/_=-]+", c), c


def test_cursor_now_fast_forwards(client, control):
    """Spec (TransactionsSyncRequest.cursor): the special value "now" fast-forwards to the current state."""
    access_token, _ = create_item(client)
    sync_all(client, access_token, count=500)  # history ready
    page = sync_page(client, access_token, cursor="now")
    assert (page["added"], page["modified"], page["removed"], page["has_more"]) == ([], [], [], False)
    assert page["next_cursor"] and page["next_cursor"] != "now"
    new_id = control.add_transaction(access_token, amount=3.21, name="After now")["transaction_id"]
    delta = sync_all(client, access_token, cursor=page["next_cursor"])
    assert set(delta.added) == {new_id} and not delta.modified and not delta.removed


def test_garbled_cursor_is_refused(client):
    access_token, _ = create_item(client)
    try:
        client.transactions_sync(TransactionsSyncRequest(access_token=access_token, cursor="not-a-real-cursor"))
    except Exception as exc:  # noqa: BLE001
        import plaid
        from helpers import error_of
        assert isinstance(exc, plaid.ApiException), exc
        err = error_of(exc)
        assert exc.status == 400 and err["error_type"] == "INVALID_REQUEST", err
    else:
        pytest.fail("a garbled cursor was accepted")


@pytest.mark.parametrize("count", [0, 501])
def test_count_out_of_range(base_url, history_item, count):
    resp = raw_post(base_url, "/transactions/sync", {"access_token": history_item[0], "count": count},
                    client_id=CLIENT_ID, secret=SECRET)
    expect_raw_error(resp, 400, "INVALID_REQUEST", "INVALID_FIELD")


def test_bad_access_token(client):
    expect_error(lambda: client.transactions_sync(TransactionsSyncRequest(access_token="access-sandbox-nope")),
                 400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN")


# ---- mutations through the control routes ---------------------------------------------------------------------


def _checking_account(client, access_token):
    accounts = client.accounts_get(AccountsGetRequest(access_token=access_token))["accounts"]
    return next(a["account_id"] for a in accounts if a["mask"] == "0000")


def test_add_modify_remove_seen_exactly_once(client, control):
    access_token, _ = create_item(client)
    base = sync_all(client, access_token, count=500)
    victims = sorted(base.added)[:2]
    account_id = _checking_account(client, access_token)

    added = control.add_transaction(access_token, account_id=account_id, amount=12.34, name="Contract Coffee",
                                    date=dt.date.today().isoformat())
    new_id = added["transaction_id"]
    control.modify_transaction(access_token, victims[0], amount=99.99)
    control.remove_transaction(access_token, victims[1])

    delta = sync_all(client, access_token, cursor=base.cursor)
    assert set(delta.added) == {new_id}
    assert set(delta.modified) == {victims[0]}
    assert delta.removed == {victims[1]}
    assert delta.added[new_id]["amount"] == 12.34
    assert delta.added[new_id]["name"] == "Contract Coffee"
    assert delta.added[new_id]["account_id"] == account_id
    assert delta.modified[victims[0]]["amount"] == 99.99
    removed_entry = next(r for p in delta.pages for r in p["removed"])
    assert removed_entry["account_id"] == base.added[victims[1]]["account_id"]

    quiet = sync_all(client, access_token, cursor=delta.cursor)
    assert not (quiet.added or quiet.modified or quiet.removed)

    fresh = sync_all(client, access_token, count=500)
    assert set(fresh.added) == (set(base.added) - {victims[1]}) | {new_id}
    assert fresh.added[victims[0]]["amount"] == 99.99


def test_mutation_during_pagination_then_restart_from_start_cursor(client, control):
    access_token, _ = create_item(client)
    base = sync_all(client, access_token, count=500)
    start_cursor = base.cursor
    account_id = _checking_account(client, access_token)
    ids = sorted(base.added)
    created = [control.add_transaction(access_token, account_id=account_id, amount=1.0 + i, name=f"Txn {i}",
                                       date=dt.date.today().isoformat())["transaction_id"] for i in range(3)]
    control.remove_transaction(access_token, ids[0])

    first = sync_page(client, access_token, cursor=start_cursor, count=1)
    assert first["has_more"] is True

    late = control.add_transaction(access_token, account_id=account_id, amount=7.5, name="Late",
                                   date=dt.date.today().isoformat())["transaction_id"]
    control.modify_transaction(access_token, ids[1], amount=0.01)

    expect_error(lambda: client.transactions_sync(TransactionsSyncRequest(
        access_token=access_token, cursor=first["next_cursor"], count=1)),
        400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION")

    restarted = sync_all(client, access_token, cursor=start_cursor, count=1)
    assert set(restarted.added) == set(created) | {late}
    assert restarted.removed == {ids[0]}
    assert set(restarted.modified) == {ids[1]}
    assert restarted.modified[ids[1]]["amount"] == 0.01
