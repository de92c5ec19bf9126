"""Single sign-on with an OpenID Connect issuer: the authorization code flow with PKCE.

`start` makes a sign-in attempt (state, nonce and PKCE verifier, kept server-side in
`sso_states`, found by the state's hash, used once, gone after ten minutes) and answers
the issuer's authorization URL. `finish` takes the callback's code and state, exchanges
the code at the token endpoint and validates the id token fully (`validate_id_token`):
signature with the issuer's key named by `kid` (the JWKS is cached and fetched again for
an unknown `kid`: keys rotate), an asymmetric algorithm only, `iss`, `aud` (and `azp`
when there are several audiences), `exp`, `iat`, and the nonce of this attempt. The user
is then made or found (sso_users.py) and a session handed over with a one-time code.

Nothing here is imported until a sign-in happens: PyJWT's key client and cryptography
stay off the cold start of every other request."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from omnichat.auth.opaque import hash_secret
from omnichat.config import Settings
from omnichat.db.lite import Db, utcnow
from omnichat.errors import AppError
from omnichat.ids import new_id

STATE_TTL = timedelta(minutes=10)
HANDOFF_TTL = timedelta(minutes=2)
DISCOVERY_TTL_S = 3600.0
JWKS_TTL_S = 3600
# An unknown `kid` fetches the key set again at most this often (PyJWT's cooldown): a stream
# of forged tokens cannot make this server hammer the issuer.
JWKS_COOLDOWN_S = 30.0
LEEWAY_S = 60
# Signatures with the issuer's public keys only: never `none`, never an HMAC.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class SsoError(AppError):
    """A single sign-on that cannot go on; `code` says why, `message` says it to a person."""

    status, code = 400, "sso_failed"


def not_configured() -> SsoError:
    return SsoError("Single sign-on is not configured on this server", code="sso_not_configured", status=404)


def unavailable(detail: str) -> SsoError:
    return SsoError("The identity provider cannot be reached right now: try again later, or sign in "
                    "with a password if you are a break-glass admin", code="sso_unavailable", status=503,
                    detail=detail)


def misconfigured(message: str, detail: str = "") -> SsoError:
    return SsoError(f"Single sign-on is misconfigured: {message}. Tell your administrator.",
                    code="sso_misconfigured", status=400, detail=detail)


def refused(message: str, detail: str = "") -> SsoError:
    return SsoError(message, code="sso_token_invalid", status=401, detail=detail)


# ---- the issuer ------------------------------------------------------------------------
@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    auth_methods: tuple[str, ...]
    algorithms: tuple[str, ...]


_lock = threading.Lock()
_providers: dict[str, tuple[float, Provider]] = {}
_jwks_clients: dict[str, Any] = {}


def _http(settings: Settings) -> Any:
    import httpx

    return httpx.Client(timeout=settings.oidc_timeout_s, follow_redirects=False)


def provider(settings: Settings) -> Provider:
    """The issuer's discovery document, cached for an hour."""
    issuer = settings.oidc_issuer.rstrip("/")
    with _lock:
        cached = _providers.get(issuer)
    if cached and time.monotonic() - cached[0] < DISCOVERY_TTL_S:
        return cached[1]
    import httpx

    url = f"{issuer}/.well-known/openid-configuration"
    try:
        with _http(settings) as http:
            response = http.get(url)
    except httpx.HTTPError as exc:
        raise unavailable(f"discovery {url}: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 500:
        raise unavailable(f"discovery {url}: HTTP {response.status_code}")
    if response.status_code != 200:
        raise misconfigured("the issuer URL has no OpenID Connect discovery document",
                            f"discovery {url}: HTTP {response.status_code}")
    try:
        doc = response.json()
        found = Provider(issuer=str(doc["issuer"]), authorization_endpoint=str(doc["authorization_endpoint"]),
                         token_endpoint=str(doc["token_endpoint"]), jwks_uri=str(doc["jwks_uri"]),
                         auth_methods=tuple(doc.get("token_endpoint_auth_methods_supported")
                                            or ("client_secret_basic",)),
                         algorithms=tuple(a for a in doc.get("id_token_signing_alg_values_supported") or ("RS256",)
                                          if a in ALGORITHMS))
    except (ValueError, KeyError, TypeError) as exc:
        raise misconfigured("the issuer's discovery document is not valid", f"{url}: {exc!r}") from None
    if found.issuer.rstrip("/") != issuer:
        raise misconfigured("the issuer URL does not match the issuer's own",
                            f"configured {issuer!r}, discovery says {found.issuer!r}")
    with _lock:
        _providers[issuer] = (time.monotonic(), found)
    return found


def _jwks_client(settings: Settings, jwks_uri: str) -> Any:
    from jwt import PyJWKClient

    with _lock:
        client = _jwks_clients.get(jwks_uri)
        if client is None:
            client = _jwks_clients[jwks_uri] = PyJWKClient(jwks_uri, cache_keys=True, lifespan=JWKS_TTL_S,
                                                           timeout=int(max(1, settings.oidc_timeout_s)))
            client.cooldown_duration = JWKS_COOLDOWN_S  # older PyJWT: no cooldown, set harmlessly
    return client


def forget_issuers() -> None:
    """Drop the cached discovery documents and key sets (tests; a changed configuration)."""
    with _lock:
        _providers.clear()
        _jwks_clients.clear()


def client_credentials(settings: Settings) -> tuple[str, str]:
    """(client id, client secret). The secret: OMNICHAT_OIDC_CLIENT_SECRET, else the
    Secrets Manager secret OMNICHAT_OIDC_CLIENT_SECRET_ARN names, either the secret itself
    or JSON `{"client_id", "client_secret"}` (what template.yaml stores for its Cognito
    app client, whose id it cannot pass in the environment without a dependency cycle)."""
    client_id, secret = settings.oidc_client_id, settings.oidc_client_secret
    if not secret and settings.oidc_client_secret_arn:
        import json

        from omnichat.aws.secrets import get_secret

        try:
            secret = get_secret(settings.oidc_client_secret_arn, max_age=300)
        except Exception as exc:  # noqa: BLE001 - any failure reading the secret: one clear error
            raise misconfigured("the client secret cannot be read", f"{type(exc).__name__}: {exc}") from None
        if secret.lstrip().startswith("{"):
            try:
                stored = json.loads(secret)
                client_id, secret = client_id or str(stored["client_id"]), str(stored.get("client_secret") or "")
            except (ValueError, KeyError, TypeError):
                raise misconfigured("the client secret's JSON has no client_id") from None
    if not client_id:
        raise misconfigured("no client id is set")
    return client_id, secret


# ---- the flow --------------------------------------------------------------------------
def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def start(db: Db, settings: Settings, redirect_uri: str, return_to: str) -> tuple[str, str]:
    """A new sign-in attempt: the issuer's authorization URL to send the browser to, and
    the attempt's state (the caller binds it to the browser: api/routers/sso.py's cookie)."""
    if not settings.sso_enabled:
        raise not_configured()
    found = provider(settings)
    client_id, _ = client_credentials(settings)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    now = utcnow()
    db.execute("DELETE FROM sso_states WHERE expires_at <= ?", now)
    db.insert("sso_states", {"id": new_id(), "kind": "state", "secret_hash": hash_secret(state), "nonce": nonce,
                             "code_verifier": verifier, "redirect_uri": redirect_uri, "return_to": return_to,
                             "created_at": now, "expires_at": now + STATE_TTL})
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
             "scope": settings.oidc_scopes, "state": state, "nonce": nonce,
             "code_challenge": _challenge(verifier), "code_challenge_method": "S256"}
    separator = "&" if "?" in found.authorization_endpoint else "?"
    return f"{found.authorization_endpoint}{separator}{urlencode(query)}", state


@dataclass(frozen=True)
class Attempt:
    nonce: str
    code_verifier: str
    redirect_uri: str
    return_to: str


def take_state(db: Db, state: str) -> Attempt | None:
    """The attempt `state` names, removed (used once); None when unknown, used or expired."""
    row = db.execute("DELETE FROM sso_states WHERE kind = 'state' AND secret_hash = ? AND expires_at > ? "
                     "RETURNING nonce, code_verifier, redirect_uri, return_to",
                     hash_secret(state), utcnow()).fetchone()
    return None if row is None else Attempt(row[0], row[1], row[2], row[3])


def exchange_code(settings: Settings, code: str, attempt: Attempt) -> str:
    """The id token the token endpoint gives for `code` (with the PKCE verifier)."""
    import httpx

    found = provider(settings)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": attempt.redirect_uri,
            "code_verifier": attempt.code_verifier}
    client_id, secret = client_credentials(settings)
    form["client_id"] = client_id
    auth = None
    if secret:
        if "client_secret_basic" in found.auth_methods or "client_secret_post" not in found.auth_methods:
            auth = httpx.BasicAuth(client_id, secret)
        else:
            form["client_secret"] = secret
    try:
        with _http(settings) as http:
            response = http.post(found.token_endpoint, data=form, auth=auth,
                                 headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise unavailable(f"token endpoint: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 500:
        raise unavailable(f"token endpoint: HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        if error in ("invalid_client", "unauthorized_client"):
            raise misconfigured("the identity provider refused this server's client id or secret",
                                f"token endpoint: {error}")
        raise SsoError("The identity provider refused the sign-in code (it may have expired or been used): "
                       "sign in again", code="sso_code_refused", status=400,
                       detail=f"token endpoint: HTTP {response.status_code} {error}")
    id_token = body.get("id_token") if isinstance(body, dict) else None
    if not isinstance(id_token, str):
        raise misconfigured("the identity provider answered without an id token (is the openid scope set?)")
    return id_token


def validate_id_token(settings: Settings, id_token: str, nonce: str) -> dict[str, Any]:
    """The id token's claims, once every check passed; `refused` otherwise."""
    import jwt

    found = provider(settings)
    client_id, _ = client_credentials(settings)
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise refused("The identity provider's id token is malformed", str(exc)) from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS or (found.algorithms and algorithm not in found.algorithms):
        raise refused("The id token is signed with an algorithm this server does not accept",
                      f"alg {algorithm!r}")
    try:
        key = _jwks_client(settings, found.jwks_uri).get_signing_key_from_jwt(id_token).key
    except jwt.PyJWKClientConnectionError as exc:
        raise unavailable(f"jwks: {exc}") from None
    except jwt.PyJWKClientError as exc:
        raise refused("The id token is signed with a key the identity provider does not publish", str(exc)) from None
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token, key, algorithms=[algorithm], audience=client_id, issuer=found.issuer,
            leeway=LEEWAY_S, options={"require": ["iss", "aud", "exp", "iat", "sub"]})
    except jwt.ExpiredSignatureError:
        raise refused("The id token has expired: sign in again") from None
    except jwt.InvalidAudienceError:
        raise refused("The id token was issued to another client", "aud") from None
    except jwt.InvalidIssuerError:
        raise refused("The id token was issued by another issuer", "iss") from None
    except jwt.InvalidSignatureError:
        raise refused("The id token's signature is not valid", "signature") from None
    except jwt.PyJWTError as exc:
        raise refused("The id token is not valid", f"{type(exc).__name__}: {exc}") from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 255:
        # OIDC Core: a non-empty string of at most 255 ASCII characters. An empty one would
        # make every such token the same (issuer, subject) identity: the same account.
        raise refused("The id token names no valid subject", "sub")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise refused("The id token was issued to another client", "azp")
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise refused("The id token does not belong to this sign-in (nonce): sign in again", "nonce")
    return claims


def handoff(db: Db, user_id: str) -> str:
    """A one-time code the web page (or the terminal client) trades for a session at
    POST /api/auth/sso/exchange: no token ever travels in a URL."""
    code = secrets.token_urlsafe(32)
    now = utcnow()
    db.insert("sso_states", {"id": new_id(), "kind": "handoff", "secret_hash": hash_secret(code),
                             "user_id": user_id, "created_at": now, "expires_at": now + HANDOFF_TTL})
    return code


def take_handoff(db: Db, code: str) -> str | None:
    """The user id of a handoff code, removed; None when unknown, used or expired."""
    row = db.execute("DELETE FROM sso_states WHERE kind = 'handoff' AND secret_hash = ? AND expires_at > ? "
                     "RETURNING user_id", hash_secret(code), utcnow()).fetchone()
    return None if row is None else str(row[0])
