"""Groups over REST (/api/admin/groups): create, rename, delete, members; bad input gets a
clear 4xx and changes nothing; groups synced from the identity provider refuse manual
membership edits; `group_ids` (what budgets read) follows membership."""

from __future__ import annotations

from omnichat.auth import groups
from omnichat.db import lite
from tests.helpers import assert_error, sign_up


def _setup(client):
    admin = sign_up(client, "admin@example.com")
    alice = sign_up(client, "alice@example.com")
    bob = sign_up(client, "bob@example.com")
    return admin, alice, bob


def _ids(db_url: str, user_id: str) -> list[str]:
    with lite.transaction(db_url) as db:
        return groups.group_ids(db, user_id)


def test_create_rename_members_delete(client, db_url):
    admin, alice, bob = _setup(client)
    h = admin.headers
    r = client.post("/api/admin/groups", json={"name": "  Research   team "}, headers=h)
    assert r.status_code == 201, r.text
    group = r.json()
    assert (group["name"], group["source"], group["members"]) == ("Research team", "local", 0)
    gid = group["id"]
    for user in (alice, bob, alice):  # adding twice is no error and no duplicate
        assert client.post(f"/api/admin/groups/{gid}/members", json={"user_id": user.id}, headers=h).status_code == 204
    members = client.get(f"/api/admin/groups/{gid}/members", headers=h).json()
    assert [m["email"] for m in members] == ["alice@example.com", "bob@example.com"]
    assert _ids(db_url, alice.id) == [gid]
    r = client.patch(f"/api/admin/groups/{gid}", json={"name": "Research"}, headers=h)
    assert r.json()["name"] == "Research" and r.json()["members"] == 2
    assert client.delete(f"/api/admin/groups/{gid}/members/{bob.id}", headers=h).status_code == 204
    assert _ids(db_url, bob.id) == []
    assert [g["members"] for g in client.get("/api/admin/groups", headers=h).json()] == [1]
    assert client.delete(f"/api/admin/groups/{gid}", headers=h).status_code == 204
    assert client.get("/api/admin/groups", headers=h).json() == []
    assert _ids(db_url, alice.id) == []
    actions = lite.run(db_url, lambda db: [r[0] for r in db.execute(
        "SELECT action FROM audit WHERE action LIKE 'group.%' ORDER BY at, id").fetchall()])
    assert actions == ["group.created", "group.member_added", "group.member_added", "group.member_added",
                       "group.renamed", "group.member_removed", "group.deleted"]


def test_bad_input_is_refused_and_changes_nothing(client):
    admin, alice, _ = _setup(client)
    h = admin.headers
    gid = client.post("/api/admin/groups", json={"name": "Ops"}, headers=h).json()["id"]
    # Blank or too long: refused by the schema (422, naming the field), as the document says.
    assert_error(client.post("/api/admin/groups", json={"name": "   "}, headers=h), 422, "validation_error")
    assert_error(client.post("/api/admin/groups", json={"name": "x" * 101}, headers=h), 422, "validation_error")
    assert_error(client.post("/api/admin/groups", json={"name": "ops"}, headers=h), 409, "group_name_taken")
    assert client.post("/api/admin/groups", json={"name": 7}, headers=h).status_code == 422
    assert client.post("/api/admin/groups", json={"name": "a", "extra": 1}, headers=h).status_code == 422
    other = client.post("/api/admin/groups", json={"name": "Dev"}, headers=h).json()["id"]
    assert_error(client.patch(f"/api/admin/groups/{other}", json={"name": "OPS"}, headers=h), 409, "group_name_taken")
    assert_error(client.patch("/api/admin/groups/nope", json={"name": "Z"}, headers=h), 404, "group_not_found")
    assert_error(client.delete("/api/admin/groups/nope", headers=h), 404, "group_not_found")
    assert_error(client.post(f"/api/admin/groups/{gid}/members", json={"user_id": "nobody"}, headers=h),
                 404, "user_not_found")
    assert_error(client.post("/api/admin/groups/nope/members", json={"user_id": alice.id}, headers=h),
                 404, "group_not_found")
    assert sorted(g["name"] for g in client.get("/api/admin/groups", headers=h).json()) == ["Dev", "Ops"]
    assert client.get(f"/api/admin/groups/{gid}/members", headers=h).json() == []


def test_idp_groups_are_synced_not_edited(client, db_url):
    admin, alice, bob = _setup(client)
    h = admin.headers
    local = client.post("/api/admin/groups", json={"name": "engineers"}, headers=h).json()["id"]
    client.post(f"/api/admin/groups/{local}/members", json={"user_id": alice.id}, headers=h)
    with lite.transaction(db_url) as db:
        after = groups.sync_from_claim(db, alice.id, ["engineers", "admins-x", " "])
    listed = {g["external_id"]: g for g in client.get("/api/admin/groups", headers=h).json()}
    assert set(listed) == {None, "engineers", "admins-x"}
    # An IdP group whose name is a local group's gets a distinct name; the local group stays.
    assert listed["engineers"]["name"] == "engineers (IdP)" and listed["engineers"]["source"] == "idp"
    assert sorted(after) == sorted([local, listed["engineers"]["id"], listed["admins-x"]["id"]])
    synced = listed["admins-x"]["id"]
    assert_error(client.post(f"/api/admin/groups/{synced}/members", json={"user_id": bob.id}, headers=h),
                 409, "group_synced")
    assert_error(client.delete(f"/api/admin/groups/{synced}/members/{alice.id}", headers=h), 409, "group_synced")
    # The claim changed: the next sync drops the IdP group it no longer names, keeps the local one.
    with lite.transaction(db_url) as db:
        after = groups.sync_from_claim(db, alice.id, ["engineers"])
    assert sorted(after) == sorted([local, listed["engineers"]["id"]])
    # A synced group may be renamed (its claim value stays what matches it).
    r = client.patch(f"/api/admin/groups/{synced}", json={"name": "Admins"}, headers=h)
    assert r.json()["external_id"] == "admins-x"


def test_claim_values_whose_names_are_taken_still_sync(client, db_url):
    """A local group named `eng` and one named `eng (IdP)`, and claim values differing only
    in case: the sign-in's sync failed (409 group_name_taken) instead of naming them apart."""
    admin, alice, _ = _setup(client)
    for name in ("eng", "eng (IdP)"):
        assert client.post("/api/admin/groups", json={"name": name}, headers=admin.headers).status_code == 201
    long = "x" * 120
    with lite.transaction(db_url) as db:
        after = groups.sync_from_claim(db, alice.id, ["eng", "ENG", "Eng", long, long + "y"])
    listed = {g["external_id"]: g["name"] for g in client.get("/api/admin/groups", headers=admin.headers).json()
              if g["source"] == "idp"}
    assert len(after) == 5 and len(set(listed.values())) == 5
    assert {listed["eng"], listed["ENG"], listed["Eng"]} == {"ENG (IdP 2)", "Eng (IdP 3)", "eng (IdP 4)"}
    assert {listed[long], listed[long + "y"]} == {"x" * 100, "x" * 94 + " (IdP)"}


def test_deleting_a_group_or_a_user_or_revoking_a_key_deletes_their_budgets(client):
    """Budgets name their subject without a foreign key: a deleted group's, user's or
    user's key's budget stayed in the admin's list of budgets, for nothing."""
    admin, alice, _ = _setup(client)
    h = admin.headers
    gid = client.post("/api/admin/groups", json={"name": "Spenders"}, headers=h).json()["id"]
    key = client.post("/api/keys", json={"name": "k"}, headers=alice.headers).json()["id"]
    for path in (f"groups/{gid}", f"users/{alice.id}", f"keys/{key}"):
        r = client.put(f"/api/admin/budgets/{path}", json={"tokens_per_day": 1000}, headers=h)
        assert r.status_code == 200, r.text

    def budgeted() -> set[tuple[str, str]]:
        return {(b["scope"], b["subject_id"]) for b in client.get("/api/admin/budgets", headers=h).json()}

    assert budgeted() == {("group", gid), ("user", alice.id), ("key", key)}
    revoked = client.post("/api/keys", json={"name": "gone"}, headers=alice.headers).json()["id"]
    assert client.put(f"/api/admin/budgets/keys/{revoked}", json={"tokens_per_day": 1}, headers=h).status_code == 200
    assert client.delete(f"/api/keys/{revoked}", headers=alice.headers).status_code == 204
    assert budgeted() == {("group", gid), ("user", alice.id), ("key", key)}  # a revoked key's budget goes with it
    assert client.delete(f"/api/admin/groups/{gid}", headers=h).status_code == 204
    assert budgeted() == {("user", alice.id), ("key", key)}
    assert client.delete(f"/api/admin/users/{alice.id}", headers=h).status_code == 204
    assert budgeted() == set()


def test_deleting_a_group_takes_it_out_of_the_models_shown_to_it(client, db_url):
    """The model's settings kept the deleted group's id: the admin page showed a group that
    is gone, and sending the model's groups back was refused (400 group_not_found)."""
    from omnichat.catalog import catalog

    assert groups.MODEL_SETTINGS == catalog.KEY_PREFIX
    admin, _, _ = _setup(client)
    gone, kept = (client.post("/api/admin/groups", json={"name": n}, headers=admin.headers).json()["id"]
                  for n in ("Gone", "Kept"))
    model = "ollama/shared:latest"
    lite.run(db_url, lambda db: catalog.save_model_settings(
        db, model, catalog.ModelSettings(visibility="groups", groups=[gone, kept])))
    assert client.delete(f"/api/admin/groups/{gone}", headers=admin.headers).status_code == 204
    after = lite.run(db_url, lambda db: catalog.model_settings(db, model))
    assert (after.visibility, after.groups) == ("groups", [kept])
