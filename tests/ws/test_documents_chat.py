"""Documents in chats through the WebSocket Lambdas (docs/documents.md, "Chat"): attachments
and collections on chat.send, the passages put before the question (the test model's
`[[echo=1]]` answers with the whole last user turn, so the answer shows what the model was
given), `sources` in message.done and in the REST message, readiness, authorization,
idempotency, images and vision, and edit / regenerate keeping the question's documents.

Files are made ready without the ingestion pipeline: a `files` row and its chunks with
vectors through the store's own `add` (embedded by the test model)."""

from __future__ import annotations

import struct
import time
import zlib

import pytest
from fastapi.testclient import TestClient

from omnichat.auth.tokens import issue_access_token
from omnichat.config import get_settings
from omnichat.db import lite
from omnichat.documents import retrieval, vision
from omnichat.documents.embedder import embed
from omnichat.documents.storage import storage_for
from omnichat.documents.store import ChunkIn, store_for
from omnichat.ids import new_id
from tests.conftest import app_for
from tests.ws.conftest import BEDROCK_MODEL, TEST_MODEL
from tests.ws.harness import answer_text, of_type

PASSAGE = "The secret harbour codeword is PELICAN-42 and it changes every spring."
OTHER = "Lighthouses along the northern coast are painted with red and white stripes."


@pytest.fixture
def docs(harness, monkeypatch):
    """The harness with the test model as the embedding model, and a short readiness wait."""
    monkeypatch.setenv("OMNICHAT_EMBED_MODEL", TEST_MODEL)
    get_settings.cache_clear()
    monkeypatch.setattr(retrieval, "READY_WAIT_S", 0.6)
    vision.forget()
    return harness


def make_file(db_url, user_id, name, texts=(), *, status="ready", kind="document", content_type="text/plain",
              collection_id=None, data=b"", error=None):
    settings = get_settings()
    file_id, now = new_id(), lite.utcnow()
    key = f"files/{user_id}/{file_id}"
    if data:
        storage_for(settings).put(key, data)
    vectors = embed(settings, list(texts)) if texts else []

    def work(db):
        db.insert("files", {"id": file_id, "user_id": user_id, "collection_id": collection_id, "name": name,
                            "kind": kind, "content_type": content_type, "size": len(data) or sum(map(len, texts)),
                            "storage_key": key, "status": status, "error": error, "progress": 0, "chunk_count": 0,
                            "embed_model": settings.embed_model if texts else None, "created_at": now,
                            "updated_at": now})
        if texts:
            store_for(settings).add(db, file_id, [ChunkIn(i, t, page=i + 1) for i, t in enumerate(texts)], vectors)

    lite.run(db_url, work)
    return file_id


def make_collection(db_url, user_id, name="Handbook"):
    collection_id, now = new_id(), lite.utcnow()
    lite.run(db_url, lambda db: db.insert("collections", {"id": collection_id, "user_id": user_id, "name": name,
                                                          "created_at": now, "updated_at": now}))
    return collection_id


def png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


def ask(h, conn, content, **extra):
    cid = extra.pop("cid", f"c-{time.monotonic_ns()}")
    frame = {"action": "chat.send", "content": content, "client_message_id": cid, "model": TEST_MODEL, **extra}
    h.send(conn, frame)
    return h.frames(conn)


def count(db_url, sql, *params):
    return lite.run(db_url, lambda db: db.execute(sql, *params).fetchone()[0])



def share_with_new_group(db_url, collection_id, member_id):
    """A new group "crew" of `member_id`, the collection shared with it; its id."""
    group_id, now = new_id(), lite.utcnow()

    def share(db):
        db.insert("groups", {"id": group_id, "name": "crew", "created_at": now, "updated_at": now})
        db.insert("group_members", {"group_id": group_id, "user_id": member_id, "created_at": now})
        db.insert("collection_groups", {"collection_id": collection_id, "group_id": group_id})

    lite.run(db_url, share)
    return group_id

def test_an_attached_file_reaches_the_model_and_the_answer_cites_it(docs, alice, db_url):
    file_id = make_file(db_url, alice.user_id, "harbour.txt", [PASSAGE, OTHER])
    conn = docs.connect(alice)
    frames = ask(docs, conn, "What is the codeword? [[echo=1]]", attachments=[file_id])
    ack = of_type(frames, "ack")[0]
    done = of_type(frames, "message.done")[-1]
    assert done["status"] == "complete", frames[-3:]
    text = answer_text(frames, ack["assistant_message_id"])
    assert "PELICAN-42" in text and "Sources:" in text and "[1] harbour.txt (page 1)" in text  # what the model saw
    assert "cite" in text  # the instruction to cite as [n]
    cited = {s["excerpt"]: s for s in done["sources"]}
    assert PASSAGE in cited and cited[PASSAGE]["file_id"] == file_id and cited[PASSAGE]["file_name"] == "harbour.txt"
    assert {s["n"] for s in done["sources"]} == set(range(1, len(done["sources"]) + 1))
    assert set(done["sources"][0]) == {"n", "file_id", "file_name", "page", "section", "chunk_id", "excerpt"}
    assert count(db_url, "SELECT COUNT(*) FROM message_sources WHERE message_id = ?",
                 ack["assistant_message_id"]) == len(done["sources"])
    # The question is saved as asked (the sources went to the model only).
    assert lite.run(db_url, lambda db: db.execute("SELECT content FROM messages WHERE id = ?",
                                                  ack["user_message_id"]).fetchone()[0]) == \
        "What is the codeword? [[echo=1]]"

    # REST: the question's attachments and the answer's sources, and the same in the export.
    session = docs.signed_in(alice)
    token = issue_access_token(get_settings().jwt_secret, alice.user_id, session.session_id, 600)
    from omnichat.api.app import create_app

    with TestClient(app_for(create_app, get_settings())) as client:
        client.headers["authorization"] = f"Bearer {token}"
        body = client.get(f"/api/chats/{ack['chat_id']}").json()
        question, answer = body["messages"]
        assert question["attachments"] == [{"id": file_id, "name": "harbour.txt", "kind": "document",
                                            "content_type": "text/plain", "size": len(PASSAGE) + len(OTHER),
                                            "status": "ready"}]
        assert answer["sources"] == done["sources"] and answer["attachments"] == []
        paged = client.get(f"/api/chats/{ack['chat_id']}/messages", params={"limit": 1}).json()
        assert paged["messages"][0]["sources"] == done["sources"]
        exported = client.get("/api/chats/export", params={"chat_id": ack["chat_id"]}).json()
        q, a = exported["chats"][0]["messages"]
        assert q["attachments"][0]["id"] == file_id and a["sources"] == done["sources"]
        # An import takes the file back (attachments and sources are kept as metadata only).
        assert client.post("/api/chats/import", json=exported).status_code == 201


def test_a_small_file_goes_whole_and_a_large_one_is_searched(docs, alice, db_url):
    small = make_file(db_url, alice.user_id, "small.txt", [PASSAGE, OTHER])
    filler = [f"Paragraph {i} talks about tides, ropes and the weather of the bay in some detail. " * 8
              for i in range(20)]
    large = make_file(db_url, alice.user_id, "large.txt", [*filler, "Anchor chains are inspected every March."])
    conn = docs.connect(alice)
    frames = ask(docs, conn, "When are anchor chains inspected? [[echo=1]]", attachments=[small, large])
    done = of_type(frames, "message.done")[-1]
    sources = done["sources"]
    # The small file whole and first (both passages, in order), then the large file's best.
    assert [s["excerpt"] for s in sources[:2]] == [PASSAGE, OTHER]
    assert any("Anchor chains" in s["excerpt"] for s in sources[2:])
    assert len([s for s in sources if s["file_id"] == large]) <= retrieval.K


def test_a_collection_is_searched_and_a_group_member_may_use_it(docs, alice, bob, db_url):
    collection = make_collection(db_url, alice.user_id)
    make_file(db_url, alice.user_id, "handbook.txt", [PASSAGE], collection_id=collection)
    make_file(db_url, alice.user_id, "broken.txt", status="failed", error="not a text file",
              collection_id=collection)  # a collection's failed file is left out
    conn = docs.connect(alice)
    frames = ask(docs, conn, "The codeword? [[echo=1]]", collections=[collection])
    done = of_type(frames, "message.done")[-1]
    assert done["status"] == "complete" and "PELICAN-42" in answer_text(frames, done["message_id"])
    assert [s["file_name"] for s in done["sources"]] == ["handbook.txt"]

    bobs = docs.connect(bob)
    frames = ask(docs, bobs, "The codeword?", collections=[collection])
    assert of_type(frames, "error")[0]["code"] == "collection_not_found"
    share_with_new_group(db_url, collection, bob.user_id)
    frames = ask(docs, bobs, "The codeword? [[echo=1]]", collections=[collection])
    assert of_type(frames, "message.done")[-1]["sources"][0]["file_name"] == "handbook.txt"


def test_a_file_not_ready_in_time_ends_the_answer_with_documents_not_ready(docs, alice, db_url):
    pending = make_file(db_url, alice.user_id, "slow.pdf", status="indexing")
    conn = docs.connect(alice)
    frames = ask(docs, conn, "Summarise it", attachments=[pending])
    ack = of_type(frames, "ack")[0]
    error = of_type(frames, "error")[0]
    assert error["code"] == "documents_not_ready" and "slow.pdf" in error["message"]
    assert error["files"] == [pending] and error["message_id"] == ack["assistant_message_id"]
    done = of_type(frames, "message.done")[-1]
    assert done["status"] == "error" and done["error"]["code"] == "documents_not_ready"
    # The question is kept (nothing accepted is lost); no model was called, so no usage row.
    assert count(db_url, "SELECT COUNT(*) FROM messages WHERE chat_id = ?", ack["chat_id"]) == 2
    assert count(db_url, "SELECT COUNT(*) FROM usage WHERE message_id = ?", ack["assistant_message_id"]) == 0
    assert count(db_url, "SELECT COUNT(*) FROM streams") == 0


def test_a_file_that_becomes_ready_while_waiting_is_used(docs, alice, db_url, monkeypatch):
    monkeypatch.setattr(retrieval, "READY_WAIT_S", 10.0)
    file_id = make_file(db_url, alice.user_id, "late.txt", [PASSAGE], status="indexing")
    conn = docs.connect(alice)
    worker = docs.send_in_background(conn, {"action": "chat.send", "content": "Codeword? [[echo=1]]",
                                            "client_message_id": "late-1", "model": TEST_MODEL,
                                            "attachments": [file_id]})
    docs.wait_for(conn, lambda f: f["type"] == "message.started")
    time.sleep(0.5)
    lite.run(db_url, lambda db: db.execute("UPDATE files SET status = 'ready' WHERE id = ?", file_id))
    worker.join(30)
    done = of_type(docs.frames(conn), "message.done")[-1]
    assert done["status"] == "complete" and done["sources"][0]["file_id"] == file_id


def test_a_failed_attachment_ends_the_answer_with_document_failed(docs, alice, db_url):
    failed = make_file(db_url, alice.user_id, "scan.pdf", status="failed", error="the PDF has no text")
    conn = docs.connect(alice)
    frames = ask(docs, conn, "Summarise it", attachments=[failed])
    error = of_type(frames, "error")[0]
    assert error["code"] == "document_failed" and "scan.pdf" in error["message"] and "no text" in error["message"]
    assert of_type(frames, "message.done")[-1]["error"]["code"] == "document_failed"


def test_foreign_or_unknown_ids_are_refused_and_nothing_is_saved(docs, alice, bob, db_url):
    bobs_file = make_file(db_url, bob.user_id, "bob.txt", [PASSAGE])
    bobs_collection = make_collection(db_url, bob.user_id)
    conn = docs.connect(alice)
    for extra, code in (({"attachments": [bobs_file]}, "file_not_found"),
                        ({"attachments": ["no-such-file"]}, "file_not_found"),
                        ({"collections": [bobs_collection]}, "collection_not_found")):
        frames = ask(docs, conn, "Tell me", cid="refused-1", **extra)
        error = of_type(frames, "error")[-1]
        assert error["code"] == code and error["client_message_id"] == "refused-1"
    assert not of_type(docs.frames(conn), "ack")
    assert count(db_url, "SELECT COUNT(*) FROM chats") == 0  # a refused send saves nothing
    assert count(db_url, "SELECT COUNT(*) FROM message_files") == 0
    # The key is still free for a corrected retry.
    own = make_file(db_url, alice.user_id, "mine.txt", [PASSAGE])
    frames = ask(docs, conn, "Tell me", cid="refused-1", attachments=[own])
    assert of_type(frames, "ack")[-1]["created"] is True


@pytest.mark.parametrize("field, value", [("attachments", ["a", "a"]), ("attachments", [f"f{i}" for i in range(11)]),
                                          ("collections", [f"c{i}" for i in range(6)]), ("attachments", "a"),
                                          ("collections", [1])])
def test_malformed_lists_are_invalid_requests(docs, alice, field, value):
    conn = docs.connect(alice)
    error = of_type(ask(docs, conn, "Hi", **{field: value}), "error")[-1]
    assert error["code"] == "invalid_request" and error["message"].startswith(field)


def test_a_retried_send_does_not_duplicate_attachments(docs, alice, db_url):
    file_id = make_file(db_url, alice.user_id, "harbour.txt", [PASSAGE])
    collection = make_collection(db_url, alice.user_id)
    conn = docs.connect(alice)
    frame = {"cid": "same-key", "attachments": [file_id], "collections": [collection]}
    ask(docs, conn, "Codeword?", **frame)
    frames = ask(docs, conn, "Codeword?", **frame)
    acks = of_type(frames, "ack")
    assert [a["created"] for a in acks] == [True, False] and acks[0]["user_message_id"] == acks[1]["user_message_id"]
    assert count(db_url, "SELECT COUNT(*) FROM message_files") == 1
    assert count(db_url, "SELECT COUNT(*) FROM message_collections") == 1
    # The replay of the ended answer carries its sources too.
    assert of_type(frames, "message.done")[-1]["sources"][0]["file_id"] == file_id


def test_a_send_in_parts_carries_its_attachments(docs, alice, db_url):
    file_id = make_file(db_url, alice.user_id, "harbour.txt", [PASSAGE])
    conn = docs.connect(alice)
    base = {"action": "chat.send", "client_message_id": "parts-1", "model": TEST_MODEL}
    docs.send(conn, {**base, "content": "What is the ", "part": {"index": 0, "count": 2}})
    docs.send(conn, {**base, "content": "codeword? [[echo=1]]", "part": {"index": 1, "count": 2},
                     "attachments": [file_id]})
    done = of_type(docs.frames(conn), "message.done")[-1]
    assert done["status"] == "complete" and done["sources"][0]["file_id"] == file_id
    assert count(db_url, "SELECT COUNT(*) FROM message_files WHERE file_id = ?", file_id) == 1


def test_regenerate_and_edit_keep_the_questions_documents(docs, alice, db_url):
    file_id = make_file(db_url, alice.user_id, "harbour.txt", [PASSAGE])
    conn = docs.connect(alice)
    ack = of_type(ask(docs, conn, "Codeword? [[echo=1]]", attachments=[file_id]), "ack")[0]
    docs.send(conn, {"action": "chat.regenerate", "chat_id": ack["chat_id"], "message_id": ack["assistant_message_id"]})
    regenerated = of_type(docs.frames(conn), "message.done")[-1]
    assert regenerated["message_id"] != ack["assistant_message_id"]
    assert regenerated["sources"][0]["file_id"] == file_id
    docs.send(conn, {"action": "chat.edit", "chat_id": ack["chat_id"], "message_id": ack["user_message_id"],
                     "content": "Which codeword? [[echo=1]]", "client_message_id": "edit-1"})
    edited = of_type(docs.frames(conn), "ack")[-1]
    assert count(db_url, "SELECT COUNT(*) FROM message_files WHERE message_id = ?", edited["user_message_id"]) == 1
    done = of_type(docs.frames(conn), "message.done")[-1]
    assert "PELICAN-42" in answer_text(docs.frames(conn), done["message_id"])


def test_an_image_for_a_text_only_model_is_refused(docs, alice, db_url):
    image = make_file(db_url, alice.user_id, "photo.png", kind="image", content_type="image/png", data=png())
    conn = docs.connect(alice)
    error = of_type(ask(docs, conn, "What is in the picture?", cid="img-1", attachments=[image]), "error")[-1]
    assert error["code"] == "model_not_vision" and error["client_message_id"] == "img-1"
    assert count(db_url, "SELECT COUNT(*) FROM messages") == 0


def test_an_image_goes_to_a_vision_model(docs, alice, db_url):
    image = make_file(db_url, alice.user_id, "photo.png", kind="image", content_type="image/png", data=png())
    conn = docs.connect(alice)
    frames = ask(docs, conn, "What is in the picture?", model=BEDROCK_MODEL, attachments=[image])
    done = of_type(frames, "message.done")[-1]
    assert done["status"] == "complete", frames[-3:]
    assert done["usage"]["input_tokens"] > 0 and done["sources"] == []
    # Regenerated with a text-only model: refused, the image stays with the question.
    ack = of_type(frames, "ack")[0]
    docs.send(conn, {"action": "chat.regenerate", "chat_id": ack["chat_id"], "message_id": ack["assistant_message_id"],
                     "model": TEST_MODEL})
    assert of_type(docs.frames(conn), "error")[-1]["code"] == "model_not_vision"


def test_a_deleted_collection_file_or_share_is_not_used_again(docs, alice, db_url):
    file_id = make_file(db_url, alice.user_id, "harbour.txt", [PASSAGE])
    conn = docs.connect(alice)
    ack = of_type(ask(docs, conn, "Codeword? [[echo=1]]", attachments=[file_id]), "ack")[0]
    lite.run(db_url, lambda db: db.execute("DELETE FROM files WHERE id = ?", file_id))
    docs.send(conn, {"action": "chat.regenerate", "chat_id": ack["chat_id"], "message_id": ack["assistant_message_id"]})
    done = of_type(docs.frames(conn), "message.done")[-1]
    assert done["status"] == "complete" and "PELICAN" not in answer_text(docs.frames(conn), done["message_id"])



def test_a_chat_without_documents_does_not_load_them():
    """ws_chat's cold start: the handler and the chat path import neither the documents
    package (beyond its empty __init__) nor numpy until a question has documents."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import sys; sys.path[:0] = ['functions/ws_chat', 'layers/omnichat']\n"
            "import app, omnichat.ws.actions, omnichat.ws.answers, omnichat.chats.attachments\n"
            "print(sorted(m for m in sys.modules if m == 'numpy' or m.startswith('omnichat.documents.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def add_preset(db_url, owner_id, slug, collection_ids):
    """A preset on the test model bound to `collection_ids` (owner None: a global one for everyone)."""
    from omnichat.catalog.presets import PresetRow

    now = lite.utcnow()
    row = PresetRow(id=new_id(), owner_id=owner_id, slug=slug, name=slug, description="", base_model=TEST_MODEL,
                    system_prompt=None, params={}, fallbacks="", visibility="private" if owner_id else "everyone",
                    created_at=now, updated_at=now)

    def work(db):
        row.insert(db)
        for collection_id in collection_ids:
            db.insert("preset_collections", {"preset_id": row.id, "collection_id": collection_id})

    lite.run(db_url, work)


def rest_messages(docs, who, chat_id):
    from omnichat.api.app import create_app

    session = docs.signed_in(who)
    token = issue_access_token(get_settings().jwt_secret, who.user_id, session.session_id, 600)
    with TestClient(app_for(create_app, get_settings())) as client:
        client.headers["authorization"] = f"Bearer {token}"
        return client.get(f"/api/chats/{chat_id}").json()["messages"]


def test_a_presets_collections_join_the_question_and_show_on_the_reloaded_message(docs, alice, db_url):
    handbook = make_collection(db_url, alice.user_id, "Handbook")
    chosen = make_collection(db_url, alice.user_id, "Atlas")
    make_file(db_url, alice.user_id, "handbook.txt", [PASSAGE], collection_id=handbook)
    make_file(db_url, alice.user_id, "atlas.txt", [OTHER], collection_id=chosen)
    add_preset(db_url, alice.user_id, "harbour", [handbook])
    conn = docs.connect(alice)
    frames = ask(docs, conn, "The codeword? [[echo=1]]", model="preset/harbour", collections=[chosen])
    ack, done = of_type(frames, "ack")[0], of_type(frames, "message.done")[-1]
    assert done["status"] == "complete", frames[-3:]
    assert "PELICAN-42" in answer_text(frames, done["message_id"])  # the preset's collection was searched
    # The ack names the question's collections, the preset's with them (the page shows them at once).
    assert ack["collections"] == [{"id": chosen, "name": "Atlas"}, {"id": handbook, "name": "Handbook"}]
    assert {s["file_name"] for s in done["sources"]} == {"handbook.txt", "atlas.txt"}
    # Saved with the question like the `#` ones, and shown on the reloaded message (by name).
    question, answer = rest_messages(docs, alice, ack["chat_id"])
    assert question["collections"] == [{"id": chosen, "name": "Atlas"}, {"id": handbook, "name": "Handbook"}]
    assert answer["collections"] == []
    # A question asked with a plain model, answered again with the preset: its collections join it.
    frames = ask(docs, conn, "Lighthouses? [[echo=1]]", chat_id=ack["chat_id"], parent_id=done["message_id"])
    plain = of_type(frames, "ack")[-1]
    assert "sources" not in of_type(frames, "message.done")[-1]  # a plain model: nothing in scope
    docs.send(conn, {"action": "chat.regenerate", "chat_id": ack["chat_id"],
                     "message_id": plain["assistant_message_id"], "model": "preset/harbour"})
    again = of_type(docs.frames(conn), "message.done")[-1]
    assert [s["file_name"] for s in again["sources"]] == ["handbook.txt"]
    assert count(db_url, "SELECT COUNT(*) FROM message_collections WHERE message_id = ?",
                 plain["user_message_id"]) == 1


def test_a_global_presets_collection_is_searched_only_for_those_who_may_read_it(docs, alice, bob, db_url):
    handbook = make_collection(db_url, alice.user_id, "Handbook")
    make_file(db_url, alice.user_id, "handbook.txt", [PASSAGE], collection_id=handbook)
    add_preset(db_url, None, "harbour", [handbook])
    bobs = docs.connect(bob)
    frames = ask(docs, bobs, "The codeword? [[echo=1]]", model="preset/harbour")
    ack, done = of_type(frames, "ack")[0], of_type(frames, "message.done")[-1]
    assert done["status"] == "complete" and "sources" not in done
    assert "PELICAN" not in answer_text(frames, done["message_id"])
    assert count(db_url, "SELECT COUNT(*) FROM message_collections") == 0
    assert rest_messages(docs, bob, ack["chat_id"])[0]["collections"] == []
    # Shared with a group of Bob's: now the preset searches it for him too.
    group_id = share_with_new_group(db_url, handbook, bob.user_id)
    frames = ask(docs, bobs, "The codeword? [[echo=1]]", model="preset/harbour")
    assert [s["file_name"] for s in of_type(frames, "message.done")[-1]["sources"]] == ["handbook.txt"]
    ack = of_type(frames, "ack")[-1]
    assert rest_messages(docs, bob, ack["chat_id"])[0]["collections"] == [{"id": handbook, "name": "Handbook"}]
    # The share withdrawn: the reloaded question no longer names it.
    lite.run(db_url, lambda db: db.execute("DELETE FROM collection_groups WHERE group_id = ?", group_id))
    assert rest_messages(docs, bob, ack["chat_id"])[0]["collections"] == []
