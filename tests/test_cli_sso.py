"""The terminal client signs in through the browser (omnichat_cli/browser_sign_in.py): a
real API server and the loopback test issuer; the "browser" follows the redirects and
fills the issuer's form as a person would. The client gets a session from the one-time
code that reached its loopback port; a refusal comes back as the server's message."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from local.serve import ServerThread
from omnichat.auth import sso
from omnichat_cli import browser_sign_in
from omnichat_cli.rest import ApiError, Endpoints, Rest
from tests.oidc_issuer import IdpUser, Issuer


@pytest.fixture
def world(settings):
    from omnichat.api.app import create_app

    with Issuer() as idp:
        sso.forget_issuers()
        app = create_app(settings.with_overrides(oidc_issuer=idp.url, oidc_client_id=idp.client_id,
                                                  oidc_client_secret=idp.client_secret))
        with ServerThread(app) as api:
            yield idp, api
        sso.forget_issuers()


def browser(idp: Issuer, username: str, password: str):
    """Open `url` as a browser would: follow the redirects, sign in at the issuer's form."""
    def open_url(url: str) -> None:
        with httpx.Client() as http:
            r = http.get(url)
            assert r.status_code == 302, r.text
            params = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}
            r = http.post(f"{idp.url}/authorize", data={**params, "username": username, "password": password})
            r = http.get(r.headers["location"])  # the API's callback
            assert r.status_code == 302, r.text
            assert r.headers["location"].startswith("http://127.0.0.1:")  # the client's loopback port
            http.get(r.headers["location"])
    return open_url


def test_the_terminal_client_signs_in_through_the_browser(world):
    idp, api = world
    idp.add_user(IdpUser("tess", "pw", "tess@example.com", "Tess"))
    rest = Rest(Endpoints(api=api.url, ws=""))
    said: list[str] = []
    user = browser_sign_in.sign_in(rest, said.append, browser(idp, "tess", "pw"), timeout_s=30)
    assert user["email"] == "tess@example.com" and rest.token
    assert rest.me()["email"] == "tess@example.com"
    assert "cli_port=" in said[0]


def test_a_refused_sign_in_is_the_servers_message(world):
    idp, api = world
    idp.add_user(IdpUser("mal", "pw", "mal@example.com"))
    idp.tamper = "expired"
    rest = Rest(Endpoints(api=api.url, ws=""))
    with pytest.raises(ApiError) as refused:
        browser_sign_in.sign_in(rest, lambda _: None, browser(idp, "mal", "pw"), timeout_s=30)
    assert refused.value.code == "sso_token_invalid" and "expired" in refused.value.message
    assert rest.token is None
