"""Strict checking helpers shared by the contract tests.

The SDK already validates every 2xx response against its generated models (required keys present, nullability,
types). It does NOT check enum values (plaid.model_utils.check_allowed_values is a no-op) and it does not look at
error bodies at all, so both are checked here against the same generated models.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from typing import Any, Callable

import plaid
import requests
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.plaid_error import PlaidError
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import SandboxPublicTokenCreateRequestOptions
from plaid.model.transactions_sync_request import TransactionsSyncRequest
from plaid.model.transactions_sync_request_options import TransactionsSyncRequestOptions  # noqa: F401
from plaid_errors import DOCUMENTED
from plaid.model_utils import ModelComposed, ModelNormal, ModelSimple, validate_and_convert_types

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9]{15}$")
ID37_RE = re.compile(r"^[A-Za-z0-9]{37}$")
LINK_TOKEN_RE = re.compile(rf"^link-sandbox-{UUID}$")
PUBLIC_TOKEN_RE = re.compile(rf"^public-sandbox-{UUID}$")
ACCESS_TOKEN_RE = re.compile(rf"^access-sandbox-{UUID}$")

# Keys every Plaid error body carries (wire notes, "Error object"; model: plaid/model/plaid_error.py).
ERROR_KEYS = {"display_message", "documentation_url", "error_code", "error_message", "error_type",
              "request_id", "suggested_action"}

USER_GOOD_ACCOUNTS = {
    # mask: (name, type, subtype)
    "0000": ("Plaid Checking", "depository", "checking"),
    "1111": ("Plaid Saving", "depository", "savings"),
    "2222": ("Plaid CD", "depository", "cd"),
    "3333": ("Plaid Credit Card", "credit", "credit card"),
    "4444": ("Plaid Money Market", "depository", "money market"),
    "5555": ("Plaid IRA", "investment", "ira"),
    "6666": ("Plaid 401k", "investment", "401k"),
    "7777": ("Plaid Student Loan", "loan", "student"),
    "8888": ("Plaid Mortgage", "loan", "mortgage"),
}


# ----------------------------------------------------------------------------------------------------------------
# Enum checking (stricter than the SDK, same models)


def _enum_values(cls, attr) -> set | None:
    allowed = getattr(cls, "allowed_values", None) or {}
    values = allowed.get((attr,))
    return set(values.values()) if values else None


def check_enums(value: Any, path: str = "response") -> None:
    """Walk an SDK model tree; every enum-typed value must be one the spec (as generated into the SDK) allows."""
    if isinstance(value, ModelSimple):
        allowed = _enum_values(type(value), "value")
        if allowed is not None:
            assert value.value in allowed, f"{path}: {value.value!r} is not one of {sorted(allowed)} ({type(value).__name__})"
        return
    if isinstance(value, (ModelNormal, ModelComposed)):
        cls = type(value)
        for attr in cls.openapi_types:
            if attr not in value:
                continue
            item = value[attr]
            allowed = _enum_values(cls, attr)
            if allowed is not None and isinstance(item, str):
                assert item in allowed, f"{path}.{attr}: {item!r} is not one of {sorted(allowed)} ({cls.__name__})"
            check_enums(item, f"{path}.{attr}")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_enums(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, item in value.items():
            check_enums(item, f"{path}.{k}")


def strict(response):
    """Enum-check an SDK response and its request_id; return it."""
    check_enums(response)
    if "request_id" in response:
        assert REQUEST_ID_RE.match(response["request_id"]), f"request_id {response['request_id']!r} is not 15 alphanumerics"
    return response


def _configuration():
    return plaid.Configuration(host="http://unused")


def validate_as(model_cls, obj, path: str = "body"):
    """Deserialize a plain JSON value into `model_cls` exactly as the SDK does for responses (strict); return it."""
    model = validate_and_convert_types(obj, (model_cls,), [path], True, True, configuration=_configuration())
    check_enums(model, path)
    return model


# ----------------------------------------------------------------------------------------------------------------
# Errors


def check_error_body(body: dict, http_status: int | None = None) -> dict:
    missing = ERROR_KEYS - set(body)
    assert not missing, f"error body lacks Plaid error keys {sorted(missing)}: {body}"
    validate_as(PlaidError, body, "error")
    assert isinstance(body["error_message"], str) and body["error_message"], body
    assert REQUEST_ID_RE.match(body["request_id"] or ""), f"request_id {body['request_id']!r} not 15 alphanumerics"
    assert str(body["documentation_url"]).startswith("https://plaid.com/docs"), body["documentation_url"]
    return body


def error_of(exc: plaid.ApiException) -> dict:
    assert exc.body, f"ApiException without a body (status {exc.status})"
    try:
        body = json.loads(exc.body)
    except ValueError as err:
        raise AssertionError(f"error body is not JSON: {exc.body!r}") from err
    content_type = (exc.headers or {}).get("Content-Type", "") if exc.headers else ""
    assert "application/json" in content_type, f"error Content-Type {content_type!r}"
    return check_error_body(body, exc.status)


def check_documented(err: dict, status: int) -> None:
    """For codes whose response Plaid documents verbatim, the message, display_message and status must match."""
    doc = DOCUMENTED.get(err["error_code"])
    if doc is None:
        return
    error_type, doc_status, message, display, source = doc
    assert (err["error_type"], status) == (error_type, doc_status), (
        f"{err['error_code']}: Plaid documents {doc_status} {error_type} ({source}); got {status} {err['error_type']}")
    assert err["error_message"] == message, (
        f"{err['error_code']}: error_message {err['error_message']!r}; Plaid's is {message!r} ({source})")
    assert err["display_message"] == display, (
        f"{err['error_code']}: display_message {err['display_message']!r}; Plaid's is {display!r} ({source})")


def expect_error(call: Callable[[], Any], status: int, error_type: str, error_code: str,
                 documented: bool = True) -> dict:
    """Run `call`; it must raise plaid.ApiException with that HTTP status and Plaid error; return the error dict.
    With `documented`, a code Plaid documents verbatim must also carry Plaid's message and display_message."""
    try:
        result = call()
    except plaid.ApiException as exc:
        err = error_of(exc)
        assert (exc.status, err["error_type"], err["error_code"]) == (status, error_type, error_code), (
            f"expected {status} {error_type}/{error_code}, got {exc.status} {err['error_type']}/{err['error_code']}: "
            f"{err['error_message']}")
        if documented:
            check_documented(err, exc.status)
        return err
    raise AssertionError(f"expected {status} {error_type}/{error_code}, call succeeded: {result}")


def expect_raw_error(resp: requests.Response, status: int, error_type: str, error_code: str,
                     documented: bool = True) -> dict:
    try:
        body = resp.json()
    except ValueError as err:
        raise AssertionError(f"non-JSON body ({resp.status_code}): {resp.text[:300]!r}") from err
    assert resp.status_code >= 400, (
        f"expected {status} {error_type}/{error_code}, request succeeded ({resp.status_code}): {resp.text[:300]}")
    assert "application/json" in resp.headers.get("Content-Type", ""), resp.headers.get("Content-Type")
    check_error_body(body, resp.status_code)
    assert (resp.status_code, body["error_type"], body["error_code"]) == (status, error_type, error_code), (
        f"expected {status} {error_type}/{error_code}, got {resp.status_code} {body}")
    if documented:
        check_documented(body, resp.status_code)
    return body


def field_list(message: str, prefix: str) -> set[str]:
    assert message.startswith(prefix), f"message {message!r} does not start with {prefix!r}"
    return {f.strip() for f in message[len(prefix):].split(",") if f.strip()}


# ----------------------------------------------------------------------------------------------------------------
# Webhook deliveries


def check_delivery(delivery, verifier, model_cls=None):
    """Everything a Plaid webhook delivery must satisfy; returns the parsed body."""
    assert delivery.method == "POST", delivery
    assert delivery.headers.get("content-type", "").split(";")[0].strip() == "application/json", delivery.headers
    body = delivery.body
    obj = json.loads(body)
    # Plaid's serialisation: sorted keys, 2-space indentation, ": " separators, no trailing newline.
    assert body.decode("utf-8") == json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False), body
    assert body == json.dumps(obj, indent=2, sort_keys=True).encode("ascii"), \
        "body has non-ASCII or escapes differently from the ASCII form Plaid's vector shows"
    # LINK webhooks are about a Link session, not an Item: they carry link_session_id and link_token instead.
    keys = ("link_session_id", "link_token") if obj.get("webhook_type") == "LINK" else ("item_id",)
    for key in ("webhook_type", "webhook_code", "environment") + keys:
        assert key in obj, f"webhook body lacks {key}: {obj}"
    assert obj["environment"] == "sandbox"
    claims = verifier.verify(body, delivery.verification)
    assert claims["request_body_sha256"] == hashlib.sha256(body).hexdigest()
    assert set(claims) == {"iat", "request_body_sha256"}, f"Plaid's JWT carries exactly iat and the body hash: {claims}"
    if model_cls is not None:
        validate_as(model_cls, obj, "webhook")
    return obj


# ----------------------------------------------------------------------------------------------------------------
# Raw HTTP (for what the SDK will not send)


def raw_post(base_url: str, path: str, body: Any, *, client_id: str | None = None, secret: str | None = None,
             headers: dict | None = None) -> requests.Response:
    hdrs = {"Content-Type": "application/json", "Plaid-Version": "2020-09-14"}
    if client_id is not None:
        hdrs["PLAID-CLIENT-ID"] = client_id
    if secret is not None:
        hdrs["PLAID-SECRET"] = secret
    hdrs.update(headers or {})
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(base_url + path, data=data, headers=hdrs, timeout=15)


# ----------------------------------------------------------------------------------------------------------------
# Items and transactions


def create_public_token(client, institution_id="ins_109508", products=("transactions",), webhook=None,
                        username=None, password=None):
    options = {}
    if webhook is not None:
        options["webhook"] = webhook
    if username is not None:
        options["override_username"] = username
    if password is not None:
        options["override_password"] = password
    kwargs = {}
    if options:
        kwargs["options"] = SandboxPublicTokenCreateRequestOptions(**options)
    req = SandboxPublicTokenCreateRequest(
        institution_id=institution_id, initial_products=[Products(p) for p in products], **kwargs)
    return strict(client.sandbox_public_token_create(req))


def create_item(client, **kwargs) -> tuple[str, str]:
    """A fresh item through /sandbox/public_token/create + /item/public_token/exchange; returns (access_token, item_id)."""
    public_token = create_public_token(client, **kwargs)["public_token"]
    exchanged = strict(client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public_token)))
    return exchanged["access_token"], exchanged["item_id"]


def sync_page(client, access_token, cursor=None, count=None, **options):
    kwargs = {}
    if cursor is not None:
        kwargs["cursor"] = cursor
    if count is not None:
        kwargs["count"] = count
    if options:
        kwargs["options"] = TransactionsSyncRequestOptions(**options)
    return strict(client.transactions_sync(TransactionsSyncRequest(access_token=access_token, **kwargs)))


class SyncResult:
    def __init__(self):
        self.added: dict[str, Any] = {}
        self.modified: dict[str, Any] = {}
        self.removed: set[str] = set()
        self.pages: list[Any] = []
        self.cursor: str | None = None


def sync_all(client, access_token, cursor=None, count=None, ready_timeout=20.0, **options) -> SyncResult:
    """Follow has_more from `cursor` to the end. Waits (bounded) while the item's transactions are not ready
    (next_cursor == "" with empty arrays, per Plaid)."""
    out = SyncResult()
    deadline = time.monotonic() + ready_timeout
    current = cursor
    while True:
        page = sync_page(client, access_token, cursor=current, count=count, **options)
        if page["next_cursor"] == "" and not (page["added"] or page["modified"] or page["removed"]):
            assert time.monotonic() < deadline, "transactions never became ready"
            time.sleep(0.2)
            continue
        out.pages.append(page)
        for t in page["added"]:
            out.added[t["transaction_id"]] = t
        for t in page["modified"]:
            out.modified[t["transaction_id"]] = t
        for r in page["removed"]:
            out.removed.add(r["transaction_id"])
        current = page["next_cursor"]
        if not page["has_more"]:
            break
        assert len(out.pages) < 1000, "has_more never became false"
    out.cursor = current
    return out


def parse_rfc3339(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# ----------------------------------------------------------------------------------------------------------------
# Emulator test-control routes


class Control:
    """Thin client for the emulator's /__emulator/... routes (see emulator/README.md)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self._clock_supported = True

    def post(self, route: str, body: Any = None, expect_ok: bool = True) -> Any:
        resp = requests.post(self.base_url + route, json=body if body is not None else {}, timeout=15)
        if expect_ok:
            assert resp.status_code < 300, f"control {route} -> {resp.status_code}: {resp.text[:500]}"
        try:
            return resp.json()
        except ValueError:
            return resp.text

    def get(self, route: str) -> Any:
        resp = requests.get(self.base_url + route, timeout=15)
        assert resp.status_code < 300, f"control GET {route} -> {resp.status_code}: {resp.text[:500]}"
        return resp.json()

    # -- clock ----------------------------------------------------------------------------------------------
    def now(self) -> float:
        """The emulator's current Unix time (its clock can be advanced); falls back to the real clock."""
        if self._clock_supported:
            try:
                resp = requests.get(self.base_url + "/__emulator/clock", timeout=5)
                if resp.status_code == 200:
                    body = resp.json()
                    for key in ("now", "unix", "now_unix", "epoch_seconds"):
                        if isinstance(body.get(key), (int, float)):
                            return float(body[key])
            except (requests.RequestException, ValueError, AttributeError):
                pass
            self._clock_supported = False
        return time.time()

    def advance_clock(self, seconds: int):
        return self.post("/__emulator/clock/advance", {"seconds": seconds})

    # -- link --------------------------------------------------------------------------------------------------
    def complete_link(self, link_token: str, expect_ok: bool = True, **kwargs) -> dict:
        return self.post("/__emulator/link/complete", {"link_token": link_token, **kwargs}, expect_ok=expect_ok)

    # -- faults / limits -------------------------------------------------------------------------------------
    def fault(self, endpoint: str, kind: str = "error", count: int = 1, *, status: int | None = None,
              error_type: str | None = None, error_code: str | None = None, **extra) -> dict:
        """kind: internal_server_error | planned_maintenance | rate_limit | stall | error (custom error)."""
        body = {"endpoint": endpoint, "kind": kind, "count": count, **extra}
        if kind == "error":
            body["error"] = {"status": status, "error_type": error_type, "error_code": error_code}
        return self.post("/__emulator/faults", body)

    def rate_limit(self, endpoint: str, per_item: int | None = None, per_client: int | None = None) -> dict:
        return self.post("/__emulator/rate_limits",
                         {"limits": {endpoint: {"per_item": per_item, "per_client": per_client}}})

    def webhook_config(self, **config) -> dict:
        """timeout_ms, retry_backoff_ms (list), max_attempts."""
        return self.post("/__emulator/webhooks/config", config)

    # -- items --------------------------------------------------------------------------------------------------
    def item(self, item: str) -> dict:
        return self.get(f"/__emulator/items/{item}")

    def set_condition(self, item: str, condition: str, **extra) -> dict:
        return self.post(f"/__emulator/items/{item}/condition", {"condition": condition, **extra})

    # -- transactions ---------------------------------------------------------------------------------------
    def mutate(self, item: str, add=(), modify=(), remove=(), **extra) -> dict:
        """POST /__emulator/items/{id or access token}/transactions; returns {added, modified, removed, ...}."""
        return self.post(f"/__emulator/items/{item}/transactions",
                         {"add": list(add), "modify": list(modify), "remove": list(remove), **extra})

    def add_transaction(self, access_token: str, **fields) -> dict:
        [tid] = self.mutate(access_token, add=[fields])["added"]
        return {"transaction_id": tid}

    def modify_transaction(self, access_token: str, transaction_id: str, **fields) -> dict:
        return self.mutate(access_token, modify=[{"transaction_id": transaction_id, **fields}])

    def remove_transaction(self, access_token: str, transaction_id: str) -> dict:
        return self.mutate(access_token, remove=[transaction_id])

    def fail_next_page(self, item: str) -> dict:
        return self.post(f"/__emulator/items/{item}/transactions/fail_next_page", {})

    # -- keys -------------------------------------------------------------------------------------------------
    def rotate_key(self) -> dict:
        """Returns {kid, expired_kid}."""
        return self.post("/__emulator/keys/rotate", {})
