"""The independent verifier, checked first against a webhook Plaid itself signed (no emulator involved)."""
import base64
import hashlib
import json
import os
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from verify_webhook import WebhookVerificationError, WebhookVerifier

# `shared/test-vectors` beside the repository (override with WEFT_TEST_VECTORS).
VECTOR_PATH = os.path.join(
    os.environ.get("WEFT_TEST_VECTORS")
    or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "test-vectors"),
    "plaid-webhook-2020.json",
)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture(scope="module")
def vector():
    with open(VECTOR_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def _verifier(jwk, now, calls=None):
    def fetch(kid):
        if calls is not None:
            calls.append(kid)
        if kid != jwk["kid"]:
            raise KeyError(kid)
        return jwk

    return WebhookVerifier(fetch, now=lambda: now)


def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(seg):
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def test_real_plaid_webhook_is_accepted(vector):
    iat = vector["claims"]["iat"]
    claims = _verifier(vector["jwk"], iat + 60).verify(vector["body"].encode(), vector["plaid_verification_header"])
    assert claims == vector["claims"]
    assert hashlib.sha256(vector["body"].encode()).hexdigest() == claims["request_body_sha256"]


def test_real_body_is_sorted_two_space_json_without_trailing_newline(vector):
    body = vector["body"]
    obj = json.loads(body)
    assert body == json.dumps(obj, indent=2, sort_keys=True)
    assert body == json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)
    assert not body.endswith("\n")


def test_every_single_byte_change_to_body_is_refused(vector):
    iat = vector["claims"]["iat"]
    v = _verifier(vector["jwk"], iat + 60)
    body = vector["body"].encode()
    header = vector["plaid_verification_header"]
    for i in range(len(body)):
        for flip in (0x01, 0x20, 0x80):
            mutated = bytearray(body)
            mutated[i] ^= flip
            with pytest.raises(WebhookVerificationError):
                v.verify(bytes(mutated), header)
    for mutated in (body + b"\n", body + b" ", body[:-1], b" " + body, b""):
        with pytest.raises(WebhookVerificationError):
            v.verify(mutated, header)


def test_every_single_byte_change_to_signature_is_refused(vector):
    iat = vector["claims"]["iat"]
    v = _verifier(vector["jwk"], iat + 60)
    body = vector["body"].encode()
    head, payload, sig = vector["plaid_verification_header"].split(".")
    raw = _unb64(sig)
    assert len(raw) == 64
    for i in range(64):
        for flip in (0x01, 0x80):
            mutated = bytearray(raw)
            mutated[i] ^= flip
            with pytest.raises(WebhookVerificationError):
                v.verify(body, f"{head}.{payload}.{_b64(bytes(mutated))}")


def test_every_single_character_change_to_header_is_refused(vector):
    iat = vector["claims"]["iat"]
    v = _verifier(vector["jwk"], iat + 60)
    body = vector["body"].encode()
    token = vector["plaid_verification_header"]
    for i, ch in enumerate(token):
        if ch == ".":
            replacement = "A"
        else:
            replacement = B64URL[(B64URL.index(ch) + 1) % 64]
        mutated = token[:i] + replacement + token[i + 1 :]
        with pytest.raises(WebhookVerificationError):
            v.verify(body, mutated)


def test_iat_window_is_five_minutes_both_ways(vector):
    iat = vector["claims"]["iat"]
    body = vector["body"].encode()
    header = vector["plaid_verification_header"]
    _verifier(vector["jwk"], iat + 299).verify(body, header)
    _verifier(vector["jwk"], iat - 299).verify(body, header)
    for now in (iat + 301, iat + 86400, iat - 301, time.time()):
        with pytest.raises(WebhookVerificationError):
            _verifier(vector["jwk"], now).verify(body, header)


def test_non_es256_algorithms_refused_before_fetching_a_key(vector):
    calls = []
    iat = vector["claims"]["iat"]
    v = _verifier(vector["jwk"], iat + 60, calls)
    body = vector["body"].encode()
    kid = vector["jwk"]["kid"]
    claims = {"iat": iat, "request_body_sha256": hashlib.sha256(body).hexdigest()}
    hs = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": kid})
    none_header = _b64(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode())
    none_token = f"{none_header}.{_b64(json.dumps(claims).encode())}."
    other = ec.generate_private_key(ec.SECP384R1())
    es384 = jwt.encode(claims, other, algorithm="ES384", headers={"kid": kid})
    for token in (hs, none_token, es384):
        with pytest.raises(WebhookVerificationError):
            v.verify(body, token)
    assert calls == []


def test_missing_header_unknown_kid_and_expired_key_refused(vector):
    iat = vector["claims"]["iat"]
    body = vector["body"].encode()
    header = vector["plaid_verification_header"]
    for missing in (None, ""):
        with pytest.raises(WebhookVerificationError):
            _verifier(vector["jwk"], iat + 60).verify(body, missing)
    other_jwk = dict(vector["jwk"], kid="some-other-kid")
    with pytest.raises(WebhookVerificationError):
        _verifier(other_jwk, iat + 60).verify(body, header)
    expired = dict(vector["jwk"], expired_at=iat + 30)
    with pytest.raises(WebhookVerificationError):
        _verifier(expired, iat + 60).verify(body, header)
    # A key marked to expire later still verifies (rotation grace period).
    _verifier(dict(vector["jwk"], expired_at=iat + 3600), iat + 60).verify(body, header)


def test_keys_are_cached_by_kid(vector):
    calls = []
    iat = vector["claims"]["iat"]
    v = _verifier(vector["jwk"], iat + 60, calls)
    for _ in range(3):
        v.verify(vector["body"].encode(), vector["plaid_verification_header"])
    assert calls == [vector["jwk"]["kid"]]


def test_freshly_signed_token_round_trip_and_wrong_key():
    key = ec.generate_private_key(ec.SECP256R1())
    nums = key.public_key().public_numbers()
    jwk = {
        "alg": "ES256", "crv": "P-256", "kid": "k1", "kty": "EC", "use": "sig",
        "x": _b64(nums.x.to_bytes(32, "big")), "y": _b64(nums.y.to_bytes(32, "big")),
        "created_at": 1, "expired_at": None,
    }
    body = b'{\n  "a": 1\n}'
    now = int(time.time())
    claims = {"iat": now, "request_body_sha256": hashlib.sha256(body).hexdigest()}
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})
    assert _verifier(jwk, now).verify(body, token) == claims
    impostor = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "k1"})
    with pytest.raises(WebhookVerificationError):
        _verifier(jwk, now).verify(body, impostor)
    # Claims without the body hash are refused.
    bare = jwt.encode({"iat": now}, key, algorithm="ES256", headers={"kid": "k1"})
    with pytest.raises(WebhookVerificationError):
        _verifier(jwk, now).verify(body, bare)
