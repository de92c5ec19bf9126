"""JWT access tokens: HS256 only (the algorithm is pinned, so `alg: none` and algorithm
confusion are rejected), with expiry, issuer and the session they belong to."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from omnichat.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "omnichat"


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    session_id: str
    expires_at: int


def issue_access_token(secret: str, user_id: str, session_id: str, ttl_s: int) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "sid": session_id, "iat": now, "exp": now + ttl_s, "iss": ISSUER}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(secret: str, token: str) -> TokenClaims:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "sid", "exp", "iat", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired", code="token_expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("The access token is invalid", code="invalid_token") from None
    if not isinstance(claims["sub"], str) or not isinstance(claims["sid"], str):
        raise Unauthorized("The access token is invalid", code="invalid_token")
    return TokenClaims(user_id=claims["sub"], session_id=claims["sid"], expires_at=claims["exp"])
