"""Guards: the suite keeps plaid-python's strict response checking on, and that checking really bites."""
import http.server
import json
import re
import threading
from pathlib import Path

import plaid
import pytest
from plaid.model.item_get_request import ItemGetRequest

from conftest import build_client

HERE = Path(__file__).resolve().parent
FORBIDDEN = re.compile(r"_check_return_type\s*=\s*(?!True)|discard_unknown_keys\s*=\s*True|_disabled_client_side_validations\s*="
                       r"|_preload_content\s*=|_return_http_data_only\s*=")


def test_no_file_turns_strict_checking_off():
    offenders = []
    for path in HERE.glob("*.py"):
        if path.name == Path(__file__).name:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert not offenders, offenders


def _serve(payload: dict):
    body = json.dumps(payload).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


GOOD_ITEM = {"item_id": "x" * 37, "webhook": None, "error": None, "available_products": [],
             "billed_products": ["transactions"], "consent_expiration_time": None, "update_type": "background",
             "institution_id": "ins_109508"}


@pytest.mark.parametrize("item,ok", [
    (GOOD_ITEM, True),
    ({k: v for k, v in GOOD_ITEM.items() if k != "webhook"}, False),  # required key missing
    (dict(GOOD_ITEM, update_type=None), False),  # null in a non-nullable key
    (dict(GOOD_ITEM, billed_products="transactions"), False),  # wrong type
])
def test_sdk_rejects_malformed_responses(item, ok):
    server = _serve({"item": item, "request_id": "abcdefghijklmno"})
    try:
        client = build_client(f"http://127.0.0.1:{server.server_address[1]}")
        call = lambda: client.item_get(ItemGetRequest(access_token="access-sandbox-x"))  # noqa: E731
        if ok:
            assert call()["item"]["item_id"] == "x" * 37
        else:
            with pytest.raises((plaid.ApiTypeError, plaid.ApiValueError, plaid.ApiKeyError, plaid.ApiAttributeError)):
                call()
    finally:
        server.shutdown()
        server.server_close()
