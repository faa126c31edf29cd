"""Generate emulator/src/request_schema.json from plaid-python's generated request models.

The models are generated from Plaid's OpenAPI spec (2020-09-14), so they are the field-level authority for
which request fields each endpoint accepts, which are required, their types and enum values.

Run (from the workspace root): .venv/bin/python emulator/tools/gen_request_schema.py > emulator/src/request_schema.json
"""
import importlib
import inspect
import json
import re
import sys
from datetime import date, datetime

from plaid.model_utils import ModelComposed, ModelNormal, ModelSimple, none_type

ENDPOINTS = {
    "/link/token/create": "LinkTokenCreateRequest",
    "/link/token/get": "LinkTokenGetRequest",
    "/item/public_token/exchange": "ItemPublicTokenExchangeRequest",
    "/item/get": "ItemGetRequest",
    "/item/remove": "ItemRemoveRequest",
    "/item/access_token/invalidate": "ItemAccessTokenInvalidateRequest",
    "/accounts/get": "AccountsGetRequest",
    "/accounts/balance/get": "AccountsBalanceGetRequest",
    "/institutions/get_by_id": "InstitutionsGetByIdRequest",
    "/transactions/sync": "TransactionsSyncRequest",
    "/webhook_verification_key/get": "WebhookVerificationKeyGetRequest",
    "/item/webhook/update": "ItemWebhookUpdateRequest",
    "/sandbox/public_token/create": "SandboxPublicTokenCreateRequest",
    "/sandbox/item/reset_login": "SandboxItemResetLoginRequest",
    "/sandbox/item/fire_webhook": "SandboxItemFireWebhookRequest",
}


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def load(cls_name):
    module = importlib.import_module("plaid.model." + snake(cls_name))
    return getattr(module, cls_name)


def required_of(cls):
    sig = inspect.signature(cls._from_openapi_data)
    return [
        p.name
        for p in sig.parameters.values()
        if p.kind == p.POSITIONAL_OR_KEYWORD and p.name not in ("cls",)
    ]


def type_node(types, stack):
    """types is the openapi_types tuple of one attribute."""
    nullable = none_type in types
    kinds = [t for t in types if t is not none_type]
    if len(kinds) != 1:
        return {"t": "any", "null": nullable}
    t = kinds[0]
    node = convert(t, stack)
    if nullable:
        node["null"] = True
    return node


def convert(t, stack):
    if isinstance(t, list):
        return {"t": "array", "items": type_node(tuple(t), stack)}
    if isinstance(t, dict):
        return {"t": "map"}
    if t is str:
        return {"t": "string"}
    if t is bool:
        return {"t": "bool"}
    if t is int:
        return {"t": "int"}
    if t is float:
        return {"t": "number"}
    if t is date:
        return {"t": "date"}
    if t is datetime:
        return {"t": "datetime"}
    if isinstance(t, type) and issubclass(t, ModelSimple):
        inner = t.openapi_types["value"]
        node = type_node(inner, stack)
        vals = t.allowed_values.get(("value",))
        if vals:
            node["enum"] = sorted(set(v for v in vals.values() if v is not None))
        return node
    if isinstance(t, type) and issubclass(t, ModelNormal):
        return model_node(t, stack)
    if isinstance(t, type) and issubclass(t, ModelComposed):
        return {"t": "object_any"}
    return {"t": "any"}


def model_node(cls, stack):
    if cls.__name__ in stack:
        return {"t": "object_any"}
    stack = stack + [cls.__name__]
    fields = {}
    for name, types in cls.openapi_types.items():
        json_name = cls.attribute_map.get(name, name)
        node = type_node(types, stack)
        vals = cls.allowed_values.get((name,))
        if vals:
            node["enum"] = sorted(set(v for v in vals.values() if v is not None))
        v = cls.validations.get((name,), {})
        for k in ("min_length", "max_length", "min_items", "max_items", "inclusive_minimum", "inclusive_maximum"):
            if k in v:
                node[k] = v[k]
        fields[json_name] = node
    req = [cls.attribute_map.get(r, r) for r in required_of(cls)]
    return {"t": "object", "fields": fields, "required": req}


def main():
    out = {}
    for path, cls_name in ENDPOINTS.items():
        out[path] = model_node(load(cls_name), [])
    json.dump(out, sys.stdout, sort_keys=True, separators=(",", ":"))


if __name__ == "__main__":
    main()
