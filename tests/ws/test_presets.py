"""`chat.send` with a preset (`preset/<slug>`) through the WebSocket Lambdas: the preset's
system prompt (before the chat's own) and its parameters reach the Bedrock emulator, the
answer names the preset; a preset whose base was disabled since, or another user's, is
refused before anything is saved."""

from __future__ import annotations

import time

from omnichat import settings_store
from omnichat.catalog.presets import PresetRow
from omnichat.db import lite
from omnichat.ids import new_id
from tests.ws.conftest import BEDROCK_MODEL
from tests.ws.harness import of_type


def add_preset(db_url: str, owner_id: str | None, slug: str, base: str = BEDROCK_MODEL, **fields) -> None:
    now = lite.utcnow()
    row = PresetRow(id=new_id(), owner_id=owner_id, slug=slug, name=fields.get("name", slug), description="",
                    base_model=base, system_prompt=fields.get("system_prompt"), params=fields.get("params", {}),
                    fallbacks="", visibility="private" if owner_id else "everyone", created_at=now, updated_at=now)
    lite.run(db_url, lambda db: row.insert(db))


def send(h, conn, model, content="ahoy [[tokens=3]]", **extra):
    h.send(conn, {"action": "chat.send", "content": content, "client_message_id": f"c-{time.monotonic_ns()}",
                  "model": model, **extra})
    return h.frames(conn)


def count(db_url: str, table: str) -> int:
    return lite.run(db_url, lambda db: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_preset_sends_its_system_prompt_and_parameters(harness, bob, bedrock, db_url):
    add_preset(db_url, bob.user_id, "pirate", system_prompt="Answer like a pirate.",
               params={"temperature": 0.3, "max_tokens": 7})
    journal = bedrock.app.state.emulator.journal
    journal.clear()
    conn = harness.connect(bob)
    frames = send(harness, conn, "preset/pirate", system_prompt="Be brief.")
    done = of_type(frames, "message.done")[0]
    assert done["status"] == "complete", done
    assert of_type(frames, "message.started")[0]["model"] == "preset/pirate"
    answer = next(e for e in journal.entries("ConverseStream") if "ahoy" in str(e["body"]["messages"]))
    assert answer["modelId"] == BEDROCK_MODEL.removeprefix("bedrock/")
    assert answer["body"]["system"] == [{"text": "Answer like a pirate.\n\nBe brief."}]
    assert answer["body"]["inferenceConfig"]["temperature"] == 0.3
    assert answer["body"]["inferenceConfig"]["maxTokens"] == 7
    chat_model = lite.run(db_url, lambda db: db.execute("SELECT model FROM chats").fetchone()[0])
    assert chat_model == "preset/pirate"


def test_a_disabled_base_or_another_users_preset_is_refused_and_nothing_saved(harness, alice, bob, db_url):
    add_preset(db_url, alice.user_id, "alices")
    add_preset(db_url, None, "shared")
    lite.run(db_url, lambda db: settings_store.set_value(db, f"model:{BEDROCK_MODEL}", {"enabled": False}))
    conn = harness.connect(bob)
    for model, says in (("preset/alices", "'preset/alices' is not available"),
                        ("preset/shared", f"its base model '{BEDROCK_MODEL}' is disabled")):
        error = of_type(send(harness, conn, model), "error")[-1]
        assert error["code"] == "model_not_found" and says in error["message"], error
    assert count(db_url, "messages") == 0 and count(db_url, "chats") == 0
