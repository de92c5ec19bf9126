"""Client frames are checked by hand (omnichat.checks): the same strictness the protocol
documents, the first fault named by its field."""

from __future__ import annotations

import pytest

from omnichat.checks import Invalid
from omnichat.ws import schemas

SEND = {"action": "chat.send", "content": "hi", "client_message_id": "c1"}


def fault(raw: dict) -> str:
    with pytest.raises(Invalid) as caught:
        schemas.parse(raw["action"], raw)
    return caught.value.describe()


def test_a_full_send_is_read_into_its_frame() -> None:
    frame = schemas.parse("chat.send", {**SEND, "request_id": "r1", "chat_id": "x", "model": "ollama/m",
                                        "parent_id": "p", "system_prompt": "", "params": {"temperature": 1,
                                        "top_p": 0.5, "max_tokens": None}, "part": {"index": 0, "count": 2}})
    assert isinstance(frame, schemas.Send) and frame.request_id == "r1" and frame.chat_id == "x"
    assert frame.params is not None and frame.params.given() == {"temperature": 1.0, "top_p": 0.5}
    assert frame.part == schemas.Part(index=0, count=2)


def test_null_is_not_given_and_defaults_apply() -> None:
    frame = schemas.parse("chat.send", {**SEND, "chat_id": None, "params": None})
    assert isinstance(frame, schemas.Send) and frame.chat_id is None and frame.params is None and frame.part is None
    assert schemas.parse("ping", {"action": "ping"}) == schemas.Ping(action="ping")


@pytest.mark.parametrize(("raw", "message"), [
    ({**SEND, "conent": "typo"}, "conent: no such field"),
    ({**SEND, "params": {"temprature": 1}}, "params.temprature: no such field"),
    ({"action": "chat.send", "client_message_id": "c1"}, "content: required"),
    ({**SEND, "content": None}, "content: required"),
    ({**SEND, "content": 5}, "content: expected a string (got 5)"),
    ({**SEND, "client_message_id": ""}, "client_message_id: expected a string of 1 to 100 characters (got \"\")"),
    ({**SEND, "chat_id": "x" * 37}, "chat_id: expected a string of 1 to 36 characters"),
    ({**SEND, "params": {"temperature": "1"}}, "params.temperature: expected a number (got \"1\")"),
    ({**SEND, "params": {"temperature": True}}, "params.temperature: expected a number (got true)"),
    ({**SEND, "params": {"top_p": 0}}, "params.top_p: expected a number above 0 to 1 (got 0)"),
    ({**SEND, "params": {"max_tokens": 1.5}}, "params.max_tokens: expected an integer (got 1.5)"),
    ({**SEND, "params": {"max_tokens": 32_001}}, "params.max_tokens: expected an integer from 1 to 32000"),
    ({**SEND, "params": []}, "params: expected an object"),
    ({**SEND, "part": {"index": 2, "count": 2}}, "part.index: expected a number less than part.count (got 2)"),
    ({**SEND, "part": {"index": 0, "count": 65}}, "part.count: expected an integer from 1 to 64"),
    ({**SEND, "request_id": 7}, "request_id: expected a string (got 7)"),
    ({"action": "chat.stop", "chat_id": "c"}, "message_id: required"),
    ({"action": "chat.resume", "chat_id": "c", "message_id": ""}, "message_id: expected a string of 1 to 36"),
    ({"action": "model.pull", "model": "m", "force": True}, "force: no such field"),
])
def test_the_first_fault_is_named_by_its_field(raw: dict, message: str) -> None:
    assert fault(raw).startswith(message)
