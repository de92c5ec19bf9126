"""Single sign-on against a real OpenID Connect issuer on loopback (tests/oidc_issuer.py):
the authorization code flow with PKCE driven over HTTP as a browser would (start, the
issuer's login form, the callback, the one-time code), users made on first sign-in under
the signup policy, group and admin mapping from the claim (a changed claim applies at the
next sign-in), and every refusal: tampered id tokens (signature, key, audience, issuer,
expiry, nonce, `alg: none`, HMAC), replayed state and handoff codes, an unknown issuer,
a wrong client secret, the issuer down (the break-glass admin still signs in with a
password). A refused sign-in leaves no account, identity or group behind."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from omnichat.auth import sso
from omnichat.db import lite
from tests.conftest import app_for
from tests.helpers import PASSWORD, assert_error, set_policy, sign_up
from tests.oidc_issuer import IdpUser, Issuer


@pytest.fixture(scope="module")
def issuer():
    with Issuer() as running:
        yield running


@pytest.fixture
def idp(issuer):
    issuer.tamper, issuer.down = None, False
    issuer.users.clear()
    sso.forget_issuers()
    yield issuer
    issuer.tamper, issuer.down = None, False
    sso.forget_issuers()


@pytest.fixture
def sso_settings(settings, idp):
    return settings.with_overrides(oidc_issuer=idp.url, oidc_client_id=idp.client_id,
                                   oidc_client_secret=idp.client_secret, oidc_admin_group="omnichat-admins")


@pytest.fixture
def app(sso_settings):
    from omnichat.api.app import create_app

    return app_for(create_app, sso_settings)


def walk(client: TestClient, idp: Issuer, username: str, password: str | None = None) -> dict[str, list[str]]:
    """Start, sign in at the issuer's form, come back: the query the web page is sent to."""
    r = client.get("/api/auth/sso/start", follow_redirects=False)
    assert r.status_code == 302, r.text
    authorize = r.headers["location"]
    assert authorize.startswith(f"{idp.url}/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert params["code_challenge_method"] == "S256" and params["nonce"] and params["state"]
    user = idp.users[username]
    back = httpx.post(f"{idp.url}/authorize", data={**params, "username": username,
                                                   "password": password or user.password})
    assert back.status_code == 302, back.text
    callback = urlsplit(back.headers["location"])
    assert callback.path == "/api/auth/sso/callback"
    r = client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    assert r.status_code == 302, r.text
    landing = urlsplit(r.headers["location"])
    assert landing.path == "/"
    return parse_qs(landing.query) | {"_callback": [f"{callback.path}?{callback.query}"]}


def sign_in_via_sso(client, idp, username) -> dict:
    landed = walk(client, idp, username)
    assert "sso" in landed, landed
    r = client.post("/api/auth/sso/exchange", json={"code": landed["sso"][0]})
    assert r.status_code == 200, r.text
    return r.json()


def counts(db_url) -> tuple[int, int, int]:
    return lite.run(db_url, lambda db: tuple(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                                             for t in ("users", "sso_identities", "group_members")))


def test_options_offer_the_button(client):
    body = client.get("/api/auth/options").json()
    assert body["sso"] == {"name": "Single sign-on", "start_url": "/api/auth/sso/start"}
    assert body["password_signin"] is True


def test_first_sign_in_makes_the_user_maps_groups_and_admin(client, idp, db_url):
    sign_up(client, "root@example.com")  # the first account (a local admin)
    idp.add_user(IdpUser("ann", "pw-ann", "Ann@Example.com", "Ann", groups=["engineers", "omnichat-admins"]))
    idp.add_user(IdpUser("bob", "pw-bob", "bob@example.com", "Bob", groups=["engineers"]))
    ann = sign_in_via_sso(client, idp, "ann")
    assert (ann["user"]["email"], ann["user"]["role"], ann["user"]["name"]) == ("ann@example.com", "admin", "Ann")
    bob = sign_in_via_sso(client, idp, "bob")
    assert bob["user"]["role"] == "user"
    headers = {"authorization": f"Bearer {ann['access_token']}"}
    listed = {g["name"]: g for g in client.get("/api/admin/groups", headers=headers).json()}
    assert set(listed) == {"engineers", "omnichat-admins"}
    assert listed["engineers"]["source"] == "idp" and listed["engineers"]["members"] == 2
    # Bob's token works like a password sign-in's.
    me = client.get("/api/auth/me", headers={"authorization": f"Bearer {bob['access_token']}"}).json()
    assert me["email"] == "bob@example.com"
    assert ("auth.sign_in", {"method": "sso", "issuer": idp.url, "role": "admin"}) in audited(db_url)
    # The same subject next time: the same account, no second one.
    again = sign_in_via_sso(client, idp, "bob")
    assert again["user"]["id"] == bob["user"]["id"] and counts(db_url)[:2] == (3, 2)


def test_a_changed_group_claim_applies_at_the_next_sign_in(client, idp, db_url):
    sign_up(client, "root@example.com")
    carol = idp.add_user(IdpUser("carol", "pw", "carol@example.com", groups=["omnichat-admins", "sales"]))
    first = sign_in_via_sso(client, idp, "carol")
    assert first["user"]["role"] == "admin"
    carol.groups = ["support"]
    second = sign_in_via_sso(client, idp, "carol")
    assert second["user"]["role"] == "user"
    # The change is in the audit log (it was not: only the sign-in's new role was).
    assert ("user.role_changed", {"email": "carol@example.com", "role": {"from": "admin", "to": "user"},
                                  "by": "identity provider"}) in audited(db_url)
    me = client.get("/api/auth/me", headers={"authorization": f"Bearer {second['access_token']}"}).json()
    assert me["role"] == "user"
    root = client.post("/api/auth/signin", json={"email": "root@example.com", "password": PASSWORD}).json()
    groups = client.get("/api/admin/groups", headers={"authorization": f"Bearer {root['access_token']}"}).json()
    members = {g["name"]: g["members"] for g in groups}
    assert members == {"omnichat-admins": 0, "sales": 0, "support": 1}


def test_the_signup_policy_applies_to_sso_users(client, idp, db_url):
    root = sign_up(client, "root@example.com")
    idp.add_user(IdpUser("dan", "pw", "dan@example.com", groups=["x"]))
    set_policy(client, root, "approval")
    assert sign_in_via_sso(client, idp, "dan")["user"]["role"] == "pending"
    idp.add_user(IdpUser("eve", "pw", "eve@example.com", groups=["y"]))
    set_policy(client, root, "closed")
    before = counts(db_url)
    assert walk(client, idp, "eve")["sso_error"] == ["signup_closed"]
    assert counts(db_url) == before  # no account, identity or group membership left behind


@pytest.mark.parametrize("tamper", ["wrong_key", "unknown_kid", "audience", "issuer", "expired", "nonce",
                                    "alg_none", "hmac"])
def test_tampered_id_tokens_are_refused(client, idp, db_url, tamper):
    sign_up(client, "root@example.com")
    idp.add_user(IdpUser("mal", "pw", "mal@example.com", groups=["g"]))
    idp.tamper = tamper
    before = counts(db_url)
    landed = walk(client, idp, "mal")
    assert landed["sso_error"] == ["sso_token_invalid"], landed
    assert "sso" not in landed and counts(db_url) == before
    assert audited(db_url)[-1] == ("auth.sign_in_failed", {"method": "sso", "reason": "sso_token_invalid"})


def audited(db_url) -> list[tuple[str, dict]]:
    import json

    rows = lite.run(db_url, lambda db: db.execute("SELECT action, details FROM audit ORDER BY at, id").fetchall())
    return [(a, d if isinstance(d, dict) else json.loads(d)) for a, d in rows]


def test_a_rotated_key_is_fetched_once_and_accepted(client, idp, monkeypatch):
    monkeypatch.setattr(sso, "JWKS_COOLDOWN_S", 0.0)  # no waiting out PyJWT's refetch cooldown
    idp.add_user(IdpUser("rot", "pw", "rot@example.com"))
    sign_in_via_sso(client, idp, "rot")
    fetched = idp.jwks_requests
    idp.rotate()  # the next tokens carry a kid the cached key set does not have
    sign_in_via_sso(client, idp, "rot")
    assert idp.jwks_requests == fetched + 1


def test_replayed_state_and_handoff_codes_are_refused(client, idp):
    idp.add_user(IdpUser("rep", "pw", "rep@example.com"))
    landed = walk(client, idp, "rep")
    r = client.get(landed["_callback"][0], follow_redirects=False)  # the same state again
    assert parse_qs(urlsplit(r.headers["location"]).query)["sso_error"] == ["sso_state_invalid"]
    code = landed["sso"][0]
    assert client.post("/api/auth/sso/exchange", json={"code": code}).status_code == 200
    assert_error(client.post("/api/auth/sso/exchange", json={"code": code}), 400, "sso_code_invalid")
    assert_error(client.post("/api/auth/sso/exchange", json={"code": "made-up"}), 400, "sso_code_invalid")
    r = client.get("/api/auth/sso/callback?state=forged&code=x", follow_redirects=False)
    assert parse_qs(urlsplit(r.headers["location"]).query)["sso_error"] == ["sso_state_invalid"]


def test_a_cancelled_sign_in_says_so(client, idp):
    r = client.get("/api/auth/sso/start", follow_redirects=False)
    state = parse_qs(urlsplit(r.headers["location"]).query)["state"][0]
    r = client.get(f"/api/auth/sso/callback?state={state}&error=access_denied", follow_redirects=False)
    assert parse_qs(urlsplit(r.headers["location"]).query)["sso_error"] == ["sso_denied"]


def test_sign_ins_begun_from_one_address_are_throttled(sso_settings, idp, db_url):
    """Each start keeps a state row until it is used or expires: past the address's budget
    the browser goes back to the page with the reason and no row is written."""
    def states() -> int:
        return lite.run(db_url, lambda db: db.execute("SELECT COUNT(*) FROM sso_states").fetchone()[0])

    with _app_with(sso_settings, sso_max_starts_per_address=3) as c:
        for _ in range(3):
            r = c.get("/api/auth/sso/start", follow_redirects=False)
            assert r.headers["location"].startswith(f"{idp.url}/authorize?")
        assert states() == 3
        r = c.get("/api/auth/sso/start", follow_redirects=False)
        assert r.status_code == 302 and urlsplit(r.headers["location"]).path == "/"
        assert parse_qs(urlsplit(r.headers["location"]).query)["sso_error"] == ["sso_throttled"]
        assert states() == 3 and "set-cookie" not in r.headers


def test_a_password_sign_in_as_an_sso_account_costs_a_full_check(monkeypatch):
    """An account made by single sign-on has no password hash; refusing a password for it at
    once, while an unknown email costs a whole argon2 check, would tell who signs in that way."""
    from omnichat.auth import passwords
    from omnichat.auth.sso_users import NO_PASSWORD

    real, checked = passwords._hasher(), []

    class Counting:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, password_hash: str, password: str) -> bool:
            checked.append(password_hash)
            return real.verify(password_hash, password)

    monkeypatch.setattr(passwords, "_hasher", lambda: Counting())
    assert passwords.verify_password(NO_PASSWORD, "a guess") is False
    assert checked == [passwords.dummy_hash()]


def _app_with(settings, **changes) -> TestClient:
    from omnichat.api.app import create_app

    sso.forget_issuers()
    return TestClient(app_for(create_app, settings.with_overrides(**changes)))


def test_an_unknown_issuer_and_a_wrong_secret_are_clear_errors(sso_settings, idp, db_url):
    with _app_with(sso_settings, oidc_issuer=f"{idp.url}/no-such-realm") as c:
        r = c.get("/api/auth/sso/start", follow_redirects=False)
        assert parse_qs(urlsplit(r.headers["location"]).query)["sso_error"] == ["sso_misconfigured"]
    idp.add_user(IdpUser("sec", "pw", "sec@example.com"))
    with _app_with(sso_settings, oidc_client_secret="wrong") as c:
        before = counts(db_url)
        assert walk(c, idp, "sec")["sso_error"] == ["sso_misconfigured"]
        assert counts(db_url) == before


def test_issuer_down_and_the_break_glass_admin(sso_settings, idp):
    with _app_with(sso_settings, password_signin=False) as c:
        sign_up(c, "root@example.com")  # the first account: the break-glass admin
        idp.down = True
        r = c.get("/api/auth/sso/start", follow_redirects=False)
        assert parse_qs(urlsplit(r.headers["location"]).query)["sso_error"] == ["sso_unavailable"]
        assert c.get("/api/auth/options").json()["password_signin"] is False
        # Password sign-up is off once an account exists; the admin still signs in.
        assert_error(c.post("/api/auth/signup", json={"email": "late@example.com", "password": PASSWORD}),
                     403, "password_signin_disabled")
        r = c.post("/api/auth/signin", json={"email": "root@example.com", "password": PASSWORD})
        assert r.status_code == 200, r.text


def test_password_sign_in_off_refuses_other_accounts(sso_settings, idp):
    with _app_with(sso_settings) as c:
        sign_up(c, "root@example.com")
        sign_up(c, "user@example.com")
    with _app_with(sso_settings, password_signin=False, break_glass_emails="root@example.com") as c:
        assert_error(c.post("/api/auth/signin", json={"email": "user@example.com", "password": PASSWORD}),
                     403, "password_signin_disabled")
        # A wrong password is still the usual answer (nothing tells which accounts exist).
        assert_error(c.post("/api/auth/signin", json={"email": "user@example.com", "password": "nope nope"}),
                     401, "invalid_credentials")
        assert c.post("/api/auth/signin", json={"email": "root@example.com", "password": PASSWORD}).status_code == 200


def test_not_configured_is_a_clear_404(settings):
    with _app_with(settings) as c:
        assert_error(c.get("/api/auth/sso/start", follow_redirects=False), 404, "sso_not_configured")
        assert c.get("/api/auth/options").json()["sso"] is None


def _callback_url(client: TestClient, idp: Issuer, username: str) -> str:
    """Start in `client`'s browser and sign in at the issuer: the callback URL, not followed."""
    r = client.get("/api/auth/sso/start", follow_redirects=False)
    params = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["location"]).query).items()}
    back = urlsplit(httpx.post(f"{idp.url}/authorize", data={**params, "username": username,
                                                             "password": idp.users[username].password}
                               ).headers["location"])
    return f"{back.path}?{back.query}"


def test_a_callback_from_another_browser_is_refused(app, idp, db_url):
    """Login CSRF: someone signs in as themselves, stops before the callback and sends its
    URL to a victim. The victim's browser did not start that sign-in (no state cookie):
    refused, so the victim cannot end up working in the sender's account."""
    idp.add_user(IdpUser("mallory", "pw", "mallory@example.com"))
    with TestClient(app) as attacker, TestClient(app) as victim:
        r = attacker.get("/api/auth/sso/start", follow_redirects=False)
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/api/auth/sso" in cookie
        link = _callback_url(attacker, idp, "mallory")
        before = counts(db_url)
        r = victim.get(link, follow_redirects=False)
        assert parse_qs(urlsplit(r.headers["location"]).query)["sso_error"] == ["sso_state_invalid"]
        assert counts(db_url) == before
        victim.cookies.set("omnichat_sso_state", "someone-elses-state", path="/api/auth/sso")
        r = victim.get(link, follow_redirects=False)
        assert parse_qs(urlsplit(r.headers["location"]).query)["sso_error"] == ["sso_state_invalid"]
        # The browser that started it still finishes (the victim's tries did not use it up).
        r = attacker.get(link, follow_redirects=False)
        assert "sso" in parse_qs(urlsplit(r.headers["location"]).query), r.headers["location"]
    assert audited(db_url)[-3:-1] == [("auth.sign_in_failed", {"method": "sso", "reason": "sso_state_invalid"})] * 2
    assert audited(db_url)[-1][0] == "auth.sign_in"


@pytest.mark.parametrize("claims", [
    {"sub": ""}, {"sub": "   "}, {"sub": 12345}, {"sub": "s" * 256},  # no usable subject
    {"iat": 4102444800, "exp": 4102448400},  # issued in 2100
    {"aud": ["omnichat", "other"], "azp": "other"}, {"aud": ["omnichat", "other"]},  # azp not this client
], ids=["empty-sub", "blank-sub", "int-sub", "long-sub", "future-iat", "azp-other", "azp-missing"])
def test_id_tokens_with_bad_claims_are_refused(client, idp, db_url, monkeypatch, claims):
    """Two accounts whose tokens both had an empty `sub` were one identity: the second
    person signed into the first one's account."""
    sign_up(client, "root@example.com")
    made = idp.id_token
    monkeypatch.setattr(idp, "id_token", lambda user, nonce: made(user, nonce, **claims))
    idp.add_user(IdpUser("odd", "pw", "odd@example.com"))
    before = counts(db_url)
    landed = walk(client, idp, "odd")
    assert landed.get("sso_error") == ["sso_token_invalid"], landed
    assert counts(db_url) == before


def test_two_first_sign_ins_at_once_make_one_account(settings, db_url):
    """Two callbacks of one new person at once: the second failed on the unique email (a
    500) instead of finding the account the first made. On PostgreSQL (SQLite runs one
    writer at a time: there is no race there)."""
    import threading

    from omnichat.auth import sso_users

    if db_url.startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time")
    claims = {"sub": "twice", "email": "twice@example.com", "email_verified": True, "groups": ["g"]}
    made, release, results = threading.Event(), threading.Event(), {}

    def first(db: lite.Db) -> str:
        user = sso_users.sign_in(db, settings, "https://issuer.example", claims)
        made.set()
        release.wait(30)  # not committed until the second sign-in is under way
        return user.id

    def run(name: str, work) -> None:  # type: ignore[no-untyped-def]
        try:
            results[name] = lite.run(db_url, work)
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            results[name] = exc

    one = threading.Thread(target=run, args=("first", first))
    one.start()
    assert made.wait(30)
    two = threading.Thread(target=run, args=("second", lambda db: sso_users.sign_in(
        db, settings, "https://issuer.example", claims).id))
    two.start()
    two.join(0.5)  # time for the second to reach the lock (before, the unique index), then let the first commit
    release.set()
    one.join(30)
    two.join(30)
    assert results["first"] == results["second"], results
    assert counts(db_url)[:2] == (1, 1)
