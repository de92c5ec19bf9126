"""Folders and tags of chats over REST: a user's folders (create, rename, delete: the chats
go back to no folder), moving chats one or many at a time, tags, filtering the listing,
export and import keeping both, and what another user cannot reach."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from omnichat.db import engine as db_engine
from tests.helpers import assert_error, sign_up


@pytest.fixture
def alice(client):
    return sign_up(client, "alice@example.com")


def new_chat(client, who, title):
    return client.post("/api/chats", json={"title": title}, headers=who.headers).json()["id"]


def folder(client, who, name):
    r = client.post("/api/folders", json={"name": name}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def titles(client, who, **params):
    r = client.get("/api/chats", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    return sorted(c["title"] for c in r.json()["chats"])


def test_folders_are_made_renamed_and_deleted_and_their_chats_stay(client, alice):
    work = folder(client, alice, "  Work   stuff ")
    assert work["name"] == "Work stuff" and work["chat_count"] == 0
    assert_error(client.post("/api/folders", json={"name": "Work stuff"}, headers=alice.headers), 409, "folder_exists")
    a, b, c = (new_chat(client, alice, t) for t in ("a", "b", "c"))
    r = client.post("/api/chats/move", json={"chat_ids": [a, b], "folder_id": work["id"]}, headers=alice.headers)
    assert r.json() == {"moved": 2}
    assert titles(client, alice, folder_id=work["id"]) == ["a", "b"]
    assert titles(client, alice, folder_id="none") == ["c"]
    assert client.get(f"/api/chats/{a}", headers=alice.headers).json()["chat"]["folder_id"] == work["id"]
    renamed = client.patch(f"/api/folders/{work['id']}", json={"name": "Job"}, headers=alice.headers).json()
    assert renamed == {**work, "name": "Job", "chat_count": 2}
    # Out of the folder again, one chat.
    client.post("/api/chats/move", json={"chat_ids": [b], "folder_id": None}, headers=alice.headers)
    assert titles(client, alice, folder_id=work["id"]) == ["a"]
    assert client.delete(f"/api/folders/{work['id']}", headers=alice.headers).status_code == 204
    assert client.get("/api/folders", headers=alice.headers).json() == []
    assert titles(client, alice) == ["a", "b", "c"] and titles(client, alice, folder_id="none") == ["a", "b", "c"]
    assert {c["folder_id"] for c in client.get("/api/chats", headers=alice.headers).json()["chats"]} == {None}


def test_tags_are_added_removed_and_filter_the_listing(client, alice):
    a, b = new_chat(client, alice, "a"), new_chat(client, alice, "b")
    assert client.put(f"/api/chats/{a}/tags/Ideas", headers=alice.headers).json() == {"tags": ["ideas"]}
    assert client.put(f"/api/chats/{a}/tags/ideas", headers=alice.headers).json() == {"tags": ["ideas"]}
    assert client.put(f"/api/chats/{a}/tags/to%20read", headers=alice.headers).json() == {"tags": ["ideas", "to read"]}
    client.put(f"/api/chats/{b}/tags/ideas", headers=alice.headers)
    assert titles(client, alice, tag="ideas") == ["a", "b"] and titles(client, alice, tag="to read") == ["a"]
    assert client.get("/api/tags", headers=alice.headers).json() == [{"tag": "ideas", "chat_count": 2},
                                                                      {"tag": "to read", "chat_count": 1}]
    assert client.delete(f"/api/chats/{a}/tags/ideas", headers=alice.headers).json() == {"tags": ["to read"]}
    assert titles(client, alice, tag="ideas") == ["b"]
    listed = {c["title"]: c["tags"] for c in client.get("/api/chats", headers=alice.headers).json()["chats"]}
    assert listed == {"a": ["to read"], "b": ["ideas"]}
    # Renaming the chat answers it with its tags, as the listing does.
    assert client.patch(f"/api/chats/{a}", json={"title": "A"}, headers=alice.headers).json()["tags"] == ["to read"]


def test_bad_input_is_a_clear_4xx_and_changes_nothing(client, alice):
    a = new_chat(client, alice, "a")
    work = folder(client, alice, "Work")
    for body in ({"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 3}, {}):
        r = client.post("/api/folders", json=body, headers=alice.headers)
        assert 400 <= r.status_code < 500 and r.json()["error"]["code"], r.text
    for body in ({"chat_ids": [], "folder_id": None}, {"chat_ids": [a] * 201, "folder_id": None},
                 {"chat_ids": [a]}, {"chat_ids": [a, "nope"], "folder_id": work["id"]},
                 {"chat_ids": [a], "folder_id": "nope"}):
        r = client.post("/api/chats/move", json=body, headers=alice.headers)
        assert r.status_code in (400, 404, 422) and r.json()["error"]["code"], r.text
    assert titles(client, alice, folder_id=work["id"]) == []  # nothing moved half-way
    assert_error(client.put(f"/api/chats/{a}/tags/{'t' * 51}", headers=alice.headers), 422)
    assert_error(client.put(f"/api/chats/{a}/tags/%20%20", headers=alice.headers), 400, "invalid_tag")
    for n in range(20):
        client.put(f"/api/chats/{a}/tags/t{n}", headers=alice.headers)
    assert_error(client.put(f"/api/chats/{a}/tags/one-more", headers=alice.headers), 400, "too_many_tags")


def test_another_users_folders_and_chats_do_not_exist_for_you(client, alice):
    bob = sign_up(client, "bob@example.com")
    mine, theirs = new_chat(client, alice, "mine"), new_chat(client, bob, "theirs")
    work = folder(client, alice, "Work")
    client.put(f"/api/chats/{mine}/tags/secret", headers=alice.headers)
    assert_error(client.patch(f"/api/folders/{work['id']}", json={"name": "x"}, headers=bob.headers), 404,
                 "folder_not_found")
    assert_error(client.delete(f"/api/folders/{work['id']}", headers=bob.headers), 404, "folder_not_found")
    assert_error(client.post("/api/chats/move", json={"chat_ids": [theirs], "folder_id": work["id"]},
                             headers=alice.headers), 404, "chat_not_found")
    assert_error(client.post("/api/chats/move", json={"chat_ids": [theirs], "folder_id": work["id"]},
                             headers=bob.headers), 404, "folder_not_found")
    assert_error(client.put(f"/api/chats/{mine}/tags/x", headers=bob.headers), 404, "chat_not_found")
    assert client.get("/api/tags", headers=bob.headers).json() == []
    assert client.get("/api/chats", params={"tag": "secret"}, headers=bob.headers).json()["chats"] == []
    # Folder names are per user.
    assert folder(client, bob, "Work")["id"] != work["id"]


def test_export_and_import_keep_the_folder_name_and_tags(client, alice):
    a = new_chat(client, alice, "a")
    new_chat(client, alice, "b")
    work = folder(client, alice, "Work")
    client.post("/api/chats/move", json={"chat_ids": [a], "folder_id": work["id"]}, headers=alice.headers)
    client.put(f"/api/chats/{a}/tags/ideas", headers=alice.headers)
    export = client.get("/api/chats/export", headers=alice.headers).json()
    by_title = {c["title"]: c for c in export["chats"]}
    assert (by_title["a"]["folder"], by_title["a"]["tags"]) == ("Work", ["ideas"])
    assert (by_title["b"]["folder"], by_title["b"]["tags"]) == (None, [])
    bob = sign_up(client, "bob@example.com")
    bob_work = folder(client, bob, "Work")  # an existing folder of that name is used
    for _ in range(2):  # importing twice makes no second folder
        assert client.post("/api/chats/import", json=export, headers=bob.headers).status_code == 201
    folders = client.get("/api/folders", headers=bob.headers).json()
    assert [(f["id"], f["chat_count"]) for f in folders] == [(bob_work["id"], 2)]
    assert titles(client, bob, tag="ideas") == ["a", "a"]


def test_an_import_with_a_bad_tag_or_folder_writes_nothing(client, alice):
    doc = {"format": "omnichat.chats", "version": 1,
           "chats": [{"title": "fine", "folder": "New", "tags": ["ok"], "messages": []},
                     {"title": "bad", "tags": ["   "], "messages": []}]}
    assert_error(client.post("/api/chats/import", json=doc, headers=alice.headers), 400, "invalid_import")
    doc["chats"][1] = {"title": "bad", "folder": "   ", "messages": []}
    assert_error(client.post("/api/chats/import", json=doc, headers=alice.headers), 400, "invalid_import")
    assert titles(client, alice) == [] and client.get("/api/folders", headers=alice.headers).json() == []


def test_deleting_a_chat_or_a_user_deletes_its_tags_and_folders(client, alice, db_url):
    zed = sign_up(client, "zed@example.com")  # not the first: alice is the admin
    a = new_chat(client, zed, "a")
    work = folder(client, zed, "Work")
    client.post("/api/chats/move", json={"chat_ids": [a], "folder_id": work["id"]}, headers=zed.headers)
    client.put(f"/api/chats/{a}/tags/x", headers=zed.headers)
    assert client.delete(f"/api/chats/{a}", headers=zed.headers).status_code == 204
    assert client.get("/api/tags", headers=zed.headers).json() == []
    assert client.get("/api/folders", headers=zed.headers).json()[0]["chat_count"] == 0
    assert client.delete(f"/api/admin/users/{zed.id}", headers=alice.headers).status_code == 204
    with db_engine.session_scope(db_url) as s:
        for table in ("folders", "chat_folders", "chat_tags"):
            assert s.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0
