"""Chats over REST: listing, search, updates, the message tree, export and import."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error, sign_up


@pytest.fixture
def alice(client):
    return sign_up(client, "alice@example.com")


def new_chat(client, who, **body):
    r = client.post("/api/chats", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def send(client, who, chat_id, content, **extra):
    r = client.post(f"/api/chats/{chat_id}/messages", json={"content": content, **extra}, headers=who.headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


def branch(client, who, chat_id, **params):
    r = client.get(f"/api/chats/{chat_id}", params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_list_is_newest_first_pinned_first_and_pages_with_a_cursor(client, alice):
    ids = [new_chat(client, alice, title=f"chat {i}")["id"] for i in range(7)]
    client.patch(f"/api/chats/{ids[1]}", json={"pinned": True}, headers=alice.headers)
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/chats", params=params, headers=alice.headers).json()
        seen += [c["id"] for c in page["chats"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [ids[1]] + [i for i in reversed(ids) if i != ids[1]]


def test_search_finds_titles_and_message_text_literally(client, alice):
    a = new_chat(client, alice, title="Trip to Lisbon")
    b = new_chat(client, alice, title="Groceries")
    send(client, alice, b["id"], "remember 100% of the oat_milk")
    new_chat(client, alice, title="Other")

    def search(q):
        return [c["id"] for c in client.get("/api/chats", params={"q": q}, headers=alice.headers).json()["chats"]]

    assert search("lisbon") == [a["id"]]
    assert search("OAT_MILK") == [b["id"]]
    assert search("100%") == [b["id"]]
    assert search("_") == [b["id"]]  # LIKE wildcards are matched literally
    assert search("nothing like this") == []


def test_rename_pin_archive_and_delete(client, alice):
    chat = new_chat(client, alice)
    r = client.patch(f"/api/chats/{chat['id']}", json={"title": "  Renamed   chat ", "archived": True},
                     headers=alice.headers)
    assert r.json()["title"] == "Renamed chat" and r.json()["archived"] is True
    assert client.get("/api/chats", headers=alice.headers).json()["chats"] == []
    archived = client.get("/api/chats", params={"archived": True}, headers=alice.headers).json()["chats"]
    assert [c["id"] for c in archived] == [chat["id"]]
    assert_error(client.patch(f"/api/chats/{chat['id']}", json={"title": "   "}, headers=alice.headers),
                 400, "invalid_title")
    assert client.delete(f"/api/chats/{chat['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/chats/{chat['id']}", headers=alice.headers), 404, "chat_not_found")


def test_delete_all_removes_only_my_chats(client, alice):
    bob = sign_up(client, "bob@example.com")
    for _ in range(3):
        send(client, alice, new_chat(client, alice)["id"], "hi")
    bobs = new_chat(client, bob)
    assert client.delete("/api/chats", headers=alice.headers).json() == {"deleted": 3}
    assert client.get("/api/chats", headers=alice.headers).json()["chats"] == []
    assert client.get(f"/api/chats/{bobs['id']}", headers=bob.headers).status_code == 200


def test_sending_twice_with_one_client_id_stores_one_message(client, alice):
    chat = new_chat(client, alice)
    r1 = client.post(f"/api/chats/{chat['id']}/messages", json={"content": "hello", "client_message_id": "c-1"},
                     headers=alice.headers)
    r2 = client.post(f"/api/chats/{chat['id']}/messages", json={"content": "hello", "client_message_id": "c-1"},
                     headers=alice.headers)
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r1.json()["id"] == r2.json()["id"]
    assert branch(client, alice, chat["id"])["chat"]["message_count"] == 1


def test_branch_pages_from_the_newest_back_to_the_first(client, alice):
    chat = new_chat(client, alice)
    for i in range(7):
        send(client, alice, chat["id"], f"m{i}", role="user" if i % 2 == 0 else "assistant")
    pages, before = [], None
    while True:
        page = branch(client, alice, chat["id"], limit=3, **({"before": before} if before else {}))
        pages.append([m["content"] for m in page["messages"]])
        before = page["next_before"]
        if not page["has_more"]:
            break
    assert pages == [["m4", "m5", "m6"], ["m1", "m2", "m3"], ["m0"]]


def test_editing_creates_a_sibling_branch_and_switching_restores_the_old_one(client, alice):
    chat = new_chat(client, alice)
    q1 = send(client, alice, chat["id"], "question one")
    send(client, alice, chat["id"], "answer one", role="assistant")
    q2 = send(client, alice, chat["id"], "question two")
    send(client, alice, chat["id"], "answer two", role="assistant")

    r = client.post(f"/api/chats/{chat['id']}/messages/{q2['id']}/edit", json={"content": "question two, better"},
                    headers=alice.headers)
    assert r.status_code == 201
    edited = r.json()
    assert edited["parent_id"] == q2["parent_id"] and edited["sibling_ids"] == [q2["id"], edited["id"]]
    now = branch(client, alice, chat["id"])
    assert [m["content"] for m in now["messages"]] == ["question one", "answer one", "question two, better"]
    assert now["messages"][-1]["sibling_ids"] == [q2["id"], edited["id"]]

    siblings = client.get(f"/api/chats/{chat['id']}/messages/{edited['id']}/siblings", headers=alice.headers).json()
    assert [s["content"] for s in siblings] == ["question two", "question two, better"]

    r = client.post(f"/api/chats/{chat['id']}/switch", json={"message_id": q2["id"]}, headers=alice.headers)
    assert [m["content"] for m in r.json()["messages"]] == ["question one", "answer one", "question two", "answer two"]
    # Editing the first message branches at the root.
    root_edit = client.post(f"/api/chats/{chat['id']}/messages/{q1['id']}/edit", json={"content": "start over"},
                            headers=alice.headers).json()
    assert root_edit["parent_id"] is None and len(root_edit["sibling_ids"]) == 2
    assert_error(client.post(f"/api/chats/{chat['id']}/messages/{now['messages'][1]['id']}/edit",
                             json={"content": "x"}, headers=alice.headers), 400, "not_editable")


def test_unknown_message_ids_are_not_found(client, alice):
    chat = new_chat(client, alice)
    other = new_chat(client, alice)
    m = send(client, alice, other["id"], "elsewhere")
    assert_error(client.get(f"/api/chats/{chat['id']}", params={"before": m["id"]}, headers=alice.headers),
                 404, "message_not_found")
    assert_error(client.post(f"/api/chats/{chat['id']}/switch", json={"message_id": m["id"]}, headers=alice.headers),
                 404, "message_not_found")
    assert_error(client.post(f"/api/chats/{chat['id']}/messages", json={"content": "x", "parent_id": m["id"]},
                             headers=alice.headers), 404, "message_not_found")


def test_export_then_import_reproduces_the_tree(client, alice):
    chat = new_chat(client, alice, title="Exported", system_prompt="Be brief")
    q = send(client, alice, chat["id"], "q")
    send(client, alice, chat["id"], "a", role="assistant")
    client.post(f"/api/chats/{chat['id']}/messages/{q['id']}/edit", json={"content": "q2"}, headers=alice.headers)
    exported = client.get("/api/chats/export", headers=alice.headers).json()
    assert exported["format"] == "omnichat.chats" and len(exported["chats"][0]["messages"]) == 3

    bob = sign_up(client, "bob@example.com")
    r = client.post("/api/chats/import", json=exported, headers=bob.headers)
    assert r.status_code == 201 and r.json()["imported"] == 1
    new_id = r.json()["chat_ids"][0]
    assert new_id != chat["id"]
    imported = branch(client, bob, new_id)
    assert imported["chat"]["title"] == "Exported" and imported["chat"]["system_prompt"] == "Be brief"
    assert [m["content"] for m in imported["messages"]] == ["q2"]
    assert len(imported["messages"][0]["sibling_ids"]) == 2
    old_ids = {m["id"] for m in exported["chats"][0]["messages"]}
    assert not old_ids & set(imported["messages"][0]["sibling_ids"])


@pytest.mark.parametrize("messages, needle", [
    ([{"id": "a", "parent_id": "missing", "role": "user", "content": "x"}], "unknown parent"),
    ([{"id": "a", "parent_id": "b", "role": "user", "content": "x"},
      {"id": "b", "parent_id": "a", "role": "assistant", "content": "y"}], "cycle"),
    ([{"id": "a", "role": "user", "content": "x"}, {"id": "a", "role": "user", "content": "y"}], "duplicate"),
])
def test_import_rejects_broken_trees_and_saves_nothing(client, alice, messages, needle):
    doc = {"format": "omnichat.chats", "version": 1,
           "chats": [{"title": "fine", "messages": []}, {"title": "broken", "messages": messages}]}
    error = assert_error(client.post("/api/chats/import", json=doc, headers=alice.headers), 400, "invalid_import")
    assert needle in error["message"]
    assert client.get("/api/chats", headers=alice.headers).json()["chats"] == []


def test_import_rejects_other_formats(client, alice):
    assert_error(client.post("/api/chats/import", json={"format": "chatgpt", "version": 1, "chats": []},
                             headers=alice.headers), 422, "validation_error")
