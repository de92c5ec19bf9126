"""Property-based: whatever a client sends, the answer is an `error` event with a code,
no handler raises, and the connection stays usable (a ping after it still gets a pong)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnichat.catalog.catalog import ModelSettings, save_model_settings
from omnichat.db import lite
from tests.ws.conftest import TEST_MODEL
from tests.ws.harness import of_type

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ACTIONS = ["chat.send", "chat.stop", "chat.regenerate", "chat.edit", "chat.resume", "model.pull", "ping"]
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars,
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)


def assert_error_then_usable(harness, conn, codes=None):
    frames = harness.frames(conn)
    errors = of_type(frames, "error")
    assert errors, f"no error event in {frames[-3:]}"
    assert isinstance(errors[-1]["code"], str) and errors[-1]["message"]
    if codes:
        assert errors[-1]["code"] in codes, errors[-1]
    before = len(of_type(frames, "pong"))
    assert harness.send(conn, {"action": "ping"})["statusCode"] == 200
    assert len(of_type(harness.frames(conn), "pong")) == before + 1


@FUZZ
@given(body=st.text(max_size=200).filter(lambda t: not _is_json_object(t)))
def test_text_that_is_not_a_json_object(harness, alice, body):
    conn = harness.connect(alice)
    assert harness.send_raw(conn, body)["statusCode"] == 200
    assert_error_then_usable(harness, conn, {"invalid_json", "invalid_frame"})


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


@FUZZ
@given(data=st.binary(min_size=1, max_size=100))
def test_binary_frames(harness, alice, data):
    import base64

    conn = harness.connect(alice)
    harness.send_raw(conn, base64.b64encode(data).decode(), binary=True)
    assert_error_then_usable(harness, conn, {"invalid_frame"})


@pytest.mark.parametrize(("action", "named"), [(None, "null"), (["ping"], '["ping"]'), ("chat.sned", '"chat.sned"'),
                                                ("x" * 5000, '"' + "x" * 99)])
def test_an_unknown_action_is_named_as_the_client_wrote_it(harness, alice, action, named):
    conn = harness.connect(alice)
    harness.send_raw(conn, json.dumps({"action": action}))
    [error] = of_type(harness.frames(conn), "error")
    assert error["code"] == "unknown_action" and f"Unknown action {named};" in error["message"], error


@FUZZ
@given(action=st.one_of(st.text(max_size=30).filter(lambda a: a not in ACTIONS), json_values))
def test_unknown_actions(harness, alice, action):
    conn = harness.connect(alice)
    harness.send_raw(conn, json.dumps({"action": action}))
    assert_error_then_usable(harness, conn, {"unknown_action"})


@FUZZ
@given(action=st.sampled_from(ACTIONS[:-1]), fields=st.dictionaries(
    st.sampled_from(["chat_id", "message_id", "content", "client_message_id", "model", "params", "part", "parent_id",
                     "extra_field"]), json_values, max_size=5))
def test_missing_and_mistyped_fields(harness, alice, action, fields):
    conn = harness.connect(alice)
    harness.send(conn, {"action": action, **fields})
    frames = harness.frames(conn)
    # Either refused, or (rarely, if the fuzz produced a valid frame) answered; never silent.
    assert of_type(frames, "error") or of_type(frames, "ack")
    if of_type(frames, "error"):
        assert_error_then_usable(harness, conn)


def test_oversized_content(harness, alice, settings_override=None):
    conn = harness.connect(alice)
    harness.send(conn, {"action": "chat.send", "content": "x" * 200_001, "client_message_id": "big",
                        "model": TEST_MODEL})
    assert_error_then_usable(harness, conn, {"message_too_long"})


def test_another_users_chat_and_messages_are_not_found(harness, alice, bob, db_url):
    mine = harness.connect(alice)
    harness.send(mine, {"action": "chat.send", "content": "private [[tokens=3]]", "client_message_id": "p1",
                        "model": TEST_MODEL})
    ack = of_type(harness.frames(mine), "ack")[0]
    theirs = harness.connect(bob)
    attempts = [
        {"action": "chat.send", "chat_id": ack["chat_id"], "content": "hi", "client_message_id": "x",
         "model": TEST_MODEL},
        {"action": "chat.resume", "chat_id": ack["chat_id"]},
        {"action": "chat.stop", "chat_id": ack["chat_id"], "message_id": ack["assistant_message_id"]},
        {"action": "chat.regenerate", "chat_id": ack["chat_id"], "message_id": ack["assistant_message_id"]},
        {"action": "chat.edit", "chat_id": ack["chat_id"], "message_id": ack["user_message_id"], "content": "x",
         "client_message_id": "e"},
    ]
    for frame in attempts:
        harness.send(theirs, frame)
        assert_error_then_usable(harness, theirs, {"chat_not_found"})
    assert not [f for f in harness.frames(theirs) if "private" in json.dumps(f)]
    # A chat of bob's own cannot reach alice's messages either.
    harness.send(theirs, {"action": "chat.send", "content": "mine [[tokens=2]]", "client_message_id": "b1",
                          "model": TEST_MODEL})
    bob_chat = of_type(harness.frames(theirs), "ack")[-1]["chat_id"]
    harness.send(theirs, {"action": "chat.regenerate", "chat_id": bob_chat, "message_id": ack["assistant_message_id"]})
    assert_error_then_usable(harness, theirs, {"message_not_found"})


def test_a_model_the_user_may_not_use(harness, alice, bob, db_url):
    lite.run(db_url, lambda db: save_model_settings(db, TEST_MODEL, ModelSettings(visibility="admins")))
    conn = harness.connect(bob)
    for model in (TEST_MODEL, "openai/gpt-4", "ollama/", "bedrock/not-a-real-model-in-the-emulator"):
        harness.send(conn, {"action": "chat.send", "content": "hi", "client_message_id": f"m-{model}", "model": model})
        frames = harness.frames(conn)
        if model.startswith("bedrock/not"):  # allowed by policy, unknown to Bedrock: fails as the answer
            assert of_type(frames, "message.done")[-1]["status"] == "error"
            assert of_type(frames, "error")[-1]["code"] == "model_not_found"
        else:
            assert_error_then_usable(harness, conn, {"model_not_found"})
    admin = harness.connect(alice)
    harness.send(admin, {"action": "chat.send", "content": "hi [[tokens=2]]", "client_message_id": "a",
                         "model": TEST_MODEL})
    assert of_type(harness.frames(admin), "message.done")[0]["status"] == "complete"


def test_pull_is_for_admins_only(harness, bob):
    conn = harness.connect(bob)
    harness.send(conn, {"action": "model.pull", "model": "ollama/smollm2:135m"})
    assert_error_then_usable(harness, conn, {"admin_only"})


def nested(depth: int) -> str:
    """A chat.send whose params nest `depth` levels in all (the frame is level 1)."""
    return ('{"action": "chat.send", "client_message_id": "n", "content": "hi", "params": '
            + "[" * (depth - 1) + "]" * (depth - 1) + "}")


@pytest.mark.parametrize("body, code", [
    (nested(900), {"invalid_json", "invalid_frame"}),
    (nested(2_000), {"invalid_json", "invalid_frame"}),
    (nested(33), {"invalid_frame"}),  # within the parser's reach, beyond any frame of the protocol
    ('{"action": "ping", "request_id": "r", "n": ' + "7" * 4_301 + "}", {"invalid_json"}),
    ('{"action": "ping", "n": -' + "9" * 10_000 + "}", {"invalid_json"}),
], ids=["900 levels", "2,000 levels", "33 levels", "4,301 digits", "10,000 digits"])
def test_deep_nesting_and_huge_integers_are_refused_as_frames(harness, alice, body, code):
    conn = harness.connect(alice)
    assert len(body.encode()) < 32 * 1024  # one API Gateway frame
    assert harness.send_raw(conn, body, "chat.send")["statusCode"] == 200
    assert_error_then_usable(harness, conn, code)


def test_a_frame_within_the_nesting_limit_is_read(harness, alice):
    conn = harness.connect(alice)
    harness.send_raw(conn, nested(32))
    assert_error_then_usable(harness, conn, {"invalid_request"})  # params is not an object: read, then refused


def test_a_bare_model_name_answers_with_the_model_it_names(harness, alice):
    conn = harness.connect(alice)
    bare = TEST_MODEL.removeprefix("ollama/")
    harness.send(conn, {"action": "chat.send", "content": "hi [[tokens=2]]", "client_message_id": "bare",
                        "model": bare})
    frames = harness.frames(conn)
    assert of_type(frames, "message.started")[-1]["model"] == TEST_MODEL
    assert of_type(frames, "message.done")[-1]["status"] == "complete"
    harness.send(conn, {"action": "chat.send", "content": "hi", "client_message_id": "nope", "model": "no-such:1b"})
    assert_error_then_usable(harness, conn, {"model_not_found"})
