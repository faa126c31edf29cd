"""Independent Plaid webhook verifier (PyJWT + cryptography), written from Plaid's public docs.

It deliberately shares no code with the emulator: it is the yardstick the emulator is measured against, and
it is itself checked against a webhook Plaid really signed (tests/contract/test_verifier.py).

Plaid's scheme (https://plaid.com/docs/api/webhooks/webhook-verification/):
  1. Header ``Plaid-Verification`` holds a compact JWS whose protected header is
     ``{"alg": "ES256", "kid": ..., "typ": "JWT"}``. Anything but ES256 is refused before any key is touched.
  2. The key for ``kid`` comes from ``/webhook_verification_key/get``; keys are cached by kid, an unknown kid
     triggers a fetch, and a key whose ``expired_at`` is set and already past is refused.
  3. The ES256 signature (raw 64-byte r||s) is verified.
  4. Claims ``{iat, request_body_sha256}``: iat must be within 5 minutes of now (both directions).
  5. SHA-256 of the raw body bytes, lowercase hex, compared in constant time with ``request_body_sha256``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Callable, Mapping, Optional

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

MAX_AGE_SECONDS = 5 * 60


class WebhookVerificationError(Exception):
    """The webhook must be rejected."""


def _b64url_decode_canonical(segment: str) -> bytes:
    """Decode one base64url JWS segment, refusing padding, foreign characters and non-canonical encodings.

    Python's decoder ignores the spare low bits of the last character, so two different strings can decode to
    the same bytes; re-encoding and comparing makes every character of the header significant.
    """
    if not segment or "=" in segment:
        raise WebhookVerificationError("malformed JWS segment")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError("malformed JWS segment") from exc
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise WebhookVerificationError("non-canonical base64url in JWS segment")
    return raw


def public_key_from_jwk(jwk: Mapping) -> ec.EllipticCurvePublicKey:
    """Build a P-256 public key from Plaid's JWK (x, y: base64url, 32-byte big-endian coordinates)."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or jwk.get("alg") != "ES256":
        raise WebhookVerificationError(f"unexpected key type {jwk.get('kty')}/{jwk.get('crv')}/{jwk.get('alg')}")
    if jwk.get("use", "sig") != "sig":
        raise WebhookVerificationError("key is not a signature key")
    x = _b64url_decode_canonical(jwk["x"])
    y = _b64url_decode_canonical(jwk["y"])
    if len(x) != 32 or len(y) != 32:
        raise WebhookVerificationError("P-256 coordinates must be 32 bytes")
    try:
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        ).public_key()
    except ValueError as exc:  # point not on the curve
        raise WebhookVerificationError("invalid P-256 point") from exc


class WebhookVerifier:
    """Verifies Plaid webhooks.

    fetch_key(kid) -> JWK dict (as served by /webhook_verification_key/get under "key"); raise on unknown kid.
    now() -> current Unix time in seconds (injectable so a test can pin the clock).
    """

    def __init__(
        self,
        fetch_key: Callable[[str], Mapping],
        now: Callable[[], float] = time.time,
        max_age: int = MAX_AGE_SECONDS,
    ):
        self._fetch_key = fetch_key
        self._now = now
        self._max_age = max_age
        self._cache: dict[str, Mapping] = {}
        self.fetches: list[str] = []  # kids fetched, for tests of the cache

    def _key_for(self, kid: str) -> Mapping:
        key = self._cache.get(kid)
        if key is None:
            self.fetches.append(kid)
            try:
                key = dict(self._fetch_key(kid))
            except WebhookVerificationError:
                raise
            except Exception as exc:  # unknown kid, transport error...
                raise WebhookVerificationError(f"cannot obtain key {kid!r}: {exc}") from exc
            if key.get("kid") != kid:
                raise WebhookVerificationError("served key has a different kid")
            self._cache[kid] = key
        return key

    def verify(self, body: bytes, verification_header: Optional[str]) -> dict:
        """Return the JWT claims when the webhook is authentic; raise WebhookVerificationError otherwise."""
        if not isinstance(body, (bytes, bytearray)):
            raise TypeError("body must be the raw bytes received")
        if not verification_header:
            raise WebhookVerificationError("missing Plaid-Verification header")
        token = verification_header.strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise WebhookVerificationError("not a compact JWS")
        header_raw = _b64url_decode_canonical(parts[0])
        _b64url_decode_canonical(parts[1])
        signature = _b64url_decode_canonical(parts[2])
        try:
            header = json.loads(header_raw)
        except ValueError as exc:
            raise WebhookVerificationError("JWS header is not JSON") from exc
        if not isinstance(header, dict):
            raise WebhookVerificationError("JWS header is not an object")
        # Step 1: algorithm first, before any key is looked at.
        if header.get("alg") != "ES256":
            raise WebhookVerificationError(f"algorithm {header.get('alg')!r} refused; only ES256")
        if header.get("typ", "JWT") != "JWT":
            raise WebhookVerificationError("unexpected typ")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise WebhookVerificationError("missing kid")
        if len(signature) != 64:
            raise WebhookVerificationError("ES256 signature must be 64 bytes (r||s)")

        # Step 2: key by kid, refuse expired keys.
        jwk = self._key_for(kid)
        now = self._now()
        expired_at = jwk.get("expired_at")
        if expired_at is not None and expired_at <= now:
            raise WebhookVerificationError("verification key has expired")
        public_key = public_key_from_jwk(jwk)

        # Step 3: signature (PyJWT does the JWS part; iat is checked below against our own clock).
        try:
            claims = jwt.decode(
                token,
                key=public_key,
                algorithms=["ES256"],
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "require": ["iat", "request_body_sha256"],
                },
            )
        except jwt.PyJWTError as exc:
            raise WebhookVerificationError(f"JWS rejected: {exc}") from exc

        # Step 4: freshness.
        iat = claims.get("iat")
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise WebhookVerificationError("iat must be an integer")
        if now - iat > self._max_age:
            raise WebhookVerificationError("webhook too old (iat more than 5 minutes ago)")
        if iat - now > self._max_age:
            raise WebhookVerificationError("webhook iat is in the future")

        # Step 5: body hash, constant time.
        claimed = claims.get("request_body_sha256")
        if not isinstance(claimed, str):
            raise WebhookVerificationError("request_body_sha256 must be a string")
        actual = hashlib.sha256(bytes(body)).hexdigest()
        if not hmac.compare_digest(actual.encode("ascii"), claimed.encode("utf-8", "surrogatepass")):
            raise WebhookVerificationError("body hash mismatch")
        return claims


def sdk_key_fetcher(plaid_client) -> Callable[[str], dict]:
    """Key fetcher going through the official SDK's /webhook_verification_key/get (strict response checking)."""
    from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

    def fetch(kid: str) -> dict:
        response = plaid_client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=kid))
        return response["key"].to_dict()

    return fetch
