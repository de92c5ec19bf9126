"""Knowledge collections over REST: made, renamed, described and deleted (with their files
and stored bytes) by their owner; shared read-only with a group the owner belongs to (an
admin: any group); a group member reads the collection, its files, their content and
passages but changes nothing; everyone else, admins included, finds nothing."""

from __future__ import annotations

import pytest

from omnichat.db import lite
from omnichat.documents import queue
from omnichat.ids import new_id
from tests.helpers import assert_error, sign_up


@pytest.fixture(autouse=True)
def no_indexer(monkeypatch):
    monkeypatch.setattr(queue, "enqueue", lambda settings, file_id: None)


@pytest.fixture
def people(client):
    """An admin, alice and bob in the group "lab", eve in none."""
    admin, alice, bob, eve = (sign_up(client, f"{n}@example.com") for n in ("admin", "alice", "bob", "eve"))
    lab = client.post("/api/admin/groups", json={"name": "lab"}, headers=admin.headers).json()["id"]
    for member in (alice, bob):
        assert client.post(f"/api/admin/groups/{lab}/members", json={"user_id": member.id},
                           headers=admin.headers).status_code == 204
    return admin, alice, bob, eve, lab


def collection(client, who, name, **extra):
    r = client.post("/api/collections", json={"name": name, **extra}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def add_file(client, who, collection_id, name="a.txt", data=b"some text"):
    r = client.post("/api/files", files={"file": (name, data)}, data={"collection_id": collection_id},
                    headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_collection_is_made_renamed_and_described(client, people):
    _, alice, *_ = people
    made = collection(client, alice, "  Research   papers ", description="  Reading list ")
    assert made["name"] == "Research papers" and made["description"] == "Reading list"
    assert made["owned"] is True and made["file_count"] == 0 and made["groups"] == []
    assert_error(client.post("/api/collections", json={"name": "Research papers"}, headers=alice.headers), 409,
                 "collection_exists")
    assert_error(client.post("/api/collections", json={"name": "   "}, headers=alice.headers), 400,
                 "invalid_collection_name")
    assert client.post("/api/collections", json={"name": ""}, headers=alice.headers).status_code == 422
    assert client.post("/api/collections", json={"name": "x", "extra": 1}, headers=alice.headers).status_code == 422
    other = collection(client, alice, "Another")
    assert_error(client.patch(f"/api/collections/{other['id']}", json={"name": "Research papers"},
                              headers=alice.headers), 409, "collection_exists")
    renamed = client.patch(f"/api/collections/{made['id']}", json={"name": "Papers"}, headers=alice.headers).json()
    assert renamed["name"] == "Papers" and renamed["description"] == "Reading list"
    cleared = client.patch(f"/api/collections/{made['id']}", json={"description": None}, headers=alice.headers).json()
    assert cleared["name"] == "Papers" and cleared["description"] is None
    assert client.patch(f"/api/collections/{made['id']}", json={"name": None}, headers=alice.headers).status_code == 422
    add_file(client, alice, made["id"])
    listed = client.get("/api/collections", headers=alice.headers).json()["collections"]
    assert [(c["name"], c["file_count"]) for c in listed] == [("Another", 0), ("Papers", 1)]
    assert client.get(f"/api/collections/{made['id']}", headers=alice.headers).json()["file_count"] == 1


def test_deleting_a_collection_deletes_its_files(client, people, settings, db_url):
    _, alice, *_ = people
    made = collection(client, alice, "Doomed")
    inside = [add_file(client, alice, made["id"], f"{n}.txt") for n in range(3)]
    kept = client.post("/api/files", files={"file": ("kept.txt", b"kept")}, headers=alice.headers).json()
    lite.run(db_url, lambda db: db.insert("chunks", {"id": new_id(), "file_id": inside[0]["id"], "ordinal": 0,
                                                     "text": "x"}))
    assert client.delete(f"/api/collections/{made['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/collections/{made['id']}", headers=alice.headers), 404, "collection_not_found")
    assert [f["id"] for f in client.get("/api/files", headers=alice.headers).json()["files"]] == [kept["id"]]
    stored = settings.home / "files" / "files" / alice.id
    assert sorted(p.name for p in stored.iterdir()) == [kept["id"]]
    assert lite.run(db_url, lambda db: db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]) == 0


def test_a_group_member_reads_a_shared_collection_and_changes_nothing(client, people, db_url):
    _, alice, bob, eve, lab = people
    made = collection(client, alice, "Lab notes")
    doc = add_file(client, alice, made["id"], "notes.txt", b"The lab's notes.")
    chunk = new_id()
    lite.run(db_url, lambda db: db.insert("chunks", {"id": chunk, "file_id": doc["id"], "ordinal": 0,
                                                     "text": "The lab's notes."}))
    assert_error(client.get(f"/api/collections/{made['id']}", headers=bob.headers), 404, "collection_not_found")

    shared = client.put(f"/api/collections/{made['id']}/groups/{lab}", headers=alice.headers)
    assert shared.status_code == 200 and shared.json()["groups"] == [lab]
    assert client.put(f"/api/collections/{made['id']}/groups/{lab}", headers=alice.headers).json()["groups"] == [lab]

    seen = client.get("/api/collections", headers=bob.headers).json()["collections"]
    assert [(c["id"], c["owned"], c["groups"], c["file_count"]) for c in seen] == [(made["id"], False, [], 1)]
    files = client.get("/api/files", params={"collection_id": made["id"]}, headers=bob.headers).json()["files"]
    assert [f["id"] for f in files] == [doc["id"]]
    assert client.get("/api/files", headers=bob.headers).json()["files"] == []  # not among bob's own
    assert client.get(f"/api/files/{doc['id']}", headers=bob.headers).json()["name"] == "notes.txt"
    assert client.get(f"/api/files/{doc['id']}/content", headers=bob.headers).content == b"The lab's notes."
    assert client.get(f"/api/files/{doc['id']}/passages/{chunk}", headers=bob.headers).json()["text"] == \
        "The lab's notes."

    # Read only.
    assert_error(client.delete(f"/api/files/{doc['id']}", headers=bob.headers), 403, "read_only")
    assert_error(client.post(f"/api/files/{doc['id']}/complete", headers=bob.headers), 403, "read_only")
    r = client.post("/api/files", files={"file": ("mine.txt", b"bob's")}, data={"collection_id": made["id"]},
                    headers=bob.headers)
    assert_error(r, 403, "read_only")
    assert_error(client.post("/api/files/uploads", json={"name": "b.txt", "size": 3, "collection_id": made["id"]},
                             headers=bob.headers), 403, "read_only")
    assert_error(client.patch(f"/api/collections/{made['id']}", json={"name": "Bob's"}, headers=bob.headers), 403,
                 "read_only")
    assert_error(client.delete(f"/api/collections/{made['id']}", headers=bob.headers), 403, "read_only")
    assert_error(client.delete(f"/api/collections/{made['id']}/groups/{lab}", headers=bob.headers), 403, "read_only")
    assert client.get(f"/api/collections/{made['id']}", headers=alice.headers).json()["file_count"] == 1

    # Not in the group: nothing is there.
    for path in (f"/api/collections/{made['id']}", f"/api/files/{doc['id']}", f"/api/files/{doc['id']}/content"):
        assert_error(client.get(path, headers=eve.headers), 404)
    assert_error(client.get("/api/files", params={"collection_id": made["id"]}, headers=eve.headers), 404)

    # Unshared, or out of the group: at once, nothing either.
    assert client.delete(f"/api/collections/{made['id']}/groups/{lab}", headers=alice.headers).json()["groups"] == []
    assert_error(client.get(f"/api/files/{doc['id']}", headers=bob.headers), 404, "file_not_found")
    client.put(f"/api/collections/{made['id']}/groups/{lab}", headers=alice.headers)
    assert client.get(f"/api/files/{doc['id']}", headers=bob.headers).status_code == 200
    admin = people[0]
    client.delete(f"/api/admin/groups/{lab}/members/{bob.id}", headers=admin.headers)
    assert_error(client.get(f"/api/collections/{made['id']}", headers=bob.headers), 404, "collection_not_found")


def test_who_may_share_with_which_group(client, people):
    admin, alice, _, eve, lab = people
    other = client.post("/api/admin/groups", json={"name": "other"}, headers=admin.headers).json()["id"]
    made = collection(client, alice, "Mine")
    assert_error(client.put(f"/api/collections/{made['id']}/groups/{other}", headers=alice.headers), 404,
                 "group_not_found")  # a group alice is not in
    assert_error(client.put(f"/api/collections/{made['id']}/groups/nope", headers=alice.headers), 404,
                 "group_not_found")
    assert_error(client.put(f"/api/collections/{made['id']}/groups/{lab}", headers=eve.headers), 404,
                 "collection_not_found")
    # An admin has no say over another user's collection, and shares their own with any group.
    assert_error(client.put(f"/api/collections/{made['id']}/groups/{lab}", headers=admin.headers), 404,
                 "collection_not_found")
    assert_error(client.get(f"/api/collections/{made['id']}", headers=admin.headers), 404)
    own = collection(client, admin, "Admin's")
    r = client.put(f"/api/collections/{own['id']}/groups/{other}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["groups"] == [other]
    # Deleting the group ends the share.
    client.delete(f"/api/admin/groups/{other}", headers=admin.headers)
    assert client.get(f"/api/collections/{own['id']}", headers=admin.headers).json()["groups"] == []
