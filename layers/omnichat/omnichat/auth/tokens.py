"""JWT access tokens: HS256 only (the algorithm is pinned, so `alg: none` and algorithm
confusion are rejected), with expiry, issuer and the session they belong to.

Made and checked with the standard library's HMAC rather than PyJWT: every request on
every surface checks a token, and once the layer carries cryptography (for single
sign-on's RSA id tokens), `import jwt` loads it too (a quarter of a second at a cold
start). tests/test_access_tokens.py holds this to PyJWT: tokens made here decode there
and the reverse, and what PyJWT refuses is refused here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from omnichat.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "omnichat"
_HEADER = {"alg": ALGORITHM, "typ": "JWT"}
REQUIRED = ("sub", "sid", "exp", "iat", "iss")


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    session_id: str
    expires_at: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or any(c not in _ALPHABET for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _sign(secret: str, signing_input: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def issue_access_token(secret: str, user_id: str, session_id: str, ttl_s: int) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "sid": session_id, "iat": now, "exp": now + ttl_s, "iss": ISSUER}
    signing_input = f"{_b64encode(_json(_HEADER))}.{_b64encode(_json(claims))}".encode("ascii")
    return f"{signing_input.decode('ascii')}.{_b64encode(_sign(secret, signing_input))}"


def _invalid() -> Unauthorized:
    return Unauthorized("The access token is invalid", code="invalid_token")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_access_token(secret: str, token: str) -> TokenClaims:
    parts = token.split(".")
    if len(parts) != 3:
        raise _invalid()
    try:
        header = json.loads(_b64decode(parts[0]))
        signature = _b64decode(parts[2])
    except ValueError:
        raise _invalid() from None
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        raise _invalid()
    if not hmac.compare_digest(signature, _sign(secret, f"{parts[0]}.{parts[1]}".encode("ascii"))):
        raise _invalid()
    try:
        claims = json.loads(_b64decode(parts[1]))
    except ValueError:
        raise _invalid() from None
    if not isinstance(claims, dict) or any(name not in claims for name in REQUIRED):
        raise _invalid()
    if not _is_int(claims["exp"]) or not _is_int(claims["iat"]) or claims["iss"] != ISSUER:
        raise _invalid()
    if not isinstance(claims["sub"], str) or not isinstance(claims["sid"], str):
        raise _invalid()
    if claims["exp"] <= int(time.time()):
        raise Unauthorized("The access token has expired", code="token_expired")
    return TokenClaims(user_id=claims["sub"], session_id=claims["sid"], expires_at=claims["exp"])
