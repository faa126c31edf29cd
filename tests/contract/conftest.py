"""Fixtures for the emulator contract suite.

- ``emulator``: one emulator process for the session (path from PLAID_EMULATOR_BIN, else target/debug/plaid-emulator)
  on a free loopback port chosen at run time; stopped at the end.
- ``spawn_emulator``: factory for a private emulator process, for tests that change global state
  (clock, key rotation, rate limits, faults). Stopped when the test ends.
- ``client``: ``plaid_api.PlaidApi`` pointed at the session emulator, strict response checking left at the
  SDK default (``_check_return_type=True``); ``make_client`` builds more (other keys, private emulators).
- ``webhook_receiver``: a loopback HTTP server recording every delivery (headers + raw body bytes); it can answer
  500 to the first N deliveries to exercise retries.
- ``control``: the emulator's test-control routes (``/__emulator/...``).
- ``verifier``: the independent webhook verifier (verify_webhook.py) fetching keys through the SDK.
"""
from __future__ import annotations

import http.server
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import plaid
import pytest
import requests
from plaid.api import plaid_api

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import Control  # noqa: E402
from verify_webhook import WebhookVerifier, sdk_key_fetcher  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "target" / "debug" / "plaid-emulator"
CLIENT_ID = "5f2a9c0e4b1d3e7f8a6c0b12"  # Plaid client ids: 24 hex characters
SECRET = "0c8e5d3f1a7b9e2c4d6f8a0b1c3e5d"  # Plaid secrets: 30 hex characters
PLAID_VERSION = "2020-09-14"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def emulator_binary() -> Path:
    path = Path(os.environ.get("PLAID_EMULATOR_BIN") or DEFAULT_BIN)
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"plaid-emulator binary not found at {path}. Build it first with "
            "`cargo build -p plaid-emulator` (from the repository root), or set PLAID_EMULATOR_BIN "
            "to the binary's path.",
            pytrace=False,
        )
    return path


class EmulatorProcess:
    def __init__(self, binary: Path, client_id: str = CLIENT_ID, secret: str = SECRET, extra_args=()):
        self.binary = binary
        self.client_id = client_id
        self.secret = secret
        self.extra_args = list(extra_args) + shlex.split(os.environ.get("PLAID_EMULATOR_ARGS", ""))
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="plaid-emulator-", suffix=".log", delete=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 60) -> str:
        try:
            with open(self.log.name, "rb") as fh:
                lines = fh.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def start(self, timeout: float = 30.0) -> "EmulatorProcess":
        last_error = None
        for _attempt in range(3):
            self.port = free_port()
            cmd = [str(self.binary), "--listen", f"127.0.0.1:{self.port}",
                   "--client-id", self.client_id, "--secret", self.secret, *self.extra_args]
            self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(REPO),
                                         start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    last_error = f"emulator exited with {self.proc.returncode}"
                    break
                try:
                    requests.post(self.base_url + "/__emulator/ping", json={}, timeout=1)
                    return self
                except requests.ConnectionError:
                    time.sleep(0.1)
                except requests.RequestException:
                    return self  # it answered, even if oddly
            else:
                last_error = f"emulator did not answer on {self.base_url} within {timeout}s"
                self.stop()
                break
        pytest.fail(f"{last_error}\ncommand: {' '.join(cmd)}\n--- emulator log ---\n{self.log_tail()}",
                    pytrace=False)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


def build_client(base_url: str, client_id: str = CLIENT_ID, secret: str = SECRET) -> plaid_api.PlaidApi:
    configuration = plaid.Configuration(
        host=base_url,
        api_key={"clientId": client_id, "secret": secret, "plaidVersion": PLAID_VERSION},
    )
    # Strictness guard: nothing in this suite may loosen the SDK's response checking.
    assert configuration.discard_unknown_keys is False
    assert not getattr(configuration, "_disabled_client_side_validations", "")
    return plaid_api.PlaidApi(plaid.ApiClient(configuration))


@pytest.fixture(scope="session")
def emulator():
    emu = EmulatorProcess(emulator_binary()).start()
    yield emu
    emu.stop()


@pytest.fixture
def spawn_emulator():
    started = []

    def spawn(*extra_args, client_id=CLIENT_ID, secret=SECRET):
        emu = EmulatorProcess(emulator_binary(), client_id=client_id, secret=secret, extra_args=extra_args).start()
        started.append(emu)
        return emu

    yield spawn
    for emu in started:
        emu.stop()


@pytest.fixture(scope="session")
def base_url(emulator) -> str:
    return emulator.base_url


@pytest.fixture(scope="session")
def client(emulator) -> plaid_api.PlaidApi:
    return build_client(emulator.base_url)


@pytest.fixture(scope="session")
def make_client():
    return build_client


@pytest.fixture(scope="session")
def control(emulator) -> Control:
    return Control(emulator.base_url)


@pytest.fixture
def verifier(client, control) -> WebhookVerifier:
    return WebhookVerifier(sdk_key_fetcher(client), now=control.now)


# --------------------------------------------------------------------------------------------------------------
# Webhook receiver


class Delivery:
    def __init__(self, method, path, headers, body: bytes, answered: int):
        self.method = method
        self.path = path
        self.headers = headers  # dict with lower-cased names
        self.body = body
        self.answered = answered
        self.received_at = time.time()

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def verification(self):
        return self.headers.get("plaid-verification")

    def __repr__(self):
        return f"Delivery({self.method} {self.path} -> {self.answered}, {self.body[:120]!r})"


class WebhookReceiver:
    def __init__(self):
        self.deliveries: list[Delivery] = []
        self._fail_remaining = 0
        self._fail_status = 500
        self._fail_code = None
        self._stall = None  # (remaining, seconds, code)
        self._lock = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    code = json.loads(body).get("webhook_code")
                except (ValueError, AttributeError):
                    code = None
                stall = 0.0
                with receiver._lock:
                    if receiver._stall and receiver._stall[0] > 0 and receiver._stall[2] in (None, code):
                        receiver._stall = (receiver._stall[0] - 1, receiver._stall[1], receiver._stall[2])
                        stall = receiver._stall[1]
                        status = "stalled"
                    elif receiver._fail_remaining > 0 and receiver._fail_code in (None, code):
                        receiver._fail_remaining -= 1
                        status = receiver._fail_status
                    else:
                        status = 200
                    receiver.deliveries.append(Delivery(
                        self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, status))
                    receiver._lock.notify_all()
                if stall:
                    time.sleep(stall)
                    status = 200
                    try:
                        self.send_response(200)
                        self.send_header("Content-Length", "2")
                        self.end_headers()
                        self.wfile.write(b"{}")
                    except OSError:
                        pass
                    return
                payload = b"{}" if status == 200 else b'{"error":"receiver told to fail"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _handle
            do_GET = _handle
            do_PUT = _handle

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/plaid/webhook"

    def fail_next(self, n: int, status: int = 500, code: str | None = None):
        """Answer `status` to the next `n` deliveries (only those with webhook_code `code`, if given)."""
        with self._lock:
            self._fail_remaining = n
            self._fail_status = status
            self._fail_code = code

    def stall_next(self, n: int, seconds: float, code: str | None = None):
        """Hold the next `n` deliveries (with webhook_code `code`, if given) for `seconds` before answering 200."""
        with self._lock:
            self._stall = (n, seconds, code)

    def wait_for(self, predicate=lambda d: True, count: int = 1, timeout: float = 15.0) -> list[Delivery]:
        """Wait until `count` deliveries match `predicate` (a function of Delivery); return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                matched = [d for d in self.deliveries if predicate(d)]
                if len(matched) >= count:
                    return matched
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} matching webhook deliveries within {timeout}s, got {len(matched)}; "
                        f"all deliveries: {self.deliveries}")
                self._lock.wait(remaining)

    def wait_code(self, webhook_type: str, webhook_code: str, count: int = 1, timeout: float = 15.0):
        def match(d):
            try:
                obj = d.json
            except ValueError:
                return False
            return obj.get("webhook_type") == webhook_type and obj.get("webhook_code") == webhook_code

        return self.wait_for(match, count=count, timeout=timeout)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
