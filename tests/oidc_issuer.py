"""A small OpenID Connect issuer for the tests, on loopback: discovery, JWKS, an authorize
endpoint with a login form, and a token endpoint that checks the client's credentials,
the redirect URI and the PKCE verifier (S256). Its keys and id tokens are joserfc's (a
well-kept JOSE library), not hand-made.

Knobs for the refusals the tests prove: `tamper` changes the next id tokens (signed with
a key the issuer does not publish, another audience, expired, another nonce, `alg: none`,
an HMAC with the public key), `rotate()` signs with a new key published beside the old,
`down` makes every endpoint answer 503."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from local.serve import ServerThread


@dataclass
class IdpUser:
    username: str
    password: str
    email: str
    name: str = ""
    groups: list[str] = field(default_factory=list)
    email_verified: bool = True
    sub: str = field(default_factory=lambda: secrets.token_hex(8))


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)


class Issuer:
    def __init__(self, client_id: str = "omnichat", client_secret: str = "s3cret",
                 groups_claim: str = "groups") -> None:
        self.client_id, self.client_secret, self.groups_claim = client_id, client_secret, groups_claim
        self.keys = [_key("key-1")]
        self.users: dict[str, IdpUser] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tamper: str | None = None
        self.down = False
        self.token_requests = 0
        self.jwks_requests = 0
        self.server = ServerThread(self._app())
        self.url = self.server.url

    # ---- control ---------------------------------------------------------------------
    def __enter__(self) -> Issuer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def add_user(self, user: IdpUser) -> IdpUser:
        self.users[user.username] = user
        return user

    def rotate(self) -> None:
        """A new signing key, published beside the old one (as issuers roll keys)."""
        self.keys.append(_key(f"key-{len(self.keys) + 1}"))

    def id_token(self, user: IdpUser, nonce: str, **override: Any) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": user.sub, "aud": self.client_id, "iat": now, "exp": now + 300,
                  "nonce": nonce, "email": user.email, "email_verified": user.email_verified, "name": user.name,
                  self.groups_claim: user.groups, **override}
        key, header = self.keys[-1], {"alg": "RS256", "kid": self.keys[-1].kid}
        tamper = self.tamper
        if tamper == "wrong_key":  # same kid, a key the issuer never published
            key = _key(self.keys[-1].kid or "")
        elif tamper == "unknown_kid":
            key, header = _key("nobody"), {"alg": "RS256", "kid": "nobody"}
        elif tamper == "audience":
            claims["aud"] = "someone-else"
        elif tamper == "issuer":
            claims["iss"] = "https://evil.example"
        elif tamper == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif tamper == "nonce":
            claims["nonce"] = "not-the-one-sent"
        elif tamper == "alg_none":
            return _unsigned({"alg": "none", "kid": header["kid"]}, claims)
        elif tamper == "hmac":  # HS256 keyed with the public key's JSON: the classic confusion
            public = str(self.keys[-1].as_dict(private=False)).encode()
            return _hmac({"alg": "HS256", "kid": header["kid"]}, claims, public)
        return jwt.encode(header, claims, key)

    # ---- endpoints -------------------------------------------------------------------
    def _app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            if self.down:
                return Response(status_code=503)
            return JSONResponse({
                "issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})

        async def jwks(request: Request) -> Response:
            self.jwks_requests += 1
            if self.down:
                return Response(status_code=503)
            return JSONResponse({"keys": [k.as_dict(private=False) for k in self.keys]})

        async def authorize(request: Request) -> Response:
            if self.down:
                return Response(status_code=503)
            q = dict(request.query_params) if request.method == "GET" else await _form(request)
            if q.get("client_id") != self.client_id or q.get("response_type") != "code":
                return JSONResponse({"error": "unauthorized_client"}, status_code=400)
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return JSONResponse({"error": "invalid_request", "error_description": "PKCE S256 required"},
                                    status_code=400)
            error = ""
            if request.method == "POST":
                user = self.users.get(str(q.get("username", "")))
                if user is not None and secrets.compare_digest(user.password, str(q.get("password", ""))):
                    code = secrets.token_urlsafe(24)
                    self.codes[code] = {"user": user, "redirect_uri": q["redirect_uri"], "nonce": q.get("nonce", ""),
                                        "challenge": q["code_challenge"]}
                    return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}",
                                            status_code=302)
                error = "<p role='alert'>Wrong username or password</p>"
            hidden = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(str(v))}'>"
                             for k, v in q.items() if k not in ("username", "password"))
            return HTMLResponse(f"""<!doctype html><title>Test issuer</title><h1>Test issuer sign-in</h1>{error}
<form method="post" action="/authorize">{hidden}
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button></form>""")

        async def token(request: Request) -> Response:
            self.token_requests += 1
            if self.down:
                return Response(status_code=503)
            form = await _form(request)
            client_id, secret = form.get("client_id"), form.get("client_secret")
            basic = request.headers.get("authorization", "")
            if basic.lower().startswith("basic "):
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            if client_id != self.client_id or secret != self.client_secret:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            grant = self.codes.pop(str(form.get("code", "")), None)  # a code is used once
            if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            verifier = str(form.get("code_verifier", ""))
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, status_code=400)
            return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                 "expires_in": 300, "id_token": self.id_token(grant["user"], grant["nonce"])})

        return Starlette(routes=[
            Route("/.well-known/openid-configuration", discovery), Route("/jwks", jwks),
            Route("/authorize", authorize, methods=["GET", "POST"]), Route("/token", token, methods=["POST"])])


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode()))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    import json

    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _hmac(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    import hmac
    import json

    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing}.{_b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest())}"
