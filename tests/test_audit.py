"""The audit log (omnichat/audit.py, /api/admin/audit): every recorded action appears with
its actor, target, address and user agent; refused sign-ins are kept although the request
is refused; a change that rolls back leaves no entry; no secret is ever in an entry; the
export parses as CSV and JSON Lines and its pages join into the whole log; old entries go.
On SQLite and PostgreSQL (the `client` fixture runs on both)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from local.ollama import create_app as ollama_app
from local.serve import ServerThread
from omnichat import audit
from omnichat.catalog import catalog
from omnichat.db import lite
from tests.conftest import app_for
from tests.helpers import PASSWORD, Account, assert_error, at, sign_up

HOME = "198.51.100.23"  # the address the admin works from
AGENT = "AuditTest/1.0 (X11)"
TEST_MODEL = "ollama/omnichat-test:latest"


@pytest.fixture
def admin(client: TestClient) -> Account:
    return sign_up(client, "admin@example.com")


@pytest.fixture
def user(client: TestClient, admin: Account) -> Account:
    return sign_up(client, "user@example.com")


@pytest.fixture
def office(app: Any) -> TestClient:
    """The app as reached from HOME, with a browser's user agent."""
    reached = at(app, HOME)
    reached.headers["user-agent"] = AGENT
    return reached


def log(client: TestClient, admin: Account, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/api/admin/audit", params={"limit": 200, **params}, headers=admin.headers)
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


def only(entries: list[dict[str, Any]], action: str) -> dict[str, Any]:
    found = [e for e in entries if e["action"] == action]
    assert len(found) == 1, f"{action}: {[e['action'] for e in entries]}"
    return found[0]


def rows(db_url: str) -> list[dict[str, Any]]:
    """Every entry as stored, every column."""
    with lite.transaction(db_url) as db:
        return [e.as_json() for e in audit.AuditEntry.select(db, "ORDER BY at, id")]


# ---- sign-in, sign-up, sign-out ----------------------------------------------------------
def test_sign_ins_are_recorded_with_who_and_from_where(client: TestClient, office: TestClient, admin: Account,
                                                       user: Account) -> None:
    r = office.post("/api/auth/signin", json={"email": "USER@example.com", "password": PASSWORD})
    assert r.status_code == 200, r.text
    entry = log(client, admin, action="auth.sign_in", actor=user.id)[0]
    assert entry["action"] == "auth.sign_in"
    assert (entry["actor_id"], entry["actor_label"]) == (user.id, "user@example.com")
    assert (entry["target_type"], entry["target_id"]) == ("user", user.id)
    assert (entry["ip"], entry["user_agent"]) == (HOME, AGENT)
    ups = {e["actor_label"]: e for e in log(client, admin, action="auth.sign_up")}
    assert ups["admin@example.com"]["details"] == {"role": "admin"}
    assert ups["user@example.com"]["details"] == {"role": "user"}


def test_a_refused_sign_in_is_recorded_though_the_request_is_refused(client: TestClient, office: TestClient,
                                                                     admin: Account, user: Account) -> None:
    assert_error(office.post("/api/auth/signin", json={"email": user.email, "password": "wrong password"}),
                 401, "invalid_credentials")
    assert_error(office.post("/api/auth/signin", json={"email": "nobody@example.com", "password": "guess"}),
                 401, "invalid_credentials")
    failed = log(client, admin, action="auth.sign_in_failed")
    assert len(failed) == 2
    unknown, known = failed  # newest first
    assert known["actor_id"] is None and known["actor_label"] == user.email
    assert (known["target_type"], known["target_id"]) == ("user", user.id)
    assert known["details"] == {"reason": "invalid_credentials"} and known["ip"] == HOME
    assert unknown["target_id"] is None and unknown["actor_label"] == "nobody@example.com"
    assert unknown["details"] == {"reason": "unknown_account"}


def test_a_password_typed_as_the_email_is_not_recorded(client: TestClient, admin: Account) -> None:
    typed = "my secret passphrase"
    assert_error(client.post("/api/auth/signin", json={"email": typed, "password": "x"}), 401)
    entry = only(log(client, admin, action="auth.sign_in_failed"), "auth.sign_in_failed")
    assert entry["actor_label"] == "(not an email address)" and typed not in json.dumps(entry)


def test_sign_out_and_password_change_are_recorded(client: TestClient, office: TestClient, admin: Account,
                                                   user: Account) -> None:
    assert office.post("/api/auth/password", json={"current_password": PASSWORD, "new_password": "a new pass phrase"},
                       headers=user.headers).status_code == 204
    assert office.post("/api/auth/signout", headers=user.headers).status_code == 204
    entries = log(client, admin, actor=user.email)
    for action in ("auth.password_changed", "auth.sign_out"):
        entry = only(entries, action)
        assert entry["actor_id"] == user.id and entry["target_id"] == user.id and entry["ip"] == HOME


# ---- an admin's changes ------------------------------------------------------------------
def test_an_admins_user_changes_are_recorded(client: TestClient, office: TestClient, admin: Account,
                                             user: Account) -> None:
    assert client.put("/api/admin/settings", json={"signup_policy": "approval"},
                      headers=admin.headers).status_code == 200
    pending = sign_up(client, "pending@example.com")
    assert office.post(f"/api/admin/users/{pending.id}/approve", headers=admin.headers).status_code == 200
    assert office.patch(f"/api/admin/users/{user.id}", json={"role": "admin"}, headers=admin.headers).status_code == 200
    assert office.patch(f"/api/admin/users/{user.id}", json={"role": "admin"}, headers=admin.headers).status_code == 200
    assert office.delete(f"/api/admin/users/{pending.id}", headers=admin.headers).status_code == 204
    entries = log(client, admin, actor=admin.id)
    approved = only(entries, "user.approved")
    assert approved["target_id"] == pending.id and approved["details"]["role"] == {"from": "pending", "to": "user"}
    changed = only(entries, "user.role_changed")  # the second PATCH changed nothing: not recorded
    assert changed["target_id"] == user.id and changed["details"] == {
        "email": user.email, "role": {"from": "user", "to": "admin"}}
    deleted = only(entries, "user.deleted")
    assert deleted["details"] == {"email": "pending@example.com", "role": "user"}
    assert {e["ip"] for e in (approved, changed, deleted)} == {HOME}
    policy = only(entries, "settings.changed")
    assert policy["details"] == {"signup_policy": {"from": "open", "to": "approval"}}
    assert policy["actor_label"] == "admin@example.com"


def test_model_settings_presets_and_keys_are_recorded(client: TestClient, admin: Account, user: Account) -> None:
    r = client.patch(f"/api/models/{TEST_MODEL}", json={"visibility": "admins", "display_name": "Test"},
                     headers=admin.headers)
    assert r.status_code == 200, r.text
    changed = only(log(client, admin), "model.settings_changed")
    assert (changed["target_type"], changed["target_id"]) == ("model", TEST_MODEL)
    assert changed["details"] == {"visibility": {"from": "everyone", "to": "admins"},
                                  "display_name": {"from": None, "to": "Test"}}

    r = client.post("/api/admin/presets", headers=admin.headers,
                    json={"slug": "helper", "name": "Helper", "base_model": TEST_MODEL, "system_prompt": "Be brief."})
    assert r.status_code == 201, r.text
    preset_id = r.json()["id"]
    assert client.patch(f"/api/admin/presets/{preset_id}", json={"name": "Helpful"},
                        headers=admin.headers).status_code == 200
    assert client.delete(f"/api/admin/presets/{preset_id}", headers=admin.headers).status_code == 204
    entries = log(client, admin, action="preset.", target=preset_id)
    assert only(entries, "preset.created")["details"]["system_prompt"] == "Be brief."
    assert only(entries, "preset.updated")["details"] == {"slug": "helper", "name": {"from": "Helper", "to": "Helpful"}}
    assert only(entries, "preset.deleted")["details"] == {"slug": "helper", "name": "Helpful"}

    r = client.post("/api/keys", json={"name": "laptop"}, headers=user.headers)
    assert r.status_code == 201, r.text
    key = r.json()
    assert client.delete(f"/api/keys/{key['id']}", headers=user.headers).status_code == 204
    entries = log(client, admin, action="key.", actor=user.id)
    for action in ("key.created", "key.revoked"):
        entry = only(entries, action)
        assert entry["target_id"] == key["id"] and entry["details"] == {"name": "laptop", "prefix": key["prefix"]}
    assert key["key"] not in json.dumps(entries)


@pytest.fixture
def ollama_own(tmp_path: Any) -> Iterator[ServerThread]:
    with ServerThread(ollama_app(tmp_path / "models", deterministic=True)) as server:
        yield server


def test_models_created_pulled_and_deleted_are_recorded(settings: Any, ollama_own: ServerThread) -> None:
    from omnichat.api.app import create_app

    catalog.invalidate_cache()
    with TestClient(app_for(create_app, settings.with_overrides(ollama_host=ollama_own.url))) as client:
        admin = sign_up(client, "admin@example.com")
        r = client.post("/api/models/create", headers=admin.headers,
                        json={"model": "ollama/made:latest", "from": TEST_MODEL, "system": "Be terse."})
        assert r.status_code == 201, r.text
        assert client.post("/api/models/pull", json={"model": "ollama/no-such:1b"},
                           headers=admin.headers).status_code == 200
        assert client.delete("/api/models/ollama/made:latest", headers=admin.headers).status_code == 204
        assert_error(client.delete("/api/models/ollama/made:latest", headers=admin.headers), 404)
        entries = log(client, admin, action="model.")
    catalog.invalidate_cache()
    created = only(entries, "model.created")
    assert created["target_id"] == "ollama/made:latest"
    assert created["details"] == {"from": TEST_MODEL, "parameters": {}, "system_prompt": True}
    assert only(entries, "model.pull_started")["target_id"] == "ollama/no-such:1b"
    assert only(entries, "model.deleted")["target_id"] == "ollama/made:latest"  # the refused second one: none


# ---- transactions ------------------------------------------------------------------------
def test_a_refused_change_leaves_no_entry(client: TestClient, admin: Account, db_url: str) -> None:
    assert_error(client.patch(f"/api/admin/users/{admin.id}", json={"role": "user"}, headers=admin.headers),
                 409, "last_admin")
    assert_error(client.delete("/api/admin/users/no-such-user", headers=admin.headers), 404)
    assert_error(client.put("/api/admin/audit/settings", json={"retention_days": 0}, headers=admin.headers), 422)
    assert [e["action"] for e in rows(db_url)] == ["auth.sign_up", "auth.sign_in"]


class _Failed(Exception):
    pass


def test_an_entry_commits_and_rolls_back_with_its_change(db_url: str) -> None:
    def change(db: lite.Db, fail: bool) -> None:
        db.execute("INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)", f"k{fail}", {"value": 1},
                   lite.utcnow())
        audit.record(db, audit.SYSTEM, "settings.changed", target=("settings", f"k{fail}"))
        if fail:
            raise _Failed

    with pytest.raises(_Failed):
        lite.run(db_url, lambda db: change(db, True))
    lite.run(db_url, lambda db: change(db, False))
    assert [(e["action"], e["target_id"], e["actor_label"]) for e in rows(db_url)] == [
        ("settings.changed", "kFalse", "system")]


# ---- secrets -----------------------------------------------------------------------------
def test_no_secret_is_in_any_entry(client: TestClient, app: Any, db_url: str) -> None:
    admin = sign_up(client, "admin@example.com", password="first secret passphrase")
    secrets = ["first secret passphrase", "a wrong passphrase", "the second passphrase", admin.token]
    assert_error(client.post("/api/auth/signin", json={"email": admin.email, "password": "a wrong passphrase"}), 401)
    assert client.post("/api/auth/password", headers=admin.headers, json={
        "current_password": "first secret passphrase", "new_password": "the second passphrase"}).status_code == 204
    r = client.post("/api/auth/signin", json={"email": admin.email, "password": "the second passphrase"})
    admin = Account(admin.id, admin.email, "admin", r.json()["access_token"])
    secrets.append(admin.token)
    key = client.post("/api/keys", json={"name": "ci"}, headers=admin.headers).json()
    secrets.append(key["key"])
    ticket = client.post("/api/auth/ws-ticket", headers={"authorization": f"Bearer {key['key']}"}).json()["ticket"]
    secrets += [ticket, app.state.settings.jwt_secret]
    assert client.delete(f"/api/keys/{key['id']}", headers=admin.headers).status_code == 204
    assert client.post("/api/auth/signout", headers=admin.headers).status_code == 204
    stored = rows(db_url)
    assert {"auth.sign_in_failed", "auth.password_changed", "key.created", "key.revoked", "auth.sign_out"} <= {
        e["action"] for e in stored}
    for entry in stored:
        for name, value in entry.items():
            text = json.dumps(value)
            assert not [s for s in secrets if s in text], f"a secret in {entry['action']}.{name}"


def test_secret_sounding_details_are_redacted() -> None:
    scrubbed = audit.scrub({"name": "x", "password": "p", "nested": {"client_secret": "s", "token_count": 3,
                                                                       "max_tokens": 5, "key_hash": "h"},
                            "items": [{"api_key": "k"}], "note": "y" * 600})
    redacted = (scrubbed["password"], scrubbed["nested"]["client_secret"], scrubbed["items"][0]["api_key"])
    assert redacted == ("[redacted]",) * 3
    assert scrubbed["nested"]["key_hash"] == "[redacted]" and scrubbed["nested"]["max_tokens"] == 5
    assert scrubbed["name"] == "x" and len(scrubbed["note"]) < 600


# ---- reading, filters, export ------------------------------------------------------------
def test_only_admins_read_the_log(client: TestClient, admin: Account, user: Account) -> None:
    for path in ("/api/admin/audit", "/api/admin/audit/export", "/api/admin/audit/settings"):
        assert_error(client.get(path, headers=user.headers), 403)
        assert_error(client.get(path), 401)


def _many(db_url: str, count: int) -> None:
    def work(db: lite.Db) -> None:
        for n in range(count):
            audit.record(db, audit.Origin(user_id=None, label=f"bot{n % 3}@example.com", address="192.0.2.1"),
                         "settings.changed" if n % 2 else "user.role_changed", target=("thing", str(n)),
                         details={"n": n})
    lite.run(db_url, work)


def test_pages_are_newest_first_and_join_into_the_whole_log(client: TestClient, admin: Account, db_url: str) -> None:
    _many(db_url, 23)
    seen, cursor = [], None
    while True:
        page = {"limit": 5, "action": "user.", **({"cursor": cursor} if cursor else {})}
        r = client.get("/api/admin/audit", params=page, headers=admin.headers)
        assert r.status_code == 200, r.text
        seen += r.json()["entries"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert [e["details"]["n"] for e in seen] == list(range(22, -1, -2))
    assert [e["target_id"] for e in log(client, admin, actor="bot1@example.com")] == ["22", "19", "16", "13", "10",
                                                                                        "7", "4", "1"]
    newest = seen[0]["at"]
    assert [e["details"]["n"] for e in log(client, admin, action="user.", since=newest)] == [22]
    assert 22 not in [e["details"].get("n") for e in log(client, admin, action="user.", until=newest)]


def test_bad_filters_are_clear_errors(client: TestClient, admin: Account) -> None:
    for cursor in ("not-a-cursor", "MDAwMS0wMS0wMVQwMDowMDowMCswMTowMHx4"):  # the second: year 0 in UTC
        assert_error(client.get("/api/admin/audit", params={"cursor": cursor}, headers=admin.headers),
                     400, "invalid_cursor")
    assert_error(client.get("/api/admin/audit", params={"since": "2026-02-01", "until": "2026-01-01"},
                            headers=admin.headers), 400, "invalid_range")
    for moment in ("yesterday", "0.5", "1700000000", "0001-01-01T00:00:00+01:00"):
        assert_error(client.get("/api/admin/audit", params={"since": moment}, headers=admin.headers),
                     400, "invalid_parameter")
    assert_error(client.get("/api/admin/audit", params={"limit": 0}, headers=admin.headers), 422)
    assert_error(client.get("/api/admin/audit/export", params={"format": "xml"}, headers=admin.headers), 422)


def test_the_export_parses_and_its_pages_join_into_one_file(client: TestClient, admin: Account, db_url: str) -> None:
    _many(db_url, 7)
    with lite.transaction(db_url) as db:  # a crafted label must not become a spreadsheet formula
        audit.record(db, audit.Origin(label="=HYPERLINK(\"http://x\")"), "auth.sign_in_failed")
    text, cursor = "", None
    while True:
        r = client.get("/api/admin/audit/export", params={"limit": 3, **({"cursor": cursor} if cursor else {})},
                       headers=admin.headers)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
        assert "attachment" in r.headers["content-disposition"]
        text += r.text
        cursor = r.headers.get("x-next-cursor")
        if not cursor:
            break
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 7 + 1 + 2  # the bots, the crafted one, the admin's sign-up and sign-in
    assert table[0]["actor_label"] == "'=HYPERLINK(\"http://x\")"
    assert json.loads(table[1]["details"]) == {"n": 6} and table[1]["ip"] == "192.0.2.1"

    r = client.get("/api/admin/audit/export", params={"format": "jsonl", "action": "settings."}, headers=admin.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [line["details"]["n"] for line in lines] == [5, 3, 1] and "x-next-cursor" not in r.headers
    # Exports are recorded, once each (not per page).
    assert [e["details"]["format"] for e in log(client, admin, action="audit.exported")] == ["jsonl", "csv"]


# ---- retention ---------------------------------------------------------------------------
def test_old_entries_are_deleted_now_and_then(client: TestClient, admin: Account, db_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    r = client.put("/api/admin/audit/settings", json={"retention_days": 30}, headers=admin.headers)
    assert r.status_code == 200 and r.json() == {"retention_days": 30}
    assert client.get("/api/admin/audit/settings", headers=admin.headers).json() == {"retention_days": 30}
    assert only(log(client, admin), "settings.changed")["details"] == {"retention_days": {"from": 365, "to": 30}}

    def aged(days: int) -> None:
        with lite.transaction(db_url) as db:
            entry = audit.record(db, audit.SYSTEM, "settings.changed", target=("old", str(days)))
            db.execute("UPDATE audit SET at = ? WHERE id = ?", lite.utcnow() - timedelta(days=days), entry.id)

    clock = [1_000_000.0]
    monkeypatch.setattr(audit.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(audit, "_next_cleanup", 0.0)
    aged(31)  # its own cleanup ran before it was aged
    aged(29)
    clock[0] += audit.CLEANUP_EVERY_S - 1  # within the hour: no cleanup yet
    client.post("/api/auth/signin", json={"email": admin.email, "password": PASSWORD})
    assert {e["target_id"] for e in rows(db_url) if e["target_type"] == "old"} == {"31", "29"}
    clock[0] += 1
    client.post("/api/auth/signin", json={"email": admin.email, "password": PASSWORD})
    assert {e["target_id"] for e in rows(db_url) if e["target_type"] == "old"} == {"29"}
