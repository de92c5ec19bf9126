"""Files over REST with local storage (docs/documents.md): uploads in one request and direct
ones through this API's signed single-use form, completion (type sniffed from the bytes,
idempotent), listing, content (download headers), cited passages, deleting (row, chunks and
stored bytes), quotas, uploads that never complete, and what another user cannot reach."""

from __future__ import annotations

import stat
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from omnichat.db import lite
from omnichat.db.lite import utcnow
from omnichat.documents.storage import LocalStorage, UploadExpired, check_key
from omnichat.errors import BadRequest, Conflict, PayloadTooLarge
from omnichat.ids import new_id
from tests.conftest import app_for
from tests.helpers import assert_error, sign_up

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ELF = b"\x7fELF" + b"\x00" * 64


@pytest.fixture
def small(settings, queued):
    """An app with small limits: 1,000 bytes a file, 2,500 in all."""
    from omnichat.api.app import create_app

    with TestClient(app_for(create_app, settings.with_overrides(max_file_bytes=1000, max_user_file_bytes=2500))) as c:
        yield c


@pytest.fixture
def alice(client, queued):
    return sign_up(client, "alice@example.com")


@pytest.fixture
def bob(client):
    return sign_up(client, "bob@example.com")


def upload(client, who, name, data, **form):
    return client.post("/api/files", files={"file": (name, data, "application/pdf")}, data=form, headers=who.headers)


def uploaded(client, who, name, data, **form):
    r = upload(client, who, name, data, **form)
    assert r.status_code == 201, r.text
    return r.json()


def start(client, who, name, size, **extra):
    return client.post("/api/files/uploads", json={"name": name, "size": size, **extra}, headers=who.headers)


def post_form(client, upload_form, data, name="x.txt"):
    """POST the form's fields, then the file, as a browser would (no bearer token)."""
    return client.post(upload_form["url"], data=upload_form["fields"], files={"file": (name, data)})


def test_a_document_and_an_image_in_one_request(client, alice, queued, settings):
    doc = uploaded(client, alice, "notes.txt", b"Hello, documents.\n")
    assert doc["kind"] == "document" and doc["status"] == "queued" and doc["size"] == 18
    assert doc["content_type"] == "text/plain"  # the client said application/pdf: never its word
    assert doc["collection_id"] is None and doc["error"] is None and doc["chunk_count"] == 0
    assert queued == [doc["id"]]
    image = uploaded(client, alice, "cat.png", PNG)
    assert (image["kind"], image["status"], image["content_type"]) == ("image", "ready", "image/png")
    assert queued == [doc["id"]]  # images are not indexed

    listed = client.get("/api/files", headers=alice.headers).json()["files"]
    assert [f["id"] for f in listed] == [image["id"], doc["id"]]  # newest first
    ready = client.get("/api/files", params={"status": "ready"}, headers=alice.headers).json()["files"]
    assert [f["id"] for f in ready] == [image["id"]]
    assert client.get("/api/files", params={"status": "bogus"}, headers=alice.headers).status_code == 422
    assert client.get(f"/api/files/{doc['id']}", headers=alice.headers).json() == doc

    r = client.get(f"/api/files/{doc['id']}/content", headers=alice.headers)
    assert r.content == b"Hello, documents.\n" and r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == "attachment; filename*=UTF-8''notes.txt"
    r = client.get(f"/api/files/{image['id']}/content", headers=alice.headers)
    assert r.content == PNG and r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"].startswith("inline;")

    stored = settings.home / "files" / "files" / alice.id / doc["id"]
    assert stored.read_bytes() == b"Hello, documents.\n"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600

    assert client.delete(f"/api/files/{doc['id']}", headers=alice.headers).status_code == 204
    assert not stored.exists()
    assert_error(client.get(f"/api/files/{doc['id']}", headers=alice.headers), 404, "file_not_found")
    assert_error(client.delete(f"/api/files/{doc['id']}", headers=alice.headers), 404, "file_not_found")


def test_another_users_file_is_not_found(client, alice, bob, db_url):
    doc = uploaded(client, alice, "mine.md", b"# Mine\n\nsecret")
    chunk = _add_chunks(db_url, doc["id"], ["one"])[0]
    for method, path in (("GET", ""), ("GET", "/content"), ("DELETE", ""), ("POST", "/complete"),
                         ("GET", f"/passages/{chunk}")):
        r = client.request(method, f"/api/files/{doc['id']}{path}", headers=bob.headers)
        assert_error(r, 404)
        assert doc["id"] not in r.text
    assert client.get("/api/files", headers=bob.headers).json() == {"files": []}
    assert client.get(f"/api/files/{doc['id']}", headers=alice.headers).status_code == 200


def test_admins_have_no_special_access(client, queued):
    admin = sign_up(client, "admin@example.com")  # the first account is the admin
    user = sign_up(client, "user@example.com")
    assert admin.role == "admin"
    doc = uploaded(client, user, "a.txt", b"private")
    assert_error(client.get(f"/api/files/{doc['id']}", headers=admin.headers), 404, "file_not_found")
    assert_error(client.get(f"/api/files/{doc['id']}/content", headers=admin.headers), 404, "file_not_found")


def test_bad_uploads_are_refused_and_store_nothing(small, settings):
    who = sign_up(small, "carol@example.com")
    assert_error(upload(small, who, "empty.txt", b""), 400, "empty_file")
    assert_error(upload(small, who, "big.txt", b"x" * 1001), 413, "file_too_large")
    assert_error(upload(small, who, "tool.pdf", ELF), 415, "unsupported_type")
    assert_error(upload(small, who, "..", b"text"), 400, "invalid_file_name")
    assert_error(upload(small, who, "a.txt", b"x", collection_id="nope"), 404, "collection_not_found")
    assert_error(upload(small, who, "a.txt", b"x", collection_id="a\x00b"), 400)
    assert_error(small.post("/api/files", data={"collection_id": "x"}, headers=who.headers), 422)
    assert small.get("/api/files", headers=who.headers).json() == {"files": []}
    assert not list((settings.home / "files").rglob("files/*/*")) if (settings.home / "files").exists() else True
    # Names: no directories, no control or bidirectional characters.
    named = uploaded(small, who, "../../etc/passwd.txt", b"x")
    assert named["name"] == "passwd.txt"
    # httpx escapes a control character in a file name: a browser's raw form sends it as is.
    raw = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="..\\a\x07b\x1b.txt"\r\n'
           b"Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n")
    r = small.post("/api/files", content=raw,
                   headers={**who.headers, "content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 201 and r.json()["name"] == "ab.txt", r.text
    r = start(small, who, "\u202egpj.exe\n.txt", 5)
    assert r.status_code == 201 and r.json()["file"]["name"] == "gpj.exe.txt"
    assert_error(start(small, who, "\x01\x02", 5), 400, "invalid_file_name")
    assert_error(start(small, who, "a.txt", 0), 400, "empty_file")
    assert_error(start(small, who, "a.txt", 1001), 413, "file_too_large")
    assert start(small, who, "a.txt", -1).status_code == 422


def test_quota_counts_every_file_and_uploads_in_flight(small):
    who = sign_up(small, "dave@example.com")
    first = uploaded(small, who, "1.txt", b"a" * 1000)
    uploaded(small, who, "2.txt", b"b" * 1000)
    assert_error(upload(small, who, "3.txt", b"c" * 501), 413, "quota_exceeded")
    held = start(small, who, "4.txt", 400).json()  # 2,400 with the declared size
    assert held["file"]["status"] == "uploading"
    assert_error(start(small, who, "5.txt", 101), 413, "quota_exceeded")
    assert_error(upload(small, who, "5.txt", b"e" * 101), 413, "quota_exceeded")
    assert small.delete(f"/api/files/{first['id']}", headers=who.headers).status_code == 204
    uploaded(small, who, "5.txt", b"e" * 900)
    other = sign_up(small, "erin@example.com")  # the quota is per user
    uploaded(small, other, "1.txt", b"x" * 1000)


def test_a_direct_upload_through_the_local_form(client, alice, queued, settings):
    r = start(client, alice, "report.md", 23)
    assert r.status_code == 201, r.text
    body = r.json()
    file, form = body["file"], body["upload"]
    assert file["status"] == "uploading" and file["size"] == 23 and file["content_type"] is None
    assert form["url"] == f"http://testserver/api/files/{file['id']}/upload"
    assert set(form["fields"]) == {"key", "policy", "signature"}
    assert_error(client.post(f"/api/files/{file['id']}/complete", headers=alice.headers), 409, "upload_missing")
    assert_error(client.get(f"/api/files/{file['id']}/content", headers=alice.headers), 404, "file_not_uploaded")

    # More than the declared size, or a forged signature: refused, nothing stored.
    assert_error(post_form(client, form, b"x" * 24), 413, "file_too_large")
    forged = {**form, "fields": {**form["fields"], "signature": "0" * 64}}
    assert_error(post_form(client, forged, b"# Report\n"), 400, "invalid_upload_signature")
    other_file = start(client, alice, "other.md", 23).json()["upload"]
    swapped = {**form, "fields": other_file["fields"]}  # another upload's form for this file
    assert_error(post_form(client, swapped, b"# Report\n"), 400, "invalid_upload_signature")

    assert post_form(client, form, b"# Report\n\nAll is well.\n").status_code == 204
    assert_error(post_form(client, form, b"# Again\n"), 409, "upload_used")  # single use

    done = client.post(f"/api/files/{file['id']}/complete", headers=alice.headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "queued" and done.json()["content_type"] == "text/markdown"
    assert done.json()["size"] == 23 and queued == [file["id"]]
    again = client.post(f"/api/files/{file['id']}/complete", headers=alice.headers)
    assert again.status_code == 200 and again.json() == done.json() and queued == [file["id"]]
    assert_error(post_form(client, form, b"# Again\n"), 409, "upload_used")


def test_a_direct_upload_of_an_unsupported_type_fails_at_completion(client, alice, settings):
    body = start(client, alice, "setup.pdf", len(ELF)).json()
    assert post_form(client, body["upload"], ELF).status_code == 204
    assert_error(client.post(f"/api/files/{body['file']['id']}/complete", headers=alice.headers), 415,
                 "unsupported_type")
    failed = client.get(f"/api/files/{body['file']['id']}", headers=alice.headers).json()
    assert failed["status"] == "failed" and "program" in failed["error"]
    assert not (settings.home / "files" / "files" / alice.id / failed["id"]).exists()
    assert_error(client.post(f"/api/files/{failed['id']}/complete", headers=alice.headers), 409, "upload_failed")


def test_an_upload_never_completed_fails_and_its_bytes_go(client, alice, db_url, settings):
    uploaded_then_left = start(client, alice, "late.txt", 5).json()
    never_sent = start(client, alice, "never.txt", 5).json()
    assert post_form(client, uploaded_then_left["upload"], b"hello").status_code == 204
    path = settings.home / "files" / "files" / alice.id / uploaded_then_left["file"]["id"]
    assert path.exists()
    lite.run(db_url, lambda db: db.execute("UPDATE files SET upload_expires_at = ?", utcnow() - timedelta(seconds=1)))
    listed = {f["id"]: f for f in client.get("/api/files", headers=alice.headers).json()["files"]}
    for body in (uploaded_then_left, never_sent):
        assert listed[body["file"]["id"]]["status"] == "failed"
        assert listed[body["file"]["id"]]["error"] == "The upload never completed."
    assert not path.exists()
    assert_error(client.post(f"/api/files/{never_sent['file']['id']}/complete", headers=alice.headers), 409,
                 "upload_expired")
    assert_error(post_form(client, never_sent["upload"], b"hello"), 409, "upload_expired")
    # Failed uploads hold no quota; a new upload goes through.
    assert start(client, alice, "new.txt", 5).status_code == 201


def test_an_upload_expiring_is_seen_on_a_single_read_too(client, alice, db_url):
    body = start(client, alice, "late.txt", 5).json()
    lite.run(db_url, lambda db: db.execute("UPDATE files SET upload_expires_at = ?", utcnow() - timedelta(seconds=1)))
    got = client.get(f"/api/files/{body['file']['id']}", headers=alice.headers).json()
    assert got["status"] == "failed" and got["error"] == "The upload never completed."


def test_the_local_form_checks_itself(tmp_path):
    storage = LocalStorage(tmp_path / "files")
    key = f"files/u1/{new_id()}"
    form = storage.presign_post(key, 10, 60)
    with pytest.raises(BadRequest) as empty:
        storage.accept_post(key, form.fields, b"")
    assert empty.value.code == "empty_file"
    with pytest.raises(PayloadTooLarge):
        storage.accept_post(key, form.fields, b"x" * 11)
    with pytest.raises(BadRequest):  # the form of one key does not store another
        storage.accept_post(f"files/u1/{new_id()}", form.fields, b"x")
    storage.accept_post(key, form.fields, b"0123456789")
    with pytest.raises(Conflict):
        storage.accept_post(key, form.fields, b"0123456789")
    assert storage.get(key) == b"0123456789" and storage.size(key) == 10
    expired = storage.presign_post(f"files/u1/{new_id()}", 10, -1)
    with pytest.raises(UploadExpired):
        storage.accept_post(expired.fields["key"], expired.fields, b"x")
    assert stat.S_IMODE((tmp_path / "files" / ".upload-key").stat().st_mode) == 0o600


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "files/../../x", ".upload-key", "files/.x", "a//b", "",
                                 "files/a\x00b", "files/a b", "a/b/c/d/e/f"])
def test_keys_never_leave_the_store(tmp_path, key):
    with pytest.raises(ValueError):
        check_key(key)
    with pytest.raises(ValueError):
        LocalStorage(tmp_path).put(key, b"x")


def test_a_link_out_of_the_store_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "files"
    (root / "files").mkdir(parents=True)
    (root / "files" / "u1").symlink_to(outside)
    with pytest.raises(ValueError):
        LocalStorage(root).put("files/u1/f1", b"x")
    assert not list(outside.iterdir())


def _add_chunks(db_url: str, file_id: str, texts: list[str], page: int | None = 3) -> list[str]:
    ids = [new_id() for _ in texts]
    lite.run(db_url, lambda db: db.insert_many("chunks", [
        {"id": i, "file_id": file_id, "ordinal": n, "text": t, "page": page, "section": "Intro"}
        for n, (i, t) in enumerate(zip(ids, texts, strict=True))]))
    return ids


def test_a_cited_passage_and_its_neighbours(client, alice, db_url, settings):
    doc = uploaded(client, alice, "paper.txt", b"one two three")
    first, middle, last = _add_chunks(db_url, doc["id"], ["First part.", "Middle part.", "Last part."])
    got = client.get(f"/api/files/{doc['id']}/passages/{middle}", headers=alice.headers).json()
    assert got == {"file_id": doc["id"], "file_name": "paper.txt", "chunk_id": middle, "ordinal": 1,
                   "text": "Middle part.", "page": 3, "section": "Intro", "previous": "First part.",
                   "next": "Last part."}
    edge = client.get(f"/api/files/{doc['id']}/passages/{first}", headers=alice.headers).json()
    assert edge["previous"] is None and edge["next"] == "Middle part."
    other = uploaded(client, alice, "other.txt", b"other")
    assert_error(client.get(f"/api/files/{other['id']}/passages/{last}", headers=alice.headers), 404,
                 "passage_not_found")
    assert_error(client.get(f"/api/files/{doc['id']}/passages/nope", headers=alice.headers), 404)
    # Deleting the file deletes its chunks.
    client.delete(f"/api/files/{doc['id']}", headers=alice.headers)
    assert lite.run(db_url, lambda db: db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]) == 0


def test_one_request_uploads_may_pass_the_general_body_limit(client, alice):
    big = b"word " * 300_000  # 1.5 MB: over the API's 1 MB, under the 25 MB of a file
    assert uploaded(client, alice, "big.txt", big)["size"] == len(big)
    assert_error(client.post("/api/collections", content=b'{"name": "' + b"x" * (2 << 20) + b'"}',
                             headers={**alice.headers, "content-type": "application/json"}), 413, "payload_too_large")


def test_a_file_listing_of_a_collection(client, alice, bob):
    col = client.post("/api/collections", json={"name": "Papers"}, headers=alice.headers).json()
    inside = uploaded(client, alice, "in.txt", b"inside", collection_id=col["id"])
    uploaded(client, alice, "out.txt", b"outside")
    assert inside["collection_id"] == col["id"]
    listed = client.get("/api/files", params={"collection_id": col["id"]}, headers=alice.headers).json()["files"]
    assert [f["id"] for f in listed] == [inside["id"]]
    assert_error(client.get("/api/files", params={"collection_id": col["id"]}, headers=bob.headers), 404,
                 "collection_not_found")


def attach(db_url, chat_owner, file_ids):
    """A chat whose one question attaches `file_ids` (as chat.send saves them)."""
    chat_id, message_id = new_id(), new_id()

    def work(db):
        db.insert("chats", {"id": chat_id, "user_id": chat_owner.id, "title": "t"})
        db.insert("messages", {"id": message_id, "chat_id": chat_id, "role": "user", "content": "q"})
        for position, file_id in enumerate(file_ids):
            db.insert("message_files", {"message_id": message_id, "file_id": file_id, "position": position})

    lite.run(db_url, work)
    return chat_id


def test_deleting_a_chat_deletes_the_attachments_no_other_chat_has(client, alice, db_url, settings):
    only, shared = (uploaded(client, alice, f"{n}.txt", b"words\n") for n in ("only", "shared"))
    kept = uploaded(client, alice, "kept.txt", b"words\n")  # uploaded, attached nowhere: the user's to delete
    first = attach(db_url, alice, [only["id"], shared["id"]])
    attach(db_url, alice, [shared["id"]])
    stored = settings.home / "files" / "files" / alice.id
    assert client.delete(f"/api/chats/{first}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/files/{only['id']}", headers=alice.headers), 404, "file_not_found")
    assert not (stored / only["id"]).exists()
    for still in (shared, kept):
        assert client.get(f"/api/files/{still['id']}", headers=alice.headers).status_code == 200
        assert (stored / still["id"]).exists()
    assert client.delete("/api/chats", headers=alice.headers).json() == {"deleted": 1}
    assert not (stored / shared["id"]).exists() and (stored / kept["id"]).exists()


def test_deleting_a_user_deletes_their_stored_files(client, queued, settings):
    admin = sign_up(client, "admin@example.com")
    carol = sign_up(client, "carol@example.com")
    doc = uploaded(client, carol, "notes.txt", b"words\n")
    assert (settings.home / "files" / "files" / carol.id / doc["id"]).exists()
    assert client.delete(f"/api/admin/users/{carol.id}", headers=admin.headers).status_code == 204
    assert not (settings.home / "files" / "files" / carol.id / doc["id"]).exists()
